"""BPTT kernel of the LSTM family in the book's gate order, with optional diagonal peepholes.

Forward (per step, on the hoisted projection px(t) = b + U x(t) with blocks f, g, unit, q):

    a(t) = px(t) + W h(t-1) [+ peepholes];  f, g = σ(a_f), σ(a_g);  i = φ(a_unit);  q = σ(a_q)
    s(t) = f ⊙ s(t-1) + g ⊙ i;   h(t) = tanh(s(t)) ⊙ q                         (eqs. 10.40-10.44)

Backward (t = T..1), with ∇h the gradient reaching h(t) (from y(t) and from step t+1) and ∇s the one
reaching s(t) from step t+1:

    ∇a_q = ∇h ⊙ tanh(s) ⊙ q(1-q)
    ∇s  += ∇h ⊙ q ⊙ (1 - tanh²(s)) [+ p_o ⊙ ∇a_q]
    ∇a_f = ∇s ⊙ s(t-1) ⊙ f(1-f);  ∇a_g = ∇s ⊙ i ⊙ g(1-g);  ∇a_unit = ∇s ⊙ g ⊙ φ'(a_unit)
    ∇s(t-1) = ∇s ⊙ f [+ p_f ⊙ ∇a_f + p_g ⊙ ∇a_g];   ∇h(t-1) = Wᵀ ∇a(t)          (eq. 10.21)

and after the loop ∇W = Σ_t ∇a(t) h(t-1)ᵀ as one product, ∇px = ∇a. The per-step products go through
:func:`recurrent_product`, which on float32 CPU at large H packs the weight once per forward and once per
backward (oneDNN), as torch's fused LSTM does.

The element-wise part of each step runs as one C call (``recnets.core.pointwise``: ``lstm_forward`` and
``lstm_backward``) on CPU in float32/float64 where the C steps are available, else as the torch ops written
here (CUDA, other dtypes, no C compiler).

Book: 10.10.1, eqs. 10.40-10.44; 10.2.2, eqs. 10.17-10.28.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from recnets.core.bptt_kernels import (carry_gradient, finish, output_gradient, previous_states, previous_steps,
                                      recurrent_weight_gradient, step_views)
from recnets.core.pointwise import step_addresses, uses_pointwise

__all__ = ["lstm_sequence", "recurrent_product"]

# Smallest hidden size at which the packed product is used. Measured on the 2-core EPYC (1 thread, peephole LSTM
# inference against nn.LSTM): H = 1024 packed 1.21x, plain 1.77x; H = 256 packed 1.41x, plain 1.31x.
PACKED_MIN_HIDDEN = 512


def recurrent_product(W: Tensor, rows: int, hidden: int) -> Callable[..., Tensor]:
    """``product(v, add=None, out=None) = add + v Wᵀ`` for ``v (rows, in)``, ``W (out, in)``: the per-step
    product of a recurrence, ``add`` broadcastable to ``(rows, out)``, written into ``out`` when given.

    On CPU in float32 with oneDNN, and ``hidden >= PACKED_MIN_HIDDEN``, W is reordered ONCE into oneDNN's packed
    layout (the way torch's fused LSTM does once per sequence) and every step's product reuses it (then
    ``add`` costs one more element-wise kernel); otherwise ``torch.addmm`` / ``torch.mm`` with Wᵀ made
    contiguous once (measured 3-7 % faster per product than the transposed view at H = 256; no copy when W is
    itself a transposed view, as in a backward). Not differentiable: for use inside a BPTT kernel's forward or
    backward.
    """
    W = W.detach()
    if (W.device.type == "cpu" and W.dtype == torch.float32 and hidden >= PACKED_MIN_HIDDEN
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")):
        packed = torch.ops.mkldnn._reorder_linear_weight(W, rows)

        def packed_product(v: Tensor, add: Tensor | None = None, out: Tensor | None = None) -> Tensor:
            product = torch.ops.mkldnn._linear_pointwise(v, packed, None, "none", [], "")
            if add is not None:
                return torch.add(add, product, out=out)
            return product if out is None else out.copy_(product)
        return packed_product
    transposed = W.t().contiguous()

    def plain_product(v: Tensor, add: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        return torch.mm(v, transposed, out=out) if add is None else torch.addmm(add, v, transposed, out=out)
    return plain_product


def lstm_sequence(px: Tensor, W: Tensor, p: Tensor | None, h0: Tensor, c0: Tensor, masks: Tensor | None, *,
                  sigmoid_candidate: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM recurrence over all steps; differentiable by the hand-written BPTT.

    Args:
        px: the projected inputs b + U x(t), blocks (forget, input gate, candidate unit, output).
        W: recurrent weights, same block order.
        p: diagonal peepholes, rows p_f, p_g, p_o; or None.
        h0, c0: the state before the first step.
        masks: 1.0 where a step is real, 0.0 past a row's length (the state is then carried); or None.
        sigmoid_candidate: φ = σ as printed in eq. 10.41; else tanh.

    Shapes:
        px (T, B, 4H); W (4H, H); p (3, H); h0, c0 (B, H); masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length), h and s at each row's last real step, each (B, H).

    Book: 10.10.1, eqs. 10.40-10.44.
    """
    return _LSTMRecurrence.apply(px, W, p, h0, c0, masks, sigmoid_candidate)


def _gate_blocks(buffer: Tensor) -> list[Tensor]:
    """The four gate blocks of a ``(T, B, 4H)`` buffer, each ``(T, B, H)``: forget, input gate, unit, output."""
    return list(buffer.unflatten(-1, (4, -1)).unbind(-2))


class _LSTMRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, p, h0, c0, masks, sigmoid_candidate):
        steps, batch, gates = px.shape
        H = gates // 4
        acts = torch.empty_like(px)  # (T, B, 4H): f, g, i, q after their nonlinearities
        states = px.new_empty(steps, batch, H)  # s(t)
        tanh_states = px.new_empty(steps, batch, H)  # tanh(s(t))
        hs = px.new_empty(steps, batch, H)  # h(t), the carried state
        product = recurrent_product(W, batch, H)  # h -> h Wᵀ
        # the backward runs its steps the same way
        ctx.steps_in_c = steps_in_c = uses_pointwise(px, W, h0, c0, *(() if p is None else (p,)))
        loop = _forward_ops if steps_in_c is None else partial(_forward_in_c, steps_in_c["lstm_forward"])
        loop(product, px, p, h0, c0, masks, sigmoid_candidate, acts, states, tanh_states, hs)
        ctx.save_for_backward(W, p, h0, c0, masks, acts, states, tanh_states, hs)
        ctx.sigmoid_candidate = sigmoid_candidate
        return finish(hs, masks, states)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last, grad_s_last):
        W, p, h0, c0, masks, acts, states, tanh_states, hs = ctx.saved_tensors
        steps, batch, gates = acts.shape
        H = gates // 4
        delta = torch.empty_like(acts)  # (T, B, 4H): ∇a(t)
        product = recurrent_product(W.t(), batch, H)  # ∇a -> Wᵀ ∇a
        steps_in_c = ctx.steps_in_c
        loop = _backward_ops if steps_in_c is None else partial(_backward_in_c, steps_in_c["lstm_backward"])
        grad_h, grad_s = loop(product, p, h0, c0, masks, ctx.sigmoid_candidate, acts, states, tanh_states,
                              output_gradient(grad_ys, masks), grad_h_last, grad_s_last, delta)
        need = ctx.needs_input_grad
        grad_W = recurrent_weight_gradient(delta, h0, hs) if need[1] else None  # one product (10.25-10.26)
        grad_p = None
        if p is not None and need[2]:
            previous = previous_states(c0, states)  # s(t-1), (T, B, H)
            grad_p = torch.stack([(delta[..., :H] * previous).sum((0, 1)),
                                  (delta[..., H:2 * H] * previous).sum((0, 1)),
                                  (delta[..., 3 * H:] * states).sum((0, 1))])  # (3, H)
        return delta, grad_W, grad_p, grad_h, grad_s, None, None


