"""BPTT kernel of the layer-normalised LSTM (Ba, Kiros & Hinton 2016): the whole recurrence as one autograd
Function.

Forward (per step, on the hoisted projection px(t) = LN(U x(t); α_x) + b with blocks f, g, i, q):

    z(t) = W h(t-1);   n(t) = (z - μ(z)) / σ(z)  over all 4H units;   a(t) = px(t) + α_h ⊙ n(t)
    f, g, q = σ(a_f), σ(a_g), σ(a_q);   i = tanh(a_i)
    c(t) = f ⊙ c(t-1) + g ⊙ i;   m(t) = (c - μ(c)) / σ(c)  over H;   l(t) = α_c ⊙ m(t) + β_c
    h(t) = q ⊙ tanh(l(t))

with σ(v) = sqrt(mean((v - μ)²) + ε). The forward keeps z(t), the gates after their nonlinearities, c(t),
tanh(l(t)) and h(t) in ``(T, B, ·)`` buffers, and each step's n(t) and μ, 1/σ of both normalisations as
torch's fused layer norm returns them (its ``out=`` form would copy them once more).

Backward (t = T..1), ∇h the gradient reaching h(t) (from y(t) and step t+1), ∇c the one reaching c(t) from
step t+1. Layer normalisation's own backward, for n = (v - μ)/σ over K units and an incoming ∇n, is

    ∇v = (1/σ) (∇n - mean(∇n) - n ⊙ mean(∇n ⊙ n))                                   (LN')

(torch's fused layer-norm backward computes it from the saved v, μ and 1/σ in one kernel), so that per step:

    ∇a_q = ∇h ⊙ tanh(l) ⊙ q(1-q);   ∇l = ∇h ⊙ q ⊙ (1 - tanh²(l))
    ∇c  += LN'(∇m = α_c ⊙ ∇l)
    ∇a_f = ∇c ⊙ c(t-1) ⊙ f(1-f);  ∇a_g = ∇c ⊙ i ⊙ g(1-g);  ∇a_i = ∇c ⊙ g ⊙ (1 - i²);  ∇c(t-1) = ∇c ⊙ f
    ∇z = LN'(∇n = α_h ⊙ ∇a);   ∇h(t-1) = Wᵀ ∇z                                         (eq. 10.21)

and after the loop, summed over all steps at once: ∇W = Σ_t ∇z(t) h(t-1)ᵀ as one product (eqs. 10.25-10.26),
∇α_h = Σ ∇a ⊙ n (its sum over steps kept per row in the loop), ∇α_c = Σ ∇l ⊙ m (m recomputed from c, μ, 1/σ
for all steps at once), ∇β_c = Σ ∇l, ∇px = ∇a (autograd then takes it through ``project``).

Book: 10.10.1 (the LSTM); 10.2.2, eqs. 10.17-10.28 (BPTT).
"""
from __future__ import annotations

from functools import partial

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from recnets.core.bptt_kernels import (carry_gradient, finish, output_gradient, previous_steps,
                                      recurrent_weight_gradient, step_views)
from recnets.core.bptt_lstm import recurrent_product
from recnets.core.pointwise import address, mask_address, uses_pointwise

__all__ = ["layer_norm_lstm_sequence"]


