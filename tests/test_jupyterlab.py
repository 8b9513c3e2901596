"""The notebooks in a real JupyterLab (issue 29): one `python -m jupyterlab` for the module, on
loopback with a random token and Jupyter folders of its own, serving a copy of the sample
project; headless Chromium (Debian's, through Playwright) opens the lab, double-clicks each
notebook of ``notebooks/`` in its file browser, runs all its cells from the Run menu and saves
it. On a busy host the lab now and then asks which kernel to use, or drops the cells it queued
(a second kernel started for the notebook): the test answers, keeps what happened, runs all
cells again once and prints it.

Then, per notebook: every code cell ran (an execution count), no cell failed (no error output,
no traceback on stderr, in the page or in the saved file), the page logged no error, every chart
is drawn, and nothing was typeset as LaTeX: JupyterLab's MathJax reads the dollars of "MRR
$381,232 against a target to date of $388,278" as a formula, so an amount, or a note a user
typed, would show as italic math. And Vega logged no warning.

Subshells are on as JupyterLab ships them (widget messages on a subshell thread); the kernels
take their ports as `reviewkit serve`'s do (reviewkit.base.kernels.OwnPorts). Screenshots go to
``build/screenshots/lab-*.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from reviewkit import open_project
from tests.conftest import REPO, warm_copy
from tests.support.postgres import free_port
from tests.test_serve import SCREENSHOTS, SEARCHED, SLOW

# a Jupyter server with a kernel per notebook (the `jupyterlab` and `browser` fixtures mark the
# tests `kernel` and `browser` too)
pytestmark = pytest.mark.kernel


@dataclass(frozen=True)
class Expected:
    """What a notebook shows once run: at least this many charts, and whether it is widgets."""

    charts: int
    widgets: bool


#: Every notebook of notebooks/: each runs without input (its parameters have defaults).
NOTEBOOKS = {
    "monthly_review.ipynb": Expected(charts=9, widgets=False),  # scorecard, alignment, 7 outcomes
    "review.ipynb": Expected(charts=2, widgets=True),  # scorecard, the first outcome
    "explore_kpis.ipynb": Expected(charts=1, widgets=True),
    "link_outputs.ipynb": Expected(charts=0, widgets=True),
    "checkins.ipynb": Expected(charts=0, widgets=True),
}
#: What a user typed into the check-in of the first outcome, with two amounts.
NOTE = "Ads cost $4,000 and won back $9,500 of MRR"
PERIOD = "2026-10"  # the latest complete month on the suite's day
#: The notebook panel on screen (the lab keeps others hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: The kernel is idle, and every code cell has an execution count or one has failed (run all
#: stops there).
RAN = """(panel) => {
  const root = document.querySelector(panel);
  if (!root) { return false; }
  const status = root.querySelector('.jp-Notebook-ExecutionIndicator');
  const prompts = [...root.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
  const failed = root.querySelector(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  return status && status.getAttribute('data-status') === 'idle' && prompts.length > 0
    && (failed || prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim())));
}"""
#: How the run stands: "ran" (RAN), "stopped" (the kernel idle for 3 s with no cell queued and
#: some never run: the lab dropped the queue, as when the kernel restarts or its connection is
#: made anew), else false.
SETTLED = (
    """(panel) => {
  if (("""
    + RAN
    + """)(panel)) { return 'ran'; }
  const root = document.querySelector(panel);
  const status = root?.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  const prompts = [...(root?.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt') || [])]
    .map(p => p.textContent.trim());
  const stopped = status === 'idle' && !prompts.includes('[*]:') && prompts.includes('[ ]:');
  if (!stopped) { window.reviewkitStopped = null; return false; }
  window.reviewkitStopped = window.reviewkitStopped || Date.now();
  return Date.now() - window.reviewkitStopped > 3000 ? 'stopped' : false;
}"""
)
#: What the lab logs in the console for each queued cell it drops.
CANCELLED = "Canceled future for execute_request message before replies were done"
#: The kernel has been idle for two seconds on end.
IDLE_FOR_A_WHILE = """(panel) => {
  const status = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator')
    ?.getAttribute('data-status');
  if (status !== 'idle') { window.reviewkitIdle = null; return false; }
  window.reviewkitIdle = window.reviewkitIdle || Date.now();
  return Date.now() - window.reviewkitIdle > 2000;
}"""
#: A code cell is queued or has run.
STARTED = """(panel) => [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputArea-prompt')]
  .some(p => /^\\[(\\*|\\d+)\\]:$/.test(p.textContent.trim()))"""
#: The notebook's tab says it has no unsaved changes.
SAVED = """() => {
  const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current');
  return tab && !tab.classList.contains('jp-mod-dirty');
}"""
#: The kernel's status and each code cell's prompt, to say where a run stopped.
PROMPTS = """(panel) => [
  document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator')?.getAttribute('data-status'),
  [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputArea-prompt')]
    .map(p => p.textContent.trim()).join(' '),
]"""
#: Each chart of the panel, once every one has drawn or said why not: whether it drew (an SVG
#: or canvas from Vega inside its vega-embed) and its text; null while any is still waiting.
CHARTS = """([panel, least]) => {
  const charts = [...document.querySelectorAll(panel + ' .jp-OutputArea-output .reviewkit-chart')];
  const seen = charts.map(c => ({
    drawn: !!c.querySelector(':scope.vega-embed svg.marks, :scope.vega-embed canvas'),
    text: c.textContent.slice(0, 200),
  }));
  const settled = seen.every(c => c.drawn || /^(Chart error|The chart library)/.test(c.text));
  return charts.length >= least && settled ? seen : null;
}"""
#: The text of each output, without the code of its scripts (the charts' library holds "$").
OUTPUT_TEXT = """(panel) => [...document.querySelectorAll(panel + ' .jp-OutputArea-output')]
  .map(output => {
    const walker = document.createTreeWalker(output, NodeFilter.SHOW_TEXT, {
      acceptNode: n => n.parentElement.closest('script, style')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
    });
    let text = '';
    while (walker.nextNode()) { text += walker.currentNode.data; }
    return text;
  })"""
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


class Lab:
    """A `python -m jupyterlab` on loopback serving ``root``; its log is kept to show when it
    does not start."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "jupyterlab.log"
        self.root = root
        env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        for name in ("DATA", "RUNTIME", "CONFIG"):
            folder = tmp / f"jupyter-{name.lower()}"
            folder.mkdir(exist_ok=True)
            env[f"JUPYTER_{name}_DIR"] = str(folder)
        env["IPYTHONDIR"] = str(tmp / "ipython")
        # only the test saves (a read while the lab autosaves could catch the file half-written)
        settings = tmp / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab"
        (settings / "docmanager-extension").mkdir(parents=True)
        (settings / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
            '{"autosave": false}', encoding="utf-8"
        )
        # no "Would you like to get notified about official Jupyter news?" over the widgets (the
        # lab is offline anyway)
        (settings / "apputils-extension").mkdir()
        (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}', encoding="utf-8"
        )
        command = [
            *(sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"),
            *("--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}"),
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            # Kernel ports from below the OS's ephemeral range, as `reviewkit serve` takes them:
            # on the suite's busy host a port jupyter_client chose was taken before the kernel
            # bound it, and the lab's "Kernel Restarting" dialog blocked the run.
            "--MappingKernelManager.kernel_manager_class=reviewkit.serve.server.PageKernelManager",
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                self.api("status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        raise AssertionError(f"JupyterLab did not answer:\n{self.text()[-4000:]}")

    def url(self, workspace: str) -> str:
        """The lab in a workspace of its own, its file browser in notebooks/."""
        query = urllib.parse.urlencode({"token": self.token})
        return f"{self.base}/lab/workspaces/{workspace}/tree/notebooks?{query}"

    def shut_down_kernel(self, notebook: str) -> None:
        for session in self.api("sessions"):
            if session["path"] == f"notebooks/{notebook}":
                self.api(f"sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        """Stop the server (it shuts its kernels down), then kill whatever of it is left."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()
        psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="module")
def lab_project(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample project with its links, the notebooks, and a check-in of the month whose
    note has amounts in dollars."""
    root = warm_copy(sample_dir, tmp_path_factory.mktemp("lab") / "project")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    with open_project(root) as project:
        project.import_links(root / "data" / "links.yaml", author="importer")
        first = next(iter(project.config.outcomes))
        project.checkin(first, PERIOD, note=NOTE, author="ana")
    return root


@pytest.fixture(scope="module")
def jupyterlab(lab_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(lab_project, tmp_path_factory.mktemp("jupyterlab"))
    try:
        lab.wait_until_up()
        yield lab
    finally:
        lab.stop()


@dataclass
class Run:
    """A notebook run in the lab, as the page and the saved file show it."""

    notebook: str
    seconds: float = 0.0
    console_errors: list[str] = field(default_factory=list)
    vega_warnings: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    mathjax: int = 0
    widgets: int = 0
    saved: dict[str, Any] = field(default_factory=dict)
    #: what the drive of its widgets saved (DRIVES): output or outcome id -> text typed
    driven: dict[str, str] = field(default_factory=dict)
    #: the widgets' "Saving as" line and status lines, after the drive
    said: str = ""
    #: what the lab's "Select Kernel" dialog offered, each time it asked which kernel to use
    #: (choose_the_running_kernel)
    kernel_asked: list[str] = field(default_factory=list)
    #: why a run of all cells stopped before the end and was run again (run_to_the_end)
    interrupted: list[str] = field(default_factory=list)


def run_notebook(browser: Any, lab: Lab, notebook: str) -> Run:
    """Open ``notebook`` in the lab, run all its cells from the Run menu, wait for the kernel
    and the charts, save it, and shut its kernel down."""
    ran = Run(notebook)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(SLOW)
    page = context.new_page()

    def heard(message: Any) -> None:
        if message.type == "error":
            ran.console_errors.append(message.text)
        elif message.type == "warning" and message.text.startswith("WARN "):
            ran.vega_warnings.append(message.text)

    page.on("console", heard)
    page.add_locator_handler(
        page.locator(".jp-Dialog", has_text="Select Kernel"),
        lambda dialog: choose_the_running_kernel(dialog, notebook, ran),
        no_wait_after=True,
    )
    page.on("pageerror", lambda error: ran.console_errors.append(f"uncaught: {error}"))
    stem = Path(notebook).stem
    started = time.monotonic()
    try:
        open_as_an_analyst_does(page, lab, notebook, f"test-{stem}")
        # idle for two seconds on end: on a busy host the lab now and then starts a second
        # kernel for the notebook and drops the first, cancelling what was queued on it
        page.wait_for_function(IDLE_FOR_A_WHILE, arg=PANEL, timeout=SLOW, polling=250)
        run_to_the_end(page, lab, ran)
        ran.stderr = page.locator(f"{PANEL} {STDERR}").all_inner_texts()
        expected = NOTEBOOKS[notebook]
        if ran.stderr:  # a cell failed: the rest did not run
            ran.charts = page.evaluate(CHARTS, [PANEL, 0]) or []
        else:
            ran.charts = page.wait_for_function(
                CHARTS, arg=[PANEL, expected.charts], timeout=SLOW, polling=250
            ).json_value()
            if expected.widgets:
                page.wait_for_selector(f"{PANEL} .jp-OutputArea-output .jupyter-widgets select")
        ran.seconds = time.monotonic() - started
        if notebook in DRIVES:
            ran.driven = DRIVES[notebook](page, lab.root)
            ran.said = page.locator(PANEL).inner_text()
        ran.outputs = page.evaluate(OUTPUT_TEXT, PANEL)
        ran.mathjax = page.locator(f"{PANEL} mjx-container").count()
        ran.widgets = page.locator(f"{PANEL} .jp-OutputArea-output .jupyter-widgets").count()
        assert menu(page, "File", "docmanager:save"), "File > Save Notebook stayed disabled"
        page.wait_for_function(SAVED, timeout=SLOW, polling=250)
        ran.saved = saved(lab, notebook)
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):  # whatever stopped the run matters more
            first = page.locator(f"{PANEL} .jp-OutputArea-output").first
            first.scroll_into_view_if_needed(timeout=5_000)  # the summary, or the widgets
        with contextlib.suppress(Exception):
            page.screenshot(path=str(SCREENSHOTS / f"lab-{stem}.png"), timeout=30_000)
        if ran.driven:  # the widgets as the drive left them: the analysts' guide shows them
            with contextlib.suppress(Exception):
                page.set_viewport_size({"width": 1280, "height": 2400})  # all of them on screen
                widgets = page.locator(f"{PANEL} .jp-OutputArea-output:has(.jupyter-widgets)")
                widgets.first.scroll_into_view_if_needed()
                widgets.first.screenshot(path=str(SCREENSHOTS / f"lab-{stem}-widgets.png"))
        context.close()
        with contextlib.suppress(OSError):
            lab.shut_down_kernel(notebook)
    return ran


def open_as_an_analyst_does(page: Any, lab: Lab, notebook: str, workspace: str) -> None:
    """The lab opened, its launcher showing the kernels it knows, then the notebook
    double-clicked in the file browser: the lab starts the notebook's kernel itself. Opened
    straight from its URL on a busy host, the lab now and then had not loaded its kernel specs
    when the notebook asked for one, and asked which kernel to start ("Select Kernel"), again
    and again."""
    page.goto(lab.url(workspace), timeout=SLOW)
    page.wait_for_selector(".jp-LauncherCard[data-category='Notebook']", timeout=SLOW)
    page.locator(f".jp-DirListing-item[title^='Name: {notebook}']").dblclick()
    page.wait_for_selector(f"{PANEL} .jp-Notebook", timeout=SLOW)


def run_to_the_end(page: Any, lab: Lab, ran: Run) -> None:
    """Run all cells and wait until every one has run or one has failed. When the lab drops
    the queue (a kernel restart, or its connection made anew on a busy host: the cells after
    the running one go back to "[ ]", seen once in CI), its dialog is answered, what the page and
    the lab's log said is kept in ``ran.interrupted``, and all cells run once more."""
    for attempt in (1, 2):
        logged = len(lab.text())
        run_all(page)
        try:
            handle = page.wait_for_function(SETTLED, arg=PANEL, timeout=SLOW, polling=500)
            settled = handle.json_value()
        except PlaywrightTimeout:
            settled = "still running"
        if settled == "ran":
            return
        said = what_stopped_the_run(page, lab.text()[logged:])
        if attempt == 2 or settled != "stopped":
            raise AssertionError(
                f"the run did not end ({settled}): {said}; before: {ran.interrupted}"
            )
        # the lab's console error for the cells it dropped belongs to the interruption
        dropped = [e for e in ran.console_errors if CANCELLED in e]
        ran.console_errors = [e for e in ran.console_errors if CANCELLED not in e]
        ran.interrupted.append(f"{said}, console errors {dropped}")
        for button in page.locator(".jp-Dialog button.jp-mod-accept").all():
            button.click()
        page.wait_for_selector(
            f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=SLOW
        )


def what_stopped_the_run(page: Any, log: str) -> str:
    """The cells' prompts, the dialogs the page shows and the lab's log lines about kernels and
    connections since the run started."""
    prompts = page.evaluate(PROMPTS, PANEL)
    dialogs = page.locator(".jp-Dialog").all_inner_texts()
    lines = [
        line
        for line in log.splitlines()
        if re.search(r"kernel|websocket|restart|error|died", line, re.IGNORECASE)
    ]
    return f"prompts {prompts}, dialogs {dialogs}, lab log {lines[-20:]}"


def choose_the_running_kernel(dialog: Any, notebook: str, ran: Run) -> None:
    """JupyterLab on a busy host now and then asks which kernel a notebook should use though
    its session's kernel is running (the "Select Kernel" dialog, which takes every click, as
    the lab's kernel specs or sessions had not loaded in time): pick that kernel, as a user
    would, and keep what was offered. Run before every action while such a dialog shows (in CI
    one stayed up after its answer: a second one, or the click came too early), so the
    action waits for none."""
    asked = dialog.first
    choices = asked.locator("select")
    offered = choices.locator("option").all_inner_texts() if choices.count() else []
    ran.kernel_asked.append(" | ".join(offered))
    running = [text for text in offered if text.startswith(notebook)]
    if running:
        choices.select_option(label=running[0])
    asked.locator("button.jp-mod-accept").click()
    with contextlib.suppress(PlaywrightTimeout):  # another may follow: answered the same way
        asked.wait_for(state="detached", timeout=10_000)
    # the lab connects to the kernel anew: a click before it has cancels the cells queued
    dialog.page.wait_for_selector(
        f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=SLOW
    )


def run_all(page: Any, tries: int = 3) -> None:
    """Run > Run All Cells, until the cells are queued: a click while the lab still sets the
    notebook up does nothing."""
    for _ in range(tries):
        if not menu(page, "Run", "runmenu:run-all"):
            continue
        try:
            page.wait_for_function(STARTED, arg=PANEL, timeout=30_000, polling=250)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"Run All Cells ran nothing: {page.evaluate(PROMPTS, PANEL)}")


def menu(page: Any, name: str, command: str) -> bool:
    """Pick the item of the lab's menu ``name`` that runs ``command``, once it is enabled;
    False (the menu closed) when it stays disabled."""
    # any other dialog takes every click: say what it says (choose_the_running_kernel answers
    # the lab's "Select Kernel" before the click below)
    dialog = page.locator(".jp-Dialog").filter(has_not_text="Select Kernel")
    if dialog.count():
        raise AssertionError(f"the lab shows a dialog: {dialog.first.inner_text()!r}")
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{name}$")).click()
    item = page.locator(f".lm-Menu-item[data-command='{command}']:not(.lm-mod-disabled)")
    try:
        item.click(timeout=30_000)
    except PlaywrightTimeout:
        page.keyboard.press("Escape")
        return False
    return True


# -- the widgets driven as an analyst does, twice ---------------------------------------------


def dropdown(page: Any, label: str) -> Any:
    """The panel's dropdown labelled ``label``."""
    return page.locator(f"{PANEL} .widget-dropdown:has(> label:text-is('{label}')) select")


def change_three_times(page: Any, label: str, last: int) -> str:
    """Change the dropdown ``label`` three times, ending on option ``last``; the label of that
    option ("Title (id)" for an outcome)."""
    picker = dropdown(page, label)
    count = picker.locator("option").count()
    assert count >= 3, f"{label}: {count} options"
    for index in ((last + 1) % count, (last + 2) % count, last):
        picker.select_option(index=index)
        page.wait_for_timeout(300)  # each change reaches the kernel on its own
    return str(picker.input_value())


def said_nothing_wrong(page: Any) -> None:
    """No error in the panel: none in a widget's status line (red: "SQLite failed while
    reading ..." was the second keystroke's), no stderr output."""
    errors = page.locator(f"{PANEL} .jupyter-widgets [style*='#b00020']").all_inner_texts()
    assert errors == [], errors
    assert page.locator(f"{PANEL} {STDERR}").all_inner_texts() == []


def drive_links(page: Any, root: Path) -> dict[str, str]:
    """Twice: the Outcome changed three times, an output searched for character by character
    (each one a change the kernel answers, on its subshell thread), selected and linked with a
    hypothesis that has an amount in dollars."""
    with open_project(root) as project:
        outputs = project.outputs().sort_values("delivered", ascending=False)
        linked = set(project.links()["output_id"])
    unlinked = [o for o in outputs["id"] if o not in linked][:2]
    search = page.locator(f"{PANEL} .widget-text input").first
    candidates = page.locator(f"{PANEL} .widget-select-multiple select")
    driven = {}
    for turn, output in enumerate(unlinked, start=1):
        change_three_times(page, "Outcome", last=turn)
        search.fill("")
        search.press_sequentially(output, delay=40)
        page.wait_for_function(
            SEARCHED, arg=[f"{PANEL} .widget-select-multiple select", output], timeout=SLOW
        )
        option = candidates.locator("option", has_text=f"{output} · ").first
        candidates.select_option(value=option.get_attribute("value"))
        hypothesis = f"Turn {turn}: saves $1,200 of MRR a month"
        page.locator(f"{PANEL} .widget-textarea textarea").first.fill(hypothesis)
        page.locator(f"{PANEL} button[title='Link selected']").click()
        page.wait_for_selector(f"{PANEL} >> text=linked {output}", timeout=SLOW)
        said_nothing_wrong(page)
        driven[output] = hypothesis
    return driven


def drive_checkins(page: Any, root: Path) -> dict[str, str]:
    """Twice, for the second and third outcomes: the Outcome changed three times, a note with
    amounts typed character by character, the check-in saved."""
    driven = {}
    for turn in (1, 2):
        picked = change_three_times(page, "Outcome", last=turn)
        outcome = re.fullmatch(r".* \(([^()]+)\)", picked)[1]  # type: ignore[index]
        note = page.locator(f"{PANEL} .widget-textarea textarea").first
        note.fill("")
        typed = f"Turn {turn}: spent $800, kept $2,400"
        note.press_sequentially(typed, delay=20)
        page.locator(f"{PANEL} button[title='Save check-in']").click()
        page.wait_for_selector(f"{PANEL} >> text=saved: {outcome}", timeout=SLOW)
        said_nothing_wrong(page)
        driven[outcome] = typed
    return driven


#: The notebooks whose widgets are driven once they have run.
DRIVES: dict[str, Callable[[Any, Path], dict[str, str]]] = {
    "link_outputs.ipynb": drive_links,
    "checkins.ipynb": drive_checkins,
}


def saved(lab: Lab, notebook: str) -> dict[str, Any]:
    """The notebook as saved (read once the lab has saved it: the server moves a notebook it
    reads half-written aside, as ``.invalid``, and restores the previous one)."""
    return dict(lab.api(f"contents/notebooks/{notebook}?content=1")["content"])


@pytest.fixture(scope="module")
def lab_runs(browser: Any, jupyterlab: Lab) -> Callable[[str], Run]:
    """Each notebook run once, when a test first asks for it."""
    done: dict[str, Run] = {}

    def run(notebook: str) -> Run:
        if notebook not in done:
            done[notebook] = run_notebook(browser, jupyterlab, notebook)
        return done[notebook]

    return run


def test_every_notebook_is_tested() -> None:
    assert set(NOTEBOOKS) == {path.name for path in (REPO / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_the_notebook_runs_in_jupyterlab(lab_runs: Callable[[str], Run], notebook: str) -> None:
    ran = lab_runs(notebook)
    print(f"{notebook}: {ran.seconds:.1f} s to run, {len(ran.charts)} chart(s)")
    print(f"the lab asked for a kernel: {ran.kernel_asked}" if ran.kernel_asked else "")
    assert len(ran.kernel_asked) <= 3, (
        f"the lab asked for a kernel again and again: {ran.kernel_asked}"
    )
    print(f"run again after: {ran.interrupted}" if ran.interrupted else "ran in one go")
    code = [c for c in ran.saved["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code), "a cell did not run"
    outputs = [o for c in code for o in c["outputs"]]
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
    assert errors == []
    streamed = ["".join(o["text"]) for o in outputs if o.get("name") == "stderr"]
    assert not [t for t in streamed + ran.stderr if "Traceback" in t or "Error" in t]
    assert ran.console_errors == []
    assert len(ran.charts) >= NOTEBOOKS[notebook].charts
    assert all(chart["drawn"] for chart in ran.charts), ran.charts
    assert (ran.widgets > 0) == NOTEBOOKS[notebook].widgets


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_nothing_is_typeset_as_a_formula(lab_runs: Callable[[str], Run], notebook: str) -> None:
    """No output of any notebook holds MathJax's typeset math."""
    found = lab_runs(notebook).mathjax
    assert found == 0, f"{found} formula(s) typeset by MathJax"


@pytest.mark.parametrize("notebook", ["monthly_review.ipynb", "review.ipynb"])
def test_dollar_amounts_show_as_written(lab_runs: Callable[[str], Run], notebook: str) -> None:
    """The executive summary's sentence with two amounts, and the note a user typed into a
    check-in, read as written: each "$" before its digits."""
    text = "\n".join(lab_runs(notebook).outputs)
    said = [line.strip() for line in text.splitlines() if "MRR" in line]
    assert any(re.search(r"\$[\d,]+ against a target to date of \$[\d,]+", s) for s in said), said
    assert NOTE in text, [line for line in text.splitlines() if "Note:" in line]


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_the_charts_log_no_vega_warnings(lab_runs: Callable[[str], Run], notebook: str) -> None:
    """Vega's warnings ("WARN Infinite extent...", "WARN Conflicting scale property...") in the
    lab's console: none (tests/test_charts.py checks each chart alone)."""
    assert lab_runs(notebook).vega_warnings == []


@pytest.mark.parametrize("notebook", list(DRIVES))
def test_what_the_widgets_saved_twice_is_in_the_store_and_the_export(
    lab_runs: Callable[[str], Run], jupyterlab: Lab, notebook: str, tmp_path: Path
) -> None:
    """The link editor and the check-in form, driven twice (DRIVES): every save is in the
    store under the name the environment gives (REVIEWKIT_USER, as the widgets said), with
    what was typed, and in `reviewkit links export`."""
    ran = lab_runs(notebook)
    assert len(ran.driven) == 2, ran.driven
    assert "Saving as tester (from REVIEWKIT_USER)" in ran.said
    with open_project(jupyterlab.root) as project:
        if notebook == "link_outputs.ipynb":
            links = project.links().set_index("output_id")
            saved = {o: (links.at[o, "hypothesis"], links.at[o, "author"]) for o in ran.driven}
        else:
            checkins = {c.outcome_id: c for c in project.checkins(period=PERIOD)}
            saved = {o: (checkins[o].note, checkins[o].author) for o in ran.driven}
    assert saved == {key: (typed, "tester") for key, typed in ran.driven.items()}
    exported = tmp_path / "review.yaml"
    command = [str(Path(sys.executable).parent / "reviewkit"), "links", "export", str(exported)]
    subprocess.run([*command, "--project", str(jupyterlab.root)], check=True, timeout=120)
    text = exported.read_text(encoding="utf-8")
    assert all(key in text and typed in text for key, typed in ran.driven.items()), text[:3000]
