"""The kernels' Jupyter config (reviewkit.base.kernels.kernel_config), without starting a kernel."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from reviewkit.base.kernels import kernel_config
from reviewkit.serve.server import PageKernelManager, PageKernels
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
