"""Bidirectional RNNs: one cell reads the sequence forwards, another backwards, and every output sees both.

h(t) = f(h(t-1), x(t)) runs from the start, g(t) = f'(g(t+1), x(t)) from each sequence's own end, and the
output at t reads both: o(t) = c + V [h(t); g(t)] (Fig. 10.11), so it depends on the whole input sequence
while staying most sensitive to the inputs around t. Both directions are plain ``unroll`` calls (the
backward one with ``reverse=True`` and the lengths, so padding stays at the end of every sequence and the
backward state starts at each sequence's last real step); any registered cell serves either direction, and
the standard Elman/LSTM/GRU cells keep their fused kernels.

Every model here has the design patterns' call: ``model(inputs, *, lengths=None, state=None, targets=None)``
returning ``(outputs, final_state)``; ``targets`` is accepted for that uniformity and not read.

Book: 10.3 (bidirectional RNNs, Fig. 10.11); Schuster & Paliwal 1997.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes
from recnets.cells.registry import make_cell
from recnets.core.cell import Cell
from recnets.core.lengths import check_lengths, zero_past_lengths
from recnets.core.state import tree_leaves
from recnets.core.unroll import unroll
from recnets.nets.readout import Readout, embed_inputs

__all__ = ["Bidirectional", "BidirectionalState", "BidirectionalRNN", "bidirectional_layers", "MERGES"]

MERGES = ("concat", "sum", "mean")
Merge = Callable[[Tensor, Tensor], Tensor]


class BidirectionalState(NamedTuple):
    """The final states of both directions.

    Attributes:
        forward: the forward cell's state after each sequence's last real step.
        backward: the backward cell's state after position 0 (its last step, reading backwards).
    """

    forward: Any
    backward: Any


def _merge_concat(h: Tensor, g: Tensor) -> Tensor:
    return torch.cat([h, g], -1)  # (B, T, H + H')


def _merge_sum(h: Tensor, g: Tensor) -> Tensor:
    return h + g  # (B, T, H)


def _merge_mean(h: Tensor, g: Tensor) -> Tensor:
    return 0.5 * (h + g)  # (B, T, H)


_MERGE_FUNCTIONS = {"concat": _merge_concat, "sum": _merge_sum, "mean": _merge_mean}


class Bidirectional(nn.Module):
    """Two unrolls over the same inputs, one forwards and one backwards within each length, merged per step.

    Args:
        forward_cell: the cell reading x(1), x(2), ... (emits h(t), (B, H)).
        backward_cell: the cell reading x(τ), x(τ-1), ... of each sequence (emits g(t), (B, H')); the same
            input size D as ``forward_cell``.
        merge: ``"concat"`` ([h(t); g(t)], width H + H', the book's), ``"sum"`` (h + g), ``"mean"``
            ((h + g) / 2) (both need H = H'), or a callable ``merge(h, g) -> (B, T, M)``.
        merged_size: M, required with a callable ``merge`` (the width the next layer or readout reads).

    Shapes:
        xs (B, T, D), lengths (B,) -> merged outputs (B, T, M), zero past each length; state and final state
        a :class:`BidirectionalState` (``None`` for either direction starts it from its initial state).

    When a cell emits several things (a NamedTuple), its first leaf is taken as its h(t).

    Book: 10.3, Fig. 10.11.
    Deviations: the book draws one output layer on [h; g]; the merge generalises it (Schuster & Paliwal
    1997 and the book use the concatenation). A given backward state is the state "after the end": the
    backward cell starts from it at each sequence's last real step.
    """

    def __init__(self, forward_cell: Cell, backward_cell: Cell, *, merge: str | Merge = "concat",
                 merged_size: int | None = None) -> None:
        super().__init__()
        for name, cell in (("forward_cell", forward_cell), ("backward_cell", backward_cell)):
            if not isinstance(cell, Cell):
                raise TypeError(f"{name}: expected a Cell, got {type(cell).__name__}")
        if forward_cell.input_size != backward_cell.input_size:
            raise ValueError(f"backward_cell: expected input_size = {forward_cell.input_size} (the forward cell's), "
                             f"got {backward_cell.input_size}")
        widths = (forward_cell.hidden_size, backward_cell.hidden_size)
        if callable(merge) and not isinstance(merge, str):
            if merged_size is None:
                raise ValueError("merged_size: expected the width M of merge(h, g)'s output with a callable merge, "
                                 "got None")
            check_sizes(merged_size=merged_size)
            self._merge, self.output_size, self._zero_preserving = merge, merged_size, False
        elif merge in MERGES:
            if merge != "concat" and widths[0] != widths[1]:
                raise ValueError(f"merge: expected 'concat' for directions of different widths {widths}, got {merge!r}")
            expected = sum(widths) if merge == "concat" else widths[0]
            if merged_size is not None and merged_size != expected:
                raise ValueError(f"merged_size: expected {expected} (or None) for merge {merge!r}, got {merged_size!r}")
            self._merge, self.output_size, self._zero_preserving = _MERGE_FUNCTIONS[merge], expected, True
        else:
            raise ValueError(f"merge: expected one of {MERGES} or a callable, got {merge!r}")
        self.forward_cell = forward_cell
        self.backward_cell = backward_cell
        self.input_size = forward_cell.input_size

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> BidirectionalState:
        """Both cells' initial states."""
        return BidirectionalState(self.forward_cell.initial_state(batch_size, device=device, dtype=dtype),
                                  self.backward_cell.initial_state(batch_size, device=device, dtype=dtype))

    def directions(self, xs: Tensor, state: BidirectionalState | None = None, *,
                   lengths: Tensor | None = None) -> tuple[Tensor, Tensor, BidirectionalState]:
        """Both directions before the merge: ``h (B, T, H)``, ``g (B, T, H')`` (zero past each length) and
        the final :class:`BidirectionalState`."""
        if state is None:
            state = BidirectionalState(None, None)
        elif not isinstance(state, tuple) or len(state) != 2:
            raise ValueError(f"state: expected a BidirectionalState (forward, backward), got {type(state).__name__}")
        forward_ys, forward_final = unroll(self.forward_cell, xs, state[0], lengths=lengths)
        backward_ys, backward_final = unroll(self.backward_cell, xs, state[1], lengths=lengths, reverse=True)
        h = tree_leaves(forward_ys)[0]  # (B, T, H)
        g = tree_leaves(backward_ys)[0]  # (B, T, H'): g(t) has read x(τ) ... x(t)
        return h, g, BidirectionalState(forward_final, backward_final)

    def forward(self, xs: Tensor, state: BidirectionalState | None = None, *,
                lengths: Tensor | None = None) -> tuple[Tensor, BidirectionalState]:
        h, g, final = self.directions(xs, state, lengths=lengths)
        merged = self._merge(h, g)  # (B, T, M)
        if merged.dim() != 3 or merged.shape[:2] != h.shape[:2] or merged.shape[-1] != self.output_size:
            raise ValueError(f"merge: expected an output of shape {(*h.shape[:2], self.output_size)}, "
                             f"got {tuple(merged.shape)}")
        if not self._zero_preserving:  # a callable need not map the zeros past each end to zeros
            merged = zero_past_lengths(merged, check_lengths(lengths, xs.shape[0], xs.shape[1], xs.device))
        return merged, final


def bidirectional_layers(cell: str, input_size: int, hidden_size: int, *, layers: int = 1,
                         merge: str = "concat", **cell_options: Any) -> list[Bidirectional]:
    """``layers`` bidirectional layers of a registered cell, layer l reading layer l-1's merged outputs.

    Args:
        cell: a registered cell's name (``recnets.cells.registry``), used in both directions.
        input_size: D of the first layer; hidden_size: H of every direction.
        layers: how many (>= 1).
        merge: ``"concat"``, ``"sum"`` or ``"mean"``.
        cell_options: keyword options for every cell (e.g. ``forget_bias``).

    Returns:
        The layers, bottom first (for :class:`BidirectionalRNN`).

    Book: 10.3; 10.5 (stacking, Fig. 10.13a).
    """
    check_sizes(input_size=input_size, hidden_size=hidden_size, layers=layers)
    built, width = [], input_size
    for _ in range(layers):
        layer = Bidirectional(make_cell(cell, width, hidden_size, **cell_options),
                              make_cell(cell, width, hidden_size, **cell_options), merge=merge)
        built.append(layer)
        width = layer.output_size
    return built


class BidirectionalRNN(nn.Module):
    """A bidirectional RNN with an output at every step: o(t) = c + V [h(t); g(t)] (Fig. 10.11).

    A tagger: every step's output depends on the whole input sequence. With several layers (deep
    bidirectional, Graves et al. 2013) layer l reads the merged outputs of layer l-1 and the readout reads
    the top layer's.

    Args:
        layers: one :class:`Bidirectional` or a sequence of them, bottom first; layer l's input_size must be
            layer l-1's merged width (:func:`bidirectional_layers` builds such a stack from a cell name).
        output_size: O for the readout o = c + V m(t); ``None`` returns the top layer's merged outputs.
        vocab_size: when given, inputs are token ids embedded into D.

    Shapes:
        inputs (B, T) ids or (B, T, D); lengths (B,); outputs (B, T, O) (or (B, T, M) without a readout),
        zero past each length; state and final state: a tuple with one :class:`BidirectionalState` per layer.

    Book: 10.3, Fig. 10.11; 10.5 (depth).
    Deviations: not for streaming tasks (truncated BPTT over a carried state): the backward direction's
    final state is the state after position 0, which no later chunk continues from.
    """

    def __init__(self, layers: Bidirectional | Sequence[Bidirectional], output_size: int | None = None, *,
                 vocab_size: int | None = None) -> None:
        super().__init__()
        layers = [layers] if isinstance(layers, Bidirectional) else list(layers)
        if not layers or not all(isinstance(layer, Bidirectional) for layer in layers):
            raise TypeError(f"layers: expected a Bidirectional or a non-empty sequence of them, got "
                            f"{[type(layer).__name__ for layer in layers]}")
        for index in range(1, len(layers)):
            expected = layers[index - 1].output_size
            if layers[index].input_size != expected:
                raise ValueError(f"layers: expected layer {index}'s input_size = {expected} (layer {index - 1}'s "
                                 f"merged width), got {layers[index].input_size}")
        self.layers = nn.ModuleList(layers)
        self.input_size = layers[0].input_size
        self.top_size = layers[-1].output_size
        self.embedding = nn.Embedding(vocab_size, self.input_size) if vocab_size is not None else None
        self.readout = Readout(self.top_size, output_size) if output_size is not None else None

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[BidirectionalState, ...]:
        """One :class:`BidirectionalState` per layer."""
        return tuple(layer.initial_state(batch_size, device=device, dtype=dtype) for layer in self.layers)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: tuple | None = None,
                targets: Tensor | None = None) -> tuple[Tensor, tuple[BidirectionalState, ...]]:
        xs = embed_inputs(self.embedding, inputs, self.input_size)  # (B, T, D)
        if state is not None and (not isinstance(state, tuple) or len(state) != len(self.layers) or not all(
                s is None or isinstance(s, BidirectionalState) for s in state)):
            raise ValueError(f"state: expected a tuple of {len(self.layers)} BidirectionalStates (one per layer), "
                             f"got {type(state).__name__}")
        states = state if state is not None else (None,) * len(self.layers)
        merged, finals = xs, []
        for layer, layer_state in zip(self.layers, states):
            merged, final = layer(merged, layer_state, lengths=lengths)  # (B, T, M_l)
            finals.append(final)
        if self.readout is None:
            return merged, tuple(finals)
        checked = check_lengths(lengths, xs.shape[0], xs.shape[1], xs.device)
        return zero_past_lengths(self.readout(merged), checked), tuple(finals)  # (B, T, O)
