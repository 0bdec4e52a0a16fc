"""BPTT kernels of the GRU family: torch's layout (reset gate after the product) and the book's (before).

Torch's layout, on the hoisted projection px(t) = U x(t) + b_U with blocks r, z, n and the recurrent
product m(t) = W h(t-1) + b_W with the same blocks:

    r = σ(px_r + m_r);  z = σ(px_z + m_z);  n = tanh(px_n + r ⊙ m_n);  h(t) = n + z ⊙ (h(t-1) - n)

    backward: ∇a_n = ∇h ⊙ (1 - z) ⊙ (1 - n²);  ∇a_z = ∇h ⊙ (h(t-1) - n) ⊙ z(1 - z);
              ∇a_r = ∇a_n ⊙ m_n ⊙ r(1 - r);  ∇m = (∇a_r, ∇a_z, r ⊙ ∇a_n);
              ∇h(t-1) = ∇h ⊙ z + Wᵀ ∇m

The book's (eqs. 10.45-10.47), px(t) = b + U x(t) with blocks u, r, candidate:

    u, r = σ(px_u + W_u h(t-1)), σ(px_r + W_r h(t-1));  c = φ(px_c + W (r ⊙ h(t-1)));
    h(t) = c + u ⊙ (h(t-1) - c)

    backward: ∇a_c = ∇h ⊙ (1 - u) ⊙ φ'(c);  ∇(r ⊙ h) = Wᵀ ∇a_c;  ∇a_r = ∇(r ⊙ h) ⊙ h(t-1) ⊙ r(1 - r);
              ∇a_u = ∇h ⊙ (h(t-1) - c) ⊙ u(1 - u);
              ∇h(t-1) = ∇h ⊙ u + r ⊙ ∇(r ⊙ h) + W_gatesᵀ (∇a_u, ∇a_r)

After the loop each weight gradient is one product over all steps (eqs. 10.25-10.26). In torch's layout ∇a and
∇m differ only in the n block, so the backward writes both into one buffer whose rows are [r ⊙ ∇a_n | ∇a_r, ∇a_z,
∇a_n]: ∇px is its last 3H columns, ∇m its first 3H in the block order (n, r, z), multiplied by W's rows in that
order (no per-step copy of ∇a_r, ∇a_z). The per-step products use
:func:`recnets.core.bptt_lstm.recurrent_product` (the weight packed once per forward and once per backward on
float32 CPU at large H).

The element-wise part of each step runs as one C call (``recnets.core.pointwise``: ``gru_forward`` and
``gru_backward``) on CPU in float32/float64 where the C steps are available, else as the torch ops written
here (CUDA, other dtypes, no C compiler); the book's GRU always runs its torch ops.

Book: 10.10.2, eqs. 10.45-10.47; 10.2.2, eqs. 10.17-10.28.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from recnets.core.bptt_kernels import (carry_gradient, finish, output_gradient, previous_steps,
                                      recurrent_weight_gradient, step_views)
from recnets.core.bptt_lstm import recurrent_product
from recnets.core.pointwise import step_addresses, uses_pointwise

__all__ = ["torch_gru_sequence", "book_gru_sequence"]


def torch_gru_sequence(px: Tensor, W: Tensor, b_W: Tensor, h0: Tensor, masks: Tensor | None) -> tuple[Tensor, Tensor]:
    """Run torch's GRU recurrence over all steps; differentiable by the hand-written BPTT.

    Args:
        px: U x(t) + b_U, blocks (reset, update, new) as in torch.nn.GRU.
        W, b_W: recurrent weights and bias (weight_hh_l0, bias_hh_l0).
        h0: the state before the first step.
        masks: 1.0 where a step is real, 0.0 past a row's length (the state is then carried); or None.

    Shapes:
        px (T, B, 3H); W (3H, H); b_W (3H); h0 (B, H); masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length) and h at each row's last real step (B, H).

    Book: 10.10.2 (torch's variant: the reset gate multiplies W_n h + b_Wn).
    """
    return _TorchGRURecurrence.apply(px, W, b_W, h0, masks)


def book_gru_sequence(px: Tensor, W_gates: Tensor, W: Tensor, h0: Tensor, masks: Tensor | None, *,
                      sigmoid_candidate: bool) -> tuple[Tensor, Tensor]:
    """Run the book's GRU recurrence over all steps; differentiable by the hand-written BPTT.

    Args:
        px: b + U x(t), blocks (update u, reset r, candidate).
        W_gates: rows W_u then W_r.  W: the candidate's recurrent weights.
        h0: the state before the first step.
        masks: 1.0 where a step is real, 0.0 past a row's length; or None.
        sigmoid_candidate: φ = σ as printed in eq. 10.45; else tanh.

    Shapes:
        px (T, B, 3H); W_gates (2H, H); W (H, H); h0 (B, H); masks (T, B, 1).

    Returns:
        ys (T, B, H) (zero past each length) and h at each row's last real step (B, H).

    Book: 10.10.2, eqs. 10.45-10.47.
    """
    return _BookGRURecurrence.apply(px, W_gates, W, h0, masks, sigmoid_candidate)


def _blocks(buffer: Tensor) -> list[Tensor]:
    """The three gate blocks of a ``(T, B, 3H)`` buffer, each ``(T, B, H)``: reset, update, new (torch's
    layout) or update, reset, candidate (the book's)."""
    return list(buffer.unflatten(-1, (3, -1)).unbind(-2))


class _TorchGRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, b_W, h0, masks):
        steps, batch, gates = px.shape
        H = gates // 3
        recurrent = torch.empty_like(px)  # (T, B, 3H): m(t) = W h(t-1) + b_W
        acts = torch.empty_like(px)  # (T, B, 3H): r, z, n
        hs = px.new_empty(steps, batch, H)
        product = recurrent_product(W, batch, H)  # h -> h Wᵀ (packed once on float32 CPU at large H)
        ctx.steps_in_c = steps_in_c = uses_pointwise(px, W, h0)  # the backward runs its steps the same way
        if steps_in_c is not None:
            _torch_gru_forward_in_c(steps_in_c["gru_forward"], product, px, b_W, h0, masks, recurrent, acts, hs)
        else:
            _torch_gru_forward_ops(product, px, b_W, h0, masks, recurrent, acts, hs)
        ctx.save_for_backward(W, h0, masks, recurrent, acts, hs)
        return finish(hs, masks)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last):
        W, h0, masks, recurrent, acts, hs = ctx.saved_tensors
        steps, batch, gates = acts.shape
        H = gates // 3
        # One buffer for both error signals, each row [r ⊙ ∇a_n | ∇a_r, ∇a_z, ∇a_n]: ∇px = ∇a is its last 3H
        # columns and ∇m its first 3H in the block order (n, r, z), so the two share ∇a_r, ∇a_z without a copy.
        signals = acts.new_empty(steps, batch, 4 * H)
        delta, grad_m = signals[..., H:], signals[..., :gates]  # (T, B, 3H): ∇px (r, z, n); ∇m (n, r, z)
        product = recurrent_product(_new_first(W).t(), batch, H)  # ∇m (n, r, z) -> Wᵀ ∇m
        grad_hs = output_gradient(grad_ys, masks)
        if ctx.steps_in_c is not None:
            grad_h = _torch_gru_backward_in_c(ctx.steps_in_c["gru_backward"], product, h0, masks, recurrent, acts, hs,
                                              grad_hs, grad_h_last, signals)
        else:
            grad_h = _torch_gru_backward_ops(product, h0, masks, recurrent, acts, hs, grad_hs, grad_h_last, signals)
        need = ctx.needs_input_grad
        grad_W = _new_last(recurrent_weight_gradient(grad_m, h0, hs)) if need[1] else None  # one product (10.25-26)
        grad_b = _new_last(grad_m.sum((0, 1))) if need[2] else None
        return delta, grad_W, grad_b, grad_h, None


