"""A one-line description of the machine a figure was measured on."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
from typing import Iterator

import torch

__all__ = ["describe_machine", "cpu_model", "one_torch_thread", "keep_freed_memory"]


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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# mmap thresholds tried in turn, largest first: glibc 2.36 takes 1 GiB; a build that caps the threshold at
# HEAP_MAX_SIZE / 2 takes 32 MiB on 64-bit systems
_MMAP_THRESHOLDS = (1 << 30, 1 << 28, 32 << 20)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed CPU memory for reuse instead of handing it back to the OS.

    A BPTT kernel writes its gates and states into ``(T, B, ·)`` buffers of several MB. glibc serves blocks
    that large by ``mmap`` (its threshold rises only to the largest block freed so far, at most 32 MB) and
    hands freed memory back (``munmap``, or trimming the heap's top beyond twice that threshold), so calls
    fault their buffers back in page by page (measured: a (32, 768) step view of a fresh buffer costs 40-60 µs to
    write against ~5 µs when reused; our GRU's training step at B=32, T=100, H=256 went from 63.6 to 54.0 ms
    while torch.nn.GRU, which allocates small per-step blocks, went from 72.8 to 69.2 ms). This sets malloc's
    mmap and trim thresholds high, so those blocks come from the heap and stay there between calls: the
    process keeps its peak CPU memory instead of returning it (the CUDA caching allocator's trade, and what
    the jemalloc/tcmalloc preload of PyTorch's CPU performance guide achieves). Process-wide; ``recnets``'s
    command line calls it, a script using the library may. Set ``RECNETS_KEEP_FREED_MEMORY=0`` to opt out.

    Returns:
        True where glibc took the settings; False on other C libraries, other systems or when opted out.
    """
    if os.environ.get("RECNETS_KEEP_FREED_MEMORY", "1") == "0" or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if not any(mallopt(_M_MMAP_THRESHOLD, size) == 1 for size in _MMAP_THRESHOLDS):
        return False
    return mallopt(_M_TRIM_THRESHOLD, max(_MMAP_THRESHOLDS)) == 1
