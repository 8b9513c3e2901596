"""An executed review notebook as one self-contained HTML page, readable offline and on paper.

nbconvert's default templates load require.js, MathJax, mermaid, the widget manager and fonts from
CDNs, and show the code. :func:`to_html` uses reviewkit's own template
(``templates/nbconvert/reviewkit/``) instead: outputs and markdown only, a header with the title
and subtitle, a table of contents built from the headings, system fonts, print styles, and no
request to any network. The charts' Vega library comes inline with the notebook's first chart
output (:func:`reviewkit.render.enable` in the kernel), so it appears exactly once.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import nbformat
from nbconvert import HTMLExporter

from reviewkit.errors import ReviewkitError
from reviewkit.scaffold import templates_dir

__all__ = ["TEMPLATE", "to_html"]

TEMPLATE: Final = "reviewkit"
#: where the template leaves room for the table of contents
TOC_MARKER: Final = "<!-- reviewkit:toc -->"
#: what render.enable's first chart output wraps the Vega library in, and each chart's div
LIBRARY_MARK: Final = "if (!window.vegaEmbed)"
CHART_MARK: Final = 'class="reviewkit-chart"'
#: headings listed in the table of contents: sections (##) and outcomes (###)
TOC_LEVELS: Final = ("h2", "h3")


def to_html(notebook: Path | nbformat.NotebookNode, *, title: str, subtitle: str = "") -> str:
    """The executed ``notebook`` (a path or a node) as a complete HTML document: ``title`` and
    ``subtitle`` (team, period, data freshness...) in the header, escaped; a table of contents
    of its ``##`` and ``###`` headings; its outputs and markdown, no code. Raises
    :class:`ReviewkitError` when the notebook has charts but not the library that draws them
    (it was not executed from the top in a fresh kernel after ``render.enable()``)."""
    # nbformat and nbconvert are untyped
    node = (
        nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
        if isinstance(notebook, Path)
        else notebook
    )
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name=TEMPLATE,
        extra_template_basedirs=[str(templates_dir() / "nbconvert")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(
        node, resources={"reviewkit": {"title": title, "subtitle": subtitle}}
    )
    if CHART_MARK in body and LIBRARY_MARK not in body:
        raise ReviewkitError(
            "the notebook's charts lack the Vega library that draws them: execute it from the "
            "top in a fresh kernel, with reviewkit.render.enable() before the first chart"
        )
    return body.replace(TOC_MARKER, _toc(body), 1)


class _Headings(HTMLParser):
    """Collects (level, id, text) of the headings with an id; the ¶ anchor links nbconvert adds
    inside headings are left out of the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str, str]] = []
        self._open: tuple[int, str] | None = None
        self._text: list[str] = []
        self._in_anchor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in TOC_LEVELS and values.get("id"):
            self._open, self._text = (TOC_LEVELS.index(tag), values["id"] or ""), []
        elif tag == "a" and "anchor-link" in (values.get("class") or ""):
            self._in_anchor = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor = False
        elif tag in TOC_LEVELS and self._open is not None:
            level, anchor = self._open
            self.found.append((level, anchor, " ".join("".join(self._text).split())))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None and not self._in_anchor:
            self._text.append(data)


def _link(anchor: str, text: str) -> str:
    return f'<a href="#{html.escape(anchor, quote=True)}">{html.escape(text)}</a>'


def _toc(page: str) -> str:
    """An ordered list linking to the page's sections, each with its outcomes nested ("" if
    the page has no headings)."""
    start = page.find("<main>")
    parser = _Headings()
    parser.feed(page[max(start, 0) :])
    parser.close()
    groups: list[tuple[str, list[str]]] = []
    for level, anchor, text in parser.found:
        if level == 0 or not groups:
            groups.append((_link(anchor, text) if level == 0 else "", []))
        if level > 0:
            groups[-1][1].append(f"<li>{_link(anchor, text)}</li>")
    if not groups:
        return ""
    items = []
    for head, children in groups:
        nested = "\n<ol>\n" + "\n".join(children) + "\n</ol>\n" if children else ""
        items.append(f"<li>{head}{nested}</li>" if head else "\n".join(children))
    return "<ol>\n" + "\n".join(items) + "\n</ol>"
