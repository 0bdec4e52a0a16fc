"""Beam search over a step decoder, batched over sentences and beams: B·K rows, one ``step`` per time step.

Each of the K rows of a sentence holds a hypothesis. At every step each running row proposes every
continuation — each symbol, and with a stop output each symbol followed by "halt" or "go on" — and a finished
row proposes only itself, unchanged; the K best proposals of each sentence (one ``topk`` over its K·C
candidates) become its new rows, and the decoder's state follows them with ``reorder_state``. Finished
hypotheses thus stay in the beam, masked, until K better ones push them out; the search ends when every row
has finished or at ``max_length`` (rows still running are returned as unfinished outcomes).

Hypotheses are ranked by the length-normalised score

    score = log P(y) / n^α,

with n the number of steps the hypothesis took (its symbols, plus one for an end symbol; L for one still
running at L), and α >= 0: α = 0 ranks by plain log-probability (the most likely sequence), larger α favours
longer sequences. A predicted length enters as K initial rows with the K most likely τ, log P(τ) as their
starting score.

With width 1 and α = 0 the search is greedy decoding; with a width at least the number of outcomes it is
exact.

Book: 10.2.3 (the most likely sequence of the directed model; the three ways to end a sequence), 10.4
(decoding an encoder-decoder).
Deviations: length normalisation is not in the book (it follows the common score / length^α of neural
machine translation; Wu et al. 2016 use ((5 + n) / 6)^α instead).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.core.state import reorder_state
from recnets.core.step_decoder import LengthDecoder, StepDecoder, repeat_rows, sentence_count
from recnets.decode import (PAD, _check_decoder, _check_end_id, _check_integer, _check_nonnegative, _check_step,
                            _device)

__all__ = ["Beams", "beam_search"]


class Beams(NamedTuple):
    """The best hypotheses of each sentence, best first.

    Shapes:
        ids: (B, N, T) int64, ``PAD`` (-1) past each length, the end symbol excluded; lengths: (B, N);
        log_prob: (B, N) log-probability under the model, ending included; score: (B, N) log_prob / n^α;
        finished: (B, N) bool. A row with log_prob -inf is padding (fewer than N possible outcomes).

    Book: 10.2.3.
    """

    ids: Tensor
    lengths: Tensor
    log_prob: Tensor
    score: Tensor
    finished: Tensor

    def best(self) -> list[list[int]]:
        """Each sentence's best hypothesis as a list of ids."""
        return [row[0][:length[0]] for row, length in zip(self.ids.tolist(), self.lengths.tolist())]


