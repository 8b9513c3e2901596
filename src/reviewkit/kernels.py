"""The Jupyter kernels reviewkit starts, for reports and live pages alike."""

from __future__ import annotations

from traitlets.config import Config


def kernel_config() -> Config:
    """Jupyter config for our kernels: their sockets encrypted with CurveZMQ where pyzmq has it
    (``auto``: when the kernelspec declares support, as ipykernel's does). The kernel then has no
    reason to print its "running over TCP without encryption" warning on every start, into a
    report run's output or a server's log, and the transport stays TCP (IPC made a killed kernel
    hang its client)."""
    import zmq  # noqa: PLC0415 (only when kernels start)

    if not zmq.has("curve"):
        return Config()
    return Config({"KernelManager": {"transport_encryption": "auto"}})
