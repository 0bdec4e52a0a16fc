"""Shared set-up of the trainer's tests: one intra-op thread (tiny models; the 2-core machine is shared)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one thread: tiny models gain nothing from more, and a busy machine makes the
    spinning of extra threads cost ~50x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
