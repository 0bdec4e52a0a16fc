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
lengths are a per-step mask (a finished row's state is carried unchanged and its error signal is zero), and
every kernel ends its forward the same way, with :func:`finish`: it returns the outputs zeroed past each length
and the final state(s), and its backward takes the outputs' gradient back through that mask with
:func:`output_gradient` (autograd materialises the gradient of an output the loss does not use as zeros).
``reverse`` needs nothing here (``unroll`` reverses the inputs within their lengths around any backend).
The kernels are first-order only: differentiating a gradient through them again raises an error (the eager
backend supports that).

Book: 10.2.2, eqs. 10.17-10.28 (BPTT); 10.1, eq. 10.5 (one transition shared by every step).
"""
from __future__ import annotations

from itertools import repeat
from typing import Any, Callable, NamedTuple, Sequence

import torch
from torch import Tensor

from recnets.core.lengths import step_masks

__all__ = ["BPTTKernel", "register_bptt", "bptt_kernel_for", "float_step_masks", "finish", "output_gradient"]

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


def finish(hs: Tensor, masks: Tensor | None, *carried: Tensor) -> tuple[Tensor, ...]:
    """A kernel forward's outputs: ``ys`` = hs zeroed past each row's length, then the final state h(τ) and the
    final step of every other carried sequence (an LSTM's cell state), each a fresh tensor (not a view of ``ys``).

    Past a row's length the kernels carry the state, so the last step of a sequence IS the state at the row's
    last real step. ``(T, B, H), (T, B, 1) or None, (T, B, ·)... -> ys (T, B, H), h (B, H), (B, ·)...``

    Book: 10.2.2 (the outputs o(t) for t = 1..τ; the final state h(τ) goes on to the next sequence or layer).
    """
    ys = hs if masks is None else hs * masks
    return (ys, *(sequence[-1].clone() for sequence in (hs, *carried)))


def output_gradient(grad_ys: Tensor, masks: Tensor | None) -> Tensor:
    """∇hs from ∇ys through :func:`finish`'s mask (zero past each length); ``grad_ys`` is not modified
    (autograd owns it). ``(T, B, H) -> (T, B, H)``"""
    return grad_ys if masks is None else grad_ys * masks


def step_views(*sequences: Tensor | Sequence[Tensor] | None) -> list[tuple[Any, ...]]:
    """Per-step views of time-major sequences, zipped: ``[(a[t], b[t], ...) for t]`` with one ``unbind`` per
    sequence instead of an indexing call per step and sequence in the loop (measured ~5 µs each); a sequence
    already split into steps (:func:`previous_steps`) is taken as it is; ``None`` stays ``None`` at every
    step. ``(T, ...) -> T × (...)``"""
    steps = len(next(sequence for sequence in sequences if sequence is not None))
    return list(zip(*(repeat(None, steps) if sequence is None else
                      sequence.unbind(0) if isinstance(sequence, Tensor) else sequence for sequence in sequences)))


def previous_steps(first: Tensor, states: Tensor) -> tuple[Tensor, ...]:
    """h(t-1) for t = 1..T as per-step views, without copying: ``first (B, H)``, then ``states[t] (B, H)``."""
    return (first, *states.unbind(0)[:-1])


def carry_gradient(grad_h: Tensor, through: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """∇h(t-1) from ∇h(t) and the gradient ``through`` step t: ``through`` where step t is real, ``grad_h``
    (carried unchanged) where the row has finished. Both are buffers owned by the kernel's backward; returns
    ``(∇h(t-1), the buffer now free)`` so that a loop swaps two buffers instead of allocating one per step.
    ``(B, H), (B, H), (B, 1) or None -> (B, H), (B, H)``

    Book: 10.2.2, eq. 10.21.
    """
    if mask is None:
        return through, grad_h
    return grad_h.lerp_(through, mask), through


def recurrent_weight_gradient(grad_a: Tensor, first: Tensor, states: Tensor) -> Tensor:
    """∇W = Σ_t ∇a(t) h(t-1)ᵀ as one product over steps 2..τ plus step 1's (h(0) = ``first``), without
    concatenating h(0) to the states. ``(T, B, G), (B, H), (T, B, H) -> (G, H)``

    Book: 10.2.2, eqs. 10.25-10.26.
    """
    steps, batch, gates = grad_a.shape
    grad_W = grad_a[0].t().mm(first)
    if steps == 1:
        return grad_W
    hidden = states.shape[-1]
    return grad_W.addmm_(grad_a[1:].reshape(-1, gates).t(), states[:-1].reshape(-1, hidden))


def previous_states(first: Tensor, states: Tensor) -> Tensor:
    """h(t-1) for t = 1..T: ``first (B, H)`` then ``states[:-1]``; ``states (T, B, H) -> (T, B, H)``."""
    return torch.cat([first.unsqueeze(0), states[:-1]], 0)
