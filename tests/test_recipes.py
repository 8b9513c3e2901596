"""The recipes in docs/scheduling.md, run as written: the cron line through ``sh -c`` on a fresh
project, the systemd unit's command as another user (and what that user is told when it may not
write the project), and the CI workflow checked (it runs on GitHub only)."""

from __future__ import annotations

import configparser
import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reviewkit.base.cron import parse_cron
from reviewkit.cli.report import report as report_command
from tests.conftest import SHOP_CONFIG, SHOP_ORDERS

# the recipes run real reviews
pytestmark = pytest.mark.kernel

DOC = Path(__file__).resolve().parents[1] / "docs" / "scheduling.md"
MONTHLY = "0 6 1 * *"
#: where the recipes put the project
WHERE = "/srv/review"
#: the day the recipes run: `last-month` is February 2026, the tiny shop's last month of data
TODAY = "2026-03-05"
#: the tiny shop with one company outcome: `--all-teams` is one review
OUTCOME = """\
outcomes:
  - id: shop-revenue
    title: The shop sells more
    owner: Ann
    kpi: revenue
    baseline: {value: 100, period: 2026-01}
    target: {value: 500, by: 2026-12-31}
"""
#: a line of a log, stamped with the local date and time
STAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S")


def blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def check_report_command(command: str) -> None:
    """The command is `reviewkit report --period last-month ...` with real options."""
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("reviewkit"))
    assert words[start + 1 : start + 4] == ["report", "--period", "last-month"]
    known = {opt for p in report_command.params for opt in p.opts}
    used = {w for w in words[start + 2 :] if w.startswith("-")}
    assert used <= known, used - known


