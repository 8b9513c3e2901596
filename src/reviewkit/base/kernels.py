"""The Jupyter kernels reviewkit starts, for reports and live pages alike, and the warm kernels
that run one review after another (:class:`WarmKernel`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any, Final

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type
from traitlets.config import Config

__all__ = ["KERNEL_KEY_ENV", "KERNEL_PROOF_HEADER", "WarmKernel", "kernel_config", "kernel_proof"]

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
    random ports it picks new ones for a kernel that died before it was ever up."""
    import zmq  # noqa: PLC0415 (only when kernels start)

    ports = {"KernelManager": {"cache_ports": False}}
    if not zmq.has("curve"):
        return Config(ports)
    return Config({"KernelManager": {**ports["KernelManager"], "transport_encryption": "auto"}})


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


class _KeptManager(AsyncKernelManager):
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
