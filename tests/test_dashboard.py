"""The live pages' parameters: the notebook's, overridden by the page URL's query string, checked
before use; a wrong value is a message on the page, never a traceback."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest

from reviewkit import ReviewkitError, dashboard
from reviewkit.dashboard import UrlError, page, url_parameters

DEFAULTS = {"project_dir": "..", "period": "latest", "team": ""}


def test_the_url_overrides_text_parameters() -> None:
    assert url_parameters("period=2026-09&team=growth", DEFAULTS) == {
        "period": "2026-09",
        "team": "growth",
    }
    assert url_parameters("", DEFAULTS) == {}
    assert url_parameters("token=secret&team=a%20b", DEFAULTS) == {"team": "a b"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour=red", "this page has no URL parameter 'colour'; it takes: project_dir, period"),
        ("team=a&team=b", "the URL gives 'team' twice"),
        ("filters=x", "'filters' cannot be set from the URL"),
        ("team=" + "x" * 201, "longer than 200 characters"),
    ],
)
def test_a_bad_query_is_refused(query: str, message: str) -> None:
    with pytest.raises(UrlError, match=message.replace("(", r"\(")):
        url_parameters(query, {**DEFAULTS, "filters": {}})


@pytest.fixture
def voila(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment Voila gives its kernels (a base URL, and the page's query string)."""
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.delenv("QUERY_STRING", raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def project_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dashboard") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    return str(folder)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("team=sales", "team 'sales' is unknown; teams are: billing, growth"),
        ("team=../../etc", "team '../../etc' is unknown"),
        ("period=2026-13", "2026-13"),
        ("period=2019-01", "is not one of the recent complete months"),
        ("team=<script>alert(1)</script>", "team '<script>alert(1)</script>' is unknown"),
    ],
)
def test_a_page_with_a_bad_url_explains_itself(
    project_dir: str, query: str, message: str, voila: pytest.MonkeyPatch
) -> None:
    voila.setenv("QUERY_STRING", query)
    shown = page("checkins", project_dir, period="latest", team="")
    assert shown.problem and shown.panels == []
    markup = shown.widget.value
    assert "This page cannot be shown" in markup and message in html.unescape(markup)
    assert "<script>" not in markup and "Traceback" not in markup


def test_a_page_follows_its_url(project_dir: str, voila: pytest.MonkeyPatch) -> None:
    voila.setenv("QUERY_STRING", "period=2026-09&team=growth")
    shown = page("checkins", project_dir, period="latest", team="")
    assert shown.problem == ""
    navigator = shown.panels[0]
    assert (navigator.period, navigator.team) == ("2026-09", "growth")
    assert shown.parameters == {"period": "2026-09", "team": "growth"}


def test_a_missing_project_is_a_message(tmp_path: Path, voila: pytest.MonkeyPatch) -> None:
    shown = page("review", str(tmp_path), period="latest", team="")
    assert "reviewkit.yaml" in shown.problem


def test_outside_voila_a_bad_parameter_raises(project_dir: str, monkeypatch) -> None:
    monkeypatch.delenv("VOILA_BASE_URL", raising=False)
    monkeypatch.delenv("QUERY_STRING", raising=False)
    with pytest.raises(ReviewkitError, match="team 'sales' is unknown"):
        page("links", project_dir, period="latest", team="sales")


def test_every_page_has_its_notebook() -> None:
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    for notebook, _title in dashboard.PAGES.values():
        assert (notebooks / notebook).is_file()
    with pytest.raises(ValueError, match="unknown page"):
        page("admin", ".")


def test_the_page_template_takes_its_links_from_pages() -> None:
    # `reviewkit serve` hands PAGES to the template; a page added there is in the bar, and the
    # template names none itself (test_serve checks the bar a browser shows).
    template = Path(__file__).resolve().parents[1] / "templates" / "voila" / "templates"
    text = (template / "reviewkit" / "index.html.j2").read_text(encoding="utf-8")
    assert 'page_config.get("reviewkitPages"' in text
    for notebook, title in dashboard.PAGES.values():
        assert notebook not in text and f">{title}<" not in text


def test_the_explorer_page_lists_the_catalogue(project_dir: str, voila: pytest.MonkeyPatch) -> None:
    shown = page(
        "explore",
        project_dir,
        metric="csat",
        grain="month",
        start="",
        end="",
        by="",
        filters={},
        period="latest",
        team="",
    )
    assert shown.problem == ""
    catalogue = shown.panels[-1].value
    assert "The metric catalogue" in catalogue and "csat" in catalogue