@pytest.fixture
def project() -> Iterator[Path]:
    """A fresh project (no reports/, no .reviewkit/) with the environment running the tests as
    its `.venv`, outside pytest's folders (which other users may not enter)."""
    folder = Path(tempfile.mkdtemp(prefix="reviewkit-recipe-"))
    folder.chmod(0o755)
    (folder / "data").mkdir()
    (folder / "data" / "orders.csv").write_text(SHOP_ORDERS, encoding="utf-8")
    (folder / "reviewkit.yaml").write_text(SHOP_CONFIG + OUTCOME, encoding="utf-8")
    (folder / ".venv").symlink_to(sys.prefix)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def recipe_env(home: Path, **more: str) -> dict[str, str]:
    """The bare environment a scheduler gives a job (cron's, systemd's), with reviewkit's clock
    and, when the tests run from a source tree, its modules."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LANG": "C.UTF-8"}
    env["REVIEWKIT_TODAY"] = TODAY
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**env, **more}


@pytest.fixture
def root() -> None:
    """Tests that run commands as other users (with setpriv) and make one (useradd) need root."""
    if os.geteuid() != 0:
        pytest.skip("running commands as another user takes root")


def as_user(user: str) -> list[str]:
    """What runs a command as ``user``, with its groups. Where that user cannot run this
    environment's interpreter from a process of its own (a Python under root's home, as in some
    containers), the command may also read and search any folder, and still write only what
    ``user`` may write, which is what the tests here are about."""
    account = pwd.getpwnam(user)
    prefix = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"]
    nested = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", nested], capture_output=True, check=False, timeout=60
    )
    if probe.returncode != 0:
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return prefix


def cron_command(line: str) -> str:
    """What cron hands to /bin/sh for a crontab line: what follows the five time fields, each
    `\\%` made `%` (a bare `%` would end the command there)."""
    command = line.split(maxsplit=5)[5]
    assert not re.search(r"(?<!\\)%", command), "cron ends a command at a bare %: write \\%"
    return command.replace("\\%", "%")


def published(project: Path) -> list[str]:
    return sorted(p.relative_to(project).as_posix() for p in (project / "reports").rglob("*"))


def test_the_cron_line_runs_as_written_on_a_fresh_project(project: Path, tmp_path: Path) -> None:
    """The crontab line through `sh -c`, as cron runs it, on a project that never ran a report:
    the review is published, and the log, every line stamped, is outside reports/."""
    (block,) = blocks("cron")
    (line,) = block.strip().splitlines()
    assert parse_cron(" ".join(line.split()[:5])).text == MONTHLY
    command = cron_command(line)
    check_report_command(command.split("&&")[-1].split("|")[0])
    done = subprocess.run(
        ["/bin/sh", "-c", command.replace(WHERE, str(project))],
        env=recipe_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # cron mails whatever the line prints: it all goes to the log
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert {"reports/2026-02/company.html", "reports/index.html"} <= set(published(project))
    (log,) = project.rglob("*.log")
    assert "reports" not in log.relative_to(project).parts
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines, "the log is empty"
    assert all(STAMPED.match(entry) for entry in lines), lines
    assert any("[1/1] company: ok (" in entry for entry in lines)
    assert any("1 of 1 review(s) published for 2026-02" in entry for entry in lines)


@pytest.mark.usefixtures("root")
def test_a_user_who_may_not_write_the_project_is_told_what_to_do(
    project: Path, tmp_path: Path
) -> None:
    """`reviewkit report` and `reviewkit schedule` as a user who may read the project but not
    write it (another user's folder): an error naming the folder, whose it is and what to do,
    before anything runs; no traceback."""
    runs = [
        ["report", "--period", "last-month", "--all-teams"],
        ["schedule", "--cron", MONTHLY, "--once"],
    ]
    for command in runs:
        done = subprocess.run(
            [*as_user("nobody"), str(project / ".venv" / "bin" / "reviewkit"), *command],
            env=recipe_env(tmp_path),
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(
            f"Error: permission denied: .reviewkit ({project} belongs to root, drwxr-xr-x) to "
            "user nobody: the user running reviewkit must be able to read the project and to "
            "write its folder, reports/, .reviewkit/ and the store; give them to nobody as "
            "docs/scheduling.md shows (systemd timer), or run reviewkit as root"
        ), done.stderr
    assert sorted(p.name for p in project.iterdir()) == [".venv", "data", "reviewkit.yaml"]


def unit(text: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read_string(text)
    return parsed


@pytest.fixture
def service_user(root: None) -> Iterator[str]:
    """A name for the recipe's user that no account has; the account the recipe makes under it
    is removed afterwards (its home too)."""
    name = f"review-{secrets.token_hex(3)}"
    yield name
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False, timeout=60)


def test_the_systemd_unit_verifies_and_its_command_runs_as_its_user(
    project: Path, service_user: str, tmp_path: Path
) -> None:
    """The recipe's steps as root (the user, the folders it writes), `systemd-analyze verify`
    on both units, then the service's command as systemd runs it: as that user, in its working
    folder, with its environment and the user's home. The review is published, and the journal
    gets the progress lines and nothing else (no warning about an unwritable home)."""
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's systemd is missing: `make test` installs it", pytrace=False)
        pytest.skip("systemd-analyze is not installed (make test installs Debian's systemd)")

    def here(text: str) -> str:
        """The recipe for this project, its user named ``service_user``."""
        return re.sub(r"\breview\b", service_user, text.replace(WHERE, str(project)))

    (steps,) = blocks("sh")
    subprocess.run(["/bin/sh", "-ec", here(steps)], cwd=tmp_path, check=True, timeout=60)
    service_text, timer_text = blocks("ini")
    service, timer = unit(service_text)["Service"], unit(timer_text)
    assert service["Type"] == "oneshot"
    assert (service["User"], service["WorkingDirectory"]) == ("review", WHERE)
    assert timer["Timer"]["OnCalendar"] == "*-*-01 06:00:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "reviewkit-report.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    units = tmp_path / "units"
    units.mkdir()
    for name, text in (("service", service_text), ("timer", timer_text)):
        (units / f"reviewkit-report.{name}").write_text(here(text), encoding="utf-8")
    verified = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in units.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, ""), verified.stderr

    account = pwd.getpwnam(service_user)
    command = shlex.split(here(service["ExecStart"]))
    check_report_command(" ".join(command))
    environment = dict(line.split("=", 1) for line in here(service["Environment"]).split())
    systemd = {"USER": account.pw_name, "LOGNAME": account.pw_name, "SHELL": account.pw_shell}
    done = subprocess.run(
        [*as_user(service_user), *command],
        env=recipe_env(Path(account.pw_dir), **systemd, **environment),
        cwd=here(service["WorkingDirectory"]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()  # what the journal gets: nothing but the progress
    assert re.fullmatch(r"\[1/1\] company: ok \(\d+\.\d s\)", line), done.stderr
    assert "1 of 1 review(s) published for 2026-02" in done.stdout
    assert "reports/2026-02/company.html" in published(project)


def test_ci_recipe() -> None:
    (block,) = blocks("yaml")
    workflow = yaml.safe_load(block)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    (entry,) = triggers["schedule"]
    assert parse_cron(entry["cron"]).text == MONTHLY
    steps = workflow["jobs"]["report"]["steps"]
    commands = [s["run"] for s in steps if "run" in s and "reviewkit" in s["run"]]
    (command,) = commands
    check_report_command(command)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"
