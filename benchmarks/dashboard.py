"""Benchmark 3: dashboard time to first chart.

From the request to the first chart on screen in headless Chromium, for the review page of one
team: ``reviewkit serve`` with its preheated kernel pool, ``reviewkit serve`` without a pool
(cold), and the peer, a plain ``voila`` serving the same notebook (no pool, its default
template). A reviewkit page's first chart is its first paint's (inline SVG in the streamed HTML)
or a live Vega chart, whichever shows first; the live page's time (its Vega charts drawn, the
widgets ready) is measured too. Loads alternate between the three servers; a preheated load waits
until the pool is full again, as it would be for a viewer arriving a little later. The first load
of each reviewkit server makes the page's first paint, the others read it back (as every viewer
after the first would, until an export or the store changes).

Targets: preheated first chart p50 under 1 s and p95 under 1.5 s, over 20 loads.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import harness
from playwright.sync_api import sync_playwright

from reviewkit import open_project
from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE
from reviewkit.serve.server import prepare_pages

CHROMIUM = "/usr/bin/chromium"
FLAGS = list(CHROMIUM_OFFLINE)
LIVE = ".vega-embed svg, .vega-embed canvas"
FIRST = f".reviewkit-first-paint svg, {LIVE}"
QUERY = "period=2026-10&team=growth"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, command: list[str], port: int, log: Path, env: dict[str, str]) -> None:
        self.port, self.log = port, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text())) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"no {pattern!r} in {self.log}:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def project_copy(work: Path) -> Path:
    """The sample project with its links, in the scratch folder (never the repo's store)."""
    folder = work / "dashboard-project"
    if not (folder / "reviewkit.yaml").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(
            harness.REPO / "templates" / "example" / "reviewkit.yaml", folder / "reviewkit.yaml"
        )
        shutil.copytree(harness.REPO / "data", folder / "data")
        with open_project(folder) as project:
            project.import_links(folder / "data" / "links.yaml", author="bench")
            project.kpis()
    return folder


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=20)
    loads = 1 if options.tiny else options.repeat
    work = options.work
    project = project_copy(work)
    env = dict(os.environ)
    for name in ("DATA", "RUNTIME", "CONFIG"):
        folder = work / f"jupyter-{name.lower()}"
        folder.mkdir(exist_ok=True)
        env.setdefault(f"JUPYTER_{name}_DIR", str(folder))
    reviewkit = str(Path(sys.executable).parent / "reviewkit")
    voila = str(Path(sys.executable).parent / "voila")
    ports = {name: free_port() for name in ("preheated", "cold", "voila")}
    pages = prepare_pages(project)
    # Every load leaves its kernel running until it is culled (--cull-after, 300 s): past
    # --max-kernels (default 16) a load would get the 503 "busy" page instead of the review and
    # time that (a 92-123 s outlier). Room for every load of a full run, with margin.
    room = ["--max-kernels", "64"]
    servers = {
        "preheated": Server(
            [reviewkit, "serve", "-p", str(project), "--port", str(ports["preheated"]), *room],
            ports["preheated"],
            work / "preheated.log",
            env,
        ),
        "cold": Server(
            [
                reviewkit,
                "serve",
                "-p",
                str(project),
                "--port",
                str(ports["cold"]),
                "--pool-size",
                "0",
                *room,
            ],
            ports["cold"],
            work / "cold.log",
            env,
        ),
        "voila": Server(
            [
                voila,
                str(pages / "review.ipynb"),
                "--no-browser",
                f"--port={ports['voila']}",
                "--Voila.port_retries=0",
            ],
            ports["voila"],
            work / "voila.log",
            env,
        ),
    }
    urls = {
        "preheated": f"http://127.0.0.1:{ports['preheated']}/voila/render/review.ipynb?{QUERY}",
        "cold": f"http://127.0.0.1:{ports['cold']}/voila/render/review.ipynb?{QUERY}",
        "voila": f"http://127.0.0.1:{ports['voila']}/?{QUERY}",
    }
    try:
        for server in servers.values():
            server.wait_for(r"Voil. is running at")
        servers["preheated"].wait_for(r"Kernel pool of review\.ipynb is filled")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

            def load(name: str) -> Any:
                def run() -> None:
                    context = browser.new_context()
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(urls[name], wait_until="commit", timeout=180_000)
                    page.wait_for_selector(FIRST, timeout=180_000)
                    timings[name].append(time.perf_counter() - started)
                    page.wait_for_selector(LIVE, timeout=180_000)
                    live[name].append(time.perf_counter() - started)
                    context.close()

                return run

            timings: dict[str, list[float]] = {name: [] for name in urls}
            live: dict[str, list[float]] = {name: [] for name in urls}
            filled = 1
            for _ in range(loads):
                for name in urls:
                    load(name)()
                    if name == "preheated":  # the next viewer finds the pool full again
                        filled += 1
                        servers["preheated"].wait_for(
                            r"Kernel pool of review\.ipynb is filled", count=filled
                        )
            browser.close()
    finally:
        for server in servers.values():
            server.stop()

    found = {name: harness.Samples(name, seconds) for name, seconds in timings.items()}
    drawn = {name: harness.Samples(name, seconds) for name, seconds in live.items()}
    rows = [
        (
            label,
            found[name].median,
            found[name].quantile(0.95),
            min(found[name].seconds),
            max(found[name].seconds),
            drawn[name].median,
            drawn[name].quantile(0.95),
            len(found[name].seconds),
        )
        for name, label in (
            ("preheated", "reviewkit serve (preheated pool)"),
            ("cold", "reviewkit serve (no pool)"),
            ("voila", "plain voila (no pool, default template)"),
        )
    ]
    print(harness.machine())
    print(
        harness.table(
            "Time to first chart on screen, review page of team growth (s, from the request)",
            ["server", "p50", "p95", "min", "max", "live p50", "live p95", "loads"],
            rows,
        )
    )
    ratio = found["voila"].median / found["preheated"].median
    print(f"\nplain voila / reviewkit preheated (p50): {ratio:.2f}x")
    print(
        harness.verdict(
            "target preheated p50 under 1 s", found["preheated"].median, 1.0, higher_is_better=False
        )
    )
    print(
        harness.verdict(
            "target preheated p95 under 1.5 s",
            found["preheated"].quantile(0.95),
            1.5,
            higher_is_better=False,
        )
    )


if __name__ == "__main__":
    main()
