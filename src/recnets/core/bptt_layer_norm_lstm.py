"""BPTT kernel of the layer-normalised LSTM (Ba, Kiros & Hinton 2016): the whole recurrence as one autograd
Function.

Forward (per step, on the hoisted input product ux(t) = U x(t) with blocks f, g, i, q):

    z(t) = W h(t-1);   n(t) = (z - μ(z)) / σ(z),  n_x(t) = (ux - μ(ux)) / σ(ux)  over all 4H units
    a(t) = (α_x ⊙ n_x(t) + b) + α_h ⊙ n(t)
    f, g, q = σ(a_f), σ(a_g), σ(a_q);   i = tanh(a_i)
    c(t) = f ⊙ c(t-1) + g ⊙ i;   m(t) = (c - μ(c)) / σ(c)  over H;   l(t) = α_c ⊙ m(t) + β_c
    h(t) = q ⊙ tanh(l(t))

with σ(v) = sqrt(mean((v - μ)²) + ε). The forward keeps n(t) (z normalised in place), the gates after their
nonlinearities, c(t), tanh(l(t)) and h(t) in ``(T, B, ·)`` buffers, and 1/σ(z), μ and 1/σ of c and of ux in a
``(5, T, B)`` one.

Backward (t = T..1), ∇h the gradient reaching h(t) (from y(t) and step t+1), ∇c the one reaching c(t) from
step t+1. Layer normalisation's own backward, for n = (v - μ)/σ over K units and an incoming ∇n, is

    ∇v = (1/σ) (∇n - mean(∇n) - n ⊙ mean(∇n ⊙ n))                                   (LN')

so that per step:

    ∇a_q = ∇h ⊙ tanh(l) ⊙ q(1-q);   ∇l = ∇h ⊙ q ⊙ (1 - tanh²(l))
    ∇c  += LN'(∇m = α_c ⊙ ∇l)
    ∇a_f = ∇c ⊙ c(t-1) ⊙ f(1-f);  ∇a_g = ∇c ⊙ i ⊙ g(1-g);  ∇a_i = ∇c ⊙ g ⊙ (1 - i²);  ∇c(t-1) = ∇c ⊙ f
    ∇z = LN'(∇n = α_h ⊙ ∇a);   ∇h(t-1) = Wᵀ ∇z                                         (eq. 10.21)
    ∇ux = LN'(∇n_x = α_x ⊙ ∇a)

and after the loop: ∇W = Σ_t ∇z(t) h(t-1)ᵀ as one product over all steps (eqs. 10.25-10.26); ∇α_x = Σ ∇a ⊙ n_x,
∇b = Σ ∇a, ∇α_h = Σ ∇a ⊙ n, ∇α_c = Σ ∇l ⊙ m, ∇β_c = Σ ∇l; autograd takes ∇ux through U x (eqs. 10.27-10.28).

Two paths compute this. Where ``pointwise.c`` is available (CPU, float32/float64), each step's arithmetic, all
three normalisations and their backwards, and the per-row sums of the parameters' gradients are one C call
between the step's matrix products, and ∇a exists only for the step at hand. Elsewhere (CUDA, or without a C
compiler), torch ops: the input's normalisation for all steps at once before the loop (and its backward after),
the other two per step with torch's fused layer norm and its backward.

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
from recnets.core.pointwise import step_addresses, uses_pointwise

__all__ = ["layer_norm_lstm_sequence"]


def layer_norm_lstm_sequence(ux: Tensor, W: Tensor, alpha_x: Tensor, b: Tensor, alpha_h: Tensor, alpha_c: Tensor,
                             beta_c: Tensor, h0: Tensor, c0: Tensor, masks: Tensor | None, *,
                             eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Run the layer-normalised LSTM recurrence over all steps, the input's normalisation included;
    differentiable by the hand-written BPTT.

    Args:
        ux: the input products U x(t) (not normalised), blocks (forget, input gate, candidate, output).
        W: recurrent weights, same block order.
        alpha_x, b: gain of the input product's normalisation and the gates' bias: px(t) = LN(ux; α_x) + b.
        alpha_h: gain of the recurrent product's normalisation (over all 4H units).
        alpha_c, beta_c: gain and bias of the cell state's normalisation.
        h0, c0: the state before the first step.
        masks: 1.0 where a step is real, 0.0 past a row's length (the state is then carried); or None.
        eps: added to the variance in every normalisation.

    Shapes:
        ux (T, B, 4H); W (4H, H); alpha_x, b, alpha_h (4H,); alpha_c, beta_c (H,); h0, c0 (B, H);
        masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length), h and c at each row's last real step, each (B, H).

    Book: 10.10.1; Ba, Kiros & Hinton 2016 (layer-normalised LSTM).
    """
    return _LayerNormLSTMRecurrence.apply(ux, W, alpha_x, b, alpha_h, alpha_c, beta_c, h0, c0, masks, eps)


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
    def forward(ctx, ux, W, alpha_x, b, alpha_h, alpha_c, beta_c, h0, c0, masks, eps):
        steps, batch, gates = ux.shape
        H = gates // 4
        # the backward runs its steps the same way (in C it recomputes the gates: they are not stored)
        ctx.steps_in_c = steps_in_c = uses_pointwise(ux, W, alpha_x, b, alpha_h, alpha_c, beta_c, h0, c0)
        # (T, B, 4H): f, g, i, q after their nonlinearities; in C only the step's, (B, 4H): the backward recomputes
        acts = torch.empty_like(ux) if steps_in_c is None else ux.new_empty(batch, gates)
        normals = torch.empty_like(ux)  # (T, B, 4H): z(t) = W h(t-1), normalised in place into n(t)
        cells = ux.new_empty(steps, batch, H)  # c(t)
        tanh_l = ux.new_empty(steps, batch, H)  # tanh(l(t)), l(t) = α_c m(t) + β_c
        hs = ux.new_empty(steps, batch, H)  # h(t), the carried state
        moments = ux.new_empty(5, steps, batch)  # 1/σ of z(t); μ and 1/σ of c(t); μ and 1/σ of ux(t)
        product = recurrent_product(W, batch, H)  # h -> h Wᵀ
        if steps_in_c is not None:
            _forward_in_c(steps_in_c["layer_norm_lstm_forward"], product, ux, alpha_x, b, alpha_h, alpha_c, beta_c,
                          h0, c0, masks, eps, normals, acts, cells, tanh_l, hs, moments)
        else:
            px, mean_x, inverse_x = _normalise(ux, alpha_x, b, eps)  # LN(ux; α_x) + b for all steps at once
            moments[3:].copy_(torch.stack([mean_x, inverse_x]).squeeze(-1))
            _forward_ops(product, px, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells, tanh_l,
                         hs, moments)
        ctx.save_for_backward(ux, W, alpha_x, b, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, hs,
                              moments)
        return finish(hs, masks, cells)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last, grad_c_last):
        ux, W, alpha_x, b, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, hs, moments = (
            ctx.saved_tensors)
        need = ctx.needs_input_grad
        H = h0.shape[1]
        grad_z = torch.empty_like(normals)  # (T, B, 4H): ∇z(t), z = W h(t-1)
        product = recurrent_product(W.t(), h0.shape[0], H)  # ∇z -> Wᵀ ∇z
        grad_hs = output_gradient(grad_ys, masks)
        if ctx.steps_in_c is not None:
            grad_ux = torch.empty_like(normals)  # (T, B, 4H)
            grad_rows = normals.new_zeros(5, *normals.shape[1:])  # per row, over steps: ∇α_x, ∇b, ∇α_h, ∇α_c, ∇β_c
            grad_h, grad_c = _backward_in_c(ctx.steps_in_c["layer_norm_lstm_backward"], product, ux, alpha_x, b,
                                            alpha_h, alpha_c, h0, c0, masks, normals, cells, tanh_l, moments, grad_hs,
                                            grad_h_last, grad_c_last, grad_z, grad_ux, grad_rows)
            grad_alpha_x, grad_b, grad_alpha_h, grad_alpha_c, grad_beta_c = grad_rows.sum(1)  # each (4H,)
            grad_alpha_c, grad_beta_c = grad_alpha_c[:H], grad_beta_c[:H]
        else:
            delta = torch.empty_like(acts)  # (T, B, 4H): ∇a(t) = ∇px(t)
            grad_l = torch.empty_like(cells)  # (T, B, H): ∇l(t)
            grad_alpha_h_rows = torch.zeros_like(acts[0])  # Σ_t ∇a(t) ⊙ n(t), (B, 4H)
            grad_h, grad_c = _backward_ops(product, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l,
                                           moments, grad_hs, grad_h_last, grad_c_last, delta, grad_z, grad_l,
                                           grad_alpha_h_rows)
            mean_x, inverse_x = moments[3:].unsqueeze(-1)  # (T, B, 1) each
            grad_ux, grad_alpha_x, grad_b = torch.ops.aten.native_layer_norm_backward(
                delta, ux, [ux.shape[-1]], mean_x, inverse_x, alpha_x, b, [True, True, True])
            grad_alpha_h = grad_alpha_h_rows.sum(0)  # (4H,)
            mean_c, inverse_c = moments[1:3].unsqueeze(-1)  # (T, B, 1) each
            grad_alpha_c = (grad_l * (cells - mean_c).mul_(inverse_c)).sum((0, 1))  # Σ ∇l ⊙ m, (H,)
            grad_beta_c = grad_l.sum((0, 1))  # (H,)
        grad_W = recurrent_weight_gradient(grad_z, h0, hs) if need[1] else None  # one product  (10.25-10.26)
        return (grad_ux, grad_W, grad_alpha_x, grad_b, grad_alpha_h, grad_alpha_c, grad_beta_c, grad_h, grad_c, None,
                None)


