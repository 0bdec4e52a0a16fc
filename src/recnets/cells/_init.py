"""Shared parameter construction for cells: torch's default uniform(-1/sqrt(H), 1/sqrt(H))."""
from __future__ import annotations

import math

import torch
from torch import nn


def check_sizes(**sizes: int) -> None:
    """Raise a one-line error unless every named size is a positive int."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def uniform_parameter(*shape: int, hidden_size: int, device=None, dtype=None) -> nn.Parameter:
    """A parameter drawn from uniform(-1/sqrt(H), 1/sqrt(H)), as torch.nn's recurrent modules do."""
    bound = 1.0 / math.sqrt(hidden_size)
    return nn.Parameter(torch.empty(*shape, device=device, dtype=dtype).uniform_(-bound, bound))
