"""Beam search against brute-force enumeration of every outcome on a tiny vocabulary, in each end mode."""
from __future__ import annotations

import math

import pytest
import torch

from decoding_oracle import END_ID, MODES, context_row, enumerate_outcomes, make_context, make_decoder
from recnets.beam_search import beam_search
from recnets.cells import LSTMCell
from recnets.decode import greedy_decode, sequence_log_likelihood
from recnets.nets import OutputEveryStep
from recnets.nets.lm_decoder import LanguageModelDecoder

LENGTH = 3


def end_of(mode: str) -> int | None:
    return END_ID if mode in ("end", "lm") else None


def language_model(seed: int = 3) -> LanguageModelDecoder:
    """Pattern (a) ending by the end symbol, without context."""
    torch.manual_seed(seed)
    model = OutputEveryStep(LSTMCell(3, 4), 3, vocab_size=3).double()
    with torch.no_grad():
        model.readout.V.mul_(3.0)
    return LanguageModelDecoder(model, [END_ID])


def decoder_and_context(mode: str, cell: str = "lstm", sentences: int = 3):
    if mode == "lm":
        return language_model(), None
    return make_decoder(mode, cell), make_context(mode, sentences)


def sentence(context, row: int):
    return None if context is None else context_row(context, row)


@pytest.mark.parametrize("mode", MODES + ["lm"])
@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_width_one_is_greedy(mode: str, cell: str) -> None:
    decoder, context = decoder_and_context(mode, cell, sentences=4)
    batch = None if context is not None else 1
    greedy = greedy_decode(decoder, context=context, batch_size=batch, max_length=LENGTH, end_id=end_of(mode))
    beams = beam_search(decoder, context=context, batch_size=batch, beam_width=1, max_length=LENGTH,
                        end_id=end_of(mode))
    assert beams.best() == greedy.to_lists()
    assert torch.equal(beams.finished[:, 0], greedy.finished)
    assert torch.allclose(beams.log_prob[:, 0], greedy.log_prob, rtol=0, atol=1e-12)
    assert torch.equal(beams.score, beams.log_prob)  # α = 0


def outcome_count(mode: str) -> int:
    """Outcomes at V = 3, L = 3: end symbol 1 + 2 + 4 ended and 8 unfinished; stop 3 + 9 + 27 and 27 unfinished;
    predicted length 3 + 9 + 27."""
    return {"end": 15, "lm": 15, "stop": 66, "length": 39}[mode]


@pytest.mark.parametrize("mode", MODES + ["lm"])
@pytest.mark.parametrize("alpha", [0.0, 0.7, 2.0])
def test_wide_beam_finds_the_enumerated_best(mode: str, alpha: float) -> None:
    """A beam as wide as the number of outcomes prunes nothing: its N best are the enumeration's N best under
    log P / n^α (α = 0: the most likely outcomes), with the enumeration's probabilities."""
    decoder, context = decoder_and_context(mode)
    width, returned = outcome_count(mode), 4
    sentences = 1 if context is None else 3
    beams = beam_search(decoder, context=context, batch_size=None if context is not None else 1, beam_width=width,
                        max_length=LENGTH, end_id=end_of(mode), alpha=alpha, num_returned=returned)
    assert beams.ids.shape[:2] == (sentences, returned)
    for row in range(sentences):
        outcomes = enumerate_outcomes(decoder, sentence(context, row), LENGTH, end_of(mode))
        assert len(outcomes) == width
        ranked = sorted(outcomes, key=lambda o: math.log(o.probability) / o.steps ** alpha, reverse=True)
        scores = [math.log(o.probability) / o.steps ** alpha for o in ranked]
        assert scores[0] - scores[1] > 1e-9  # a unique best, so the comparison below is well defined
        got_ids = [ids[:length] for ids, length in zip(beams.ids[row].tolist(), beams.lengths[row].tolist())]
        assert (tuple(got_ids[0]), bool(beams.finished[row, 0])) == (ranked[0].ids, ranked[0].finished)
        assert float((beams.score[row] - torch.tensor(scores[:returned], dtype=torch.float64)).abs().max()) < 1e-10
        for ids, finished, log_prob in zip(got_ids, beams.finished[row].tolist(), beams.log_prob[row].tolist()):
            match = next(o for o in outcomes if o.ids == tuple(ids) and o.finished == finished)
            assert abs(log_prob - math.log(match.probability)) < 1e-10
    if alpha == 0:  # the search had real choices: the exact best beats greedy decoding on some sentence
        greedy = greedy_decode(decoder, context=context, batch_size=None if context is not None else 1,
                               max_length=LENGTH, end_id=end_of(mode))
        assert (beams.log_prob[:, 0] >= greedy.log_prob - 1e-12).all()
        assert (beams.log_prob[:, 0] > greedy.log_prob + 0.1).any()


@pytest.mark.parametrize("mode", MODES)
def test_narrow_beam_rows_independent_of_the_batch(mode: str) -> None:
    """A sentence's beam (with pruning: width 4 < outcomes) does not depend on the other sentences."""
    decoder, context = decoder_and_context(mode, sentences=3)
    together = beam_search(decoder, context=context, beam_width=4, max_length=LENGTH, end_id=end_of(mode),
                           alpha=0.5, num_returned=3)
    for row in range(3):
        alone = beam_search(decoder, context=sentence(context, row), beam_width=4, max_length=LENGTH,
                            end_id=end_of(mode), alpha=0.5, num_returned=3)
        assert torch.equal(alone.ids, together.ids[row:row + 1, :, :alone.ids.shape[2]])
        assert (together.ids[row:row + 1, :, alone.ids.shape[2]:] == -1).all()
        assert torch.equal(alone.finished, together.finished[row:row + 1])
        assert torch.allclose(alone.log_prob, together.log_prob[row:row + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES + ["lm"])
def test_beam_log_prob_is_the_sequence_log_likelihood(mode: str) -> None:
    decoder, context = decoder_and_context(mode, sentences=2)
    sentences = 1 if context is None else 2
    beams = beam_search(decoder, context=context, batch_size=None if context is not None else 1, beam_width=5,
                        max_length=LENGTH, end_id=end_of(mode), num_returned=5)
    for row in range(sentences):
        for rank in range(5):
            length = int(beams.lengths[row, rank])
            with torch.no_grad():
                scored = sequence_log_likelihood(decoder, beams.ids[row, rank, :length], context=sentence(context, row),
                                                 end_id=end_of(mode), finished=bool(beams.finished[row, rank]))
            assert abs(float(scored) - float(beams.log_prob[row, rank])) < 1e-10


def test_beam_argument_errors() -> None:
    decoder, context = decoder_and_context("stop")
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(decoder, context=context, beam_width=0, max_length=3)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(decoder, context=context, beam_width=2.0, max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        beam_search(decoder, context=context, beam_width=2, max_length=0)
    with pytest.raises(ValueError, match="alpha"):
        beam_search(decoder, context=context, beam_width=2, max_length=3, alpha=-0.5)
    with pytest.raises(ValueError, match="num_returned"):
        beam_search(decoder, context=context, beam_width=2, max_length=3, num_returned=3)
    with pytest.raises(ValueError, match="end_id"):
        beam_search(decoder, context=context, beam_width=2, max_length=3, end_id=1)
    language = language_model()
    for bad in (3, -1):
        with pytest.raises(ValueError, match="end_id"):
            beam_search(language, beam_width=2, max_length=3, end_id=bad)
