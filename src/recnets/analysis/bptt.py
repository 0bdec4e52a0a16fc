"""Back-propagation through time written out by hand, as the book derives it: no autograd.

Book: 10.2.2, eqs. 10.17-10.28, for the network of eq. 10.8 (tanh hidden units, softmax outputs) trained
with the summed cross-entropy L = Σ_t L(t) = -Σ_t log ŷ(t)[y(t)] (eqs. 10.12-10.14).

The point is a reference to read beside the book and to test autograd against: every gradient is computed
on the line that cites its equation. It runs under ``torch.inference_mode()``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["BPTTGradients", "bptt_gradients"]


class BPTTGradients(NamedTuple):
    """The forward pass and every gradient of L of eq. 10.8's network.

    Fields (B batch, T steps, D input, H hidden, O output):
        loss: L, the summed cross-entropy over the batch and the real steps, ().
        h: hidden states h(1..T), (B, T, H); past a sequence's length, its last real state.
        y_hat: softmax outputs ŷ(t), (B, T, O).
        grad_o: ∇_{o(t)} L, (B, T, O); zero past each length.
        grad_h: ∇_{h(t)} L, (B, T, H); zero past each length.
        grad_U, grad_W, grad_V, grad_b, grad_c: ∇_U L (H, D), ∇_W L (H, H), ∇_V L (O, H), ∇_b L (H),
            ∇_c L (O).
        grad_h0: ∇_{h(0)} L, (B, H).
    """

    loss: Tensor
    h: Tensor
    y_hat: Tensor
    grad_o: Tensor
    grad_h: Tensor
    grad_U: Tensor
    grad_W: Tensor
    grad_V: Tensor
    grad_b: Tensor
    grad_c: Tensor
    grad_h0: Tensor


def bptt_gradients(U: Tensor, W: Tensor, V: Tensor, b: Tensor, c: Tensor, x: Tensor, y: Tensor,
                   h0: Tensor | None = None, lengths: Tensor | None = None) -> BPTTGradients:
    """Forward pass of eq. 10.8 and the gradients of eqs. 10.17-10.28, by the book's backward recursion.

    Args:
        U, W, V, b, c: the parameters of eq. 10.8 (input-to-hidden, hidden-to-hidden, hidden-to-output,
            hidden bias, output bias).
        x: inputs.
        y: target class ids; entries past each length are ignored (any value).
        h0: the state before the first step; zeros when ``None``.
        lengths: real length of each sequence; steps past it carry no loss and leave the state unchanged.

    Shapes:
        U (H, D), W (H, H), V (O, H), b (H), c (O); x (B, T, D); y (B, T) integer; h0 (B, H); lengths (B,).

    Returns:
        :class:`BPTTGradients`.

    Book: 10.2.2, eqs. 10.8, 10.12-10.14 (loss) and 10.17-10.28 (gradients).
    Deviations: batched (the book has one sequence; gradients of shared parameters also sum over the batch);
    ∇_{h(0)} L continues the recursion of eq. 10.21 one step further, to the initial state; with
    ``lengths``, sequence b's loss and recursion end at its own last step τ_b.
    """
    batch, steps, _ = x.shape
    hidden, outputs = W.shape[0], V.shape[0]
    if h0 is None:
        h0 = x.new_zeros(batch, hidden)
    if lengths is None:
        real = torch.ones(batch, steps, dtype=torch.bool, device=x.device)
    else:
        real = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)  # (B, T)
    mask = real.to(x.dtype).unsqueeze(-1)  # (B, T, 1)

    # Forward pass, eq. 10.8 (a state past a sequence's end stays at its last real value).
    h_steps, h_prev = [], h0
    for t in range(steps):
        a_t = b + h_prev @ W.t() + x[:, t] @ U.t()  # a(t) = b + W h(t-1) + U x(t)            (10.8)
        h_t = torch.tanh(a_t)  # h(t) = tanh(a(t))                                              (10.8)
        h_prev = torch.where(real[:, t].unsqueeze(1), h_t, h_prev)
        h_steps.append(h_prev)
    h = torch.stack(h_steps, 1)  # (B, T, H)
    o = c + h @ V.t()  # o(t) = c + V h(t)                                                      (10.8)
    y_hat = torch.softmax(o, dim=-1)  # ŷ(t) = softmax(o(t))                                    (10.8)
    targets = torch.where(real, y, torch.zeros_like(y))
    one_hot = torch.zeros(batch, steps, outputs, dtype=x.dtype, device=x.device)
    one_hot.scatter_(2, targets.unsqueeze(-1), 1.0)  # 1_{i = y(t)}
    loss = -(torch.log_softmax(o, dim=-1) * one_hot * mask).sum()  # L = Σ_t L(t)         (10.12-10.14)

    # ∂L/∂L(t) = 1 (10.17), so each step's output gradient is its own softmax cross-entropy gradient.
    grad_o = (y_hat - one_hot) * mask  # (∇_{o(t)} L)_i = ŷ_i(t) - 1_{i = y(t)}                  (10.18)

    # The backward recursion over time, from the last step down (10.19-10.21).
    grad_h = torch.zeros_like(h)  # (B, T, H)
    from_next = h.new_zeros(batch, hidden)  # Wᵀ diag(1 - h(t+1)²) ∇_{h(t+1)} L, zero after the end
    for t in reversed(range(steps)):
        # At τ (no h(τ+1)), ∇_{h(τ)} L = Vᵀ ∇_{o(τ)} L (10.19); before it, eqs. 10.20-10.21:
        # ∇_{h(t)} L = Wᵀ diag(1 - h(t+1)²) ∇_{h(t+1)} L + Vᵀ ∇_{o(t)} L.
        grad_h[:, t] = (from_next + grad_o[:, t] @ V) * mask[:, t]  # (B, H)                  (10.19-10.21)
        from_next = (grad_h[:, t] * (1 - h[:, t] ** 2)) @ W  # the Wᵀ diag(1 - h(t)²) term for t - 1 (10.21)
    grad_h0 = from_next  # eq. 10.21 continued to h(0)

    h_before = torch.cat([h0.unsqueeze(1), h[:, :-1]], 1)  # h(t-1) for every t, (B, T, H)
    grad_a = grad_h * (1 - h ** 2)  # diag(1 - h(t)²) ∇_{h(t)} L, (B, T, H): zero past each length
    grad_c = grad_o.sum((0, 1))  # ∇_c L = Σ_t ∇_{o(t)} L                                       (10.22)
    grad_b = grad_a.sum((0, 1))  # ∇_b L = Σ_t diag(1 - h(t)²) ∇_{h(t)} L                       (10.23)
    grad_V = torch.einsum("bto,bth->oh", grad_o, h)  # ∇_V L = Σ_t (∇_{o(t)} L) h(t)ᵀ           (10.24)
    grad_W = torch.einsum("bti,btj->ij", grad_a, h_before)  # Σ_t diag(1-h(t)²)(∇_{h(t)} L) h(t-1)ᵀ (10.25-10.26)
    grad_U = torch.einsum("bti,btj->ij", grad_a, x)  # Σ_t diag(1 - h(t)²)(∇_{h(t)} L) x(t)ᵀ    (10.27-10.28)
    return BPTTGradients(loss, h, y_hat, grad_o, grad_h, grad_U, grad_W, grad_V, grad_b, grad_c, grad_h0)
