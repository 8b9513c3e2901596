"""Dependencies' slow imports, deferred until they are used.

jsonschema (under Altair, nbformat and Jupyter's server) imports ``rfc3987_syntax``, its checker
for the rarely used ``iri`` formats, as soon as it is imported; and ``rfc3987_syntax`` builds
its Lark parsers when it is imported: about 0.6 s of every kernel, report run and server that
reviewkit starts, for a check none of them makes (python-jsonschema/jsonschema#1428). reviewkit
stands a module in for it whose functions import the real one on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer_slow_imports"]

IRI_CHECKER = "rfc3987_syntax"


def defer_slow_imports() -> None:
    """Stand in for ``rfc3987_syntax`` unless it (or jsonschema's format checkers, which take
    it at import) is loaded already, or not installed."""
    if IRI_CHECKER in sys.modules or "jsonschema._format" in sys.modules:
        return
    spec = importlib.util.find_spec(IRI_CHECKER)
    if spec is None or spec.submodule_search_locations is None:
        return
    stand_in = types.ModuleType(IRI_CHECKER, "Stands in for rfc3987_syntax until it is used.")
    stand_in.__path__ = list(spec.submodule_search_locations)  # its submodules import as ever

    def real() -> types.ModuleType:
        return importlib.import_module(f"{IRI_CHECKER}.syntax_helpers")

    def is_valid_syntax(term: str, value: str) -> bool:
        return bool(real().is_valid_syntax(term, value))

    def __getattr__(name: str) -> Any:  # a module's own, as in PEP 562
        return getattr(real(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[IRI_CHECKER] = stand_in