def _torch_gru_forward_ops(product, px, b_W, h0, masks, recurrent, acts, hs) -> None:
    """The forward loop in torch ops, filling ``recurrent``, ``acts`` and ``hs``."""
    H = hs.shape[-1]
    h = h0
    for px_rz, px_n, m, m_rz, m_n, a_rz, reset, update, new, h_new, mask in step_views(
            px[..., :2 * H], px[..., 2 * H:], recurrent, recurrent[..., :2 * H], recurrent[..., 2 * H:],
            acts[..., :2 * H], *_blocks(acts), hs, masks):
        product(h, b_W, out=m)  # W h(t-1) + b_W
        torch.add(px_rz, m_rz, out=a_rz).sigmoid_()  # r, z
        torch.addcmul(px_n, reset, m_n, out=new).tanh_()
        torch.lerp(new, h, update, out=h_new)  # n + z (h(t-1) - n)
        if mask is not None:
            torch.lerp(h, h_new, mask, out=h_new)
        h = h_new


def _torch_gru_forward_in_c(step, product, px, b_W, h0, masks, recurrent, acts, hs) -> None:
    """The forward loop with each step's gate arithmetic one C call (``pointwise.c``: gru_forward)."""
    steps, batch, H = hs.shape
    px, h0 = px.contiguous(), h0.contiguous()
    masks = None if masks is None else masks.contiguous()
    previous = previous_steps(h0, hs)  # h(t-1), (B, H) each
    for (h, m), (px_at, m_at, h_at, mask_at, acts_at, h_new_at) in zip(
            step_views(previous, recurrent), step_addresses(px, recurrent, previous, masks, acts, hs)):
        product(h, b_W, out=m)  # W h(t-1) + b_W
        step(batch, H, px_at, 3 * H, m_at, 3 * H, h_at, H, mask_at, acts_at, 3 * H, h_new_at, H)


