"""BPTT kernel of the Elman family with a per-unit mix: leaky units and clockwork modules.

On the hoisted projection px(t) = b + U x(t), with a mix λ(t) ∈ [0, 1] broadcastable to (T, B, H):

    v(t) = tanh(px(t) + W h(t-1));   h(t) = h(t-1) + λ(t) ⊙ (v(t) - h(t-1))

λ = 1/τ per unit is the leaky cell (Book 10.9.2); λ(t) = 1 for the units whose module ticks at step t and 0
for the others is the clockwork cell (Book 10.9.3); λ = 1 is eq. 10.8. A finished row (past its length)
has λ = 0 (the state is carried), so lengths cost nothing extra.

Backward (t = T..1):  ∇a(t) = ∇h(t) ⊙ λ(t) ⊙ (1 - v²);  ∇h(t-1) = ∇h(t) ⊙ (1 - λ(t)) + Wᵀ ∇a(t)  (eq. 10.21)
and after the loop ∇W = Σ_t ∇a(t) h(t-1)ᵀ (eqs. 10.25-10.26) and ∇λ = Σ ∇h(t) ⊙ (v(t) - h(t-1)), each
one product or reduction over all steps.

Book: 10.2, eq. 10.8; 10.9.2; 10.9.3; 10.2.2, eqs. 10.17-10.28.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from recnets.core.bptt_kernels import previous_states

__all__ = ["mixed_elman_sequence"]


def mixed_elman_sequence(px: Tensor, W: Tensor, h0: Tensor, mix: Tensor) -> Tensor:
    """Run h(t) = h(t-1) + λ(t) ⊙ (tanh(px(t) + W h(t-1)) - h(t-1)) over all steps (hand-written BPTT).

    Args:
        px: b + U x(t) for every step.
        W: recurrent weights (already masked, for a clockwork cell).
        h0: the state before the first step.
        mix: λ, broadcastable to (T, B, H): (H,) for leaky units, (T, B, H) for clockwork modules or when
            lengths fold in (0 past a row's length). Differentiable (a learned time constant).

    Shapes:
        px (T, B, H); W (H, H); h0 (B, H).

    Returns:
        hs (T, B, H): the carried state after every step.

    Book: 10.9.2, 10.9.3 (eq. 10.8 when λ = 1).
    """
    return _MixedElmanRecurrence.apply(px, W, h0, mix)


class _MixedElmanRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, h0, mix):
        steps = px.shape[0]
        per_step = mix.dim() == 3  # (T, B or 1, H) or (T, B, 1)
        candidates = torch.empty_like(px)  # (T, B, H): v(t)
        hs = torch.empty_like(px)
        recurrent_t = W.t()
        h = h0
        for t in range(steps):
            v = torch.addmm(px[t], h, recurrent_t, out=candidates[t]).tanh_()
            h = torch.lerp(h, v, mix[t] if per_step else mix, out=hs[t])
        ctx.save_for_backward(W, h0, mix, candidates, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs):
        W, h0, mix, candidates, hs = ctx.saved_tensors
        steps, batch, H = hs.shape
        per_step = mix.dim() == 3
        need = ctx.needs_input_grad
        delta = torch.empty_like(hs)  # (T, B, H): ∇a(t)
        grad_h_all = torch.empty_like(hs) if need[3] else None  # ∇h(t), for ∇λ
        ones = torch.ones_like(h0)
        grad_h = torch.zeros_like(h0)
        for t in reversed(range(steps)):
            v, weight = candidates[t], (mix[t] if per_step else mix)
            grad_h = torch.add(grad_h, grad_hs[t], out=grad_h_all[t]) if grad_h_all is not None else grad_h + grad_hs[t]
            grad_v = grad_h * weight  # ∇v(t)
            d = torch.addcmul(ones, v, v, value=-1.0, out=delta[t]).mul_(grad_v)  # ∇a(t) = ∇v (1 - v²)
            grad_h = torch.addmm(grad_h - grad_v, d, W)  # ∇h(t) (1 - λ) + Wᵀ ∇a(t)             (10.21)
        flat = delta.view(steps * batch, H)
        previous = previous_states(h0, hs) if need[1] or need[3] else None
        grad_W = flat.t().mm(previous.view(steps * batch, H)) if need[1] else None  # (10.25-10.26)
        grad_mix = (grad_h_all * (candidates - previous)).sum_to_size(mix.shape) if need[3] else None
        return delta, grad_W, grad_h, grad_mix
