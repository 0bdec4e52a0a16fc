"""Clipping gradients: by their global norm or element by element.

Book: 10.11.1. Near a cliff of the loss surface the gradient can be huge and throw the parameters far
away; clipping keeps the direction of a step and bounds its size. Two forms: rescale the whole gradient g
when ‖g‖ > v to g v / ‖g‖ (the global norm over all parameters, Pascanu et al. 2013), or clip every element
to [-v, v] (Mikolov 2012), which may change the direction.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

__all__ = ["clip_gradients", "clip_gradients_lazily"]


def clip_gradients_lazily(parameters: Iterable[Tensor], *, max_norm: float = 0.0,
                          max_value: float = 0.0) -> Tensor:
    """Clip the gradients in place and return their global norm before clipping as a 0-d tensor.

    Leaves the norm on the gradients' device, so a training loop can accumulate it without waiting for the
    device at every step. Element-wise clipping runs first, then norm clipping, so that both bounds hold.

    Args:
        parameters: tensors whose ``.grad`` is clipped; those without a gradient are skipped.
        max_norm: rescale so that the global L2 norm is at most ``max_norm`` (0 = off).
        max_value: clip each element to ``[-max_value, max_value]`` (0 = off).

    Returns:
        ‖g‖₂ over all gradients before any clipping: a 0-d tensor (0 when no parameter has a gradient).

    Book: 10.11.1.
    """
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return torch.zeros(())
    if max_norm > 0 and max_value == 0:
        return nn.utils.clip_grad_norm_(with_grad, max_norm)  # returns the norm before clipping
    norm = nn.utils.get_total_norm([p.grad for p in with_grad])
    if max_value > 0:
        nn.utils.clip_grad_value_(with_grad, max_value)
    if max_norm > 0:
        nn.utils.clip_grad_norm_(with_grad, max_norm)
    return norm


def clip_gradients(parameters: Iterable[Tensor], *, max_norm: float = 0.0, max_value: float = 0.0) -> float:
    """Clip the gradients in place (global norm and/or element-wise) and return the norm before clipping.

    Args:
        parameters: tensors whose ``.grad`` is clipped; those without a gradient are skipped.
        max_norm: rescale so that the global L2 norm is at most ``max_norm`` (0 = off).
        max_value: clip each element to ``[-max_value, max_value]`` (0 = off).

    Returns:
        ‖g‖₂ over all gradients before clipping, as a Python float (this waits for the device; the training
        loop uses :func:`clip_gradients_lazily` instead).

    Book: 10.11.1.
    """
    return float(clip_gradients_lazily(parameters, max_norm=max_norm, max_value=max_value).item())
