"""Generators that end their sequences themselves: a Bernoulli stop output, or a length predicted first.

Both read the previous symbol and, optionally, a context vector c at every step,
x(t) = E y(t-1) + U_c c (a one-hot y(t-1) times E: the input-to-hidden product of a concatenated input
split into blocks), through any cell, and emit o(t) = c_o + V h(t) over V symbols. The start input y(0) is an
extra input-only symbol with id V.

Book: 10.2.3 (ending a sequence by a Bernoulli output that decides to continue or halt, or by predicting the
length τ first and adding an extra input that tells the model how near the end it is), 10.2.4 (a fixed
vector as an extra input at every step).
"""
from __future__ import annotations

import abc
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.cell import Cell
from recnets.core.step_decoder import DecoderStep, LengthDecoder, StepDecoder
from recnets.core.unroll import unroll
from recnets.nets.readout import Readout

__all__ = ["StopUnitRNN", "StopOutputs", "PredictedLengthRNN", "LengthOutputs", "LengthState"]


class StopOutputs(NamedTuple):
    """Teacher-forced outputs of :class:`StopUnitRNN`: logits (B, T, V) of y(t), stop logits (B, T)."""

    logits: Tensor
    stop_logits: Tensor


class LengthOutputs(NamedTuple):
    """Teacher-forced outputs of :class:`PredictedLengthRNN`: logits of τ (B, L_max), of y(t) (B, T, V)."""

    length_logits: Tensor
    logits: Tensor


class LengthState(NamedTuple):
    """State of :class:`PredictedLengthRNN`: the cell's state, and the symbols still to emit (B,) int64."""

    cell: Any
    remaining: Tensor


def _checked_targets(targets: Tensor, lengths: Tensor | None, vocab_size: int) -> tuple[Tensor, Tensor]:
    """``targets (B, T)`` int64 and ``lengths (B,)`` int64 in 1..T (all T when None), ids in [0, V) within."""
    if not isinstance(targets, Tensor) or targets.dtype.is_floating_point or targets.dim() != 2:
        raise ValueError(f"targets: expected token ids of shape (B, T), got {getattr(targets, 'shape', targets)!r}")
    batch, steps = targets.shape
    if lengths is None:
        lengths = torch.full((batch,), steps, dtype=torch.int64, device=targets.device)
    lengths = torch.as_tensor(lengths, device=targets.device)
    if lengths.dtype.is_floating_point or lengths.shape != (batch,):
        raise ValueError(f"lengths: expected integers of shape ({batch},), got shape {tuple(lengths.shape)} "
                         f"dtype {lengths.dtype}")
    lengths = lengths.to(torch.int64)
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(f"lengths: expected values in [1, {steps}], got [{int(lengths.min())}, {int(lengths.max())}]")
    inside = torch.arange(steps, device=targets.device) < lengths.unsqueeze(1)  # (B, T)
    real = targets[inside]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= vocab_size):
        raise ValueError(f"targets: expected ids in [0, {vocab_size}) within each length, "
                         f"got [{int(real.min())}, {int(real.max())}]")
    return targets.to(torch.int64), lengths


