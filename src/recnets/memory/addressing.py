"""Neural Turing machine addressing: content focus, interpolation, circular shift, sharpening; reading and
writing with erase and add vectors (Graves et al. 2014, section 3).

Book: 10.12 (explicit memory: cells addressed by content with soft attention, read and written by weights).

Every function is batched over B sequences and any number of heads: a weighting ``w (B, Hd, N)`` over the
N memory rows of ``M (B, N, W)``. Numerics: cosine similarity has an ε in its denominator, and sharpening runs
in log space (a softmax of γ log w̃), so no weighting of exact zeros produces 0/0.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["content_weights", "interpolate", "shift", "sharpen", "read", "write", "EPSILON"]

EPSILON = 1e-8


def content_weights(memory: Tensor, key: Tensor, strength: Tensor) -> Tensor:
    """w_c(i) = softmax_i(β K(k, M(i))) with K the cosine similarity (Graves et al. eqs. 5-6).

    Shapes:
        memory (B, N, W), key (B, Hd, W), strength β (B, Hd) -> w_c (B, Hd, N).
    """
    dot = torch.bmm(key, memory.transpose(1, 2))  # (B, Hd, N)
    norms = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1).unsqueeze(1)  # (B, Hd, N)
    return torch.softmax(strength.unsqueeze(-1) * dot / (norms + EPSILON), dim=-1)


def interpolate(content: Tensor, previous: Tensor, gate: Tensor) -> Tensor:
    """w_g = g w_c + (1 - g) w_{t-1} (eq. 7). Shapes: (B, Hd, N), (B, Hd, N), gate (B, Hd) -> (B, Hd, N)."""
    return torch.lerp(previous, content, gate.unsqueeze(-1))  # w_{t-1} + g (w_c - w_{t-1}): one op


def shift(weights: Tensor, shifts: Tensor) -> Tensor:
    """Circular convolution w̃(i) = Σ_j w_g(j) s(i - j) (eq. 8) over the shifts -S..S.

    Shapes:
        weights (B, Hd, N), shifts (B, Hd, 2S + 1) (a distribution; entry S + k is the weight of a shift by
        k rows) -> (B, Hd, N).
    """
    reach = (shifts.shape[-1] - 1) // 2
    s = shifts.split(1, dim=-1)  # 2S + 1 of (B, Hd, 1): s[reach + k] weighs a shift by k
    shifted = weights * s[reach]  # (B, Hd, N): the shift by 0
    for k in range(1, reach + 1):  # rolled by k, row i holds w_g(i - k)
        shifted = torch.addcmul(shifted, torch.roll(weights, k, dims=-1), s[reach + k])
        shifted = torch.addcmul(shifted, torch.roll(weights, -k, dims=-1), s[reach - k])
    return shifted


def sharpen(weights: Tensor, gamma: Tensor) -> Tensor:
    """w(i) = w̃(i)^γ / Σ_j w̃(j)^γ, γ >= 1 (eq. 9), as softmax(γ log(w̃ + ε)).

    Shapes: weights (B, Hd, N), gamma (B, Hd) -> (B, Hd, N).
    """
    return torch.softmax(gamma.unsqueeze(-1) * torch.log(weights + EPSILON), dim=-1)


def read(memory: Tensor, weights: Tensor) -> Tensor:
    """r = Σ_i w(i) M(i) (eq. 2). Shapes: memory (B, N, W), weights (B, Hd, N) -> (B, Hd, W)."""
    return torch.bmm(weights, memory)


def write(memory: Tensor, weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """M(i) ← M(i) ⊙ Π_h (1 - w_h(i) e_h) + Σ_h w_h(i) a_h (eqs. 3-4; the product over write heads).

    Shapes: memory (B, N, W), weights (B, Hd, N), erase e (B, Hd, W) in [0, 1], add a (B, Hd, W) -> (B, N, W).
    """
    columns = weights.transpose(1, 2)  # (B, N, Hd)
    if weights.shape[1] == 1:  # one write head: outer products by broadcasting, nothing to multiply or sum
        return torch.addcmul(memory * (1 - columns * erase), columns, add)
    keep = torch.prod(1 - weights.unsqueeze(-1) * erase.unsqueeze(-2), dim=1)  # (B, N, W)
    return torch.baddbmm(memory * keep, columns, add)  # + Σ_h w_h(i) a_h