def _torch_gru_backward_ops(product, h0, masks, recurrent, acts, hs, grad_hs, grad_h_last, signals) -> Tensor:
    """The backward loop in torch ops, filling ``signals``; returns ∇h(0)."""
    H = hs.shape[-1]
    delta, grad_m = signals[..., H:], signals[..., :3 * H]
    ones = torch.ones_like(h0)
    scratch = torch.empty_like(h0)  # (B, H)
    grad_h, spare_h = grad_h_last.clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    views = step_views(acts[..., :2 * H], *_blocks(acts), recurrent[..., 2 * H:], previous_steps(h0, hs),
                       delta, delta[..., :2 * H], *_blocks(delta), grad_m, signals[..., :H], grad_hs, masks)
    for (a_rz, reset, update, new, m_n, h_prev, d, d_rz, d_reset, d_update, d_new, g, g_n, grad_y,
         mask) in reversed(views):
        grad_h.add_(grad_y)
        torch.addcmul(a_rz, a_rz, a_rz, value=-1.0, out=d_rz)  # σ'
        torch.addcmul(ones, new, new, value=-1.0, out=d_new)  # 1 - n²
        d_new.mul_(torch.addcmul(grad_h, grad_h, update, value=-1.0, out=scratch))  # ∇a_n = ∇h (1 - z)(1 - n²)
        d_update.mul_(grad_h).mul_(torch.sub(h_prev, new, out=scratch))  # ∇a_z
        d_reset.mul_(d_new).mul_(m_n)  # ∇a_r
        if mask is not None:
            d.mul_(mask)
        torch.mul(d_new, reset, out=g_n)  # ∇m_n = r ∇a_n
        through = product(g, torch.mul(grad_h, update, out=spare_h), out=spare_h)  # ∇h z + Wᵀ ∇m  (10.21)
        grad_h, spare_h = carry_gradient(grad_h, through, mask)
    return grad_h


def _torch_gru_backward_in_c(step, product, h0, masks, recurrent, acts, hs, grad_hs, grad_h_last,
                             signals) -> Tensor:
    """The backward loop with each step's gate arithmetic one C call (``pointwise.c``: gru_backward); fills
    ``signals``, returns ∇h(0)."""
    steps, batch, H = hs.shape
    h0, grad_hs = h0.contiguous(), grad_hs.contiguous()
    masks = None if masks is None else masks.contiguous()
    grad_h, spare_h = grad_h_last.contiguous().clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
    views = step_views(signals[..., :3 * H], masks)  # ∇m (n, r, z), (B, 3H); the mask
    addresses = step_addresses(acts, recurrent[..., 2 * H:], previous_steps(h0, hs), grad_hs, masks, signals)
    for (g, mask), (acts_at, m_n_at, h_at, y_at, mask_at, signals_at) in reversed(list(zip(views, addresses))):
        step(batch, H, acts_at, 3 * H, m_n_at, 3 * H, h_at, H, y_at, H, mask_at, grad_h.data_ptr(), H, signals_at,
             4 * H, spare_h.data_ptr(), H)
        through = product(g, spare_h, out=spare_h)  # ∇h z + Wᵀ ∇m                                     (10.21)
        grad_h, spare_h = carry_gradient(grad_h, through, mask)
    return grad_h


def _new_first(blocks: Tensor) -> Tensor:
    """Torch's block order (r, z, n) along dim 0 -> (n, r, z): ``(3H, ·) -> (3H, ·)``."""
    H = blocks.shape[0] // 3
    return torch.cat([blocks[2 * H:], blocks[:2 * H]])


