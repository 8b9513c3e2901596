"""Benchmark 5, report size: the bytes of each team's published HTML review, split into the Vega
libraries (inlined once per page), the charts' specs and data, and everything else; against
nbconvert's default HTML export of the same executed notebook (``jupyter nbconvert --to html``).

The reviews are published by ``reviewkit report --period latest`` into a copy of the sample
project under ``--work`` (every team and the company-wide review; ``--tiny``: billing only). The
page is parsed: the ``<script>`` that defines ``window.vegaEmbed`` is the library
(``reviewkit.present.render._library``), each ``var spec = {...}`` in a chart's script is one
chart's Vega-Lite spec with its data (Altair's ``datasets``). nbconvert's default export carries the
same outputs (so the same library and specs) plus its JupyterLab CSS, the code, and scripts it
loads from CDNs (require.js, MathJax, mermaid): that page is not offline.

Target (issue 8): a team's review under 2 MB (2,000,000 bytes) with the Vega libraries inlined.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import harness

from reviewkit.publish.html import LIBRARY_MARK  # what the library's script holds

BIN = Path(sys.executable).parent
TARGET_MB = 2.0
#: what starts a chart's spec in its script (reviewkit.present.render._embed)
SPEC = re.compile(r"var spec = (\{.*?\});\n\s*var options", re.DOTALL)
#: a script the page fetches from the network when opened (src=, import, require.js paths...)
REMOTE_SCRIPT = re.compile(r"""https?://[^"'\s)<>]+\.m?js(?:\?[^"'\s)<>]*)?(?=["'])""")


@dataclass(frozen=True)
class Size:
    """One HTML page's bytes, by part."""

    total: int
    library: int
    libraries: int
    charts: int
    spec: int
    data: int
    remote: int
    gzip: int

    @property
    def other(self) -> int:
        return self.total - self.library - self.spec