def _candidates(log_p: Tensor, stop_logit: Tensor | None, end_id: int | None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every continuation of every row: log-probabilities (R, C), and per candidate c its symbol (C,), whether
    it ends the hypothesis (C,) and whether the symbol is kept in the sequence (C,).

    Without a stop output C = V (candidate c is symbol c; the end symbol ends). With one C = 2V, candidate
    2v + s is symbol v followed by go on (s = 0) or halt (s = 1).
    """
    vocab = log_p.shape[-1]
    symbols = torch.arange(vocab, device=log_p.device)  # (V,)
    if stop_logit is None:
        ends = symbols == end_id if end_id is not None else torch.zeros_like(symbols, dtype=torch.bool)
        return log_p, symbols, ends, ~ends
    halt = torch.stack([nn.functional.logsigmoid(-stop_logit), nn.functional.logsigmoid(stop_logit)], -1)  # (R, 2)
    scores = (log_p.unsqueeze(-1) + halt.unsqueeze(1)).flatten(1)  # (R, 2V)
    ends = torch.tensor([False, True], device=log_p.device).repeat(vocab)  # (2V,)
    return scores, symbols.repeat_interleave(2), ends, torch.ones_like(ends)


@torch.no_grad()
def beam_search(decoder: StepDecoder, *, context: Any = None, batch_size: int | None = None, beam_width: int,
                max_length: int, end_id: int | None = None, alpha: float = 0.0, num_returned: int = 1) -> Beams:
    """The ``num_returned`` best hypotheses per sentence under score = log P / n^α, by beam search.

    Args:
        decoder: a :class:`~recnets.core.step_decoder.StepDecoder`.
        context: read-only per-sentence data (B rows), repeated once to B·K rows; or None.
        batch_size: B when there is no context (default 1).
        beam_width: K >= 1.
        max_length: L >= 1, the most steps per hypothesis.
        end_id: the end symbol, for a decoder that does not end itself.
        alpha: α >= 0, the length-normalisation exponent.
        num_returned: N in 1..K.

    Returns:
        :class:`Beams` with (B, N) hypotheses, best first.

    Book: 10.2.3.
    """
    decoder = _check_decoder(decoder)
    width = _check_integer(beam_width, "beam_width", 1)
    max_length = _check_integer(max_length, "max_length", 1)
    alpha = _check_nonnegative(alpha, "alpha")
    returned = _check_integer(num_returned, "num_returned", 1)
    if returned > width:
        raise ValueError(f"num_returned: expected at most beam_width = {width}, got {returned}")
    _check_end_id(decoder, end_id)
    sentences = sentence_count(context, batch_size)
    rows, device = sentences * width, _device(decoder)
    expanded = repeat_rows(context, width)  # (B·K, ...): once for the whole search, never reordered
    state = decoder.initial_state(rows, expanded)
    first = torch.arange(sentences, device=device).repeat_interleave(width) * width  # (B·K,) first row of a sentence

    if isinstance(decoder, LengthDecoder):  # the K most likely τ start the K rows
        length_log_p = torch.log_softmax(decoder.length_logits(sentences, context), -1)  # (B, L_max)
        kept = min(width, length_log_p.shape[-1])
        top = length_log_p.topk(kept, dim=-1)
        score = torch.full((sentences, width), float("-inf"), dtype=length_log_p.dtype, device=device)
        score[:, :kept] = top.values
        tau = torch.ones((sentences, width), dtype=torch.int64, device=device)
        tau[:, :kept] = top.indices + 1
        score = score.reshape(rows)  # (B·K,)
        state = decoder.with_length(state, tau.reshape(rows))
    else:  # one live row per sentence; the others are empty (-inf) until the first step fills them
        score = torch.full((sentences, width), float("-inf"), device=device)
        score[:, 0] = 0.0
        score = score.reshape(rows)
    finished = torch.isneginf(score)  # (B·K,) empty rows never extend
    lengths = torch.zeros(rows, dtype=torch.int64, device=device)
    taken = torch.zeros(rows, dtype=torch.int64, device=device)  # n: steps each hypothesis took
    history = torch.empty((rows, 0), dtype=torch.int64, device=device)
    ids_t = torch.full((rows,), decoder.start_id, dtype=torch.int64, device=device)

    for t in range(1, max_length + 1):
        out = decoder.step(ids_t, state, expanded)
        _check_step(out, decoder, rows)
        log_p = torch.log_softmax(out.logits, -1)  # (B·K, V)
        step_scores, symbols, ends, kept_symbols = _candidates(log_p, out.stop_logit, end_id)  # (B·K, C)
        score = score.to(log_p.dtype)
        total = score.unsqueeze(1) + step_scores  # (B·K, C)
        stay = torch.full_like(total, float("-inf"))
        stay[:, 0] = score  # a finished row's only candidate: itself
        total = torch.where(finished.unsqueeze(1), stay, total)
        steps = torch.where(finished, taken, t).clamp_min(1)  # (B·K,) n of each candidate
        ranking = total if alpha == 0 else total / steps.to(total.dtype).pow(alpha).unsqueeze(1)
        candidates = total.shape[1]
        best = ranking.reshape(sentences, width * candidates).topk(width, dim=1).indices.reshape(rows)  # (B·K,)
        source = first + best // candidates  # the row each new hypothesis extends
        choice = best % candidates  # (B·K,)

        was_finished = finished[source]
        appended = ~was_finished & kept_symbols[choice]
        score = total.reshape(sentences, -1).gather(1, best.reshape(sentences, width)).reshape(rows)
        finished = was_finished | ends[choice]
        taken = torch.where(was_finished, taken[source], t)
        lengths = lengths[source] + appended
        history = torch.cat([history[source], torch.where(appended, symbols[choice], PAD).unsqueeze(1)], 1)
        if bool(finished.all()):
            break
        state, ids_t = reorder_state(out.state, source), symbols[choice]

    normalised = score if alpha == 0 else score / taken.clamp_min(1).to(score.dtype).pow(alpha)
    order = normalised.reshape(sentences, width).argsort(dim=1, descending=True)[:, :returned]  # (B, N)

    def pick(values: Tensor) -> Tensor:
        shaped = values.reshape(sentences, width, *values.shape[1:])
        index = order.reshape(sentences, returned, *([1] * (values.dim() - 1))).expand(-1, -1, *values.shape[1:])
        return shaped.gather(1, index)

    return Beams(pick(history), pick(lengths), pick(score), pick(normalised), pick(finished))