def _forward_ops(product, px, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells, tanh_l, hs,
                 moments) -> None:
    """The forward loop in torch ops (fused layer norms), filling the buffers after ``eps``."""
    H = hs.shape[-1]
    h, c_prev = h0, c0
    for px_t, a, forget_gate, forget, gate, unit, out, n, c, tanh_now, h_new, inv_h, mu_c, inv_c, mask in (
            step_views(px, acts, acts[..., :2 * H], *_gate_blocks(acts), normals, cells, tanh_l, hs,
                       *moments[:3].unsqueeze(-1), masks)):
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


def _forward_in_c(step, product, ux, alpha_x, b, alpha_h, alpha_c, beta_c, h0, c0, masks, eps, normals, acts, cells,
                  tanh_l, hs, moments) -> None:
    """The forward loop with each step's three normalisations and gate arithmetic one C call (``pointwise.c``);
    ``acts`` is the step's (B, 4H) scratch."""
    steps, batch, H = hs.shape
    ux, h0, c0 = ux.contiguous(), h0.contiguous(), c0.contiguous()
    masks = None if masks is None else masks.contiguous()
    vectors = [vector.contiguous().data_ptr() for vector in (alpha_x, b, alpha_h, alpha_c, beta_c)]
    alpha_x_at, b_at, alpha_h_at, alpha_c_at, beta_c_at = vectors
    previous = previous_steps(h0, hs)  # h(t-1), (B, H) each
    inv_h, mu_c, inv_c, mu_x, inv_x = moments  # (T, B) each
    for (h, z), (ux_at, mu_x_at, inv_x_at, n_at, h_at, c_prev_at, mask_at, inv_h_at, c_at, mu_c_at, inv_c_at, l_at,
                 h_new_at) in zip(step_views(previous, normals),
                                  step_addresses(ux, mu_x, inv_x, normals, previous, previous_steps(c0, cells), masks,
                                                 inv_h, cells, mu_c, inv_c, tanh_l, hs)):
        product(h, out=z)  # z(t) = W h(t-1), normalised in place by the step
        step(batch, H, eps, ux_at, 4 * H, alpha_x_at, b_at, mu_x_at, inv_x_at, n_at, 4 * H, alpha_h_at, alpha_c_at,
             beta_c_at, h_at, H, c_prev_at, H, mask_at, acts.data_ptr(), 4 * H, inv_h_at, c_at, H, mu_c_at, inv_c_at,
             l_at, H, h_new_at, H)


