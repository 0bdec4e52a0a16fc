"""Per-sequence lengths in a padded batch: validation, masks and reversal within each length.

Book: 10.2.3 (sequences of varying length in one model), 10.3 (reading a sequence backwards).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_lengths", "step_masks", "reverse_within_lengths", "zero_past_lengths"]


def check_lengths(lengths: Tensor | None, batch_size: int, steps: int, device: torch.device) -> Tensor | None:
    """Validate ``lengths (B,)`` against a batch of ``batch_size`` rows and ``steps`` time steps.

    Returns the lengths as int64 on ``device``, or ``None`` when every sequence fills all ``steps`` (the
    caller then skips masking altogether).

    Raises:
        ValueError / TypeError: naming the argument, what was expected and what came.
    """
    if lengths is None:
        return None
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(f"lengths: expected shape ({batch_size},), got {tuple(lengths.shape)}")
    values = lengths.detach().cpu()
    low, high = int(values.min()), int(values.max())
    if low < 1:
        raise ValueError(f"lengths: expected every length >= 1, got {low}")
    if high > steps:
        raise ValueError(f"lengths: expected every length <= {steps} (the padded time dimension), got {high}")
    if low == steps:
        return None
    return lengths.to(device=device, dtype=torch.long)


def step_masks(lengths: Tensor, steps: int) -> Tensor:
    """``(T, B)`` bool: step t of sequence b is real (``t < lengths[b]``)."""
    return torch.arange(steps, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


def reverse_within_lengths(xs: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row of ``xs (B, T, ...)`` within its own length; padding stays at the end.

    Applying it twice gives ``xs`` back.
    """
    if lengths is None:
        return xs.flip(1)
    steps = xs.shape[1]
    positions = torch.arange(steps, device=xs.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(xs.device).unsqueeze(1)  # (B, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    index = index.view(*index.shape, *([1] * (xs.dim() - 2))).expand_as(xs)
    return xs.gather(1, index)


def zero_past_lengths(ys: Tensor, lengths: Tensor | None) -> Tensor:
    """``ys (B, T, ...)`` with every step at or past its sequence's length set to zero."""
    if lengths is None:
        return ys
    mask = step_masks(lengths.to(ys.device), ys.shape[1]).t()  # (B, T)
    return ys * mask.view(*mask.shape, *([1] * (ys.dim() - 2))).to(ys.dtype)
