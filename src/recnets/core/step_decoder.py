"""The step-decoder protocol: one step of a generating RNN, which greedy decoding, sampling and beam search drive.

A recurrent generator is a directed graphical model over its outputs: each symbol is drawn from
p(y(t) | y(1..t-1), context) and fed back as the next input. A decoder exposes one step of that model; the
searches (``recnets.decode``, ``recnets.beam_search``) own the loop, so any decoder plugs into all of them:
a language model, a conditioned generator, the decoder cell of an encoder-decoder reading the encoder's memory
as its context. The three ways to end a sequence share the protocol: an end symbol in the vocabulary (the
searches' ``end_id``), a Bernoulli stop output (``step`` returns a stop logit), or a length drawn before the
first symbol (:class:`LengthDecoder`, whose stop logit is +inf at step τ and -inf before it: a stop unit that
is certain).

Book: 10.2.3 (generation as a directed graphical model; ending by an end symbol, a stop output or a predicted
length), 10.2.4 and 10.4 (the context a conditioned generator or a decoder reads).
"""
from __future__ import annotations

import abc
from typing import Any, NamedTuple

from torch import Tensor, nn

from recnets.core.state import tree_leaves, tree_map

__all__ = ["DecoderStep", "StepDecoder", "LengthDecoder", "sentence_count", "repeat_rows"]


class DecoderStep(NamedTuple):
    """What one decoder step returns.

    Shapes:
        logits: (B, V), the unnormalised log-probabilities of y(t); stop_logit: (B,) the logit of "y(t) is the
        last symbol" (None for a decoder without a stop output); state: batch-first leaves (B, ...).

    Book: 10.2.3.
    """

    logits: Tensor
    stop_logit: Tensor | None
    state: Any


class StepDecoder(nn.Module, abc.ABC):
    """Abstract: one step of a generating RNN, y(t-1) in, the distribution of y(t) out.

    Attributes:
        vocab_size: V, the number of symbols the decoder emits (ids 0..V-1).
        start_id: y(0), the input of the first step (a start symbol; it need not be one of the V outputs).
        stops_itself: True when ``step`` returns a stop logit (a stop unit or a predicted length); such a
            decoder is not given an ``end_id``.

    Methods:
        ``initial_state(batch_size, context=None) -> State``: a NamedTuple of batch-first tensors, so that
        beam search reorders it with :func:`~recnets.core.state.reorder_state`.
        ``step(ids_t (B,), state, context=None) -> DecoderStep``.

    ``context`` is read-only per-sentence data: ``None``, a tensor, or a (Named)tuple of batch-first tensors
    (a conditioning vector; an encoder's memory and its mask). The searches repeat its rows once for their
    layout (B·K rows for K beams or samples per sentence, sentence-major) and never reorder it: beams are
    reordered within their sentence, where the context rows are identical.

    Book: 10.2.3 (each step is a conditional p(y(t) | y(1..t-1)) of the directed model), 10.4 (the decoder of an
    encoder-decoder reads the encoder's context).
    """

    vocab_size: int
    start_id: int
    stops_itself: bool = False

    @abc.abstractmethod
    def initial_state(self, batch_size: int, context: Any = None) -> Any:
        """The state before the first step, for ``batch_size`` rows (``context`` has as many rows)."""

    @abc.abstractmethod
    def step(self, ids_t: Tensor, state: Any, context: Any = None) -> DecoderStep:
        """One step: ``ids_t (B,)`` the previous symbols y(t-1) -> logits of y(t), stop logit, new state."""

    def teacher_forced_steps(self, targets: Tensor, state: Any,
                             context: Any = None) -> tuple[Tensor, Tensor | None] | None:
        """Every step at once with the labels fed: ``targets (B, T)`` are y(1..T), the steps read y(0..T-1).

        A decoder whose steps do not depend on its own earlier outputs except through the labels (no input
        feeding, no query before the cell) can compute all T steps as one unroll and batched products;
        ``(logits (B, T, V), stop_logits (B, T) or None)`` equal to T calls of :meth:`step`. The default,
        None, says the decoder has no such path and the caller loops over :meth:`step`.

        Book: 10.2.1 (with teacher forcing the steps decouple: each reads a known input).
        """
        return None


class LengthDecoder(StepDecoder):
    """Abstract: a decoder that first draws its length τ ∈ {1..L_max}, then emits exactly τ symbols.

    ``length_logits(batch_size, context=None) -> (B, L_max)`` are the logits of τ = 1..L_max (column τ-1);
    ``with_length(state, lengths (B,)) -> state`` makes a state that will emit ``lengths`` symbols. ``step``
    returns a stop logit of +inf at the τ-th step and -inf before it, so the searches treat the length as a
    stop unit that is certain: P(τ, y) = P(τ) Π_t p(y(t) | y(1..t-1), τ).

    Attributes:
        max_length: L_max, the largest length the decoder can predict.

    Book: 10.2.3 (predict the length τ, then generate τ symbols, with an extra input telling how near the end
    the model is).
    """

    stops_itself = True
    max_length: int

    @abc.abstractmethod
    def length_logits(self, batch_size: int, context: Any = None) -> Tensor:
        """Logits of τ = 1..L_max: (B, L_max)."""

    @abc.abstractmethod
    def with_length(self, state: Any, lengths: Tensor) -> Any:
        """``state`` set to emit ``lengths (B,)`` symbols (each in 1..L_max)."""


def sentence_count(context: Any, batch_size: int | None) -> int:
    """B, the number of sentences: the rows of ``context``, else ``batch_size`` (1 when both are None).

    Raises ValueError when the context's leaves disagree on B or ``batch_size`` disagrees with them.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected an integer >= 1 or None, got {batch_size!r}")
    leaves = tree_leaves(context)
    if not leaves:
        return 1 if batch_size is None else batch_size
    rows = {leaf.shape[0] if leaf.dim() else 0 for leaf in leaves}
    if len(rows) != 1 or 0 in rows:
        raise ValueError(f"context: expected batch-first leaves with one number of rows, got leading sizes {sorted(rows)}")
    count = rows.pop()
    if batch_size is not None and batch_size != count:
        raise ValueError(f"batch_size: expected None or {count} (the context's rows), got {batch_size}")
    return count


def repeat_rows(tree: Any, times: int) -> Any:
    """Each row of every leaf repeated ``times`` times in place: (B, ...) -> (B·times, ...), sentence-major."""
    if times == 1:
        return tree
    return tree_map(lambda leaf: leaf.repeat_interleave(times, dim=0), tree)
