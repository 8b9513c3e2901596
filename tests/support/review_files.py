"""Published reviews compared across runs: the volatile parts of a review made equal."""

from __future__ import annotations

import json
import re
from pathlib import Path


def normal(path: Path) -> str:
    """A published review's notebook or HTML with what differs from run to run made equal:
    objects' addresses, papermill's timings and the id of the cell it injects (the page itself
    is the same byte for byte)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", text)  # an object's address in its repr
    if path.suffix == ".ipynb":
        notebook = json.loads(text)
        notebook["metadata"].pop("papermill")
        for cell in notebook["cells"]:
            cell["metadata"].pop("papermill", None)
            cell["metadata"].pop("execution", None)
            if "injected-parameters" in cell["metadata"].get("tags", []):
                cell["id"] = "injected"  # papermill makes a new id each run
        text = json.dumps(notebook, indent=1)
    return text
