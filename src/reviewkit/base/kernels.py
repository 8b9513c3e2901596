"""The Jupyter kernels reviewkit starts, for reports and live pages alike, and the warm kernels
that run one review after another (:class:`WarmKernel`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import socket
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, Final

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import port_names
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type
from traitlets.config import Config

__all__ = [
    "KERNEL_KEY_ENV",
    "KERNEL_PROOF_HEADER",
    "OwnPorts",
    "WarmKernel",
    "kernel_config",
    "kernel_port",
    "kernel_proof",
]

#: Where `reviewkit serve` hands its page kernels the secret they prove themselves with when they
#: ask the server for their page's request (a random key per server run, never logged).
KERNEL_KEY_ENV: Final = "REVIEWKIT_KERNEL_KEY"
#: The request header carrying that proof (:func:`kernel_proof`).
KERNEL_PROOF_HEADER: Final = "X-Reviewkit-Kernel"

#: What a review kernel imports before its first review: the review notebook's imports (Altair,
#: pandas, DuckDB come with them) and the chart library, read once.
PRELOAD: Final = (
    "import reviewkit\nfrom reviewkit.present import charts, narrative, render\nrender.bundle()\n"
)
#: Between two reviews: a new IPython session (the user namespace, its history and output
#: caches emptied; execution counts from 1 again), the working folder back, and a new document
#: for the chart renderer, which inlines its library into each review once.
RESET: Final = (
    "get_ipython().reset(new_session=True)\n"
    "import os as _os\n_os.chdir({cwd!r})\ndel _os\n"
    "from reviewkit.present import render as _render\n_render.new_document()\ndel _render\n"
)
#: seconds a warm kernel gets to start and to run PRELOAD or RESET
START_TIMEOUT: Final = 120


def kernel_config() -> Config:
    """Jupyter config for our kernels: their sockets encrypted with CurveZMQ where pyzmq has it
    (``auto``: when the kernelspec declares support, as ipykernel's does). The kernel then has no
    reason to print its "running over TCP without encryption" warning on every start, into a
    report run's output or a server's log, and the transport stays TCP (IPC made a killed kernel
    hang its client).

    Ports are not cached (``cache_ports``, on by default for TCP): the ports a kernel gets are
    free when chosen, but another process (a second `reviewkit serve` on the host, a report run)
    can take one before the kernel binds it. With cached ports jupyter_client's restarter then
    started the kernel again on the same ports until it gave up, and the page never loaded; with
    random ports it picks new ones for a kernel that died before it was ever up. Our kernel
    managers pick them with :class:`OwnPorts`, which makes that rare."""
    import zmq  # noqa: PLC0415 (only when kernels start)

    ports = {"KernelManager": {"cache_ports": False}}
    if not zmq.has("curve"):
        return Config(ports)
    return Config({"KernelManager": {**ports["KernelManager"], "transport_encryption": "auto"}})


#: Where the OS picks the ports of ``bind(port 0)`` and of outgoing connections when it cannot
#: say (Linux's file below): IANA's dynamic range, as macOS and Windows use it.
EPHEMERAL: Final = (49152, 65535)
#: How many ports below the ephemeral range our kernels' ports are taken from.
SPAN: Final = 16384
_handed: deque[int] = deque(maxlen=4096)  # the ports this process gave out last
_handing = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The ports the OS hands out on its own (Linux: ``ip_local_port_range``)."""
    if sys.platform.startswith("linux"):
        try:
            low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
            return int(low), int(high)
        except (OSError, ValueError):
            pass
    return EPHEMERAL


def kernel_port(ip: str) -> int:
    """A port for a kernel's socket: free on ``ip`` now, not given out by this process lately,
    and outside the range the OS hands out on its own.

    jupyter_client binds port 0, reads the port and closes the socket; the kernel binds it a
    second or more later, once it has started. On a busy host another process's ``bind(0)`` or
    outgoing connection (a test suite, a browser, the server's own clients) got the same port in
    between often enough to fail one test run in two ("Address already in use": the kernel died
    before it was up, and a page could be handed that dead kernel). The OS never picks a port
    below its ephemeral range by itself, so only a process choosing that exact port (another
    reviewkit, at random in the same span) can still take it first; the restarter then starts
    the kernel again on new ports."""
    low, _ = ephemeral_range()
    bottom = max(1024, low - SPAN)
    with _handing:
        for _ in range(200):
            port = random.randint(bottom, low - 1)  # noqa: S311 (not a secret)
            if port in _handed:
                continue
            with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
                try:
                    probe.bind((ip, port))
                except OSError:
                    continue
            _handed.append(port)
            return port
    raise OSError(f"no free port for a kernel on {ip} between {bottom} and {low - 1}")


class OwnPorts:
    """A kernel manager (mixin) whose kernels' TCP ports come from :func:`kernel_port`, fresh
    ones on every start (a restart with new ports too, as jupyter_client's restarter does for a
    kernel that died before it was up). Ports set in config are kept as they are."""

    def write_connection_file(self, **kwargs: Any) -> None:
        manager: Any = self
        if manager.transport != "tcp" or (
            manager._connection_file_written and Path(manager.connection_file).exists()
        ):
            super().write_connection_file(**kwargs)  # type: ignore[misc]
            return
        chosen = [name for name in port_names if getattr(manager, name) <= 0]
        for name in chosen:
            setattr(manager, name, kernel_port(manager.ip))
        super().write_connection_file(**kwargs)  # type: ignore[misc]
        # ours to choose again on a restart with new ports (cleanup_random_ports)
        manager._random_port_names = chosen


def kernel_proof(key: str, kernel_id: str) -> str:
    """What kernel ``kernel_id`` shows the server to be handed its page's request: an HMAC of its
    id under the server's key, so knowing a kernel id (it is in the page) is not enough."""
    return hmac.new(key.encode(), kernel_id.encode(), hashlib.sha256).hexdigest()


class _KeptClient(AsyncKernelClient):
    """A kernel client used for one review after another: nbclient starts its channels for
    each notebook, and a heartbeat thread cannot be started twice."""

    _started = False

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        if not self._started:
            super().start_channels(*args, **kwargs)
            self._started = True


class _KeptManager(OwnPorts, AsyncKernelManager):
    """Hands nbclient the same client for every review: nbclient, which does not own this
    kernel, asks for a client per notebook and never stops it."""

    client_factory = Type(_KeptClient, klass=AsyncKernelClient)
    _kept: Any = None

    def client(self, **kwargs: Any) -> Any:
        if self._kept is None:
            self._kept = super().client(**kwargs)
        return self._kept


class WarmKernel:
    """A python3 kernel started in ``cwd`` with :data:`PRELOAD` run, for reviews one after
    another, each in a fresh namespace (:meth:`fresh`). It lives in the thread that made it, on
    that thread's event loop: give its :attr:`manager` to papermill (``km=``) there."""

    def __init__(self, cwd: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.cwd, self.loop = cwd, loop
        self.manager = _KeptManager(kernel_name="python3", config=kernel_config())
        self.used = False
        try:
            loop.run_until_complete(self.manager.start_kernel(cwd=str(cwd)))
            client = self.manager.client()
            client.start_channels()
            loop.run_until_complete(client.wait_for_ready(timeout=START_TIMEOUT))
            self._run(PRELOAD)
        except BaseException:
            self.close()
            raise

    def fresh(self) -> None:
        """Empty the namespace a review left (nothing to do before the first)."""
        if self.used:
            self._run(RESET.format(cwd=str(self.cwd)))
        self.used = True

    def _run(self, code: str) -> None:
        client = self.manager.client()
        reply = self.loop.run_until_complete(
            client.execute_interactive(
                code, silent=True, store_history=False, timeout=START_TIMEOUT
            )
        )
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(
                f"the review kernel failed to prepare: {content.get('ename')}: "
                f"{content.get('evalue')}"
            )

    def close(self) -> None:
        """Kill the kernel (every review's outputs are in by now) and stop its client."""
        manager = self.manager
        try:
            if manager.has_kernel:
                self.loop.run_until_complete(manager.shutdown_kernel(now=True))
        finally:
            if manager._kept is not None:
                manager._kept.stop_channels()
