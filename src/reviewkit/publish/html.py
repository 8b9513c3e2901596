"""An executed review notebook as one self-contained HTML page, readable offline and on paper.

nbconvert's default templates load require.js, MathJax, mermaid, the widget manager and fonts from
CDNs, and show the code. :func:`to_html` uses reviewkit's own template
(``templates/nbconvert/reviewkit/``) instead: outputs and markdown only, a header with the title
and subtitle, a table of contents built from the headings, system fonts, print styles, and no
request to any network. The charts' Vega library comes inline with the notebook's first chart
output (:func:`reviewkit.present.render.enable` in the kernel), so it appears exactly once.

:func:`reader_digest` tells two published pages apart by what their readers see, not by their
bytes: delivery sends a review again only when that changed.
"""

from __future__ import annotations

import hashlib
import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reviewkit.base.errors import ReviewkitError
from reviewkit.base.resources import templates_dir

if TYPE_CHECKING:
    import nbformat

__all__ = ["TEMPLATE", "reader_digest", "to_html"]

TEMPLATE: Final = "reviewkit"
#: where the template leaves room for the table of contents
TOC_MARKER: Final = "<!-- reviewkit:toc -->"
#: what render.enable's first chart output wraps the Vega library in, and each chart's div
LIBRARY_MARK: Final = "if (!window.vegaEmbed)"
CHART_MARK: Final = 'class="reviewkit-chart"'
#: what each chart's script holds its Vega-Lite spec after, as JSON
SPEC_MARK: Final = "var spec = "
#: headings listed in the table of contents: sections (##) and outcomes (###)
TOC_LEVELS: Final = ("h2", "h3")


def to_html(notebook: Path | nbformat.NotebookNode, *, title: str, subtitle: str = "") -> str:
    """The executed ``notebook`` (a path or a node) as a complete HTML document: ``title`` and
    ``subtitle`` (team, period, data freshness...) in the header, escaped; a table of contents
    of its ``##`` and ``###`` headings; its outputs and markdown, no code. Raises
    :class:`ReviewkitError` when the notebook has charts but not the library that draws them
    (it was not executed from the top in a fresh kernel after ``render.enable()``)."""
    # slow to import, and only needed here; both are untyped
    import nbformat  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

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
            "top in a fresh kernel, with reviewkit.present.render.enable() before the first chart"
        )
    return body.replace(TOC_MARKER, _toc(body), 1)


def reader_digest(page: str) -> str:
    """The SHA-256 of what a reader of the published ``page`` sees: its text, whitespace
    collapsed, and what each chart draws (its Vega-Lite spec: data, marks, encodings, titles).
    What no reader sees is left out (element ids, the chart library's code, styles, markup, the
    spec's ``$schema``), so a review re-run over the same inputs has the same digest whatever
    bytes its page came out as, and one whose numbers or words changed has another."""
    parser = _Seen()
    parser.feed(page)
    parser.close()
    seen = {"text": " ".join("".join(parser.text).split()), "charts": parser.charts}
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode("utf-8")).hexdigest()


class _Seen(HTMLParser):
    """The text of a page outside its scripts and styles, and the specs its charts' scripts
    hold (after :data:`SPEC_MARK`)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.charts: list[dict[str, Any]] = []
        self._inside: str | None = None  # script or style

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.CDATA_CONTENT_ELEMENTS:
            self._inside = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside is None:
            self.text.append(data)
        elif self._inside == "script":
            self.charts += _specs(data)


def _specs(script: str) -> list[dict[str, Any]]:
    """The chart specs in a script (each a JSON object after :data:`SPEC_MARK`)."""
    found = []
    decoder = json.JSONDecoder()
    at = script.find(SPEC_MARK)
    while at >= 0:
        try:
            spec, end = decoder.raw_decode(script, at + len(SPEC_MARK))
        except ValueError:  # not a spec of ours: JavaScript of the same look
            end = at + len(SPEC_MARK)
        else:
            if isinstance(spec, dict):
                found.append({k: v for k, v in spec.items() if k != "$schema"})
        at = script.find(SPEC_MARK, end)
    return found


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
