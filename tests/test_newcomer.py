"""A newcomer's path (issue 26): the README's "Your own data in 15 minutes" runs as written.

Its commands and files are read from the README itself (its fenced blocks: a block after a line
ending in `PATH`: is that file, any other block is commands), so a README that drifts from what
works fails here. They run in a fresh folder, not the sample company; the KPI the README shows is
checked against plain DuckDB over the CSV the README gives. `init` writes what the README shows,
and `links export` on its empty store writes a template that `links import` takes back.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from click.testing import CliRunner, Result

from reviewkit import open_project
from reviewkit.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Your own data in 15 minutes"
CONFIG = "reviewkit.yaml"


@dataclass(frozen=True)
class Block:
    """A fenced block of the section: a file (``path``) or commands (``path`` None)."""

    path: str | None
    text: str
    line: int


def section() -> str:
    readme = README.read_text(encoding="utf-8")
    assert readme.split("\n## ")[1].startswith(SECTION[3:]), "the section opens the README"
    return readme.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]


def blocks() -> list[Block]:
    """The section's fenced blocks in order, each a file when the line before it (the end of
    its paragraph) ends with `PATH`:, else commands."""
    found, before, inside, start = [], "", None, 0
    for number, line in enumerate(section().splitlines(), 1):
        if inside is None and line.startswith("```"):
            label = re.search(r"`([\w./-]+)`:$", before)
            inside, start = [], number
            path = label.group(1) if label else None
            assert path is not None or line == "```", f"line {number}: a block of commands is bare"
        elif inside is not None and line == "```":
            found.append(Block(path, "\n".join(inside) + "\n", start))
            inside, before = None, ""
        elif inside is not None:
            inside.append(line)
        elif line.strip():
            before = line
    assert inside is None, "a fenced block is not closed"
    return found


def commands() -> list[list[str]]:
    return [
        words
        for block in blocks()
        if block.path is None
        for words in (shlex.split(line, comments=True) for line in block.text.splitlines())
        if words
    ]


def files(path: str) -> list[str]:
    return [block.text for block in blocks() if block.path == path]


def readme_config() -> dict[str, Any]:
    """reviewkit.yaml as the section builds it, fragment after fragment (a later fragment's
    `sources:` adds to the earlier ones')."""
    config: dict[str, Any] = {}
    for text in files(CONFIG):
        merge(config, yaml.safe_load(text))
    return config


def merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            assert key not in into, f"the README declares {key!r} twice"
            into[key] = value


def reviewkit(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), prog_name="reviewkit", catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result


def comment(*words: str) -> str:
    """What the README says after `#` on the command line that starts with ``words``."""
    for block in blocks():
        for line in (block.text if block.path is None else "").splitlines():
            if shlex.split(line, comments=True)[: len(words)] == list(words):
                return line.partition("#")[2].strip()
    raise AssertionError(f"no README command starts with {' '.join(words)}")


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def daily_mean(csv: Path, column: str, start: dt.date, end: dt.date) -> float:
    """The day's total of ``column`` averaged over the days with data in [start, end], with
    plain DuckDB over the raw file (no reviewkit)."""
    with duckdb.connect() as con:
        (value,) = con.execute(
            f"SELECT avg(total) FROM (SELECT day, sum({column}) AS total "
            "FROM read_csv(?, header = true) WHERE day BETWEEN ? AND ? GROUP BY day)",
            [str(csv), start, end],
        ).fetchone()
    return float(value)


def week(label: str) -> tuple[dt.date, dt.date]:
    """An ISO week's Monday and Sunday: reviewkit's week with the default calendar (weeks end
    on Sunday, named by the ISO week of their last day)."""
    year, number = map(int, re.fullmatch(r"(\d{4})-W(\d{2})", label).groups())
    monday = dt.date.fromisocalendar(year, number, 1)
    return monday, monday + dt.timedelta(days=6)


def test_the_readme_section_runs_as_written_on_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config: dict[str, Any] = {}
    seen: dict[str, Result] = {}
    for block in blocks():
        if block.path == CONFIG:
            merge(config, yaml.safe_load(block.text))
            Path(CONFIG).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            continue
        if block.path is not None:
            Path(block.path).write_text(block.text, encoding="utf-8")
            continue
        for line in block.text.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["cd"]:
                monkeypatch.chdir(words[1])
            elif words[:2] == ["reviewkit", "serve"]:  # runs until Ctrl-C: its --help only
                assert "Usage: reviewkit serve" in reviewkit("serve", "--help").output
            elif words[:1] == ["reviewkit"]:
                seen[line] = reviewkit(*words[1:])
            else:
                pytest.fail(f"README line {block.line}: cannot run {line!r}")
    checks = [r for line, r in seen.items() if shlex.split(line, comments=True)[1] == "check"]
    assert len(checks) >= 2
    assert all((r.stdout, r.stderr) == ("", "ok: project is valid\n") for r in checks)

    # the KPI `kpis` shows is the one plain DuckDB computes over the README's CSV
    (kpis,) = [c for c in commands() if c[1] == "kpis"]
    start, end = week(option(kpis, "--period"))
    csv = tmp_path / "readme-kpis.csv"
    (text,) = files("data/kpis.csv")
    csv.write_text(text, encoding="utf-8")
    value = daily_mean(csv, "signups", start, end)
    before = daily_mean(csv, "signups", start - dt.timedelta(days=7), end - dt.timedelta(days=7))
    shown = [f"{value:.1f}", f"{(value / before - 1) * 100:+.1f}%"]  # the value, WoW
    label = config["metrics"]["signups"]["label"]
    (scorecard,) = [r.stdout for line, r in seen.items() if " kpis " in f" {line} "]
    (row,) = [r for r in scorecard.splitlines() if r.startswith(label)]
    assert row[len(label) :].split()[:2] == shown, row
    assert comment("reviewkit", "kpis") == f"{label} {shown[0]}, WoW {shown[1]}"

    # the outcome: November's sign-ups a day against the target, as the README says
    month = daily_mean(csv, "signups", dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    (outcomes,) = [r for line, r in seen.items() if " outcomes " in f" {line} "]
    row = next(r for r in outcomes.stdout.splitlines() if r.startswith("more-signups"))
    assert row.split() == ["more-signups", "growth", f"{month:.1f}", "n/a", "45.0", "off", "track"]
    assert f"more-signups {month:.1f} against a target of 45.0: off track" == comment(
        "reviewkit", "outcomes"
    )

    (links,) = [r for line, r in seen.items() if " links import " in f" {line} "]
    assert links.stdout.strip() == comment("reviewkit", "links", "import")
    (report,) = [c for c in commands() if c[1] == "report"]
    page = Path("reports", option(report, "--period"), "company.html")
    assert page.is_file() and page.as_posix() in comment("reviewkit", "report")
    review = page.read_text(encoding="utf-8")
    assert "More visitors sign up" in review and f"{month:.1f}" in review


def test_the_readme_says_which_period_to_pass_and_kpis_alone_says_so_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reviewkit("init", "fresh")
    result = CliRunner().invoke(main, ["kpis", "--project", "fresh"])
    assert result.exit_code == 1
    (kpis,) = [c for c in commands() if c[1] == "kpis"]
    assert "ask for 2026-11 (in progress)" in result.stderr
    assert f"`{option(kpis, '--period')}`" in section() and "`--period 2026-11`" in section()


def test_init_writes_the_files_the_readme_shows(tmp_path: Path) -> None:
    reviewkit("init", str(tmp_path / "fresh"))
    written = tmp_path / "fresh"
    for path in ("data/kpis.csv", "data/issues.csv"):
        assert files(path) == [(written / path).read_text(encoding="utf-8")], path
    (links,) = files("links.yaml")
    assert yaml.safe_load(links) == yaml.safe_load((written / "links.yaml").read_text())
    # the starter declares what the README's fragments do (and names the project and calendar)
    starter = yaml.safe_load((written / CONFIG).read_text(encoding="utf-8"))
    ours = readme_config()
    assert {key: starter[key] for key in ours} == ours
    assert set(starter) - set(ours) == {"name", "calendar"}
    # commented: every line that holds a key says what it is for
    lines = (written / CONFIG).read_text(encoding="utf-8").splitlines()
    bare = [line for line in lines if re.match(r"\s*-?\s*\w+:", line) and "#" not in line]
    assert bare == []


def test_links_export_of_an_empty_store_is_a_template_that_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reviewkit("init", "fresh")
    monkeypatch.chdir("fresh")
    assert reviewkit("links", "export", "template.yaml").stdout == "wrote template.yaml\n"
    template = Path("template.yaml").read_text(encoding="utf-8")
    assert "\nlinks:\n# - output_id: WEB-12 " in template
    # as it is, it imports nothing
    assert reviewkit("links", "import", "template.yaml").stdout == (
        "0 created, 0 updated, 0 unchanged\n"
    )
    # uncommented, its examples name the starter's output and outcome: a link and a check-in
    Path("filled.yaml").write_text(re.sub(r"^# (?=- |  )", "", template, flags=re.M))
    assert reviewkit("links", "import", "filled.yaml").stdout == (
        "2 created, 0 updated, 0 unchanged\n"
    )
    with open_project(".") as project:
        (link,) = project.store.links()
        (checkin,) = project.store.checkins()
    assert (link.output_id, link.outcome_id, link.lag_days) == ("WEB-12", "more-signups", 7)
    assert (checkin.period, checkin.status, len(checkin.decisions)) == ("2026-11", "at risk", 1)


def test_a_link_imported_without_direction_takes_the_way_its_metric_gets_better(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as the link editor and project.link do: a lower-is-better KPI's link hopes for a decrease
    monkeypatch.chdir(tmp_path)
    reviewkit("init", "fresh")
    monkeypatch.chdir("fresh")
    config = Path(CONFIG)
    config.write_text(config.read_text().replace("direction: higher", "direction: lower"))
    assert "direction" not in Path("links.yaml").read_text()
    reviewkit("links", "import", "links.yaml")
    with open_project(".") as project:
        (link,) = project.store.links()
    assert link.direction == "decrease"


def test_check_names_each_output_missing_its_id_title_or_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the outputs export's required columns (docs/guide/analysts.md, "The outputs export"): a blank id is an
    # error, a blank title or team a warning, each with its file and line
    monkeypatch.chdir(tmp_path)
    reviewkit("init", "fresh")
    monkeypatch.chdir("fresh")
    Path("data/issues.csv").write_text(
        "key,title,team,done\n"
        "WEB-12,,growth,2026-11-13\n"
        "WEB-13,Sign-up with Google,growth,2026-11-14\n"
        ",Pricing page answers common questions,,2026-11-18\n"
    )
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert result.stdout == (
        "data/issues.csv:4: outputs.id: column 'key' is blank, so this output has no id to link "
        "it by; fill it in (or remove the row)\n"
        "data/issues.csv:2: warning: outputs.title: column 'title' is blank, so this output is "
        "shown without a title; fill it in\n"
        "data/issues.csv:4: warning: outputs.team: column 'team' is blank, so this output counts "
        "for no team in alignment; fill it in\n"
    )
