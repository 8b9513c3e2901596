"""Every setting and command is documented: adding a key or command without docs fails here.

The README is the front door (under 15 KB, a map of the docs); the rest lives under docs/, and
every relative link between them resolves (issue 31)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewkit import config
from reviewkit.cli import main, reference
from reviewkit.config import keys as config_keys
from reviewkit.config import model
from tests.test_config import VALID_SOURCE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: the generated reference pages and their hand-written templates (`make docs`)
REFERENCE = ROOT / "docs" / "reference"
#: the config reference's template: "The project format", moved out of the README
CONFIG_TEMPLATE = (REFERENCE / "config.md.in").read_text(encoding="utf-8")
#: the annotated reviewkit.yaml: the first yaml block of "The project format"
ANNOTATED = re.search(r"# The project format.*?```yaml\n(.*?)```", CONFIG_TEMPLATE, re.S).group(1)
#: the command line's template: "Using it", whose first block shows every command at work
CLI_TEMPLATE = (REFERENCE / "cli.md.in").read_text(encoding="utf-8")
CLI_EXAMPLES = re.search(r"```\n(.*?)```", CLI_TEMPLATE, re.S).group(1)
#: the guide to the monthly reviews, where "Reviews that reach people" is
SCHEDULE = (ROOT / "docs" / "guide" / "schedule.md").read_text(encoding="utf-8")
#: the pages of the docs: the README and every markdown page under docs/
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: every key of reviewkit.yaml: the table the checker takes each section's valid keys from
KEYS = sorted({key.name for key in config_keys.KEYS})


@pytest.mark.parametrize("key", KEYS)
def test_every_config_key_is_in_the_annotated_reviewkit_yaml(key: str) -> None:
    assert re.search(rf"\b{key}:", ANNOTATED), (
        f"document `{key}` in docs/reference/config.md's reviewkit.yaml"
    )


@pytest.mark.parametrize(
    "word",
    [
        *model.FORMATS,
        *model.AGGREGATIONS,
        *model.DERIVED_OPS,
        *model.VALUE_FORMATS,
        *model.ON_ERROR,
        *model.DIRECTIONS,
        *model.VALUE_TYPES,
        *model.DATE_GRAINS,
        *model.GAPS,
        *model.CHANGES,
        *model.IMPACT_GRAINS,
        *model.EMAIL_SECURITY,
        *model.CHAT_FORMATS,
        *model.ALERT_STATUSES,
    ],
)
def test_every_choice_is_documented(word: str) -> None:
    assert re.search(rf"\b{word}\b", ANNOTATED)


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_in_the_cli_examples(command: str) -> None:
    """The hand-written examples at the top of docs/reference/cli.md show every command at work
    (the generated part below them gives each one's --help)."""
    assert f"reviewkit {command}" in CLI_EXAMPLES


def test_the_reference_pages_are_generated_and_current() -> None:
    """docs/reference/cli.md and config.md are what `make docs` writes from their templates, the
    click commands and the table of keys: a changed command, option or key without `make docs`
    fails here. Each page says at its top that it is generated."""
    for path, text in reference.pages(REFERENCE).items():
        assert text.startswith("<!-- Generated from ") and "run make docs" in text.split("\n")[0]
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run make docs"


def test_every_key_of_the_table_is_documented() -> None:
    """Every key of the table (the checker's valid keys) has a type and a help text, in a section
    that has a heading; a key is listed once per section, and every section takes keys."""
    seen = set()
    for key in config_keys.KEYS:
        where = f"{key.section or '(top)'}.{key.name}"
        assert key.section in config_keys.SECTIONS, f"{where}: unknown section"
        assert key.type.strip() and key.help.strip(), f"{where}: give it a type and a help text"
        assert (key.section, key.name) not in seen, f"{where}: listed twice"
        seen.add((key.section, key.name))
        assert bool(key.formats) == (key.section == "sources.options"), where
        assert set(key.formats) <= set(model.FORMATS), where
    for section in config_keys.SECTIONS.values():
        assert section.help.strip() and config_keys.allowed(section.name), section.name
    assert config_keys.allowed("metrics")[-len(model.DERIVED_OPS) :] == model.DERIVED_OPS


def test_every_command_has_help_in_the_cli_reference() -> None:
    """Every command and subcommand says what it does, and the generated reference gives it a
    heading and its usage line."""
    page = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    found = list(reference.commands())
    assert len(found) > len(main.commands)  # subcommands too
    for path, ctx in found:
        assert (ctx.command.help or "").strip(), f"`{path}` has no help text"
        assert f"`{path}`\n\n```\nUsage: {path} " in page, path


def test_the_delivery_section_sets_where_its_links_point(write_config) -> None:
    """The schedule guide's "Reviews that reach people" reviewkit.yaml is valid, and sets
    `live_url`: the links its emails and chat messages carry would otherwise point at 127.0.0.1."""
    section = SCHEDULE.split("\n## Reviews that reach people", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    metrics = "metrics:\n  n: {source: tickets, agg: count}\n"
    loaded = config.load_config(write_config(VALID_SOURCE + metrics + block))
    assert loaded.live_url == "https://reviews.example.com/"
    assert loaded.delivery is not None
    assert "`live_url`" in section


def test_the_readme_is_the_front_door_with_a_map_of_every_page() -> None:
    """The README stays under 15 KB (the rest is in docs/), and its map links every page there."""
    assert len(README.encode("utf-8")) < 15_000
    linked = {(ROOT / path).resolve() for path, _ in links(README)}
    unlinked = [page.relative_to(ROOT).as_posix() for page in PAGES[1:] if page not in linked]
    assert unlinked == [], "add these pages to the README's map of the docs"


def links(text: str) -> list[tuple[str, str]]:
    """The relative markdown links and images of ``text``, each as (path, anchor): outside fenced
    blocks and code spans, web and mail addresses left out."""
    prose = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    found = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue
        path, _, anchor = target.partition("#")
        found.append((path, anchor))
    return found


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a markdown page: the heading's text without
    markup, lower-cased, punctuation dropped, spaces as hyphens; a repeat gets -1, -2..."""
    prose = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.S | re.M)
    slugs: set[str] = set()
    repeats: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", prose, flags=re.M):
        words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", words.strip().lower()).replace(" ", "-")
        slugs.add(f"{slug}-{repeats[slug]}" if slug in repeats else slug)
        repeats[slug] = repeats.get(slug, 0) + 1
    return slugs


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    """Every relative link of the README and of docs/ names a file or folder of the repository,
    and an anchor in a markdown page names one of its headings."""
    broken = []
    for path, anchor in links(page.read_text(encoding="utf-8")):
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or ROOT.resolve() not in [target, *target.parents]:
            broken.append(f"{path}: no such file")
        elif (
            anchor
            and target.suffix == ".md"
            and anchor not in anchors(target.read_text(encoding="utf-8"))
        ):
            broken.append(f"{path}#{anchor}: no such heading")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


PACKAGE = ROOT / "src" / "reviewkit"


def _top_level() -> set[str]:
    """The packages and modules directly under src/reviewkit, as the docs name them."""
    return {
        path.stem
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
        or (path / "__init__.py").is_file()
    }


def test_the_readmes_map_of_the_package_matches_the_tree() -> None:
    line = README.split("Inside `src/reviewkit/`", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`(\w+)`", line)) == _top_level()


def test_the_architecture_page_names_every_package_and_module() -> None:
    """docs/architecture.md has a row per package (and top-level module) that names each of its
    modules, nested packages' included, and no row for something that is not in the tree."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)(?:/|\.py)` \|[^|]*\|([^\n]*)\|$", page, re.M))
    assert set(rows) == _top_level()
    for module in sorted(PACKAGE.rglob("*.py")):
        parts = module.relative_to(PACKAGE).parts
        if len(parts) == 1 or parts[0] == "cli" or module.stem == "__init__":
            continue
        assert f"`{module.stem}`" in rows[parts[0]], f"name {'/'.join(parts)} in its row"
