"""The machine description every summary records."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

from recnets.machine import describe_machine


def test_describe_machine_names_cores_and_threads():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_machine("cpu").endswith(f", {os.cpu_count()} cores, 1 torch thread")
        torch.set_num_threads(2)
        assert describe_machine("cpu").endswith(", 2 torch threads")
    finally:
        torch.set_num_threads(threads)


# glibc's chunk header: the size word just before the block, bit 0x2 set when the block was mmapped
_PROBE = """
import ctypes, sys, torch
from recnets.machine import keep_freed_memory

def mmapped(numel):
    block = torch.empty(numel)
    return bool(ctypes.c_size_t.from_address(block.data_ptr() - ctypes.sizeof(ctypes.c_size_t)).value & 2)

before = mmapped(2_000_000)  # 8 MB
kept = keep_freed_memory()
print(before, kept, mmapped(2_000_000), mmapped(20_000_000))
"""


def _probe(**env: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return result.stdout.split()


GLIBC_ONLY = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")


@GLIBC_ONLY
def test_keep_freed_memory_serves_large_blocks_from_the_heap():
    # glibc's default serves an 8 MB block by mmap (and unmaps it when freed); after the call, blocks of 8 and
    # 80 MB come from the heap, which keeps them for the next call
    assert _probe(RECNETS_KEEP_FREED_MEMORY="1") == ["True", "True", "False", "False"]


@GLIBC_ONLY
def test_keep_freed_memory_can_be_declined():
    # declined, glibc's dynamic threshold rises to the size of the freed 8 MB block only: 80 MB is still mmapped
    assert _probe(RECNETS_KEEP_FREED_MEMORY="0") == ["True", "False", "False", "True"]
