"""Benchmark 2, the monthly review batch: ``reviewkit report`` against the shell loop an analyst
would write (``papermill`` then ``jupyter nbconvert --to html``, one review after the other).

Same notebook (``notebooks/monthly_review.ipynb``), same data: a copy of the sample project under
``--work`` (``reviewkit sample`` exports, the links of ``data/links.yaml`` imported into a fresh
store). The sample company has 5 teams, so the 10 reviews are 5 teams x 2 months (2026-09 and
2026-10): no invented teams. reviewkit runs them as one ``reviewkit report`` per month, each with
the 5 ``--team`` options and its default ``--jobs``; the peer runs 10 x (papermill + nbconvert)
as separate processes, sequentially, from one shell. Each side is one ``bash -c`` timed end to
end (wall time, and the peak RSS of its largest process). The marginal cost per report is
``(T_N - T_1) / (N - 1)``, with T_1 the same side running one review (billing, 2026-10).

Target (issues 8 and 17): reviewkit at least 4x faster end to end.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness

BIN = Path(sys.executable).parent
NOTEBOOK = harness.REPO / "notebooks" / "monthly_review.ipynb"
TEAMS = ("growth", "onboarding", "billing", "support", "mobile")
MONTHS = ("2026-09", "2026-10")
SINGLE = ("2026-10", "billing")
TARGET = 4.0


def sample_project(folder: Path, env: dict[str, str]) -> Path:
    """A fresh copy of the sample project in ``folder``: reviewkit.yaml, the exports generated
    by ``reviewkit sample`` (byte-identical to ``make sample``) and its links imported."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy2(harness.REPO / "reviewkit.yaml", folder / "reviewkit.yaml")
    quiet = {"env": env, "stdout": subprocess.DEVNULL}
    harness.run_process([str(BIN / "reviewkit"), "sample", "--dir", str(folder)], **quiet)
    links = folder / "data" / "links.yaml"
    harness.run_process(
        [str(BIN / "reviewkit"), "links", "import", "--project", str(folder), str(links)], **quiet
    )
    return folder


def jupyter_env(work: Path) -> dict[str, str]:
    """The environment of every command: Jupyter's folders in temp dirs, the venv first on PATH."""
    env = dict(os.environ)
    for name in ("DATA", "RUNTIME", "CONFIG"):
        folder = work / f"jupyter-{name.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        env[f"JUPYTER_{name}_DIR"] = str(folder)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def reviewkit_script(project: Path, reviews: list[tuple[str, str]]) -> str:
    """One ``reviewkit report`` per month, with every team of that month as ``--team``."""
    commands = []
    for month in dict.fromkeys(m for m, _ in reviews):
        teams = " ".join(f"--team {shlex.quote(t)}" for m, t in reviews if m == month)
        commands.append(
            f"{shlex.quote(str(BIN / 'reviewkit'))} report --project {shlex.quote(str(project))} "
            f"--period {month} {teams}"
        )
    return " && ".join(commands)


def naive_script(project: Path, out: Path, reviews: list[tuple[str, str]]) -> str:
    """The loop an analyst writes: papermill, then nbconvert, per review, one after the other."""
    papermill = shlex.quote(str(BIN / "papermill"))
    jupyter = shlex.quote(str(BIN / "jupyter"))
    items = " ".join(f"{m}:{t}" for m, t in reviews)
    return (
        f"set -e; mkdir -p {shlex.quote(str(out))}; for review in {items}; do "
        "period=${review%%:*}; team=${review#*:}; "
        f'nb={shlex.quote(str(out))}/"$period-$team.ipynb"; '
        f'{papermill} {shlex.quote(str(NOTEBOOK))} "$nb" '
        f"-p project_dir {shlex.quote(str(project))} "
        '-p period "$period" -p team "$team"; '
        f'{jupyter} nbconvert --to html "$nb"; '
        "done"
    )


