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

After the loop each weight gradient is one product over all steps (eqs. 10.25-10.26). In torch's layout the
per-step products use :func:`recnets.core.bptt_lstm.recurrent_product` (the weight packed once per forward and
once per backward on float32 CPU at large H).

Book: 10.10.2, eqs. 10.45-10.47; 10.2.2, eqs. 10.17-10.28.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from recnets.core.bptt_kernels import previous_states
from recnets.core.bptt_lstm import recurrent_product

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
        hs (T, B, H): the carried state after every step (past a row's length, its last real state).

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
        hs (T, B, H): the carried state after every step.

    Book: 10.10.2, eqs. 10.45-10.47.
    """
    return _BookGRURecurrence.apply(px, W_gates, W, h0, masks, sigmoid_candidate)


class _TorchGRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W, b_W, h0, masks):
        steps, batch, gates = px.shape
        H = gates // 3
        recurrent = torch.empty_like(px)  # (T, B, 3H): m(t) = W h(t-1) + b_W
        acts = torch.empty_like(px)  # (T, B, 3H): r, z, n
        hs = px.new_empty(steps, batch, H)
        product = recurrent_product(W, batch, H)  # h -> h Wᵀ (packed once on float32 CPU at large H)
        h = h0
        for t in range(steps):
            m = product(h, b_W, out=recurrent[t])  # W h(t-1) + b_W
            a = acts[t]
            torch.add(px[t, :, :2 * H], m[:, :2 * H], out=a[:, :2 * H]).sigmoid_()  # r, z
            n = torch.addcmul(px[t, :, 2 * H:], a[:, :H], m[:, 2 * H:], out=a[:, 2 * H:]).tanh_()
            h_new = torch.lerp(n, h, a[:, H:2 * H], out=hs[t])  # n + z (h(t-1) - n)
            if masks is not None:
                torch.lerp(h, h_new, masks[t], out=h_new)
            h = h_new
        ctx.save_for_backward(W, h0, masks, recurrent, acts, hs)
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs):
        W, h0, masks, recurrent, acts, hs = ctx.saved_tensors
        steps, batch, gates = acts.shape
        H = gates // 3
        delta = torch.empty_like(acts)  # (T, B, 3H): ∇px(t) = ∇a(t)
        grad_m = torch.empty_like(acts)  # (T, B, 3H): ∇m(t)
        ones = torch.ones_like(h0)
        grad_h = torch.zeros_like(h0)
        product = recurrent_product(W.t(), batch, H)  # ∇m -> Wᵀ ∇m
        for t in reversed(range(steps)):
            a = acts[t]
            reset, update, new = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            h_prev = hs[t - 1] if t > 0 else h0
            grad_h = grad_h + grad_hs[t]
            d = delta[t]
            torch.addcmul(a[:, :2 * H], a[:, :2 * H], a[:, :2 * H], value=-1.0, out=d[:, :2 * H])  # σ'
            d_new = torch.addcmul(ones, new, new, value=-1.0, out=d[:, 2 * H:])  # 1 - n²
            d_new.mul_(torch.addcmul(grad_h, grad_h, update, value=-1.0))  # ∇a_n = ∇h (1 - z)(1 - n²)
            d[:, H:2 * H].mul_(grad_h).mul_(h_prev - new)  # ∇a_z
            d[:, :H].mul_(d_new).mul_(recurrent[t, :, 2 * H:])  # ∇a_r
            if masks is not None:
                d.mul_(masks[t])
            g = grad_m[t]
            g[:, :2 * H].copy_(d[:, :2 * H])
            torch.mul(d_new, reset, out=g[:, 2 * H:])  # ∇m_n = r ∇a_n
            through = product(g, grad_h * update)  # ∇h(t-1) = ∇h z + Wᵀ ∇m        (10.21)
            grad_h = through if masks is None else torch.lerp(grad_h, through, masks[t])
        need = ctx.needs_input_grad
        flat = grad_m.view(steps * batch, gates)  # (TB, 3H)
        grad_W = flat.t().mm(previous_states(h0, hs).view(steps * batch, H)) if need[1] else None  # (10.25-26)
        grad_b = flat.sum(0) if need[2] else None
        return delta, grad_W, grad_b, grad_h, None


class _BookGRURecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, px, W_gates, W, h0, masks, sigmoid_candidate):
        steps, batch, gates = px.shape
        H = gates // 3
        gate_acts = px.new_empty(steps, batch, 2 * H)  # u, r
        reset_h = px.new_empty(steps, batch, H)  # r ⊙ h(t-1)
        candidates = px.new_empty(steps, batch, H)  # φ(a_c)
        hs = px.new_empty(steps, batch, H)
        gates_t, recurrent_t = W_gates.t(), W.t()
        h = h0
        for t in range(steps):
            ur = torch.addmm(px[t, :, :2 * H], h, gates_t, out=gate_acts[t]).sigmoid_()  # (10.46-10.47)
            rh = torch.mul(ur[:, H:], h, out=reset_h[t])
            c = torch.addmm(px[t, :, 2 * H:], rh, recurrent_t, out=candidates[t])
            c.sigmoid_() if sigmoid_candidate else c.tanh_()
            h_new = torch.lerp(c, h, ur[:, :H], out=hs[t])  # u h(t-1) + (1 - u) c              (10.45)
            if masks is not None:
                torch.lerp(h, h_new, masks[t], out=h_new)
            h = h_new
        ctx.save_for_backward(W_gates, W, h0, masks, gate_acts, reset_h, candidates, hs)
        ctx.sigmoid_candidate = sigmoid_candidate
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hs):
        W_gates, W, h0, masks, gate_acts, reset_h, candidates, hs = ctx.saved_tensors
        steps, batch, H = hs.shape
        delta = hs.new_empty(steps, batch, 3 * H)  # (T, B, 3H): ∇px(t) = (∇a_u, ∇a_r, ∇a_c)
        ones = torch.ones_like(h0)
        grad_h = torch.zeros_like(h0)
        for t in reversed(range(steps)):
            ur, c = gate_acts[t], candidates[t]
            update, reset = ur[:, :H], ur[:, H:]
            h_prev = hs[t - 1] if t > 0 else h0
            grad_h = grad_h + grad_hs[t]
            d = delta[t]
            d_c = d[:, 2 * H:]
            if ctx.sigmoid_candidate:
                torch.addcmul(c, c, c, value=-1.0, out=d_c)
            else:
                torch.addcmul(ones, c, c, value=-1.0, out=d_c)
            d_c.mul_(torch.addcmul(grad_h, grad_h, update, value=-1.0))  # ∇a_c = ∇h (1 - u) φ'
            if masks is not None:
                d_c.mul_(masks[t])
            grad_rh = torch.mm(d_c, W)  # ∇(r ⊙ h(t-1)) = Wᵀ ∇a_c
            d_ur = torch.addcmul(ur, ur, ur, value=-1.0, out=d[:, :2 * H])  # σ'
            d_ur[:, :H].mul_(grad_h).mul_(h_prev - c)  # ∇a_u
            d_ur[:, H:].mul_(grad_rh).mul_(h_prev)  # ∇a_r
            if masks is not None:
                d_ur.mul_(masks[t])
            through = torch.addmm(torch.addcmul(grad_h * update, grad_rh, reset), d_ur, W_gates)  # ∇h(t-1)
            grad_h = through if masks is None else torch.lerp(grad_h, through, masks[t])
        need = ctx.needs_input_grad
        grad_W_gates = grad_W = None
        if need[1]:
            flat_gates = delta[..., :2 * H].reshape(steps * batch, 2 * H)  # (TB, 2H)
            grad_W_gates = flat_gates.t().mm(previous_states(h0, hs).view(steps * batch, H))  # (10.25-26)
        if need[2]:
            grad_W = delta[..., 2 * H:].reshape(steps * batch, H).t().mm(reset_h.view(steps * batch, H))
        return delta, grad_W_gates, grad_W, grad_h, None, None