def layer_norm_lstm_sequence(px: Tensor, W: Tensor, alpha_h: Tensor, alpha_c: Tensor, beta_c: Tensor, h0: Tensor,
                             c0: Tensor, masks: Tensor | None, *, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Run the layer-normalised LSTM recurrence over all steps; differentiable by the hand-written BPTT.

    Args:
        px: the projected inputs LN(U x(t); α_x) + b, blocks (forget, input gate, candidate, output).
        W: recurrent weights, same block order.
        alpha_h: gain of the recurrent product's normalisation (over all 4H units).
        alpha_c, beta_c: gain and bias of the cell state's normalisation.
        h0, c0: the state before the first step.
        masks: 1.0 where a step is real, 0.0 past a row's length (the state is then carried); or None.
        eps: added to the variance in both normalisations.

    Shapes:
        px (T, B, 4H); W (4H, H); alpha_h (4H,); alpha_c, beta_c (H,); h0, c0 (B, H); masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length), h and c at each row's last real step, each (B, H).

    Book: 10.10.1; Ba, Kiros & Hinton 2016 (layer-normalised LSTM).
    """
    return _LayerNormLSTMRecurrence.apply(px, W, alpha_h, alpha_c, beta_c, h0, c0, masks, eps)


def _normalise(values: Tensor, gain: Tensor | None, bias: Tensor | None, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """α ⊙ (v - μ)/σ + β over the last dimension (no α, β: the normalised v), with μ and 1/σ:
    ``(B, K) -> (B, K), (B, 1), (B, 1)``, new tensors. torch's fused layer norm; its ``out=`` variant is a copy
    after the same computation (measured 30 µs slower per call at B = 32, K = 1024, one thread)."""
    return torch.native_layer_norm(values, [values.shape[-1]], gain, bias, eps)


def _normalisation_backward(grad_out: Tensor, values: Tensor, mean: Tensor, inverse_sigma: Tensor,
                            gain: Tensor) -> Tensor:
    """(LN') for l = α ⊙ n + β, n = (v - μ)/σ over the last dimension: ∇v from ∇l, with ∇n = α ⊙ ∇l,
    ``(B, K) -> (B, K)`` (a new tensor). torch's fused layer-norm backward on the saved v, μ and 1/σ: one
    kernel instead of seven (measured 22-37 µs against 105 µs at B = 32, K = 256-1024, one thread)."""
    return torch.ops.aten.native_layer_norm_backward(grad_out, values, [values.shape[-1]], mean, inverse_sigma,
                                                     gain, None, [True, False, False])[0]


def _gate_blocks(buffer: Tensor) -> list[Tensor]:
    """The four gate blocks of a ``(T, B, 4H)`` buffer, each ``(T, B, H)``: forget, input gate, unit, output."""
    return list(buffer.unflatten(-1, (4, -1)).unbind(-2))


class _LayerNormLSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, alpha_h, alpha_c, beta_c, h0, c0, masks, eps):
        steps, batch, gates = px.shape
        H = gates // 4
        acts = torch.empty_like(px)  # (T, B, 4H): f, g, i, q after their nonlinearities
        normals = torch.empty_like(px)  # (T, B, 4H): z(t) = W h(t-1), normalised in place into n(t)
        cells = px.new_empty(steps, batch, H)  # c(t)
        tanh_l = px.new_empty(steps, batch, H)  # tanh(l(t)), l(t) = α_c m(t) + β_c
        hs = px.new_empty(steps, batch, H)  # h(t), the carried state
        moments = px.new_empty(3, steps, batch)  # 1/σ of z(t); μ and 1/σ of c(t)
        product = recurrent_product(W, batch, H)  # h -> h Wᵀ
        steps_in_c = uses_pointwise(px, W, alpha_h, alpha_c, beta_c, h0, c0)
        forward_loop = _forward_ops if steps_in_c is None else partial(_forward_in_c, steps_in_c["layer_norm_lstm_forward"])
        forward_loop(product, px, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells, tanh_l, hs,
                     moments)
        ctx.save_for_backward(W, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, hs, moments)
        return finish(hs, masks, cells)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last, grad_c_last):
        W, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, hs, moments = ctx.saved_tensors
        need = ctx.needs_input_grad
        delta = torch.empty_like(acts)  # (T, B, 4H): ∇a(t)
        grad_z = torch.empty_like(acts)  # (T, B, 4H): ∇z(t), z = W h(t-1)
        grad_l = torch.empty_like(cells)  # (T, B, H): ∇l(t)
        grad_alpha_h_rows = torch.zeros_like(acts[0]) if need[2] else None  # Σ_t ∇a(t) ⊙ n(t), (B, 4H)
        product = recurrent_product(W.t(), h0.shape[0], h0.shape[1])  # ∇z -> Wᵀ ∇z
        grad_hs = output_gradient(grad_ys, masks)
        steps_in_c = uses_pointwise(acts, W, alpha_h, alpha_c, h0, c0)
        backward_loop = (_backward_ops if steps_in_c is None
                         else partial(_backward_in_c, steps_in_c["layer_norm_lstm_backward"]))
        grad_h, grad_c = backward_loop(product, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l,
                                       moments, grad_hs, grad_h_last, grad_c_last, delta, grad_z, grad_l,
                                       grad_alpha_h_rows)
        grad_W = recurrent_weight_gradient(grad_z, h0, hs) if need[1] else None  # one product  (10.25-10.26)
        grad_alpha_h = grad_alpha_h_rows.sum(0) if need[2] else None  # (4H,)
        grad_alpha_c = None
        if need[3]:  # Σ ∇l ⊙ m with m(t) = (c(t) - μ) / σ recomputed for all steps at once, (H,)
            mean_c, inverse_c = moments[1:].unsqueeze(-1)  # (T, B, 1) each
            grad_alpha_c = (grad_l * (cells - mean_c).mul_(inverse_c)).sum((0, 1))
        grad_beta_c = grad_l.sum((0, 1)) if need[4] else None  # (H,)
        return delta, grad_W, grad_alpha_h, grad_alpha_c, grad_beta_c, grad_h, grad_c, None, None


def _forward_ops(product, px, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells, tanh_l, hs,
                 moments) -> None:
    """The forward loop in torch ops (fused layer norms), filling the buffers after ``eps``."""
    H = hs.shape[-1]
    h, c_prev = h0, c0
    for px_t, a, forget_gate, forget, gate, unit, out, n, c, tanh_now, h_new, inv_h, mu_c, inv_c, mask in (
            step_views(px, acts, acts[..., :2 * H], *_gate_blocks(acts), normals, cells, tanh_l, hs,
                       *moments.unsqueeze(-1), masks)):
        normal, _, inverse = _normalise(product(h, out=n), None, None, eps)  # n(t) from z(t)
        n.copy_(normal), inv_h.copy_(inverse)
        torch.addcmul(px_t, normal, alpha_h, out=a)  # a(t), (B, 4H)
        forget_gate.sigmoid_()
        unit.tanh_()
        out.sigmoid_()
        torch.mul(forget, c_prev, out=c).addcmul_(gate, unit)  # c(t)
        l, mean, inverse = _normalise(c, alpha_c, beta_c, eps)  # l(t), (B, H)
        mu_c.copy_(mean), inv_c.copy_(inverse)
        torch.mul(out, torch.tanh(l, out=tanh_now), out=h_new)  # h(t)
        if mask is not None:  # finished rows carry their state
            torch.lerp(h, h_new, mask, out=h_new)
            torch.lerp(c_prev, c, mask, out=c)
        h, c_prev = h_new, c


def _forward_in_c(step, product, px, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells, tanh_l, hs,
                  moments) -> None:
    """The forward loop with each step's normalisations and gate arithmetic one C call (``pointwise.c``)."""
    steps, batch, H = hs.shape
    px, h0, c0 = px.contiguous(), h0.contiguous(), c0.contiguous()
    masks = None if masks is None else masks.contiguous()
    alpha_h, alpha_c, beta_c = alpha_h.contiguous(), alpha_c.contiguous(), beta_c.contiguous()
    (px_at, px_step, px_rows), (n_at, n_step, n_rows) = address(px), address(normals)
    (acts_at, acts_step, acts_rows) = address(acts)
    (c_at, c_step, c_rows), (l_at, l_step, l_rows) = address(cells), address(tanh_l)
    (hs_at, hs_step, hs_rows), (moments_at, moments_step, _) = address(hs), address(moments)
    mask_at, mask_step = mask_address(masks)
    row_step = moments.stride(1) * moments.element_size()  # one step of a (T, B) moment
    h, h_at, c_prev_at, state_rows = h0, h0.data_ptr(), c0.data_ptr(), H
    for t, (z, h_new) in enumerate(zip(normals.unbind(0), hs.unbind(0))):
        product(h, out=z)  # z(t) = W h(t-1), normalised in place by the step
        step(batch, H, eps, px_at + t * px_step, px_rows, n_at + t * n_step, n_rows, alpha_h.data_ptr(),
             alpha_c.data_ptr(), beta_c.data_ptr(), h_at, state_rows, c_prev_at, state_rows,
             None if mask_at is None else mask_at + t * mask_step, acts_at + t * acts_step, acts_rows,
             moments_at + t * row_step, c_at + t * c_step, c_rows, moments_at + moments_step + t * row_step,
             moments_at + 2 * moments_step + t * row_step, l_at + t * l_step, l_rows, hs_at + t * hs_step, hs_rows)
        h, h_at, c_prev_at = h_new, hs_at + t * hs_step, c_at + t * c_step


def _backward_ops(product, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, moments,
                  grad_hs, grad_h_last, grad_c_last, delta, grad_z, grad_l, grad_alpha_h_rows) -> tuple[Tensor, Tensor]:
    """The backward loop in torch ops (fused layer-norm backwards), filling ``delta``, ``grad_z``, ``grad_l`` and
    ``grad_alpha_h_rows``; returns ∇h(0), ∇c(0)."""
    ones = torch.ones_like(h0)
    standard = torch.zeros_like(h0[:, :1]), torch.ones_like(h0[:, :1])  # μ = 0, 1/σ = 1 of n itself, (B, 1)
    grad_h, spare_h = grad_h_last.clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_c = grad_c_last.clone()  # ∇c(t) from later steps, (B, H)
    views = step_views(acts, *_gate_blocks(acts), delta, *_gate_blocks(delta), normals, *moments.unsqueeze(-1), cells,
                       previous_steps(c0, cells), tanh_l, grad_l, grad_z, grad_hs, masks)
    for (a, forget, gate, unit, out, d, d_forget, d_gate, d_unit, d_out, normal, inv_h, mu_c, inv_c, c, c_prev,
         tanh_now, g_l, g_z, grad_y, mask) in reversed(views):
        grad_h.add_(grad_y)
        torch.addcmul(a, a, a, value=-1.0, out=d)  # σ'(a) = σ(1 - σ) for every block
        torch.addcmul(ones, unit, unit, value=-1.0, out=d_unit)  # tanh' = 1 - i²
        d_out.mul_(grad_h).mul_(tanh_now)  # ∇a_q
        torch.addcmul(ones, tanh_now, tanh_now, value=-1.0, out=g_l).mul_(out).mul_(grad_h)  # ∇l
        grad_c_now = _normalisation_backward(g_l, c, mu_c, inv_c, alpha_c).add_(grad_c)  # ∇c(t), (B, H)
        d_forget.mul_(grad_c_now).mul_(c_prev)
        d_gate.mul_(grad_c_now).mul_(unit)
        d_unit.mul_(grad_c_now).mul_(gate)
        grad_c_now.mul_(forget)  # ∇c(t-1) through the forget gate
        if mask is not None:  # a finished row: zero error signals, gradients pass through unchanged
            d.mul_(mask)
            g_l.mul_(mask)
        grad_c, _ = carry_gradient(grad_c, grad_c_now, mask)
        if grad_alpha_h_rows is not None:
            grad_alpha_h_rows.addcmul_(d, normal)
        torch.mul(_normalisation_backward(d, normal, *standard, alpha_h), inv_h, out=g_z)  # ∇z(t), (B, 4H)
        grad_h, spare_h = carry_gradient(grad_h, product(g_z, out=spare_h), mask)  # Wᵀ ∇z(t)  (10.21)
    return grad_h, grad_c


def _backward_in_c(step, product, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, moments,
                   grad_hs, grad_h_last, grad_c_last, delta, grad_z, grad_l, grad_alpha_h_rows) -> tuple[Tensor, Tensor]:
    """The backward loop with each step's arithmetic, both layer-norm backwards included, one C call
    (``pointwise.c``); fills the same buffers as :func:`_backward_ops`, returns ∇h(0), ∇c(0)."""
    steps, batch, H = cells.shape
    c0, grad_hs = c0.contiguous(), grad_hs.contiguous()
    masks = None if masks is None else masks.contiguous()
    alpha_h, alpha_c = alpha_h.contiguous(), alpha_c.contiguous()
    (acts_at, acts_step, acts_rows), (n_at, n_step, n_rows) = address(acts), address(normals)
    (c_at, c_step, c_rows), (l_at, l_step, l_rows) = address(cells), address(tanh_l)
    (y_at, y_step, y_rows), (moments_at, moments_step, _) = address(grad_hs), address(moments)
    (d_at, d_step, d_rows), (gl_at, gl_step, gl_rows) = address(delta), address(grad_l)
    (gz_at, gz_step, gz_rows) = address(grad_z)
    mask_at, mask_step = mask_address(masks)
    row_step = moments.stride(1) * moments.element_size()
    alpha_rows_at = None if grad_alpha_h_rows is None else grad_alpha_h_rows.data_ptr()
    grad_h, spare_h = grad_h_last.contiguous().clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_c = grad_c_last.contiguous().clone()  # ∇c(t) from later steps, (B, H)
    grad_z_steps = grad_z.unbind(0)
    for t in reversed(range(steps)):
        c_prev_at, c_prev_rows = (c0.data_ptr(), c0.stride(0)) if t == 0 else (c_at + (t - 1) * c_step, c_rows)
        step(batch, H, acts_at + t * acts_step, acts_rows, n_at + t * n_step, n_rows,
             moments_at + t * row_step, c_at + t * c_step, c_rows, c_prev_at, c_prev_rows,
             moments_at + moments_step + t * row_step, moments_at + 2 * moments_step + t * row_step,
             l_at + t * l_step, l_rows, y_at + t * y_step, y_rows, alpha_h.data_ptr(), alpha_c.data_ptr(),
             None if mask_at is None else mask_at + t * mask_step, grad_h.data_ptr(), H, grad_c.data_ptr(), H,
             alpha_rows_at, 4 * H, d_at + t * d_step, d_rows, gl_at + t * gl_step, gl_rows, gz_at + t * gz_step,
             gz_rows)
        mask = None if masks is None else masks[t]
        grad_h, spare_h = carry_gradient(grad_h, product(grad_z_steps[t], out=spare_h), mask)  # Wᵀ ∇z(t) (10.21)
    return grad_h, grad_c
