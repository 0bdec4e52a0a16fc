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

from recnets.core.bptt_kernels import (finish, output_gradient, previous_states, recurrent_weight_gradient,
                                      step_views)

__all__ = ["mixed_elman_sequence"]


def mixed_elman_sequence(px: Tensor, W: Tensor, h0: Tensor, mix: Tensor, masks: Tensor | None) -> tuple[Tensor, Tensor]:
    """Run h(t) = h(t-1) + λ(t) ⊙ (tanh(px(t) + W h(t-1)) - h(t-1)) over all steps (hand-written BPTT).

    Args:
        px: b + U x(t) for every step.
        W: recurrent weights (already masked, for a clockwork cell).
        h0: the state before the first step.
        mix: λ, broadcastable to (T, B, H): (H,) for leaky units, (T, B, H) for clockwork modules or when
            lengths fold in (0 past a row's length, which carries the state). Differentiable (a learned time
            constant).
        masks: 1.0 where a step is real, 0.0 past a row's length (only the outputs are zeroed there: ``mix``
            already carries the state); or None.

    Shapes:
        px (T, B, H); W (H, H); h0 (B, H); masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length) and h at each row's last real step (B, H).

    Book: 10.9.2, 10.9.3 (eq. 10.8 when λ = 1).
    """
    return _MixedElmanRecurrence.apply(px, W, h0, mix, masks)


class _MixedElmanRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, h0, mix, masks):
        per_step = mix.dim() == 3  # (T, B or 1, H) or (T, B, 1)
        candidates = torch.empty_like(px)  # (T, B, H): v(t)
        hs = torch.empty_like(px)
        recurrent_t = W.t().contiguous()  # measured faster per product than the transposed view
        h = h0
        for px_t, v, h_new, weight in step_views(px, candidates, hs, mix if per_step else None):
            torch.addmm(px_t, h, recurrent_t, out=v).tanh_()
            h = torch.lerp(h, v, weight if per_step else mix, out=h_new)
        ctx.save_for_backward(W, h0, mix, masks, candidates, hs)
        return finish(hs, masks)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last):
        W, h0, mix, masks, candidates, hs = ctx.saved_tensors
        per_step = mix.dim() == 3
        need = ctx.needs_input_grad
        delta = torch.empty_like(hs)  # (T, B, H): ∇a(t)
        grad_h_all = torch.empty_like(hs) if need[3] else None  # ∇h(t) of every step, for ∇λ
        ones = torch.ones_like(h0)
        grad_v = torch.empty_like(h0)  # (B, H): ∇v(t)
        current, spare = torch.empty_like(h0), torch.empty_like(h0)  # ∇h(t) and ∇h(t-1) when not kept
        through = grad_h_last  # the gradient reaching h(t) from step t+1 (autograd's tensor: never written)
        for v, d, weight, grad_h_t, grad_y in reversed(step_views(candidates, delta, mix if per_step else None,
                                                                   grad_h_all, output_gradient(grad_ys, masks))):
            grad_h = torch.add(through, grad_y, out=current if grad_h_t is None else grad_h_t)  # ∇h(t)
            torch.mul(grad_h, weight if per_step else mix, out=grad_v)  # ∇v(t)
            torch.addcmul(ones, v, v, value=-1.0, out=d).mul_(grad_v)  # ∇a(t) = ∇v (1 - v²)
            through = torch.sub(grad_h, grad_v, out=spare).addmm_(d, W)  # ∇h(t) (1 - λ) + Wᵀ ∇a(t)    (10.21)
        grad_W = recurrent_weight_gradient(delta, h0, hs) if need[1] else None  # (10.25-10.26)
        grad_mix = None
        if need[3]:
            grad_mix = (grad_h_all * (candidates - previous_states(h0, hs))).sum_to_size(mix.shape)
        return delta, grad_W, through, grad_mix, None
