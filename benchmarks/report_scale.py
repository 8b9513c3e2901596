"""Benchmark 7, review batches beyond one machine: ``reviewkit report --all-teams`` with the
local executor (2 jobs) and on a Dask ``LocalCluster`` of 1, 2 and 4 worker processes (one thread
each), side by side in one run, in reviews per minute; then what a 500-team monthly run needs on
N machines like this one.

Same notebook and data as benchmark 2: a copy of the sample project under ``--work`` with its
links imported. The sample company has 5 teams, so each side publishes ``--all-teams`` (5 teams
and the company-wide review, 6 reviews) for several months, one ``reviewkit report`` per month,
each a process of its own; the 500-team company is extrapolated from the measured cost per review,
not run (a 500-team export set would be the sample's teams copied: the same queries, read back
from the kept results, so a cheaper review than a real team's). A cluster is started before its
side is timed, as a standing cluster would be; each run starts one kernel per worker.

Target (ours): on this machine's cores, Dask with 2 workers does at least 0.8x the reviews per
minute of the local executor (what the cluster's scheduling and transport cost).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness
from distributed import LocalCluster
from report_batch import jupyter_env, sample_project

BIN = Path(sys.executable).parent
MONTHS = ("2026-07", "2026-08", "2026-09", "2026-10")
REVIEWS_PER_MONTH = 6  # 5 teams and the company-wide review
COMPANY_TEAMS = 500
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
        with LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster:
            return runs(cluster.scheduler_address.replace("tcp://", "dask://"))

    return run


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=1)
    months = MONTHS[-1:] if options.tiny else MONTHS
    sizes = (1, 2) if options.tiny else (1, 2, 4)
    # --tiny: two teams' reviews (it must stay well within a minute)
    teams = ["--team", "billing", "--team", "growth"] if options.tiny else ["--all-teams"]
    reviews = len(months) * (2 if options.tiny else REVIEWS_PER_MONTH)
    work = options.work / "report_scale"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = jupyter_env(work)
    os.environ.update({k: env[k] for k in env if k.startswith("JUPYTER_")})  # the clusters'
    project = sample_project(work / "project", env)
    log = work / "commands.log"

    print(
        f"# Review batches: {reviews} reviews ({len(months)} month(s) x {' '.join(teams)}) per side"
    )
    print(harness.machine())
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
    # A machine like this one runs 2 workers (its 2 cores). A run costs a fixed part (the
    # command, the project's checks, a kernel start per worker: the 1-review run) plus each
    # review's marginal cost, spread over the machines.
    total = COMPANY_TEAMS + 1  # and the company-wide review
    per_run = found["dask 2"].median_of("report") / len(months)
    if options.tiny:
        fixed, marginal = 0.0, per_run / (reviews / len(months))
    else:
        fixed = found["dask 2, 1 review"].median_of("report") / len(months)
        marginal = (per_run - fixed) / (REVIEWS_PER_MONTH - 1)
    print(
        f"\nper review on one 2-worker machine: {marginal:.2f} s marginal; a run's fixed cost "
        f"{fixed:.1f} s{' (not measured with --tiny)' if options.tiny else ''}"
    )
    print(
        harness.table(
            f"Extrapolated: a {COMPANY_TEAMS}-team monthly run ({total} reviews) on N machines "
            f"like this one (2 workers each): {fixed:.1f} s + {total} x {marginal:.2f} s / N",
            ["machines", "workers", "minutes"],
            [[n, 2 * n, (fixed + total * marginal / n) / 60] for n in MACHINES],
        )
    )
    print()
    print(
        harness.verdict(
            f"target dask 2 >= {TARGET:g}x local", rate["dask 2"] / rate["local"], TARGET
        )
    )


if __name__ == "__main__":
    main()
