"""Where a run's reviews execute: threads of this process (``local``) or the workers of a Dask
cluster (``dask://host:port``). Each worker thread keeps one warm kernel from review to review
(:class:`KernelWorker`), on this machine or on a Dask worker alike.

>>> executor = executor_for("dask://scheduler:8786", jobs=None)
>>> for done in executor.run(jobs, shared=scratch, started=print):
...     publish(jobs[done.index], done.value or done.error)

An executor only executes: each review comes back as a value (its executed notebook and page,
or its error) and the caller publishes it, in its own process, the same way for both. A Dask
worker lost mid-review has therefore published nothing; the scheduler runs the review again on
another worker (up to its ``distributed.scheduler.allowed-failures``, 3 by default), and a
review that fails in its notebook comes back once, failed, as any other value. Nothing here
schedules: Dask's scheduler places the reviews.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, Self, TypeVar

from reviewkit.base.errors import ReviewkitError
from reviewkit.base.kernels import WarmKernel
from reviewkit.base.registry import Registry, scheme_of

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "ExecutorKind",
    "Finished",
    "KernelWorker",
    "LocalExecutor",
    "executor_for",
]

#: seconds to reach a Dask scheduler before giving up with a clear error
CONNECT_TIMEOUT: Final = 5.0
#: seconds to wait for a scheduler's first worker
WORKERS_TIMEOUT: Final = 60.0
#: the event a Dask worker logs as it starts a review (its task's key): progress and attempts
STARTED: Final = "reviewkit-review-started"
#: what ``--executor`` takes, for the errors
FORMS: Final = "'local' or 'dask://HOST:PORT' (e.g. dask://scheduler:8786)"
_DASK_URL: Final = re.compile(
    r"dask://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d+)/?"
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class KernelWorker:
    """One worker thread's event loop and its warm kernel, kept from one review to the next
    (and replaced after a review that failed: it may have left anything behind)."""

    def __enter__(self) -> KernelWorker:
        from jupyter_core.utils import ensure_event_loop  # noqa: PLC0415

        self.loop = ensure_event_loop()
        self._kernel: WarmKernel | None = None
        return self

    def kernel(self, cwd: Path) -> WarmKernel:
        """The warm kernel, started in ``cwd`` if there is none there yet."""
        if self._kernel is not None and self._kernel.cwd != cwd:
            self.discard()
        if self._kernel is None:
            self._kernel = WarmKernel(cwd, self.loop)
        return self._kernel

    def discard(self) -> None:
        if self._kernel is not None:
            kernel, self._kernel = self._kernel, None
            with contextlib.suppress(Exception):  # it is being replaced anyway
                kernel.close()

    def __exit__(self, *_: object) -> None:
        self.discard()
        # jupyter_core creates a loop per thread and never closes it
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class Task(Protocol[T_co]):
    """A review to execute: its ``label`` for progress, and ``execute`` in a worker's kernel."""

    @property
    def label(self) -> str: ...

    def execute(self, worker: KernelWorker) -> T_co: ...


@dataclass(frozen=True)
class Finished(Generic[T]):
    """A task's end: its ``value``, or ``error`` when it raised or its workers were lost;
    ``attempts`` is how often it was started (more than once when a worker died under it)."""

    index: int
    value: T | None
    error: str = ""
    attempts: int = 1


#: asked where tasks will run, before any does: what would stop them there ("" for nothing)
Ready = Callable[[], str]


