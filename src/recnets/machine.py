"""A one-line description of the machine a figure was measured on."""
from __future__ import annotations

import contextlib
import os
import platform
from typing import Iterator

import torch

__all__ = ["describe_machine", "cpu_model", "one_torch_thread"]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def describe_machine(device: torch.device | str = "cpu") -> str:
    """CPU model, core count and torch threads; the GPU's name when ``device`` is CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"{cpu_model()}, {os.cpu_count()} cores, {threads} torch thread{'' if threads == 1 else 's'}"


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block on one torch thread, restoring the thread count after.

    For experiments made of many small operations (reservoir steps, tiny models): on a busy 2-core machine
    a second thread makes each operation wait on the other (measured: a 200-unit reservoir step ~5 ms on two
    threads against ~0.05 ms on one; 50 small Cholesky solves 0.6 s against 3 ms).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
