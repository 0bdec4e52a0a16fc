"""The fused backend: torch's own RNN kernels run on a standard cell's own parameters.

When a cell is exactly one of the standard Elman/LSTM/GRU classes, ``unroll`` hands the whole sequence to
``torch._VF.rnn_tanh / rnn_relu / lstm / gru`` with the cell's parameter tensors themselves as the weights:
no shadow copy, and gradients land in the cell's own ``.grad``. On GPU all of them are cuDNN. On CPU (torch
2.13) only the LSTM reaches oneDNN (``mkldnn_rnn_layer``); the Elman and GRU kernels are torch's own fused
CPU loops, the same code ``torch.nn.RNN``/``GRU`` run (a test pins this, and fails if torch changes it).

On CPU, a ``PackedSequence`` does not reach oneDNN (measured 2.8x slower than a dense batch for the LSTM),
so a ragged batch is sorted by length and cut in time at its distinct lengths; each segment is one dense
fused call on the sequences still running, carrying their state. ``k`` distinct lengths cost ``k`` calls.

Book: 10.2 (the unfolded graph), eq. 10.8 and 10.10 for what the kernels compute.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import torch
from torch import Tensor

from recnets.core.state import concat_rows, reorder_state, select_rows

__all__ = ["register_fused", "fused_kernel_for", "fused_unroll"]

# kernel(cell, xs (B, T, D) batch-first dense, state) -> (ys (B, T, H), final_state)
DenseKernel = Callable[[Any, Tensor, Any], tuple[Tensor, Any]]
_REGISTRY: dict[type, DenseKernel] = {}


def register_fused(cell_type: type, kernel: DenseKernel) -> None:
    """Declare that cells of exactly ``cell_type`` (not subclasses) can run on ``kernel``."""
    _REGISTRY[cell_type] = kernel


def fused_kernel_for(cell: Any) -> DenseKernel | None:
    """The dense kernel for ``cell`` if its class is registered exactly, else ``None``."""
    return _REGISTRY.get(type(cell))


def call_quietly(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a ``torch._VF`` RNN kernel; on CUDA, cuDNN warns that separate parameter tensors are not one
    contiguous chunk (it then packs them itself, which is what we want: the parameters stay the cell's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part of single contiguous chunk.*")
        return fn(*args)


def fused_unroll(kernel: DenseKernel, cell: Any, xs: Tensor, state: Any,
                 lengths: Tensor | None) -> tuple[Tensor, Any]:
    """Run ``kernel`` over a batch, dense or ragged.

    Shapes:
        xs: (B, T, D); lengths: (B,) int64 on any device, or ``None`` when all sequences fill T.

    Returns:
        ys (B, T, H) with zeros past each length, and the state at each sequence's last real step.
    """
    if lengths is None:
        return kernel(cell, xs, state)
    batch, steps = xs.shape[0], xs.shape[1]
    order = torch.argsort(lengths, descending=True, stable=True)  # (B,) longest first
    sorted_lengths = lengths[order].tolist()
    order = order.to(xs.device)
    xs_sorted = xs.index_select(0, order)
    state_sorted = reorder_state(state, order)

    pieces: list[Tensor] = []  # time segments, each (B, t1 - t0, H)
    t0 = 0
    for t1 in sorted(set(sorted_lengths)):
        running = sum(1 for length in sorted_lengths if length >= t1)  # a prefix of the sorted batch
        ys_seg, state_seg = kernel(cell, xs_sorted[:running, t0:t1], select_rows(state_sorted, running))
        if running < batch:
            ys_seg = torch.cat([ys_seg, ys_seg.new_zeros(batch - running, *ys_seg.shape[1:])], 0)
            state_sorted = concat_rows(state_seg, select_rows(state_sorted, batch, running))
        else:
            state_sorted = state_seg
        pieces.append(ys_seg)
        t0 = t1
    if t0 < steps:
        pieces.append(pieces[-1].new_zeros(batch, steps - t0, *pieces[-1].shape[2:]))
    ys_sorted = torch.cat(pieces, 1)  # (B, T, H)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(batch, device=order.device)
    return ys_sorted.index_select(0, inverse), reorder_state(state_sorted, inverse)