class Executor(Protocol):
    """Where reviews run; used in a ``with`` block (a cluster's executor connects there)."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *_: object) -> None: ...

    def run(
        self,
        tasks: Sequence[Task[T]],
        *,
        shared: Sequence[Path],
        started: Callable[[int], None],
        ready: Ready | None = None,
    ) -> Iterator[Finished[T]]:
        """Execute ``tasks``, telling ``started`` each one's index as it starts, and yield
        each as it finishes. ``shared`` are the folders the tasks work in (the project's view,
        the run's scratch folder): every worker must see them at those paths. ``ready`` is
        asked once on every worker of another machine's environment before any task starts
        (can it open the store?); what it answers stops the run there."""
        ...


class ExecutorKind(Protocol):
    """An executor class as :data:`EXECUTORS` holds it: made from what ``--executor`` says."""

    def from_spec(self, spec: str, jobs: int | None) -> Executor:
        """The executor ``spec`` names (``jobs``: ``--jobs``, None when not given); raises
        :class:`ReviewkitError` when it cannot be one."""
        ...


#: The executors by the scheme of ``--executor`` (``local``, ``dask://...``): a new one is a class
#: with ``from_spec`` in a module of its own, registered with ``@EXECUTORS.register(scheme)``
#: (or named by an entry point of the group ``reviewkit.executors``).
EXECUTORS: Final = Registry[ExecutorKind]("reviewkit.executors")


def executor_for(spec: str, jobs: int | None) -> Executor:
    """The executor ``--executor`` names, by its scheme in :data:`EXECUTORS`: ``local``
    (``jobs`` threads, default one per CPU) or ``dask://host:port`` (the cluster's workers;
    ``jobs`` is then refused)."""
    kind = EXECUTORS.get(scheme_of(spec))
    if kind is None:
        raise ReviewkitError(f"--executor {spec!r} is not an executor: use {FORMS}")
    return kind.from_spec(spec, jobs)


@EXECUTORS.register("local")
class LocalExecutor:
    """``workers`` threads of this process (default one per CPU), each with a warm kernel: a
    kernel start and the imports are paid once per worker, not once per review."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    @classmethod
    def from_spec(cls, spec: str, jobs: int | None) -> LocalExecutor:
        if spec != "local":
            raise ReviewkitError(f"--executor {spec!r} is not an executor: use {FORMS}")
        return cls(jobs)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def run(
        self,
        tasks: Sequence[Task[T]],
        *,
        shared: Sequence[Path],
        started: Callable[[int], None],
        ready: Ready | None = None,
    ) -> Iterator[Finished[T]]:
        # this process's own threads read the folders where they are, and the kernels have this
        # process's environment, in which the run has opened the store already
        del shared, ready
        count = max(1, min(self.workers or os.cpu_count() or 1, len(tasks)))
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for number in range(len(tasks)):
            todo.put(number)
        finished: queue.SimpleQueue[Finished[T]] = queue.SimpleQueue()

        def work() -> None:
            with KernelWorker() as worker:
                while True:
                    try:
                        number = todo.get_nowait()
                    except queue.Empty:
                        return
                    started(number)
                    try:
                        done = Finished(number, tasks[number].execute(worker))
                    except BaseException as exc:  # never leave the run waiting for this task
                        done = Finished(number, None, f"{type(exc).__name__}: {exc}")
                    finished.put(done)

        threads = [
            threading.Thread(target=work, name=f"review-{n}", daemon=True) for n in range(count)
        ]
        for thread in threads:
            thread.start()
        for _ in tasks:
            yield finished.get()
        for thread in threads:
            thread.join()


