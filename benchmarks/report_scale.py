"""Benchmark 7, review batches beyond one machine: a simulated company of ``--teams`` teams
(default 500) published on a Dask ``LocalCluster`` of 2 workers, and ``reviewkit report
--all-teams`` with the local executor (2 jobs) and on a ``LocalCluster`` of 1, 2 and 4 worker
processes (one thread each) side by side, in reviews per minute; then what a monthly run of the
simulated company needs on N machines like this one.

The simulated company (``benchmarks/company.py``): the sample company's 5 teams each split into
N/5 sub-teams, every export's rows dealt out among them and every team outcome cloned per
sub-team, so each review asks KPI queries of its own (copying the 5 teams would have them read
back from the kept results: cheaper reviews than real teams'). Its month (2026-10) is run once,
cold, as a real monthly run after new exports: a fresh project whose exports have never been
read (only the issues export, by ``reviewkit links import``) and no kept results; the 5-team
sample's same month, cold the same way, is run beside it for the cost per review. The
per-review seconds are each review's own, as ``reviewkit report`` logs them (``[k/n] team: ok
(3.1 s)``: executing the notebook on its worker, rendering and publishing its page).

The worker-count sides use the same notebook and data as benchmark 2: a copy of the sample
project under ``--work`` with its links imported, publishing ``--all-teams`` (5 teams and the
company-wide review, 6 reviews) for several months, one ``reviewkit report`` per month, each a
process of its own, after a first run has kept its results. A cluster is started before its
side is timed, as a standing cluster would be; each run starts one kernel per worker.

Target (ours): on this machine's cores, Dask with 2 workers does at least 0.8x the reviews per
minute of the local executor (what the cluster's scheduling and transport cost).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import company as simulated
import harness
from distributed import LocalCluster
from report_batch import jupyter_env, sample_project

BIN = Path(sys.executable).parent
MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10")
REVIEWS_PER_MONTH = 6  # 5 teams and the company-wide review
COMPANY_TEAMS = 500
TINY_TEAMS = 5
COMPANY_MONTH = "2026-10"
#: a review's line in ``reviewkit report``'s log: ``[2/6] billing: ok (3.1 s)``
REVIEW_LINE = re.compile(r"^\[\d+/\d+\] (\S+): ok \(([\d.]+) s\)$", re.MULTILINE)
FAILED_LINE = re.compile(r"^\[\d+/\d+\] (\S+): FAILED: (.*)$", re.MULTILINE)
MACHINES = (1, 2, 5, 10, 25)
TARGET = 0.8


def run_month(
    project: Path, month: str, teams: list[str], executor: str, env: dict[str, str], log: Path
) -> float:
    """One ``reviewkit report`` of ``teams`` (its options) for ``month``; its wall time."""
    with log.open("a") as sink:
        command = [str(BIN / "reviewkit"), "report", "--project", str(project)]
        command += ["--period", month, *teams, "--executor", executor]
        sink.write(f"\n$ {' '.join(command)}\n")
        sink.flush()
        try:
            found = harness.run_process(command, env=env, stdout=sink, stderr=sink)
        except SystemExit:
            print(log.read_text()[-4000:], file=sys.stderr)
            raise
    return found["wall"]


def side(
    project: Path,
    months: tuple[str, ...],
    teams: list[str],
    workers: int,
    env: dict[str, str],
    log: Path,
):
    """The months' runs on ``workers`` Dask worker processes (0: the local executor); the
    seconds of the report commands alone."""

    def runs(executor: str) -> dict[str, float]:
        return {"report": sum(run_month(project, m, teams, executor, env, log) for m in months)}

    def run() -> dict[str, float]:
        if workers == 0:
            return runs("local")
        with cluster(workers) as executor:
            return runs(executor)

    return run


@contextlib.contextmanager
def cluster(workers: int) -> Iterator[str]:
    """A LocalCluster of ``workers`` processes, one thread each: its ``--executor`` address."""
    with LocalCluster(
        n_workers=workers,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",  # a free port: None still means 8787, taken by any other cluster
        silence_logs=logging.ERROR,
    ) as running:
        yield running.scheduler_address.replace("tcp://", "dask://")


def cold_month(project: Path, env: dict[str, str], log: Path, workers: int = 2) -> dict:
    """One ``reviewkit report --all-teams`` of the month on a fresh LocalCluster of ``workers``
    (started before the run is timed): its wall time and each review's own seconds."""
    log.unlink(missing_ok=True)
    with cluster(workers) as executor:
        command = [str(BIN / "reviewkit"), "report", "--project", str(project)]
        command += ["--period", COMPANY_MONTH, "--all-teams", "--executor", executor]
        with log.open("w") as sink:  # a failed review is reported, not fatal: the rest count
            started = time.perf_counter()
            subprocess.run(command, env=env, stdout=sink, stderr=sink, check=False)
            wall = time.perf_counter() - started
    text = log.read_text()
    reviews = {team: float(s) for team, s in REVIEW_LINE.findall(text)}
    failed = dict(FAILED_LINE.findall(text))
    if not reviews:
        print(text[-4000:], file=sys.stderr)
        raise SystemExit(f"no review of {project} was published")
    return {"wall": wall, "reviews": reviews, "failed": failed, "workers": workers}