def _new_last(blocks: Tensor) -> Tensor:
    """Block order (n, r, z) along dim 0 -> torch's (r, z, n): ``(3H, ·) -> (3H, ·)``."""
    H = blocks.shape[0] // 3
    return torch.cat([blocks[H:], blocks[:H]])


class _BookGRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W_gates, W, h0, masks, sigmoid_candidate):
        steps, batch, gates = px.shape
        H = gates // 3
        gate_acts = px.new_empty(steps, batch, 2 * H)  # u, r
        reset_h = px.new_empty(steps, batch, H)  # r ⊙ h(t-1)
        candidates = px.new_empty(steps, batch, H)  # φ(a_c)
        hs = px.new_empty(steps, batch, H)
        gates_t, recurrent_t = W_gates.t().contiguous(), W.t().contiguous()  # faster products than views
        h = h0
        for px_ur, px_c, ur, update, reset, rh, c, h_new, mask in step_views(
                px[..., :2 * H], px[..., 2 * H:], gate_acts, *gate_acts.unflatten(-1, (2, -1)).unbind(-2), reset_h,
                candidates, hs, masks):
            torch.addmm(px_ur, h, gates_t, out=ur).sigmoid_()  # (10.46-10.47)
            torch.addmm(px_c, torch.mul(reset, h, out=rh), recurrent_t, out=c)
            c.sigmoid_() if sigmoid_candidate else c.tanh_()
            torch.lerp(c, h, update, out=h_new)  # u h(t-1) + (1 - u) c              (10.45)
            if mask is not None:
                torch.lerp(h, h_new, mask, out=h_new)
            h = h_new
        ctx.save_for_backward(W_gates, W, h0, masks, gate_acts, reset_h, candidates, hs)
        ctx.sigmoid_candidate = sigmoid_candidate
        return finish(hs, masks)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys, grad_h_last):
        W_gates, W, h0, masks, gate_acts, reset_h, candidates, hs = ctx.saved_tensors
        steps, batch, H = hs.shape
        delta = hs.new_empty(steps, batch, 3 * H)  # (T, B, 3H): ∇px(t) = (∇a_u, ∇a_r, ∇a_c)
        ones = torch.ones_like(h0)
        scratch, grad_rh = torch.empty_like(h0), torch.empty_like(h0)  # (B, H)
        grad_h, spare_h = grad_h_last.clone(), torch.empty_like(h0)  # ∇h(t) and a free buffer, (B, H)
        views = step_views(gate_acts, *gate_acts.unflatten(-1, (2, -1)).unbind(-2), candidates, previous_steps(h0, hs),
                           delta[..., :2 * H], *_blocks(delta), output_gradient(grad_ys, masks), masks)
        for ur, update, reset, c, h_prev, d_ur, d_update, d_reset, d_c, grad_y, mask in reversed(views):
            grad_h.add_(grad_y)
            if ctx.sigmoid_candidate:
                torch.addcmul(c, c, c, value=-1.0, out=d_c)
            else:
                torch.addcmul(ones, c, c, value=-1.0, out=d_c)
            d_c.mul_(torch.addcmul(grad_h, grad_h, update, value=-1.0, out=scratch))  # ∇a_c = ∇h (1 - u) φ'
            if mask is not None:
                d_c.mul_(mask)
            torch.mm(d_c, W, out=grad_rh)  # ∇(r ⊙ h(t-1)) = Wᵀ ∇a_c
            torch.addcmul(ur, ur, ur, value=-1.0, out=d_ur)  # σ'
            d_update.mul_(grad_h).mul_(torch.sub(h_prev, c, out=scratch))  # ∇a_u
            d_reset.mul_(grad_rh).mul_(h_prev)  # ∇a_r
            if mask is not None:
                d_ur.mul_(mask)
            through = torch.mul(grad_h, update, out=spare_h).addcmul_(grad_rh, reset).addmm_(d_ur, W_gates)  # ∇h(t-1)
            grad_h, spare_h = carry_gradient(grad_h, through, mask)
        need = ctx.needs_input_grad
        grad_W_gates = grad_W = None
        if need[1]:  # (10.25-10.26)
            grad_W_gates = recurrent_weight_gradient(delta[..., :2 * H], h0, hs)
        if need[2]:
            grad_W = delta[..., 2 * H:].reshape(steps * batch, H).t().mm(reset_h.view(steps * batch, H))
        return delta, grad_W_gates, grad_W, grad_h, None, None