@EXECUTORS.register("dask")
class DaskExecutor:
    """The workers of the Dask cluster whose scheduler is at ``address`` (``tcp://host:port``).
    Each worker thread keeps a warm kernel from one review to the next (:func:`_execute_here`),
    and from one run to the next when they read the same view of the project (the same exports,
    config and notebook); a kernel is replaced when a review needs another view, and ends with
    its worker process. Workers must read the project, its exports and the run's scratch folder
    at the same paths as this process (shared storage)."""

    def __init__(self, spec: str, address: str) -> None:
        self.spec, self.address = spec, address
        self._client: Client | None = None

    @classmethod
    def from_spec(cls, spec: str, jobs: int | None) -> DaskExecutor:
        found = _DASK_URL.fullmatch(spec)
        if found is None:
            raise ReviewkitError(f"--executor {spec!r} is not an executor: use {FORMS}")
        if jobs is not None:
            raise ReviewkitError(
                f"--jobs sets the threads of --executor local; with --executor {spec} as many "
                "reviews run at once as the cluster's workers have threads (`dask worker "
                "--nthreads N`): leave out --jobs"
            )
        return cls(spec, f"tcp://{found['host']}:{found['port']}")

    def __enter__(self) -> DaskExecutor:
        """Connect to the scheduler (a clear error if it is unreachable or has no workers)."""
        self._client = self._connect()
        return self

    def __exit__(self, *_: object) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()  # type: ignore[no-untyped-call]

    def run(
        self,
        tasks: Sequence[Task[T]],
        *,
        shared: Sequence[Path],
        started: Callable[[int], None],
        ready: Ready | None = None,
    ) -> Iterator[Finished[T]]:
        from distributed import as_completed  # noqa: PLC0415 (slow import, only for Dask)
        from distributed.scheduler import KilledWorker  # noqa: PLC0415

        client = self._client
        if client is None:
            raise RuntimeError("use the executor in a with block: it connects there")
        keys = [f"reviewkit-review-{task.label}-{uuid.uuid4().hex}" for task in tasks]
        index = {key: number for number, key in enumerate(keys)}
        starts: Counter[str] = Counter()
        lock = threading.Lock()

        def on_start(event: tuple[float, dict[str, Any]]) -> None:
            key = event[1].get("key")
            if key not in index:  # another run's review on the same cluster
                return
            with lock:
                starts[key] += 1
                first = starts[key] == 1
            if first:
                started(index[key])

        futures = []
        try:
            self._check_shared(client, shared)
            if ready is not None:
                self._check_ready(client, ready)
            client.subscribe_topic(STARTED, on_start)  # type: ignore[no-untyped-call]
            futures += [
                client.submit(_execute_here, task, key=key, retries=0)
                for task, key in zip(tasks, keys, strict=True)
            ]
            for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
                key = str(future.key)
                value, error = None, ""
                try:
                    value = future.result()
                except KilledWorker as exc:
                    error = (
                        f"the Dask workers running it died {exc.allowed_failures + 1} times "
                        "(distributed.scheduler.allowed-failures); see the workers' logs"
                    )
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with lock:
                    attempts = max(starts[key], 1)
                yield Finished(index[key], value, error, attempts)
        finally:
            with contextlib.suppress(Exception):  # the run's outcome is decided by now
                client.cancel(futures)  # type: ignore[no-untyped-call]
                client.unsubscribe_topic(STARTED)  # type: ignore[no-untyped-call]

    def _connect(self) -> Client:
        """A client of the scheduler that has a worker, or a clear error."""
        from distributed import Client  # noqa: PLC0415

        try:
            client = Client(  # type: ignore[no-untyped-call]
                self.address, timeout=CONNECT_TIMEOUT, set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise ReviewkitError(
                f"--executor {self.spec}: cannot reach a Dask scheduler at {self.address} "
                f"within {CONNECT_TIMEOUT:g} s ({exc}); start one there (`dask scheduler`, "
                "then `dask worker " + self.address + "` on each machine), fix the address, "
                "or use --executor local"
            ) from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            client.close()  # type: ignore[no-untyped-call]
            raise ReviewkitError(
                f"--executor {self.spec}: the Dask scheduler has no workers after "
                f"{WORKERS_TIMEOUT:g} s; start some with `dask worker {self.address}` on "
                "machines that see the project at the same path"
            ) from None
        return client

    def _check_ready(self, client: Client, ready: Ready) -> None:
        """Every worker is ready for the tasks (``ready`` answers nothing there), or a clear
        error naming those that are not, with the first one's answer: better than each task
        failing on its own, after a kernel started for it."""
        answers = client.run(ready)
        unready = {worker: why for worker, why in sorted(answers.items()) if why}
        if unready:
            raise ReviewkitError(
                f"--executor {self.spec}: no review was run, as Dask worker(s) "
                f"{', '.join(unready)} cannot run one: {next(iter(unready.values()))}"
            )

    def _check_shared(self, client: Client, shared: Sequence[Path]) -> None:
        """Every worker sees the ``shared`` folders at their paths, or a clear error naming
        a worker that does not."""
        for folder in shared:
            seen = client.run(os.path.isdir, str(folder))
            blind = sorted(worker for worker, sees in seen.items() if not sees)
            if blind:
                raise ReviewkitError(
                    f"--executor {self.spec}: Dask worker(s) {', '.join(blind)} cannot see "
                    f"{folder}; every worker must read the project at the same path as this "
                    "machine (a shared folder mounted there)"
                )


#: the warm kernel of each Dask worker thread that has run a review, by thread id
_KEPT: dict[int, KernelWorker] = {}
_KEPT_LOCK = threading.Lock()


def _execute_here(task: Task[T]) -> T:
    """Run on a Dask worker: execute ``task`` in this thread's warm kernel (started by the
    first review this thread runs), announcing it to the client first."""
    from distributed import get_worker  # noqa: PLC0415

    dask_worker = get_worker()
    dask_worker.log_event(STARTED, {"key": str(dask_worker.get_current_task())})
    with _KEPT_LOCK:
        worker = _KEPT.get(threading.get_ident())
        if worker is None:
            worker = _KEPT[threading.get_ident()] = KernelWorker().__enter__()
    return task.execute(worker)
