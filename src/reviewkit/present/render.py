"""Showing and writing charts with no network: notebooks, Voila, exported HTML, pictures.

Altair's default renderer loads Vega from a CDN (a blank chart offline), and its mimetype
renderer emits ``application/vnd.vegalite.v6+json``, which fails notebook validation and which
JupyterLab 4 and Voila do not render. :func:`enable` registers a renderer that emits plain
``text/html`` with the Vega, Vega-Lite and vega-embed JavaScript (``vl_convert.javascript_bundle``,
~900 KB) inlined the first time in a process; later charts wait for the ``window.vegaEmbed``
that first output defined instead of inlining it again (and a page that somehow lacks it still
gets it: each output checks for the global before inlining would matter). :func:`page` writes a
whole HTML document with the bundle inlined once however many charts it holds;
:func:`to_svg` and :func:`to_png` draw through vl-convert, with no browser.

``python -m reviewkit.present.render pictures DIR [--project P]`` writes the README's pictures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import html
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import altair as alt
import vl_convert as vlc

from reviewkit.base.files import replacing

__all__ = ["RENDERER", "enable", "new_document", "page", "pictures", "to_png", "to_svg"]

RENDERER: Final = "reviewkit"
#: vega-embed options: the export menu only (the editor link would need the network)
EMBED_OPTIONS: Final[dict[str, Any]] = {
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
    "renderer": "svg",
}


class _Document:
    """What this process has sent into the notebook's page: the bundle, and the charts by
    their ids."""

    bundle: bool
    ids: Counter[str]

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.bundle = False
        self.ids = Counter()


_sent = _Document()


#: what the bundle defines on ``window``
_EXPORTS: Final = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"


@functools.cache
def bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript, defining ``window.vegaEmbed``. vl-convert
    takes about a second of CPU to build it, which every report and page kernel would pay: it is
    kept in the user's cache folder, one file per vl-convert version, written atomically."""
    cache = bundle_cache()
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        pass
    text = vlc.javascript_bundle(_EXPORTS)
    # a read-only home only costs the second again
    with contextlib.suppress(OSError), replacing(cache) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return text


def bundle_cache() -> Path:
    """Where :func:`bundle` keeps the JavaScript: ``$XDG_CACHE_HOME/reviewkit`` (default
    ``~/.cache/reviewkit``), named after vl-convert's version and the exports' hash."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reviewkit"
    digest = hashlib.sha256(_EXPORTS.encode()).hexdigest()[:12]
    return root / f"vega-bundle-{version('vl-convert-python')}-{digest}.js"


def _spec(chart: alt.TopLevelMixin | dict[str, Any]) -> dict[str, Any]:
    return chart if isinstance(chart, dict) else chart.to_dict()


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: user text such as ``</script>`` cannot end it."""
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _chart_id(spec_json: str, document: _Document) -> str:
    """The id of a chart's div: from its spec, so a review run again over the same data is the
    same page byte for byte; a count after it when the document has that spec already."""
    digest = hashlib.sha256(spec_json.encode("utf-8")).hexdigest()[:32]
    seen = document.ids[digest]
    document.ids[digest] += 1
    return f"reviewkit-{digest}" + (f"-{seen}" if seen else "")


def _embed(spec: dict[str, Any], document: _Document) -> str:
    """A div and the script that draws the spec in it once ``window.vegaEmbed`` exists (it may
    be defined by a script further up the page, or still loading)."""
    spec_json = _script_json(spec)
    target = _chart_id(spec_json, document)
    return (
        f'<div id="{target}" class="reviewkit-chart"></div>\n<script>\n(function () {{\n'
        f"  var spec = {spec_json};\n"
        f"  var options = {_script_json(EMBED_OPTIONS)};\n"
        "  var tries = 0;\n"
        "  function draw() {\n"
        "    if (window.vegaEmbed) {\n"
        f'      var div = document.getElementById("{target}");\n'
        f'      window.vegaEmbed("#{target}", spec, options).then(function (result) {{\n'
        "        // A live page clears and redraws its outputs: once the chart has left the page,\n"
        "        // let go of its view and of the listeners its export menu put on the document.\n"
        "        var watch = setInterval(function () {\n"
        "          if (!document.body.contains(div)) {\n"
        "            clearInterval(watch);\n"
        "            result.finalize();\n"
        "          }\n"
        "        }, 2000);\n"
        "      }).catch(function (error) {\n"
        '        div.textContent = "Chart error: " + error;\n'
        "      });\n"
        "    } else if (tries++ < 200) {\n"
        "      setTimeout(draw, 50);\n"
        "    } else {\n"
        f'      document.getElementById("{target}").textContent =\n'
        '        "The chart library did not load: re-run the first chart cell.";\n'
        "    }\n"
        "  }\n"
        "  draw();\n"
        "})();\n</script>"
    )


def _library() -> str:
    """The bundle in a script that defines it only where the page does not have it yet."""
    return (
        "<script>\nif (!window.vegaEmbed) {\n"
        + bundle().replace("</script", "<\\/script")
        + "\n}\n</script>"
    )


