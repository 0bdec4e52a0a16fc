"""The machine description every summary records."""
from __future__ import annotations

import os

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