def _forward_ops(product, px, p, h0, c0, masks, sigmoid_candidate, acts, states, tanh_states, hs) -> None:
    """The forward loop in torch ops, filling ``acts``, ``states``, ``tanh_states`` and ``hs``."""
    H = hs.shape[-1]
    sigmoids = acts[..., :(3 if sigmoid_candidate else 2) * H]  # the σ blocks before the output gate
    h, s_prev = h0, c0
    for px_t, a, sig, forget, gate, unit, out, s, tanh_s, h_new, mask in step_views(
            px, acts, sigmoids, *_gate_blocks(acts), states, tanh_states, hs, masks):
        product(h, px_t, out=a)  # (B, 4H): a(t)
        if p is not None:
            forget.addcmul_(p[0], s_prev)
            gate.addcmul_(p[1], s_prev)
        sig.sigmoid_()
        if not sigmoid_candidate:
            unit.tanh_()
        torch.mul(forget, s_prev, out=s).addcmul_(gate, unit)  # s(t)                        (10.41)
        if p is not None:
            out.addcmul_(p[2], s)
        out.sigmoid_()  # q(t)                                                                (10.44)
        torch.mul(torch.tanh(s, out=tanh_s), out, out=h_new)  # h(t)                         (10.43)
        if mask is not None:  # finished rows carry their state
            torch.lerp(h, h_new, mask, out=h_new)
            torch.lerp(s_prev, s, mask, out=s)
        h, s_prev = h_new, s