def html_renderer(spec: dict[str, Any], **_: Any) -> dict[str, str]:
    """The ``reviewkit`` renderer: ``text/html`` only, with the bundle the first time."""
    parts = []
    if not _sent.bundle:
        parts.append(_library())
        _sent.bundle = True
    parts.append(_embed(spec, _sent))
    return {"text/html": "\n".join(parts)}


def enable() -> None:
    """Register and enable the offline ``reviewkit`` renderer for Altair charts in notebooks
    and Voila. Charts inline their data (the pages are self-contained by design), so Altair's
    5,000-row guard is lifted: a company's scorecard has 12 sparkline points per outcome, and
    the company-wide review of 500 teams' outcomes failed on it (benchmark 7)."""
    alt.renderers.register(RENDERER, html_renderer)
    alt.renderers.enable(RENDERER)
    alt.data_transformers.disable_max_rows()


def new_document() -> None:
    """The next chart goes into a new document, so it inlines the library again: after the
    outputs that held it were cleared, or in a warm kernel's next review; its charts' ids start
    again, so a review's page is the same whatever ran in the kernel before."""
    _sent.reset()


def to_svg(chart: alt.TopLevelMixin | dict[str, Any]) -> str:
    """The chart as an SVG document (vl-convert, no browser, no network)."""
    return vlc.vegalite_to_svg(_spec(chart))


def to_png(chart: alt.TopLevelMixin | dict[str, Any], scale: float = 1) -> bytes:
    """The chart as PNG bytes; ``scale=2`` for sharp pictures on high-density screens."""
    return vlc.vegalite_to_png(_spec(chart), scale=scale)


def page(charts: Sequence[alt.TopLevelMixin | dict[str, Any]], title: str) -> str:
    """A complete, self-contained HTML document: the title, then every chart, with the chart
    library inlined once in the head. Opens from a file with no network."""
    document = _Document()
    body = "\n".join(
        f'<section class="chart">\n{_embed(_spec(c), document)}\n</section>' for c in charts
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#222}"
        "section.chart{margin:0 0 2.5rem}</style>\n"
        f"{_library()}\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


# --- the README's pictures ---------------------------------------------------------------------


def pictures(target: Path, project_dir: Path = Path()) -> list[Path]:
    """Write PNG pictures of the main charts of the project in ``project_dir`` (the sample
    company) into ``target``. The links are imported from ``data/links.yaml`` into a temporary
    copy, so the project's own store is left alone."""
    # only for the pictures: kernels import this module first, to enable() the renderer
    from reviewkit.present import charts  # noqa: PLC0415
    from reviewkit.project import open_project  # noqa: PLC0415

    target.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "project"
        shutil.copytree(
            project_dir,
            copy,
            ignore=shutil.ignore_patterns(
                ".reviewkit", "*.db*", ".venv", ".git", "docs", "build", "reports", "node_modules"
            ),
        )
        with open_project(copy) as project:
            project.import_links(copy / "data" / "links.yaml")
            outcome = "onboarding-activation"
            made: dict[str, alt.TopLevelMixin] = {
                "kpi-trend": charts.kpi_trend(
                    project, "activation_rate", filters={"team": "onboarding"}
                ),
                "outputs-on-outcome": charts.outputs_on_outcome(project, outcome),
                "impact": charts.impact_chart(
                    _impact(project, "ONB-241", outcome),
                    title="ONB-241: onboarding checklist",
                    metric=project.config.metrics["activation_rate"],
                ),
                "impact-grid": charts.impact_grid(project, "billing-churn"),
                "wbr": charts.wbr_chart(project.wbr("nps"), metric=project.config.metrics["nps"]),
                "scorecard": charts.scorecard_chart(project.outcome_scorecard(), project=project),
                "alignment": charts.alignment_chart(project),
                "outcome-tree": charts.outcome_tree(project, outputs_per_outcome=3),
                "cohorts": charts.cohort_chart(project, "retention", grain="quarter"),
                "waterfall": charts.waterfall_chart(
                    project.explain("mrr", "2026-Q3", by="plan", against="year_ago")
                ),
            }
            for name, chart in made.items():
                path = target / f"{name}.png"
                path.write_bytes(to_png(chart, scale=1))
                written.append(path)
    return written


def _impact(project: Any, output: str, outcome: str) -> Any:
    from reviewkit.evidence.estimator import ImpactResult  # noqa: PLC0415 (with the pictures' imports)

    result = project.impact(output, outcome)
    assert isinstance(result, ImpactResult)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reviewkit.present.render pictures DIR``: write the README's pictures."""
    parser = argparse.ArgumentParser(prog="python -m reviewkit.present.render")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("pictures", help="write PNG pictures of the main charts")
    command.add_argument("target", type=Path, help="folder for the pictures (docs/images)")
    command.add_argument("--project", type=Path, default=Path(), help="the sample project")
    args = parser.parse_args(argv)
    for path in pictures(args.target, args.project):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