class _Scripts(HTMLParser):
    """The text of every inline ``<script>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def page_json(value: object) -> str:
    """``value`` as the page holds it: compact JSON with ``<``, ``>`` and ``&`` escaped (as
    ``reviewkit.present.render`` writes a chart's spec)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_data(spec: dict[str, Any]) -> list[object]:
    """A spec's data: Altair's top-level ``datasets`` and any inline ``data.values``."""
    found: list[object] = [spec.get("datasets") or {}]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            inline = node.get("data")
            if isinstance(inline, dict) and "values" in inline:
                found.append(inline["values"])
            for key, child in node.items():
                if key not in ("datasets", "values"):
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(spec)
    return [part for part in found if part]


def measure(page: Path) -> Size:
    """Split ``page`` into the Vega library, the charts' JSON (spec and data) and the rest."""
    raw = page.read_bytes()
    text = raw.decode("utf-8")
    parser = _Scripts()
    parser.feed(text)
    parser.close()
    library = libraries = charts = spec = data = 0
    for script in parser.scripts:
        if LIBRARY_MARK in script:
            library += utf8(f"<script>{script}</script>")
            libraries += 1
            continue
        for match in SPEC.finditer(script):
            charts += 1
            spec += utf8(match.group(1))
            data += sum(utf8(page_json(part)) for part in chart_data(json.loads(match.group(1))))
    remote = len(set(REMOTE_SCRIPT.findall(text)))
    return Size(len(raw), library, libraries, charts, spec, data, remote, len(gzip.compress(raw)))


def publish(project: Path, env: dict[str, str], teams: list[str], log: Path) -> list[Path]:
    """Publish the latest month's reviews; their HTML pages, by team."""
    command = [str(BIN / "reviewkit"), "report", "--project", str(project), "--period", "latest"]
    command += [f"--team={team}" for team in teams] if teams else ["--all-teams"]
    with log.open("a") as sink:
        harness.run_process(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    (folder,) = [p for p in (project / "reports").iterdir() if re.fullmatch(r"\d{4}-\d{2}", p.name)]
    return sorted(folder.glob("*.html"))


def nbconvert_default(notebooks: list[Path], out: Path, env: dict[str, str], log: Path) -> None:
    """``jupyter nbconvert --to html`` with its defaults, as a user would export them."""
    command = [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--output-dir", str(out)]
    with log.open("a") as sink:
        harness.run_process(
            [*command, *map(str, notebooks)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )


def rows_of(sizes: dict[str, Size]) -> list[list[object]]:
    def b(n: int) -> str:
        return f"{n:,}"

    return [
        [
            team,
            b(s.total),
            b(s.library),
            s.libraries,
            s.charts,
            b(s.spec),
            b(s.data),
            b(s.other),
            b(s.gzip),
            s.remote,
        ]
        for team, s in sizes.items()
    ]


HEADERS = [
    "team",
    "total B",
    "Vega library B",
    "libs",
    "charts",
    "chart spec+data B",
    "of which data B",
    "everything else B",
    "gzip B",
    "CDN scripts",
]


def main() -> None:
    import report_batch  # noqa: PLC0415 (the sample project and Jupyter environment it sets up)

    options = harness.arguments(__doc__.splitlines()[0], repeat=3)
    teams = ["billing"] if options.tiny else []
    work = options.work / "report_size"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = report_batch.jupyter_env(work)
    project = report_batch.sample_project(work / "project", env)
    log = work / "commands.log"
    pages = publish(project, env, teams, log)
    nbconvert_default([p.with_suffix(".ipynb") for p in pages], work / "peer", env, log)

    print("# Report size: each review's HTML, by part; the peer is nbconvert's default export")
    print(harness.machine())
    period = pages[0].parent.name
    print(
        f"reviews of {period} published by `reviewkit report --period latest"
        f"{' --team billing' if teams else ' --all-teams'}`; peer: `jupyter nbconvert --to html` "
        "of the same executed notebooks (reports/PERIOD/<team>.ipynb)"
    )
    ours = {p.stem: measure(p) for p in pages}
    theirs = {p.stem: measure(work / "peer" / p.name) for p in pages}
    print()
    print(harness.table("reviewkit report: offline HTML (bytes)", HEADERS, rows_of(ours)))
    print()
    print(
        harness.table(
            "peer, nbconvert --to html (default template; not offline: scripts from CDNs)",
            HEADERS,
            rows_of(theirs),
        )
    )
    ratio = statistics.median(theirs[t].total / ours[t].total for t in ours)
    print(
        f"ratio: nbconvert's default page is {ratio:.2f}x the size of reviewkit's (median over "
        f"{len(ours)} review(s)); its everything-else is its JupyterLab CSS, the code cells and "
        "the script tags for require.js, MathJax and mermaid from cdnjs"
    )

    executed = pages[0].with_suffix(".ipynb")
    to_html(executed)  # imports and templates loaded before anything is timed
    default_html(executed)
    found = harness.alternate(
        {
            "reviewkit": lambda: to_html(executed),
            "nbconvert": lambda: default_html(executed),
        },
        options.repeat,
    )
    print()
    print(
        harness.table(
            f"Converting {executed.name} in-process, medians of {options.repeat} (seconds)",
            ["side", "median s", "min s"],
            [
                [
                    "reviewkit.publish.html.to_html",
                    found["reviewkit"].median,
                    min(found["reviewkit"].seconds),
                ],
                [
                    "nbconvert HTMLExporter()",
                    found["nbconvert"].median,
                    min(found["nbconvert"].seconds),
                ],
            ],
        )
    )
    print()
    largest = max(ours.values(), key=lambda s: s.total)
    libraries = sorted({s.libraries for s in ours.values()})
    remote = max(s.remote for s in ours.values())
    inlined = libraries == [1] and remote == 0
    print(
        harness.verdict(
            f"target: largest review under {TARGET_MB:g} MB with the Vega libraries inlined "
            f"(library copies per page: {'/'.join(map(str, libraries))}; scripts from the "
            f"network: {remote}), MB",
            largest.total / 1e6 if inlined else float("inf"),
            TARGET_MB,
            higher_is_better=False,
        )
    )


def to_html(executed: Path) -> None:
    from reviewkit.publish.html import to_html as convert  # noqa: PLC0415

    convert(executed, title="Review", subtitle="benchmark")


def default_html(executed: Path) -> None:
    import nbformat  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))


if __name__ == "__main__":
    main()
