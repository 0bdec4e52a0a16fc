"""The BPTT backend: a custom cell's whole recurrence as one autograd Function with the chapter's BPTT as
its backward.

The eager loop records about ten autograd nodes per step and, in backward, computes every weight gradient
as T small matrix products. A BPTT kernel instead runs the forward loop without autograd, keeping only
what its backward needs (the gates after their nonlinearities and the states) in preallocated
``(T, B, ·)`` buffers, and its backward walks t = T..1 once, writing each step's error signal ∇_{a(t)} L
into a ``(T, B, G)`` buffer. The recurrent weight gradient is then ONE product over all steps,
∇_W L = Σ_t ∇_{a(t)} L h(t-1)ᵀ = δᵀ H_prev with δ (TB, G) and H_prev (TB, H) (eqs. 10.25-10.26), and the
input projection, done outside the kernel for all steps at once, gets its gradient from autograd as one
product too (eqs. 10.27-10.28). Per step only the recurrent product ∇_{h(t-1)} L = Wᵀ ∇_{a(t)} L (eq.
10.21) remains.

A cell family's kernel lives in its own module (``bptt_lstm``, ``bptt_gru``, ``bptt_elman``); a cell class
declares it with :func:`register_bptt`, and ``unroll`` finds it with :func:`bptt_kernel_for`. Ragged
lengths are a per-step mask (a finished row's state is carried unchanged and its error signal is zero);
``reverse`` needs nothing here (``unroll`` reverses the inputs within their lengths around any backend).
The kernels are first-order only: differentiating a gradient through them again raises an error (the eager
backend supports that).

Book: 10.2.2, eqs. 10.17-10.28 (BPTT); 10.1, eq. 10.5 (one transition shared by every step).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

from recnets.core.lengths import step_masks

__all__ = ["BPTTKernel", "register_bptt", "bptt_kernel_for", "float_step_masks"]

# run(cell, xs (B, T, D) batch-first, state, lengths (B,) or None) -> (ys (B, T, H), final_state)
KernelFunction = Callable[[Any, Tensor, Any, "Tensor | None"], tuple[Tensor, Any]]


class BPTTKernel(NamedTuple):
    """A cell's BPTT kernel.

    Fields:
        run: ``run(cell, xs, state, lengths) -> (ys, final_state)`` with ``xs (B, T, D)`` dense batch-first,
            ``lengths (B,)`` int64 on the inputs' device or ``None`` (every row fills T); returns
            ``ys (B, T, H)`` (zero past each length) and the state at each row's last real step.
        over_fused_on: device types (``"cpu"``, ``"cuda"``) on which ``unroll(backend="auto")`` prefers this
            kernel to the cell's fused one (measured faster there), e.g. the GRU on CPU.
    """

    run: KernelFunction
    over_fused_on: tuple[str, ...] = ()


# cell class -> chooser(cell) returning the kernel for this instance, or None (a configuration it lacks)
_REGISTRY: dict[type, Callable[[Any], BPTTKernel | None]] = {}


def register_bptt(cell_type: type, chooser: Callable[[Any], BPTTKernel | None]) -> None:
    """Declare that cells of exactly ``cell_type`` (not subclasses) have a BPTT kernel: ``chooser(cell)``
    returns it, or ``None`` for an instance whose configuration the kernel does not cover."""
    _REGISTRY[cell_type] = chooser


def bptt_kernel_for(cell: Any) -> BPTTKernel | None:
    """The BPTT kernel of ``cell`` if its class is registered exactly and covers this instance, else None."""
    chooser = _REGISTRY.get(type(cell))
    return None if chooser is None else chooser(cell)


def float_step_masks(lengths: Tensor | None, steps: int, dtype: torch.dtype) -> Tensor | None:
    """``(T, B, 1)`` of 1.0 where step t of row b is real (t < lengths[b]), else 0.0; None without lengths."""
    if lengths is None:
        return None
    return step_masks(lengths, steps).to(dtype).unsqueeze(-1)


def time_major_projection(cell: Any, xs: Tensor) -> Tensor:
    """``cell.project`` for all steps, time-major and contiguous: ``xs (B, T, D) -> px (T, B, P)``."""
    return cell.project(xs.transpose(0, 1)).contiguous()


def previous_states(first: Tensor, states: Tensor) -> Tensor:
    """h(t-1) for t = 1..T: ``first (B, H)`` then ``states[:-1]``; ``states (T, B, H) -> (T, B, H)``."""
    return torch.cat([first.unsqueeze(0), states[:-1]], 0)


def grad_or_zeros(grad: Tensor | None, like: Tensor) -> Tensor:
    """An incoming gradient, or zeros shaped like ``like`` when autograd passes None (output unused)."""
    return torch.zeros_like(like) if grad is None else grad
