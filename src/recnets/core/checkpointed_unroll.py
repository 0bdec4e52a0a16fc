"""``checkpointed_unroll``: back-propagation through time in memory that grows as √T, not T.

Book: 10.2.2 (back-propagation through time costs O(τ) memory: every state of the forward pass is kept for the
backward pass); gradient checkpointing through time trades one extra forward pass for O(√τ).

The T steps are cut into segments of ``k`` steps (default ``k ≈ √T``). The forward pass keeps only the state
at each segment boundary (T/k states); everything a segment's backward needs (gates, the cell's saved
activations, per-step logits) is thrown away and recomputed, one segment at a time, when the backward pass
reaches it. With a per-segment ``loss_fn`` the outputs (B, T, H) and logits (B, T, V) never exist whole either.
Peak memory beyond the inputs and targets is then about

    (T / k) * |state|  +  k * |one step's activations|,

minimal near ``k = √(T |state| / |step|)``, i.e. O(√T); the price is a second forward pass of every segment
(measured in ``benchmarks/bench_long_sequences.py``: an LSTM char model at T = 4,096 trains 1.43x slower than
the plain unroll, in 3% of its memory; the peak grows 1.8-1.9x per 4x in T against 4.0x). Each segment is one
call of the fused kernel, whose fixed cost per call (~1-3 ms on CPU) favours segments of a few hundred steps.

Recomputation uses ``torch.utils.checkpoint`` in its non-reentrant form, one checkpoint per segment. It sees
every tensor a segment reads, whether passed in or captured (the cell's parameters, a read-out layer inside
``loss_fn``, an embedding inside ``input_fn``, tensors in ``context``), so their gradients arrive as usual and
``torch.autograd.grad`` works. A hand-written autograd Function walking the segments backwards (forward under
``no_grad``) was measured 6% faster and 17% lighter at T = 4,096 (the benchmark's ``--ablation``), but it sees
only the tensors handed to it explicitly: a read-out captured by ``loss_fn`` would silently get no gradient.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from recnets.core.cell import Cell
from recnets.core.lengths import check_lengths, reverse_within_lengths
from recnets.core.state import mask_state, tree_leaves, tree_map
from recnets.core.unroll import BACKENDS, unroll

__all__ = ["checkpointed_unroll", "default_segment", "segment_bounds"]

LossFn = Callable[[Any, Any, int], Tensor]
InputFn = Callable[[Tensor], Tensor]


def default_segment(steps: int) -> int:
    """The default segment length for ``steps`` time steps: ``round(√T)``, at least 1."""
    return max(1, round(math.sqrt(steps)))


def segment_bounds(steps: int, segment: int) -> list[tuple[int, int]]:
    """``[(t0, t1), ...]``: the half-open step ranges of the segments, in time order; the last may be shorter."""
    return [(start, min(start + segment, steps)) for start in range(0, steps, segment)]


def checkpointed_unroll(cell: Cell, xs: Tensor, state: Any = None, *, segment: int | None = None,
                        lengths: Tensor | None = None, loss_fn: LossFn | None = None, targets: Any = None,
                        context: Any = None, input_fn: InputFn | None = None, reverse: bool = False,
                        backend: str = "auto") -> tuple[Any, Any]:
    """``unroll`` whose backward pass recomputes each segment instead of keeping its activations.

    Args:
        cell: any :class:`~recnets.core.cell.Cell`; its state pytree (LSTM ``(h, c)``, a clockwork step index,
            ring buffers) is carried across segment boundaries untouched.
        xs: inputs, batch-first; token ids or any (B, T, ...) tensor when ``input_fn`` makes the cell's inputs.
        state: the state before the first step; ``cell.initial_state`` when ``None``.
        segment: steps per segment, an integer >= 1 (default ``round(√T)``); larger than T means one segment.
        lengths: real length of each sequence, as in ``unroll``: the state stops at each sequence's end and
            outputs past it are 0.
        loss_fn: ``loss_fn(ys_segment, targets_segment, segment_index) -> scalar`` computed inside each
            segment (e.g. a read-out layer and a summed cross-entropy; mask or ``ignore_index`` the padding
            yourself). Segment ``i`` covers steps ``segment_bounds(T, k)[i]``. The call then returns the sum
            of the segments' losses instead of the outputs.
        targets: sliced along time (dimension 1) for ``loss_fn``: a tensor (B, T, ...) or a tuple of them;
            only with ``loss_fn``.
        context: read-only per-sequence data handed to every ``step``, as in ``unroll``.
        input_fn: ``input_fn(xs_segment) -> (B, k, D)`` applied inside each segment (an embedding lookup of
            token ids), so that the (B, T, D) inputs never exist whole either.
        reverse: read each sequence backwards within its own length, as in ``unroll``. The inputs (and the
            targets) are reversed once up front (one copy of them); ``loss_fn`` then sees the segments in
            reading order, i.e. reversed in time, with its targets reversed alike, and the returned outputs
            are in the original time order.
        backend: passed to ``unroll`` for every segment: ``"auto"`` (the fused kernel for a standard
            Elman/LSTM/GRU cell, else the eager loop), ``"fused"`` or ``"eager"``.

    Shapes:
        xs: (B, T, D) (or (B, T, ...) with ``input_fn``); lengths: (B,); targets: (B, T, ...);
        ys: (B, T, ...); every state leaf: (B, ...).

    Returns:
        ``(ys, final_state)`` without ``loss_fn`` — the outputs are kept whole, so their memory is O(T) by
        necessity; the activations behind them are not — or ``(loss, final_state)`` with ``loss_fn``, the
        scalar sum of the segments' losses. Outputs, final state, loss and every gradient equal ``unroll``'s.
        When gradients are off (``torch.no_grad``) nothing is checkpointed: the segments just run in turn.

    Book: 10.2.2 (BPTT and its O(τ) memory); 10.1, eq. 10.5 (the state carried between segments).
    Deviations: none in what is computed; each segment is run twice in training (forward, then recomputed).
    """
    batch, steps = _check_inputs(cell, xs, input_fn)
    segment = _check_segment(segment, steps)
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable (ys_segment, targets_segment, segment_index) -> scalar, "
                        f"got {type(loss_fn).__name__}")
    if input_fn is not None and not callable(input_fn):
        raise TypeError(f"input_fn: expected a callable xs_segment -> (B, k, D), got {type(input_fn).__name__}")
    if targets is not None and loss_fn is None:
        raise ValueError("targets: expected None without loss_fn (they are only read by loss_fn), got targets")
    _check_targets(targets, batch, steps)
    lengths = check_lengths(lengths, batch, steps, xs.device)
    if state is None:
        state = cell.initial_state(batch, device=xs.device, dtype=_float_dtype(cell, xs))
    for leaf in tree_leaves(state):
        if leaf.dim() == 0 or leaf.shape[0] != batch:
            raise ValueError(f"state: expected every leaf batch-first with B = {batch} rows, "
                             f"got a leaf of shape {tuple(leaf.shape)}")
    if reverse:
        xs = reverse_within_lengths(xs, lengths)
        targets = tree_map(lambda target: reverse_within_lengths(target, lengths), targets)

    def run_segment(index: int, t0: int, t1: int, state: Any) -> tuple[Any, Any]:
        inputs = xs[:, t0:t1] if input_fn is None else input_fn(xs[:, t0:t1])  # (B, k, D)
        ys, final = _unroll_segment(cell, inputs, state, lengths, t0, context, backend)
        if loss_fn is None:
            return ys, final
        loss = loss_fn(ys, tree_map(lambda target: target[:, t0:t1], targets), index)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn: expected a scalar tensor from each segment, got {shape}")
        return loss, final

    recompute = torch.is_grad_enabled()
    pieces: list[Any] = []
    for index, (t0, t1) in enumerate(segment_bounds(steps, segment)):
        if recompute:
            piece, state = checkpoint(run_segment, index, t0, t1, state, use_reentrant=False)
        else:
            piece, state = run_segment(index, t0, t1, state)
        pieces.append(piece)

    if loss_fn is not None:
        return torch.stack(pieces).sum(), state
    ys = tree_map(lambda *parts: torch.cat(parts, 1), pieces[0], *pieces[1:])  # (B, T, ...)
    if reverse:
        ys = tree_map(lambda y: reverse_within_lengths(y, lengths), ys)
    return ys, state


def _unroll_segment(cell: Cell, inputs: Tensor, state: Any, lengths: Tensor | None, t0: int, context: Any,
                    backend: str) -> tuple[Any, Any]:
    """``unroll`` over steps ``t0 .. t0 + k`` of the batch; sequences that ended before ``t0`` keep their state
    and emit zeros (``unroll`` wants every length >= 1, so they run one step whose result is discarded)."""
    if lengths is None:
        return unroll(cell, inputs, state, context=context, backend=backend)
    remaining = (lengths - t0).clamp(0, inputs.shape[1])  # (B,): real steps of each row in this segment
    ys, final = unroll(cell, inputs, state, lengths=remaining.clamp(min=1), context=context, backend=backend)
    running = remaining > 0  # (B,)
    if bool(running.all()):
        return ys, final
    zero = torch.zeros((), device=inputs.device)
    ys = tree_map(lambda y: torch.where(running.view(-1, *([1] * (y.dim() - 1))), y, zero.to(y.dtype)), ys)
    return ys, mask_state(final, state, running)


def _float_dtype(cell: Cell, xs: Tensor) -> torch.dtype:
    """The dtype of the state: the inputs' when they are real numbers (as ``unroll``), else the cell's."""
    if xs.is_floating_point():
        return xs.dtype
    reference = next(cell.parameters(), None)
    return reference.dtype if reference is not None else torch.get_default_dtype()


def _check_inputs(cell: Cell, xs: Any, input_fn: InputFn | None) -> tuple[int, int]:
    """``(B, T)`` of ``xs``, after the checks ``unroll`` makes (shape, D and dtype only without ``input_fn``)."""
    expected = "(B, T, D)" if input_fn is None else "(B, T, ...)"
    if not isinstance(xs, Tensor):
        raise TypeError(f"xs: expected a tensor of shape {expected}, got {type(xs).__name__}")
    if (xs.dim() != 3) if input_fn is None else (xs.dim() < 2):
        raise ValueError(f"xs: expected shape {expected}, got {tuple(xs.shape)}")
    batch, steps = xs.shape[0], xs.shape[1]
    if batch < 1 or steps < 1:
        raise ValueError(f"xs: expected at least one sequence and one step, got shape {tuple(xs.shape)}")
    if input_fn is None:
        if xs.shape[2] != cell.input_size:
            raise ValueError(f"xs: expected D = {cell.input_size} (the cell's input_size), got {xs.shape[2]}")
        reference = next(cell.parameters(), None)
        if reference is not None and reference.dtype != xs.dtype:
            raise ValueError(f"xs: expected dtype {reference.dtype} (the cell's parameters), got {xs.dtype}")
    return batch, steps


def _check_segment(segment: Any, steps: int) -> int:
    if segment is None:
        return default_segment(steps)
    if isinstance(segment, bool) or not isinstance(segment, int) or segment < 1:
        raise ValueError(f"segment: expected an integer >= 1 (steps per segment), got {segment!r}")
    return min(segment, steps)


def _check_targets(targets: Any, batch: int, steps: int) -> None:
    if targets is not None and not isinstance(targets, (Tensor, tuple)):
        raise TypeError(f"targets: expected a tensor (B, T, ...) or a tuple of them, got {type(targets).__name__}")
    for leaf in tree_leaves(targets):
        if leaf.dim() < 2 or leaf.shape[0] != batch or leaf.shape[1] != steps:
            raise ValueError(f"targets: expected batch-first tensors (B, T, ...) = ({batch}, {steps}, ...), "
                             f"got a tensor of shape {tuple(leaf.shape)}")
