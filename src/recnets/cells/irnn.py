"""The identity-initialised ReLU RNN (IRNN) of Le, Jaitly & Hinton 2015: a baseline for long lags.

Book: 10.2, eq. 10.8 with φ = relu; 10.7 (a recurrent matrix with spectral radius 1 neither shrinks nor
grows the state at initialisation); Le et al. 2015.
"""
from __future__ import annotations

import torch

from recnets.cells.elman import ElmanCell

__all__ = ["identity_relu_rnn"]


def identity_relu_rnn(input_size: int, hidden_size: int, *, scale: float = 1.0, device=None,
                      dtype=None) -> ElmanCell:
    """An :class:`~recnets.cells.elman.ElmanCell` with relu, W = scale · I and b = 0.

    h(t) = relu(W h(t-1) + U x(t)) starts as an integrator: with zero input the state is copied unchanged,
    so gradients neither vanish nor explode through time at initialisation. The cell is a standard Elman
    cell, so ``unroll`` runs it on the fused relu kernel.

    Args:
        input_size: D.
        hidden_size: H.
        scale: the identity's multiplier (Le et al. also try 0.01 I for some tasks), finite and > 0.

    Returns:
        ``ElmanCell(input_size, hidden_size, nonlinearity="relu")`` with ``W = scale · I``, ``b = 0``.

    Book: 10.2, eq. 10.8; 10.7.
    Deviations: U keeps torch's default uniform(-1/√H, 1/√H) initialisation; Le et al. draw the
    input weights from a Gaussian of small standard deviation (0.001 in several of their experiments).
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.0 < scale < float("inf"):
        raise ValueError(f"scale: expected a finite number > 0, got {scale!r}")
    cell = ElmanCell(input_size, hidden_size, nonlinearity="relu", device=device, dtype=dtype)
    with torch.no_grad():
        cell.W.copy_(scale * torch.eye(hidden_size, device=cell.W.device, dtype=cell.W.dtype))
        cell.b.zero_()
    return cell