def simulated_company(
    work: Path, teams: int, env: dict[str, str], *, sample: Path | None = None
) -> dict:
    """The month of the simulated ``teams``-team company, cold, on 2 workers, built from the
    sample project ``sample``; without one, from a fresh sample project whose month is run
    cold first, for comparison. What was measured, by name."""
    work.mkdir(parents=True, exist_ok=True)
    found = {}
    if sample is None:
        sample = sample_project(work / "sample-5", env)
        found["sample, 5 teams"] = cold_month(sample, env, work / "sample-5.log")
    project = work / f"company-{teams}"
    made = harness.run_process(
        [
            harness.PYTHON,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import company; "
            "company.build(*map(__import__('pathlib').Path, sys.argv[2:4]), int(sys.argv[4]))",
            str(Path(__file__).parent),
            str(sample),
            str(project),
            str(teams),
        ],
        env=env,
    )
    links = project / "data" / "links.yaml"
    harness.run_process(
        [str(BIN / "reviewkit"), "links", "import", "--project", str(project), str(links)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    found[f"simulated, {teams} teams"] = cold_month(project, env, work / f"company-{teams}.log")
    found["build"] = made
    return found


def company_tables(found: dict, teams: int) -> float:
    """The simulated company's table and its model on N machines; its seconds per review."""
    rows = []
    per_review = 0.0
    for name, run in found.items():
        if name == "build":
            continue
        reviews = run["reviews"]
        team_seconds = [s for team, s in reviews.items() if team != "company"]
        count = len(reviews)
        rows.append(
            [
                name,
                count,
                run["wall"],
                run["wall"] / count,
                count / run["wall"] * 60,
                reviews.get("company", float("nan")),
                statistics.median(team_seconds),
                sum(reviews.values()),
            ]
        )
        per_review = run["wall"] / count
        for team, why in run["failed"].items():
            print(f"{name}: review {team} FAILED: {why}")
    print(
        harness.table(
            f"One month ({COMPANY_MONTH}), cold, `reviewkit report --all-teams` on a LocalCluster "
            f"of 2 workers (simulated company built in {found['build']['wall']:.1f} s)",
            [
                "company",
                "reviews",
                "wall s",
                "s / review",
                "reviews / min",
                "company review s",
                "team review s (median)",
                "review s (sum)",
            ],
            rows,
        )
    )
    # A run: a fixed part (the command, checking and reading the exports, freezing them, a
    # kernel per worker) plus its reviews spread over the workers; the company-wide review,
    # which shows every outcome, is one review and cannot be split.
    run = found[f"simulated, {teams} teams"]
    reviews = run["reviews"]
    total = sum(reviews.values())
    company = reviews.get("company", 0.0)
    fixed = max(0.0, run["wall"] - total / run["workers"])
    print(
        f"\nsimulated {teams}-team month: {len(reviews)} reviews in {run['wall']:.0f} s on 2 "
        f"workers; {total:.0f} s of reviews (company-wide {company:.0f} s), so a fixed part of "
        f"about {fixed:.0f} s (wall - reviews / 2)"
    )
    print(
        harness.table(
            f"Measured model: a {teams}-team monthly run on N machines like this one (2 workers "
            f"each): {fixed:.0f} s + max({company:.0f} s, {total:.0f} s / (2 N))",
            ["machines", "workers", "minutes"],
            [[n, 2 * n, (fixed + max(company, total / (2 * n))) / 60] for n in MACHINES],
        )
    )
    return per_review


def more_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teams",
        type=int,
        default=None,
        help=f"teams of the simulated company, a multiple of 5 (default {COMPANY_TEAMS}; "
        f"{TINY_TEAMS} with --tiny)",
    )


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=1, more=more_options)
    teams_wanted = options.teams or (TINY_TEAMS if options.tiny else COMPANY_TEAMS)
    try:
        simulated.check_teams(teams_wanted)
    except ValueError as exc:
        raise SystemExit(f"report_scale.py: {exc}") from None
    months = MONTHS[-1:] if options.tiny else MONTHS
    sizes = (2,) if options.tiny else (1, 2, 4)
    # --tiny: two teams' reviews, no 1-worker side (it must stay well within a minute)
    teams = ["--team", "billing", "--team", "growth"] if options.tiny else ["--all-teams"]
    reviews = len(months) * (2 if options.tiny else REVIEWS_PER_MONTH)
    work = options.work / "report_scale"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = jupyter_env(work)
    os.environ.update({k: env[k] for k in env if k.startswith("JUPYTER_")})  # the clusters'
    project = sample_project(work / "project", env)
    log = work / "commands.log"

    print(f"# Review batches: a simulated {teams_wanted}-team company, then the sample's 5 teams")
    print(harness.machine())
    print()
    # --tiny: the company is built from the project below (not run yet: no cold 5-team month)
    simulated_found = simulated_company(
        work / "simulated", teams_wanted, env, sample=project if options.tiny else None
    )
    company_tables(simulated_found, teams_wanted)

    print(
        f"\n## {reviews} reviews ({len(months)} month(s) x {' '.join(teams)}) per side, "
        "the sample company, warm"
    )
    print(
        f"local: `reviewkit report --period P {' '.join(teams)}` (--jobs default: "
        f"{os.cpu_count()}); "
        "dask N: the same with --executor dask://... on a LocalCluster of N worker processes, "
        "one thread each, started before the side is timed"
    )
    if not options.tiny:  # the sources' cache, kept results and the archive exist first
        run_month(project, months[-1], teams, "local", env, log)
    sides = {"local": side(project, months, teams, 0, env, log)}
    sides |= {f"dask {n}": side(project, months, teams, n, env, log) for n in sizes}
    if not options.tiny:  # a run's fixed cost: one review, on 2 workers
        sides["dask 2, 1 review"] = side(project, months, ["--team", "billing"], 2, env, log)
    found = harness.alternate(sides, options.repeat)

    rows = []
    rate = {}
    for name, samples in found.items():
        count = len(months) if name.endswith("1 review") else reviews
        seconds = samples.median_of("report")
        rate[name] = count / seconds * 60
        workers = "2 threads" if name == "local" else name.split()[1].rstrip(",")
        rows.append([name, workers, count, seconds, seconds / count, rate[name]])
    print()
    print(
        harness.table(
            f"{reviews} reviews per side, report commands only: medians of {options.repeat} run(s)",
            ["side", "workers", "reviews", "wall s", "s / review", "reviews / min"],
            rows,
        )
    )
    # What the 5-team sample's warm reviews would have predicted for the simulated company
    # (docs/scaling.md's model before it was measured): a run's fixed part (the 1-review run)
    # plus each review's marginal cost, on one 2-worker machine.
    total = teams_wanted + 1  # and the company-wide review
    per_run = found["dask 2"].median_of("report") / len(months)
    if options.tiny:
        fixed, marginal = 0.0, per_run / (reviews / len(months))
    else:
        fixed = found["dask 2, 1 review"].median_of("report") / len(months)
        marginal = (per_run - fixed) / (REVIEWS_PER_MONTH - 1)
    measured = simulated_found[f"simulated, {teams_wanted} teams"]["wall"]
    print(
        f"\nper review on one 2-worker machine, the sample warm: {marginal:.2f} s marginal; a "
        f"run's fixed cost {fixed:.1f} s{' (not measured with --tiny)' if options.tiny else ''}; "
        f"extrapolated to {total} reviews: {(fixed + total * marginal) / 60:.1f} minutes, "
        f"measured on the simulated company: {measured / 60:.1f} minutes "
        f"({measured / (fixed + total * marginal):.1f}x)"
    )
    print()
    print(
        harness.verdict(
            f"target dask 2 >= {TARGET:g}x local", rate["dask 2"] / rate["local"], TARGET
        )
    )


if __name__ == "__main__":
    main()