def shell(script: str, env: dict[str, str], log: Path) -> dict[str, float]:
    """Run ``script`` with bash, its output appended to ``log`` (shown if it fails): its wall
    time, peak RSS (of its largest process) and CPU time (of all its processes, kernels too)."""
    with log.open("a") as sink:
        sink.write(f"\n$ {script}\n")
        sink.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            found = harness.run_process(
                ["bash", "-c", script], env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        except SystemExit:
            print(log.read_text()[-4000:], file=sys.stderr)
            raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {**found, "cpu": cpu}


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=3)
    if options.tiny:
        options.repeat = 1
        reviews = [(MONTHS[-1], team) for team in TEAMS[:2]]
        shape = "2 teams x 1 month (tiny)"
    else:
        reviews = [(month, team) for month in MONTHS for team in TEAMS]
        shape = f"{len(TEAMS)} teams x {len(MONTHS)} months"
    count = len(reviews)
    work = options.work / "report_batch"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = jupyter_env(work)
    project = sample_project(work / "project", env)
    log = work / "commands.log"
    many = {
        "reviewkit": reviewkit_script(project, reviews),
        "naive": naive_script(project, work / "naive", reviews),
    }
    one = {
        "reviewkit": reviewkit_script(project, [SINGLE]),
        "naive": naive_script(project, work / "naive-1", [SINGLE]),
    }

    print(f"# Monthly review batch: {count} reviews ({shape}), same notebook, same data")
    print(harness.machine())
    print(
        "The sample company has 5 teams: its 10 reviews are each team's review of 2 months "
        "(2026-09, 2026-10) in a copy of the sample project, rather than invented teams."
    )
    print(
        f"reviewkit: `reviewkit report --period P --team T...` once per month, default --jobs "
        f"({os.cpu_count()}); peer: per review, `papermill monthly_review.ipynb out.ipynb -p "
        "project_dir DIR -p period P -p team T` then `jupyter nbconvert --to html out.ipynb`, "
        "sequential, from one shell loop"
    )
    if not options.tiny:  # the sources' cache and the archive exist before anything is timed
        shell(one["reviewkit"], env, log)
    sides = {
        "reviewkit N": lambda: shell(many["reviewkit"], env, log),
        "naive N": lambda: shell(many["naive"], env, log),
    }
    if not options.tiny:  # --tiny stays within a minute: no single-review runs
        sides["reviewkit 1"] = lambda: shell(one["reviewkit"], env, log)
        sides["naive 1"] = lambda: shell(one["naive"], env, log)
    found = harness.alternate(sides, options.repeat)
    check_outputs(project, work, reviews)

    labels = {
        "reviewkit": "reviewkit report",
        "naive": "papermill + nbconvert loop",
    }
    rows = []
    for side, label in labels.items():
        samples = found[f"{side} N"]
        rows.append(
            [
                label,
                count,
                samples.median,
                min(samples.seconds),
                max(samples.seconds),
                samples.median / count,
                samples.median_of("cpu"),
                samples.median_of("peak_mb"),
            ]
        )
    print()
    print(
        harness.table(
            f"End to end, {count} reviews: medians of {options.repeat} run(s), alternating",
            [
                "side",
                "reviews",
                "wall s",
                "min s",
                "max s",
                "s / review",
                "CPU s",
                "peak RSS MB",
            ],
            rows,
        )
    )
    speedup = found["naive N"].median / found["reviewkit N"].median
    print(f"ratio: the naive loop takes {speedup:.2f}x as long as reviewkit report")

    if options.tiny:
        print("\nmarginal cost per report: measured at full size only (not with --tiny)\n")
        print(harness.verdict(f"target >= {TARGET:g}x faster end to end", speedup, TARGET))
        return
    rows = []
    for side, label in labels.items():
        single, batch = found[f"{side} 1"].median, found[f"{side} N"].median
        rows.append([label, single, batch, (batch - single) / (count - 1)])
    print()
    print(
        harness.table(
            f"Marginal cost per report: (T_{count} - T_1) / {count - 1}, medians",
            ["side", "T_1 s", f"T_{count} s", "s per extra report"],
            rows,
        )
    )
    marginal = rows[1][3] / rows[0][3] if rows[0][3] > 0 else float("inf")
    print(
        f"ratio: a report beyond the first costs the naive loop {marginal:.2f}x what it costs "
        f"reviewkit ({min(os.cpu_count() or 1, len(TEAMS))} kernels at once)"
    )
    print()
    print(harness.verdict(f"target >= {TARGET:g}x faster end to end", speedup, TARGET))


def check_outputs(project: Path, work: Path, reviews: list[tuple[str, str]]) -> None:
    """Both sides produced every review: reviewkit's HTML and the naive loop's."""
    missing = [
        str(path)
        for month, team in reviews
        for path in (
            project / "reports" / month / f"{team}.html",
            work / "naive" / f"{month}-{team}.html",
        )
        if not path.is_file()
    ]
    if missing:
        raise SystemExit("missing outputs: " + ", ".join(missing))


if __name__ == "__main__":
    main()