def _backward_ops(product, alpha_h, alpha_c, h0, c0, masks, acts, normals, cells, tanh_l, moments,
                  grad_hs, grad_h_last, grad_c_last, delta, grad_z, grad_l, grad_alpha_h_rows) -> tuple[Tensor, Tensor]:
    """The backward loop in torch ops (fused layer-norm backwards), filling ``delta``, ``grad_z``, ``grad_l`` and
    ``grad_alpha_h_rows``; returns ∇h(0), ∇c(0)."""
    ones = torch.ones_like(h0)
    standard = torch.zeros_like(h0[:, :1]), torch.ones_like(h0[:, :1])  # μ = 0, 1/σ = 1 of n itself, (B, 1)
    grad_h, spare_h = grad_h_last.clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_c = grad_c_last.clone()  # ∇c(t) from later steps, (B, H)
    views = step_views(acts, *_gate_blocks(acts), delta, *_gate_blocks(delta), normals, *moments[:3].unsqueeze(-1),
                       cells, previous_steps(c0, cells), tanh_l, grad_l, grad_z, grad_hs, masks)
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


def _backward_in_c(step, product, ux, alpha_x, b, alpha_h, alpha_c, h0, c0, masks, normals, cells, tanh_l, moments,
                   grad_hs, grad_h_last, grad_c_last, grad_z, grad_ux, grad_rows) -> tuple[Tensor, Tensor]:
    """The backward loop with each step's arithmetic, the three layer-norm backwards and the parameters'
    gradients included, one C call (``pointwise.c``); fills ``grad_z``, ``grad_ux`` and ``grad_rows``, returns
    ∇h(0), ∇c(0)."""
    steps, batch, H = cells.shape
    ux, c0, grad_hs = ux.contiguous(), c0.contiguous(), grad_hs.contiguous()
    masks = None if masks is None else masks.contiguous()
    b_at, alpha_x_at, alpha_h_at, alpha_c_at = [vector.contiguous().data_ptr()
                                                for vector in (b, alpha_x, alpha_h, alpha_c)]
    scratch = normals.new_empty(batch, 9 * H)  # the step's ∇a, ∇l and gates
    grad_h, spare_h = grad_h_last.contiguous().clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_c = grad_c_last.contiguous().clone()  # ∇c(t) from later steps, (B, H)
    inv_h, mu_c, inv_c, mu_x, inv_x = moments  # (T, B) each
    views = step_views(grad_z, masks)
    addresses = step_addresses(normals, inv_h, ux, mu_x, inv_x, cells, previous_steps(c0, cells), mu_c, inv_c, tanh_l,
                               grad_hs, masks, grad_z, grad_ux)
    for (g_z, mask), (n_at, inv_h_at, ux_at, mu_x_at, inv_x_at, c_at, c_prev_at, mu_c_at, inv_c_at, l_at, y_at,
                      mask_at, g_z_at, g_ux_at) in reversed(list(zip(views, addresses))):
        step(batch, H, b_at, n_at, 4 * H, inv_h_at, ux_at, 4 * H, mu_x_at, inv_x_at, c_at, H, c_prev_at, H, mu_c_at,
             inv_c_at, l_at, H, y_at, H, alpha_x_at, alpha_h_at, alpha_c_at, mask_at, grad_h.data_ptr(), H,
             grad_c.data_ptr(), H, scratch.data_ptr(), grad_rows.data_ptr(), g_z_at, 4 * H, g_ux_at, 4 * H)
        grad_h, spare_h = carry_gradient(grad_h, product(g_z, out=spare_h), mask)  # Wᵀ ∇z(t)           (10.21)
    return grad_h, grad_c
