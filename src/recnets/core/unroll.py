"""``unroll``: the chain engine that applies one cell again and again over time.

Book: 10.1 (unfolding the computational graph, eq. 10.6-10.7), 10.2.3 (variable lengths), 10.3 (reading
backwards), 10.2.1 (feeding outputs back).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from recnets.core.bptt_kernels import bptt_kernel_for
from recnets.core.cell import Cell
from recnets.core.fused import fused_kernel_for, fused_unroll
from recnets.core.lengths import check_lengths, reverse_within_lengths, step_masks
from recnets.core.state import mask_state, tree_leaves, tree_map

__all__ = ["unroll", "BACKENDS"]

BACKENDS = ("auto", "fused", "bptt", "eager")
Feedback = Callable[[Any, int], Tensor]


def unroll(cell: Cell, xs: Tensor, state: Any = None, *, lengths: Tensor | None = None,
           reverse: bool = False, context: Any = None, feedback: Feedback | None = None,
           backend: str = "auto") -> tuple[Any, Any]:
    """Apply ``cell`` over every step of ``xs``; return all outputs and the final state.

    Args:
        cell: any :class:`~recnets.core.cell.Cell`.
        xs: inputs, batch-first.
        state: the state before the first step; ``cell.initial_state`` when ``None``.
        lengths: real length of each sequence (any order, any device). The state stops changing after each
            sequence's end, so the final state is the state at its last real step; outputs past it are 0.
        reverse: read each sequence backwards within its own length (padding stays at the end). Outputs are
            returned in the original time order; the final state is the state after position 0.
        context: read-only per-sequence data handed to every ``step`` (encoder memory, a conditioning
            vector); never masked, copied or reordered.
        feedback: ``feedback(y_t, t) -> x_{t+1} (B, D)`` for free running: only ``xs[:, 0]`` is read and
            each later input is made from the previous output (generation, scheduled sampling).
        backend: ``"auto"``: without feedback or context, torch's fused kernel for an exactly standard
            Elman/LSTM/GRU cell, else the cell's BPTT kernel (:mod:`recnets.core.bptt_kernels`) when it has
            one (a kernel measured faster than the fused one on the inputs' device type goes first), else the
            eager loop; ``"fused"`` or ``"bptt"`` (required; error if impossible) or ``"eager"`` (the
            reference, the only one that supports gradients of gradients).

    Shapes:
        xs: (B, T, D); lengths: (B,); ys: (B, T, ...) (a NamedTuple of such tensors when the cell emits
        several things); every state leaf: (B, ...).

    Returns:
        ``(ys, final_state)``.

    Book: 10.1, eqs. 10.5-10.7; 10.2.3 (lengths); 10.3 (reverse).
    """
    if not isinstance(xs, Tensor):
        raise TypeError(f"xs: expected a tensor of shape (B, T, D), got {type(xs).__name__}")
    if xs.dim() != 3:
        raise ValueError(f"xs: expected shape (B, T, D) with 3 dimensions, got {tuple(xs.shape)}")
    batch, steps, width = xs.shape
    if batch < 1 or steps < 1:
        raise ValueError(f"xs: expected at least one sequence and one step, got shape {tuple(xs.shape)}")
    if width != cell.input_size:
        raise ValueError(f"xs: expected D = {cell.input_size} (the cell's input_size), got {width}")
    reference = next(cell.parameters(), None)
    autocasting = torch.is_autocast_enabled(xs.device.type)
    if reference is not None and reference.dtype != xs.dtype and not autocasting:
        raise ValueError(f"xs: expected dtype {reference.dtype} (the cell's parameters), got {xs.dtype}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if reverse and feedback is not None:
        raise ValueError("reverse: expected False when feedback is given (free running reads forward in time)")
    lengths = check_lengths(lengths, batch, steps, xs.device)
    if state is None:
        state = cell.initial_state(batch, device=xs.device,
                                   dtype=reference.dtype if reference is not None else xs.dtype)
    for leaf in tree_leaves(state):
        if leaf.dim() == 0 or leaf.shape[0] != batch:
            raise ValueError(f"state: expected every leaf batch-first with B = {batch} rows, "
                             f"got a leaf of shape {tuple(leaf.shape)}")
    if reverse:
        xs = reverse_within_lengths(xs, lengths)

    plain = feedback is None and context is None
    kernel = fused_kernel_for(cell) if plain else None
    bptt = bptt_kernel_for(cell) if plain else None
    if backend == "fused" and kernel is None:
        raise ValueError(f"backend: 'fused' needs an exactly standard Elman/LSTM/GRU cell without feedback or "
                         f"context, got {type(cell).__name__}")
    if backend == "bptt" and bptt is None:
        raise ValueError(f"backend: 'bptt' needs a cell with a BPTT kernel (recnets.core.bptt_kernels) for its "
                         f"configuration, without feedback or context, got {type(cell).__name__}")
    if backend == "auto" and bptt is not None and kernel is not None and xs.device.type not in bptt.over_fused_on:
        bptt = None  # the fused kernel is faster here
    if backend == "fused" or (backend == "auto" and kernel is not None and bptt is None):
        if autocasting and xs.device.type == "cpu":  # oneDNN's LSTM has no reduced-precision CPU primitive here
            ys, final = _in_full_precision(lambda *a: fused_unroll(kernel, *a), cell, xs, state, lengths)
        else:
            ys, final = fused_unroll(kernel, cell, xs, state, lengths)
    elif backend in ("bptt", "auto") and bptt is not None:
        if autocasting:  # the kernels' buffers and products are in the parameters' dtype
            ys, final = _in_full_precision(bptt.run, cell, xs, state, lengths)
        else:
            ys, final = bptt.run(cell, xs, state, lengths)
    else:
        ys, final = _eager_unroll(cell, xs, state, lengths, context, feedback)

    if reverse:
        ys = tree_map(lambda y: reverse_within_lengths(y, lengths), ys)
    return ys, final


def _in_full_precision(run: Callable[..., tuple[Any, Any]], cell: Cell, xs: Tensor, state: Any,
                       lengths: Tensor | None) -> tuple[Any, Any]:
    """``run(cell, xs, state, lengths)`` with autocast off, inputs and floating state leaves in the parameters'
    dtype: under ``torch.autocast`` the kernels that cannot take reduced precision keep the cell's own."""
    dtype = next(cell.parameters()).dtype
    with torch.autocast(xs.device.type, enabled=False):
        return run(cell, xs.to(dtype), tree_map(lambda leaf: leaf.to(dtype) if leaf.is_floating_point() else leaf,
                                                state), lengths)


def _eager_unroll(cell: Cell, xs: Tensor, state: Any, lengths: Tensor | None, context: Any,
                  feedback: Feedback | None) -> tuple[Any, Any]:
    """The reference loop: input projection hoisted for all steps, steps taken with ``unbind(0)``."""
    steps = xs.shape[1]
    masks = step_masks(lengths, steps) if lengths is not None else None  # (T, B)
    outputs: list[Any] = []

    def advance(t: int, px_t: Tensor, state: Any) -> Any:
        y_t, new_state = cell.step(px_t, state, context)
        if masks is None:
            outputs.append(y_t)
            return new_state
        keep = masks[t]
        outputs.append(tree_map(lambda y: torch.where(keep.view(-1, *([1] * (y.dim() - 1))), y,
                                                      torch.zeros((), dtype=y.dtype, device=y.device)), y_t))
        return mask_state(new_state, state, keep)

    if feedback is None:
        px = cell.project(xs).transpose(0, 1)  # (T, B, P): one matrix product for all steps
        for t, px_t in enumerate(px.unbind(0)):
            state = advance(t, px_t, state)
    else:
        x_t = xs[:, 0]
        for t in range(steps):
            state = advance(t, cell.project(x_t), state)
            if t + 1 < steps:
                x_t = feedback(outputs[-1], t)
    ys = tree_map(lambda *leaves: torch.stack(leaves, 1), outputs[0], *outputs[1:])
    return ys, state
