"""The kernels' Jupyter config and ports (reviewkit.base.kernels), and Voila's pools of them
(reviewkit.serve.server), without starting a kernel."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewkit.base.kernels import SPAN, _KeptManager, ephemeral_range, kernel_config, kernel_port
from reviewkit.serve.server import PageKernelManager, PageKernels, drop_failed_preheats
from tests.conftest import isolate_jupyter


def test_page_kernels_choose_their_ports_anew_on_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `reviewkit serve` on one host: the port a kernel of one was given was taken by a
    kernel of the other before it could bind it (ZMQError: Address already in use). With cached
    ports (jupyter_client's default for TCP) its restarter started it again on the same ports
    five times, and the page never loaded. Our kernels' ports are not cached: the restart of a
    kernel that never came up (restart_kernel with newports, as the restarter does then) forgets
    them and picks ports that are free."""
    isolate_jupyter(tmp_path, monkeypatch)  # the connection files
    config = kernel_config()
    # the server's kernel managers, made by its PageKernels as `reviewkit serve` configures it
    mapping = PageKernels(
        config=config,
        kernel_manager_class=f"{PageKernels.__module__}.PageKernelManager",
        shared_context=False,  # no zmq context: no kernel is started here
    )
    made = mapping.kernel_manager_factory(parent=mapping, kernel_name="python3")
    assert isinstance(made, PageKernelManager) and made.cache_ports is False

    async def restarted() -> tuple[int, list[int]]:
        manager = PageKernelManager(config=config, kernel_name="python3")
        await manager._async_pre_start_kernel()  # ports chosen, connection file written
        try:
            taken = manager.stdin_port
            with socket.socket() as other:  # the other server's kernel binds it first
                other.bind((manager.ip, taken))
                other.listen()
                # what KernelManager.restart_kernel(newports=True) does before it starts again
                manager.cleanup_random_ports()
                await manager._async_pre_start_kernel()
                return taken, manager.ports
        finally:
            manager.cleanup_connection_file()

    taken, ports = asyncio.run(restarted())
    assert taken not in ports and all(ports)


@pytest.mark.parametrize("manager_class", [PageKernelManager, _KeptManager])
def test_kernel_ports_are_outside_the_range_the_os_hands_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manager_class: type
) -> None:
    """A kernel's ports are chosen free and bound by the kernel a second later: a port the OS
    hands out by itself (another process's bind(0), an outgoing connection) could be taken in
    between. Ours come from below the OS's ephemeral range, all different, new ones on a
    restart with new ports; ports set in config stay."""
    isolate_jupyter(tmp_path, monkeypatch)
    low, high = ephemeral_range()
    if sys.platform.startswith("linux"):  # what `sysctl net.ipv4.ip_local_port_range` says
        sysctl = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        assert (low, high) == (int(sysctl[0]), int(sysctl[1]))

    async def started_twice(**ports: int) -> tuple[list[int], list[int]]:
        manager = manager_class(config=kernel_config(), kernel_name="python3", **ports)
        await manager._async_pre_start_kernel()
        try:
            first = manager.ports
            manager.cleanup_random_ports()  # a restart with new ports
            await manager._async_pre_start_kernel()
            return first, manager.ports
        finally:
            manager.cleanup_connection_file()

    first, again = asyncio.run(started_twice())
    assert len(set(first + again)) == 10, (first, again)
    assert all(max(1024, low - SPAN) <= port < low for port in first + again), (low, first, again)
    fixed = kernel_port("127.0.0.1")  # a port a user set for the shell channel
    first, again = asyncio.run(started_twice(shell_port=fixed))
    assert first[0] == again[0] == fixed and first[1:] != again[1:]


def test_a_kernel_that_failed_to_preheat_is_never_handed_to_a_page() -> None:
    """Voila hands a page the first kernel of its pool whatever became of it: a kernel that
    died before it was up (its page's run failed) gave a page with no widgets. Those are taken
    out of the pool, shut down, and the pool refilled; kernels still starting or ready stay."""

    class Pools:  # the part of Voila's kernel manager drop_failed_preheats uses
        def __init__(self) -> None:
            self._pools: dict[str, list[asyncio.Task[Any]]] = {}
            self.kernels = {"dead", "ready", "starting"}
            self.refilled: list[str] = []

        def __contains__(self, kernel_id: str) -> bool:
            return kernel_id in self.kernels

        async def shutdown_kernel(self, kernel_id: str, now: bool = False) -> None:
            assert now
            self.kernels.remove(kernel_id)

        def fill_if_needed(self, delay: float, notebook_name: str) -> None:
            self.refilled.append(notebook_name)

    async def died() -> None:
        raise RuntimeError("Kernel died before replying to kernel_info")

    async def preheated(kernel_id: str, render: Any) -> dict[str, Any]:
        return {"kernel_id": kernel_id, "task": asyncio.ensure_future(render)}

    async def scenario() -> tuple[Pools, list[str], list[str]]:
        pools = Pools()
        never = asyncio.get_running_loop().create_future()
        review = [
            asyncio.ensure_future(preheated("dead", died())),
            asyncio.ensure_future(preheated("ready", asyncio.sleep(0, result=("html", None)))),
            asyncio.ensure_future(preheated("starting", never)),
            asyncio.ensure_future(died()),  # the kernel did not even start
        ]
        pools._pools = {"review.ipynb": review, "checkins.ipynb": [review[1]]}
        await asyncio.sleep(0.05)
        dropped = await drop_failed_preheats(pools)
        left = [start.result()["kernel_id"] for start in pools._pools["review.ipynb"]]
        never.cancel()
        return pools, dropped, left

    pools, dropped, left = asyncio.run(scenario())
    assert dropped == ["review.ipynb", "review.ipynb"]
    assert left == ["ready", "starting"]
    assert pools.kernels == {"ready", "starting"}
    assert pools.refilled == ["review.ipynb"]
