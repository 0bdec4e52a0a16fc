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


def torch_layout_parameters(cell: nn.Module, gates: int, input_size: int, hidden_size: int, *,
                            device=None, dtype=None) -> None:
    """Give ``cell`` torch.nn's recurrent parameters for ``gates`` stacked gates: ``U`` (gates*H, D) =
    weight_ih_l0, ``W`` (gates*H, H) = weight_hh_l0, ``b_U`` = bias_ih_l0, ``b_W`` = bias_hh_l0."""
    factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
    cell.U = uniform_parameter(gates * hidden_size, input_size, **factory)
    cell.W = uniform_parameter(gates * hidden_size, hidden_size, **factory)
    cell.b_U = uniform_parameter(gates * hidden_size, **factory)
    cell.b_W = uniform_parameter(gates * hidden_size, **factory)