class _ConditionedGenerator(StepDecoder):
    """Abstract: a cell fed x(t) = E y(t-1) + U_c c, and the readout o(t) = c_o + V h(t) over V symbols.

    Parameters:
        E (V+1, D) in ``embedding`` (row V: the start symbol), U_c (D, C) when ``context_size`` > 0;
        V (V, H), c_o (V) in ``readout``.

    Book: 10.2.3, 10.2.4.
    """

    def __init__(self, cell: Cell, vocab_size: int, *, context_size: int = 0) -> None:
        super().__init__()
        check_sizes(vocab_size=vocab_size)
        if isinstance(context_size, bool) or not isinstance(context_size, int) or context_size < 0:
            raise ValueError(f"context_size: expected an integer >= 0, got {context_size!r}")
        self.cell = cell
        self.vocab_size, self.start_id, self.context_size = vocab_size, vocab_size, context_size
        self.embedding = nn.Embedding(vocab_size + 1, cell.input_size)
        self.U_c = uniform_parameter(cell.input_size, context_size, hidden_size=cell.hidden_size) if context_size else None
        self.readout = Readout(cell.hidden_size, vocab_size)

    def _checked_context(self, context: Any, batch_size: int) -> Tensor | None:
        if self.U_c is None:
            if context is not None:
                raise ValueError(f"context: expected None (context_size is 0), got {type(context).__name__}")
            return None
        expected = (batch_size, self.context_size)
        if not isinstance(context, Tensor) or tuple(context.shape) != expected:
            raise ValueError(f"context: expected a tensor of shape {expected}, got {getattr(context, 'shape', context)!r}")
        return context

    def _inputs(self, ids: Tensor, context: Any) -> Tensor:
        """x = E y + U_c c for ``ids (B, T)`` in [0, V]: (B, T, D)."""
        xs = self.embedding(ids)  # (B, T, D)
        context = self._checked_context(context, ids.shape[0])
        if context is not None:
            xs = xs + nn.functional.linear(context, self.U_c).unsqueeze(1)  # (B, 1, D) for every step
        return xs

    def _teacher_inputs(self, targets: Tensor, lengths: Tensor) -> Tensor:
        """y(0..T-1): the start id, then the targets shifted right; padding read as id 0. (B, T)."""
        inside = torch.arange(targets.shape[1], device=targets.device) < lengths.unsqueeze(1)  # (B, T)
        shifted = torch.where(inside, targets, 0)[:, :-1]  # (B, T-1)
        start = torch.full_like(targets[:, :1], self.start_id)  # (B, 1)
        return torch.cat([start, shifted], 1)

    def initial_state(self, batch_size: int, context: Any = None) -> Any:
        self._checked_context(context, batch_size)
        return self.cell.initial_state(batch_size)

    def loss(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> Tensor:
        """The joint negative log-likelihood per symbol: -Σ_b log P(sequence b) / Σ_b n_b, in nats."""
        targets, lengths = _checked_targets(targets, lengths, self.vocab_size)
        return -self.log_likelihood(targets, lengths=lengths, context=context).sum() / lengths.sum()

    @abc.abstractmethod
    def log_likelihood(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> Tensor:
        """log P of each whole sequence, ending included: (B,)."""


class StopUnitRNN(_ConditionedGenerator):
    """A generator with a Bernoulli stop output σ(t) beside y(t) at every step, trained jointly.

    σ(t) = sigmoid(c_s + w_s h(t)) is the probability that y(t) is the last symbol:

        P(y(1..n), stop at n) = Π_{t<=n} p(y(t) | y(<t)) · Π_{t<n} (1 - σ(t)) · σ(n).

    The joint loss is the token cross-entropy plus the stop unit's binary cross-entropy with target 1 at each
    sequence's last real step and 0 before it (``log_likelihood``, ``loss``).

    Args:
        cell: any cell (e.g. from ``recnets.cells.registry.make_cell``); its y(t) (B, H) feeds both readouts.
        vocab_size: V, the symbols emitted; id V is the start input.
        context_size: C, the width of an optional context vector fed at every step (0: none).

    Shapes:
        targets (B, T) ids with lengths (B,) in 1..T; context (B, C); step: ids_t (B,) in [0, V] ->
        logits (B, V), stop logit (B,).

    Book: 10.2.3 (an extra Bernoulli output deciding at each step to continue or halt).
    Deviations: the book does not say which state the Bernoulli reads; here σ(t) reads h(t), the state that
    emits y(t), so the decision to halt after y(t) does not see y(t) itself (one step later h(t+1) does).
    """

    stops_itself = True

    def __init__(self, cell: Cell, vocab_size: int, *, context_size: int = 0) -> None:
        super().__init__(cell, vocab_size, context_size=context_size)
        self.stop_readout = Readout(cell.hidden_size, 1)

    def step(self, ids_t: Tensor, state: Any, context: Any = None) -> DecoderStep:
        x = self._inputs(ids_t.unsqueeze(1), context)[:, 0]  # (B, D)
        h, state = self.cell(x, state)  # (B, H)
        return DecoderStep(self.readout(h), self.stop_readout(h)[:, 0], state)

    def forward(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> StopOutputs:
        """Teacher forcing: y(t-1) from the targets; logits (B, T, V) and stop logits (B, T), zero past lengths."""
        targets, lengths = _checked_targets(targets, lengths, self.vocab_size)
        xs = self._inputs(self._teacher_inputs(targets, lengths), context)  # (B, T, D)
        hs, _ = unroll(self.cell, xs, lengths=lengths)  # (B, T, H)
        return StopOutputs(self.readout(hs), self.stop_readout(hs)[..., 0])

    def log_likelihood(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> Tensor:
        """log P(y(1..n), stop at n) of each sequence, the equation above: (B,), differentiable."""
        targets, lengths = _checked_targets(targets, lengths, self.vocab_size)
        logits, stop_logits = self(targets, lengths=lengths, context=context)  # (B, T, V), (B, T)
        position = torch.arange(targets.shape[1], device=targets.device)  # (T,)
        inside = position < lengths.unsqueeze(1)  # (B, T)
        last = position == (lengths - 1).unsqueeze(1)  # (B, T)
        symbol = torch.log_softmax(logits, -1).gather(-1, torch.where(inside, targets, 0).unsqueeze(-1))[..., 0]
        halt = torch.where(last, nn.functional.logsigmoid(stop_logits), nn.functional.logsigmoid(-stop_logits))
        return torch.where(inside, symbol + halt, 0.0).sum(1)  # (B,)


class PredictedLengthRNN(_ConditionedGenerator, LengthDecoder):
    """A generator that first draws its length τ, then emits exactly τ symbols knowing how many are left.

    P(τ) = softmax(c_τ + V_τ c) over τ = 1..L_max (from the context; a learned prior without one); then
    x(t) = E y(t-1) + R r(t) + U_c c with r(t) = τ - t + 1 the symbols left, this one included (R: one row per
    count, a one-hot r(t) times R), and

        log P(τ, y(1..τ)) = log P(τ) + Σ_{t<=τ} log p(y(t) | y(<t), τ).

    Args:
        cell: any cell; vocab_size: V (id V is the start input); max_length: L_max;
        context_size: C, an optional context vector's width (0: none).

    Shapes:
        targets (B, T) ids with lengths τ (B,) in 1..min(T, L_max); context (B, C); length logits (B, L_max).

    Book: 10.2.3 (predict τ, then generate τ symbols with an extra input "so the model knows whether it is near
    the end").
    """

    def __init__(self, cell: Cell, vocab_size: int, max_length: int, *, context_size: int = 0) -> None:
        super().__init__(cell, vocab_size, context_size=context_size)
        check_sizes(max_length=max_length)
        self.max_length = max_length
        self.remaining_embedding = nn.Embedding(max_length + 1, cell.input_size)  # row r: r symbols left
        self.length_c = uniform_parameter(max_length, hidden_size=cell.hidden_size)
        self.length_V = (uniform_parameter(max_length, context_size, hidden_size=cell.hidden_size)
                         if context_size else None)

    def length_logits(self, batch_size: int, context: Any = None) -> Tensor:
        context = self._checked_context(context, batch_size)
        if context is None:
            return self.length_c.unsqueeze(0).expand(batch_size, -1)  # (B, L_max)
        return nn.functional.linear(context, self.length_V, self.length_c)  # (B, L_max)

    def initial_state(self, batch_size: int, context: Any = None) -> LengthState:
        cell_state = super().initial_state(batch_size, context)
        return LengthState(cell_state, torch.zeros(batch_size, dtype=torch.int64, device=self.length_c.device))

    def with_length(self, state: LengthState, lengths: Tensor) -> LengthState:
        lengths = torch.as_tensor(lengths, device=self.length_c.device)
        if lengths.dtype.is_floating_point or lengths.shape != state.remaining.shape:
            raise ValueError(f"lengths: expected integers of shape {tuple(state.remaining.shape)}, "
                             f"got shape {tuple(lengths.shape)} dtype {lengths.dtype}")
        if lengths.device.type == "cpu" and lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > self.max_length):
            raise ValueError(f"lengths: expected values in [1, {self.max_length}], "
                             f"got [{int(lengths.min())}, {int(lengths.max())}]")
        return LengthState(state.cell, lengths.to(torch.int64))

    def step(self, ids_t: Tensor, state: LengthState, context: Any = None) -> DecoderStep:
        remaining = state.remaining  # (B,)
        x = self._inputs(ids_t.unsqueeze(1), context)[:, 0]  # (B, D)
        x = x + self.remaining_embedding(remaining.clamp(0, self.max_length))
        h, cell_state = self.cell(x, state.cell)  # (B, H)
        logits = self.readout(h)  # (B, V)
        certain = torch.full_like(logits[:, 0], float("inf"))  # (B,)
        stop_logit = torch.where(remaining == 1, certain, -certain)  # the τ-th symbol is the last
        return DecoderStep(logits, stop_logit, LengthState(cell_state, remaining - 1))

    def forward(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> LengthOutputs:
        """Teacher forcing with τ = ``lengths``: length logits (B, L_max), symbol logits (B, T, V)."""
        targets, lengths = _checked_targets(targets, lengths, self.vocab_size)
        if int(lengths.max()) > self.max_length:
            raise ValueError(f"lengths: expected values <= {self.max_length} (max_length), got {int(lengths.max())}")
        position = torch.arange(targets.shape[1], device=targets.device)  # (T,)
        remaining = (lengths.unsqueeze(1) - position).clamp(0, self.max_length)  # (B, T): τ - t + 1
        xs = self._inputs(self._teacher_inputs(targets, lengths), context) + self.remaining_embedding(remaining)
        hs, _ = unroll(self.cell, xs, lengths=lengths)  # (B, T, H)
        return LengthOutputs(self.length_logits(targets.shape[0], context), self.readout(hs))

    def log_likelihood(self, targets: Tensor, *, lengths: Tensor | None = None, context: Any = None) -> Tensor:
        """log P(τ) + Σ_t log p(y(t) | y(<t), τ) with τ = ``lengths``: (B,), differentiable."""
        targets, lengths = _checked_targets(targets, lengths, self.vocab_size)
        length_logits, logits = self(targets, lengths=lengths, context=context)
        inside = torch.arange(targets.shape[1], device=targets.device) < lengths.unsqueeze(1)  # (B, T)
        symbol = torch.log_softmax(logits, -1).gather(-1, torch.where(inside, targets, 0).unsqueeze(-1))[..., 0]
        length = torch.log_softmax(length_logits, -1).gather(-1, (lengths - 1).unsqueeze(-1))[:, 0]  # (B,)
        return length + torch.where(inside, symbol, 0.0).sum(1)