def _forward_in_c(step, product, px, p, h0, c0, masks, sigmoid_candidate, acts, states, tanh_states, hs) -> None:
    """The forward loop with each step's gate arithmetic one C call (``pointwise.c``: lstm_forward)."""
    steps, batch, H = hs.shape
    h0, c0, masks, p = _ready_for_c(h0, c0, masks, p)
    previous = previous_steps(h0, hs)  # h(t-1), (B, H) each
    for (h, px_t, a), (a_at, s_prev_at, h_at, mask_at, s_at, tanh_at, h_new_at) in zip(
            step_views(previous, px, acts),
            step_addresses(acts, previous_steps(c0, states), previous, masks, states, tanh_states, hs)):
        product(h, px_t, out=a)  # (B, 4H): px(t) + W h(t-1), turned into the gates by the step
        step(batch, H, sigmoid_candidate, a_at, 4 * H, p.data_ptr(), s_prev_at, H, h_at, H, mask_at, s_at, H,
             tanh_at, H, h_new_at, H)


def _ready_for_c(h0: Tensor, c0: Tensor, masks: Tensor | None, p: Tensor | None) -> tuple[Tensor, ...]:
    """The C steps' view of the inputs: rows contiguous, and zeros for no peepholes (the C loop has no branch)."""
    masks = None if masks is None else masks.contiguous()
    p = h0.new_zeros(3, h0.shape[1]) if p is None else p.contiguous()
    return h0.contiguous(), c0.contiguous(), masks, p


def _backward_ops(product, p, h0, c0, masks, sigmoid_candidate, acts, states, tanh_states, grad_hs, grad_h_last,
                  grad_s_last, delta) -> tuple[Tensor, Tensor]:
    """The backward loop in torch ops, filling ``delta``; returns ∇h(0), ∇s(0)."""
    ones = torch.ones_like(h0)
    grad_h, spare_h = grad_h_last.clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_s, spare_s = grad_s_last.clone(), torch.empty_like(c0)  # ∇s(t) from later steps and a free buffer
    views = step_views(acts, *_gate_blocks(acts), delta, *_gate_blocks(delta), previous_steps(c0, states),
                       tanh_states, grad_hs, masks)
    for (a, forget, gate, unit, out, d, d_forget, d_gate, d_unit, d_out, s_prev, tanh_s, grad_y,
         mask) in reversed(views):
        grad_h.add_(grad_y)
        torch.addcmul(a, a, a, value=-1.0, out=d)  # σ'(a) = σ(1 - σ) for every block
        if not sigmoid_candidate:
            torch.addcmul(ones, unit, unit, value=-1.0, out=d_unit)  # tanh' = 1 - i²
        d_out.mul_(grad_h).mul_(tanh_s)  # ∇a_q
        grad_s_now = torch.addcmul(ones, tanh_s, tanh_s, value=-1.0, out=spare_s)  # 1 - tanh²
        grad_s_now.mul_(out).mul_(grad_h).add_(grad_s)  # ∇s(t)
        if p is not None:
            grad_s_now.addcmul_(p[2], d_out)
        d_forget.mul_(grad_s_now).mul_(s_prev)
        d_gate.mul_(grad_s_now).mul_(unit)
        d_unit.mul_(grad_s_now).mul_(gate)
        grad_s_now.mul_(forget)  # ∇s(t-1) through the forget gate
        if p is not None:
            grad_s_now.addcmul_(p[0], d_forget).addcmul_(p[1], d_gate)
        if mask is not None:  # a finished row: zero error signal, gradients pass through unchanged
            d.mul_(mask)
        grad_s, spare_s = carry_gradient(grad_s, grad_s_now, mask)
        grad_h, spare_h = carry_gradient(grad_h, product(d, out=spare_h), mask)  # Wᵀ ∇a(t)      (10.21)
    return grad_h, grad_s


def _backward_in_c(step, product, p, h0, c0, masks, sigmoid_candidate, acts, states, tanh_states, grad_hs,
                   grad_h_last, grad_s_last, delta) -> tuple[Tensor, Tensor]:
    """The backward loop with each step's gate arithmetic one C call (``pointwise.c``: lstm_backward); fills
    ``delta``, returns ∇h(0), ∇s(0)."""
    steps, batch, H = states.shape
    h0, c0, masks, p = _ready_for_c(h0, c0, masks, p)
    grad_hs = grad_hs.contiguous()
    grad_h, spare_h = grad_h_last.contiguous().clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    grad_s = grad_s_last.contiguous().clone()  # ∇s(t) from later steps, becoming ∇s(t-1), (B, H)
    views = step_views(delta, masks)
    addresses = step_addresses(acts, previous_steps(c0, states), tanh_states, grad_hs, masks, delta)
    for (d, mask), (a_at, s_prev_at, tanh_at, y_at, mask_at, d_at) in reversed(list(zip(views, addresses))):
        step(batch, H, sigmoid_candidate, a_at, 4 * H, p.data_ptr(), s_prev_at, H, tanh_at, H, y_at, H, mask_at,
             grad_h.data_ptr(), H, grad_s.data_ptr(), H, d_at, 4 * H)
        grad_h, spare_h = carry_gradient(grad_h, product(d, out=spare_h), mask)  # Wᵀ ∇a(t)            (10.21)
    return grad_h, grad_s
