"""Generation and sequence log-likelihood against hand-written step loops on tiny float64 models, and the
step-decoder searches in each end mode against brute-force enumeration of every outcome."""
from __future__ import annotations

import math

import pytest
import torch

from decoding_oracle import END_ID, MODES, context_row, enumerate_outcomes, make_context, make_decoder, padded
from recnets.cells import ElmanCell, LSTMCell
from recnets.core.step_decoder import repeat_rows
from recnets.decode import ancestral_sample, greedy_decode, sample, sequence_log_likelihood
from recnets.nets import OutputEveryStep
from recnets.nets.lm_decoder import LanguageModelDecoder

V = 7
CELLS = [ElmanCell, LSTMCell]


def tiny_model(cell_type, seed: int = 0) -> OutputEveryStep:
    torch.manual_seed(seed)
    model = OutputEveryStep(cell_type(3, 5), V, vocab_size=V).double()
    with torch.no_grad():  # sharper than the default init, so that samples differ from the uniform
        model.readout.V.mul_(4.0)
    return model


@torch.no_grad()
def greedy_by_hand(model: OutputEveryStep, prompt: list[int], steps: int) -> list[int]:
    state, logits = None, None
    for token in prompt:
        logits, state = model.step(torch.tensor([token]), state)
    out = []
    for _ in range(steps):
        token = int(logits[0].argmax())
        out.append(token)
        logits, state = model.step(torch.tensor([token]), state)
    return out


@pytest.mark.parametrize("cell_type", CELLS)
def test_greedy_equals_hand_rolled_argmax(cell_type) -> None:
    model = tiny_model(cell_type)
    prompt = [1, 4, 2, 2]
    expected = greedy_by_hand(model, prompt, 12)
    assert sample(model, prompt, max_length=12, temperature=0) == [expected]
    assert sample(model, prompt, max_length=12, top_k=1) == [expected]
    assert sample(model, torch.tensor(prompt), max_length=12, temperature=0.0, num_samples=3) == [expected] * 3


@pytest.mark.parametrize("cell_type", CELLS)
@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.7, 3), (2.0, V)])
def test_seeded_sampling_matches_manual_multinomial(cell_type, temperature: float, top_k: int | None) -> None:
    model = tiny_model(cell_type, seed=1)
    prompt, samples, steps = [3, 0, 5], 4, 9
    got = sample(model, prompt, max_length=steps, temperature=temperature, top_k=top_k, num_samples=samples,
                 generator=torch.Generator().manual_seed(123))
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        logits, state = model(torch.tensor([prompt] * samples))
        logits = logits[:, -1]
        drawn = []
        for _ in range(steps):
            scaled = logits / temperature
            if top_k is not None:
                order = scaled.argsort(-1, descending=True)
                drop = order[:, top_k:]
                scaled = scaled.scatter(-1, drop, float("-inf"))
            token = torch.multinomial(torch.softmax(scaled, -1), 1, generator=generator)[:, 0]
            drawn.append(token)
            logits, state = model.step(token, state)
    expected = torch.stack(drawn, 1).tolist()
    assert got == expected
    if top_k == 3:  # only the three most likely ids were ever drawn at the first step
        with torch.no_grad():
            first = model(torch.tensor([prompt]))[0][0, -1].topk(3).indices.tolist()
        assert all(row[0] in first for row in got)
    assert len({tuple(row) for row in got}) > 1


@pytest.mark.parametrize("cell_type", CELLS)
def test_end_id_stops_and_is_excluded(cell_type) -> None:
    model = tiny_model(cell_type, seed=2)
    prompt = [1, 2]
    path = greedy_by_hand(model, prompt, 20)
    end_id = path[3]
    stop = path.index(end_id)
    assert sample(model, prompt, max_length=20, temperature=0, end_id=end_id) == [path[:stop]]
    never = next(i for i in range(V) if i not in path)
    assert sample(model, prompt, max_length=20, temperature=0, end_id=never) == [path]
    samples = sample(model, prompt, max_length=30, end_id=end_id, num_samples=8,
                     generator=torch.Generator().manual_seed(0))
    assert all(end_id not in row and len(row) <= 30 for row in samples)
    assert any(len(row) < 30 for row in samples)


def test_empty_prompt_starts_from_end_id() -> None:
    model = tiny_model(ElmanCell, seed=3)
    path = greedy_by_hand(model, [V - 1], 6)
    expected = path[:path.index(V - 1)] if V - 1 in path else path
    assert sample(model, [], max_length=6, temperature=0, end_id=V - 1) == [expected]
    generator_a, generator_b = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert (sample(model, [], max_length=6, end_id=0, generator=generator_a)
            == sample(model, [0], max_length=6, end_id=0, generator=generator_b))
    with pytest.raises(ValueError, match="prompt_ids"):
        sample(model, [], max_length=3)


def test_sample_argument_errors() -> None:
    model = tiny_model(ElmanCell)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, [1], max_length=3, temperature=-0.5)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, [1], max_length=3, top_k=0)
    with pytest.raises(ValueError, match="max_length"):
        sample(model, [1], max_length=0)
    with pytest.raises(ValueError, match="num_samples"):
        sample(model, [1], max_length=2, num_samples=0)
    with pytest.raises(ValueError, match="end_id"):
        sample(model, [1], max_length=2, end_id=V)


@pytest.mark.parametrize("cell_type", CELLS)
def test_sequence_log_likelihood_equals_manual_step_loop(cell_type) -> None:
    model = tiny_model(cell_type, seed=4)
    sequences = torch.tensor([[0, 3, 3, 1, 6, 2], [0, 5, 4, 4, 2, 1]])
    expected = []
    for row in sequences.tolist():
        state, total = None, torch.zeros((), dtype=torch.float64)
        for previous, current in zip(row[:-1], row[1:]):
            logits, state = model.step(torch.tensor([previous]), state)
            total = total + torch.log_softmax(logits[0], -1)[current]
        expected.append(total)
    got = sequence_log_likelihood(model, sequences)
    assert got.dtype == torch.float64 and got.shape == (2,)
    assert float((got - torch.stack(expected)).detach().abs().max()) < 1e-10
    single = sequence_log_likelihood(model, sequences[1].tolist())
    assert single.shape == () and abs(float((single - expected[1]).detach())) < 1e-10
    single.backward()
    assert model.readout.V.grad is not None and model.readout.V.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="ids"):
        sequence_log_likelihood(model, [3])


# ---- the step-decoder searches: greedy decoding, ancestral sampling, log-likelihood in each end mode ----------


def end_of(mode: str) -> int | None:
    return END_ID if mode == "end" else None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_outcome_probabilities_sum_to_one_and_match_log_likelihood(mode: str, cell: str) -> None:
    """Every sequence ended within L (end symbol, stop unit, or every (τ, y)) plus the unfinished mass at L sums
    to 1, and sequence_log_likelihood of each outcome is the enumeration's product of conditionals."""
    length = 4
    decoder = make_decoder(mode, cell, max_length=length)
    context = context_row(make_context(mode, 2), 1)
    outcomes = enumerate_outcomes(decoder, context, length, end_of(mode))
    assert abs(sum(o.probability for o in outcomes) - 1.0) < 1e-10
    assert len({(o.ids, o.finished) for o in outcomes}) == len(outcomes)
    if mode != "length":
        assert any(not o.finished for o in outcomes) and sum(o.probability for o in outcomes if not o.finished) > 1e-6
    ids, lengths, finished = padded(outcomes)
    got = sequence_log_likelihood(decoder, ids, lengths=lengths, context=repeat_rows(context, len(outcomes)),
                                  end_id=end_of(mode), finished=finished)
    expected = torch.tensor([math.log(o.probability) for o in outcomes], dtype=torch.float64)
    assert got.dtype == torch.float64
    assert float((got.detach() - expected).abs().max()) < 1e-10


@torch.no_grad()
def test_log_likelihood_equals_per_step_conditionals_written_out() -> None:
    """Stop unit: Σ log p(y(t)) + Σ_{t<n} log(1 - σ(t)) + log σ(n); end symbol: Σ log p(y(t)) + log p(end);
    predicted length: log P(τ) + Σ log p(y(t) | τ), each with the step loop written by hand."""
    sequence = [2, 0, 1]
    for mode in MODES:
        decoder = make_decoder(mode, "lstm")
        context = context_row(make_context(mode, 1), 0)
        state = decoder.initial_state(1, context)
        expected = 0.0
        if mode == "length":
            expected += math.log(float(torch.softmax(decoder.length_logits(1, context), -1)[0, 2]))
            state = decoder.with_length(state, torch.tensor([3]))
        previous = decoder.start_id
        for t, token in enumerate(sequence + ([END_ID] if mode == "end" else [])):
            logits, stop, state = decoder.step(torch.tensor([previous]), state, context)
            expected += math.log(float(torch.softmax(logits[0], -1)[token]))
            if mode == "stop":
                sigma = float(torch.sigmoid(stop[0]))
                expected += math.log(sigma if t == len(sequence) - 1 else 1 - sigma)
            previous = token
        if mode == "end":
            sequence_ids = [1, 2, 1]  # no end symbol (0) inside the sequence itself
            state, expected, previous = decoder.initial_state(1, context), 0.0, decoder.start_id
            for token in sequence_ids + [END_ID]:
                logits, _, state = decoder.step(torch.tensor([previous]), state, context)
                expected += math.log(float(torch.softmax(logits[0], -1)[token]))
                previous = token
            got = sequence_log_likelihood(decoder, sequence_ids, context=context, end_id=END_ID)
        else:
            got = sequence_log_likelihood(decoder, sequence, context=context)
        assert got.shape == () and abs(float(got) - expected) < 1e-10, mode


@pytest.mark.parametrize("mode", MODES)
@torch.no_grad()
def test_greedy_equals_hand_rolled_argmax_and_threshold(mode: str) -> None:
    decoder = make_decoder(mode, "lstm")
    context = make_context(mode, 4)
    got = greedy_decode(decoder, context=context, max_length=3, end_id=end_of(mode))
    for row in range(4):
        one = context_row(context, row)
        state, previous, out, finished = decoder.initial_state(1, one), decoder.start_id, [], False
        if mode == "length":
            state = decoder.with_length(state, decoder.length_logits(1, one).argmax(-1) + 1)
        for _ in range(3):
            logits, stop, state = decoder.step(torch.tensor([previous]), state, one)
            previous = int(logits[0].argmax())
            if mode == "end" and previous == END_ID:
                finished = True
                break
            out.append(previous)
            if mode != "end" and float(stop[0]) > 0:
                finished = True
                break
        assert got.to_lists()[row] == out and bool(got.finished[row]) == finished
    assert len({tuple(row) for row in got.to_lists()}) > 1  # the context matters
    assert bool(got.finished.any())
    assert torch.equal(ancestral_sample(decoder, context=context, max_length=3, temperature=0, end_id=end_of(mode)).ids,
                       got.ids)


@pytest.mark.parametrize("mode", MODES)
def test_sampling_frequencies_match_the_model(mode: str) -> None:
    """Ancestral sampling draws each outcome (sequence and ending) with its enumerated probability: a
    chi-square statistic over the outcomes (seeded), and each sample's log_prob is its outcome's."""
    length, draws = 3, 20000
    decoder = make_decoder(mode, "elman")
    context = context_row(make_context(mode, 3), 2)
    outcomes = {(o.ids, o.finished): o.probability for o in enumerate_outcomes(decoder, context, length, end_of(mode))}
    got = ancestral_sample(decoder, context=context, num_samples=draws, max_length=length, end_id=end_of(mode),
                           generator=torch.Generator().manual_seed(5))
    assert got.ids.shape[0] == draws
    counts: dict = {}
    for ids, finished in zip(got.to_lists(), got.finished.tolist()):
        counts[(tuple(ids), finished)] = counts.get((tuple(ids), finished), 0) + 1
    assert set(counts) <= set(outcomes)
    statistic, degrees, rare_expected, rare_seen = 0.0, -1, 0.0, 0
    for key, probability in outcomes.items():
        if draws * probability < 5:
            rare_expected, rare_seen = rare_expected + draws * probability, rare_seen + counts.get(key, 0)
            continue
        statistic += (counts.get(key, 0) - draws * probability) ** 2 / (draws * probability)
        degrees += 1
    statistic += (rare_seen - rare_expected) ** 2 / max(rare_expected, 1.0)
    assert degrees >= 10
    assert statistic < degrees + 6 * math.sqrt(2 * degrees), (statistic, degrees)
    expected_log_prob = torch.tensor([math.log(outcomes[(tuple(ids), f)])
                                      for ids, f in zip(got.to_lists()[:200], got.finished.tolist()[:200])],
                                     dtype=torch.float64)
    assert float((got.log_prob[:200] - expected_log_prob).abs().max()) < 1e-10


def test_temperature_and_top_k_reshape_the_symbol_distribution() -> None:
    """First symbol frequencies: softmax(o / T) restricted to the top k, renormalised; the stop unit is drawn
    at the same temperature, σ(x / T)."""
    decoder = make_decoder("stop", "elman")
    context = context_row(make_context("stop", 1), 0)
    temperature, draws = 0.6, 20000
    with torch.no_grad():
        logits, stop, _ = decoder.step(torch.tensor([decoder.start_id]), decoder.initial_state(1, context), context)
    top = logits[0].topk(2).indices
    expected = torch.zeros(3, dtype=torch.float64)
    expected[top] = torch.softmax(logits[0, top] / temperature, -1)
    got = ancestral_sample(decoder, context=context, num_samples=draws, max_length=1, temperature=temperature,
                           top_k=2, generator=torch.Generator().manual_seed(2))
    first = torch.bincount(got.ids[:, 0], minlength=3).double() / draws
    assert first[expected == 0].sum() == 0
    assert float((first - expected).abs().max()) < 4 * math.sqrt(0.25 / draws)
    halted = got.finished.double().mean()
    assert abs(float(halted) - float(torch.sigmoid(stop[0] / temperature))) < 4 * math.sqrt(0.25 / draws)


@pytest.mark.parametrize("mode", MODES)
def test_greedy_and_samples_rows_independent_of_the_batch(mode: str) -> None:
    decoder = make_decoder(mode, "lstm")
    context = make_context(mode, 3)
    together = greedy_decode(decoder, context=context, max_length=3, end_id=end_of(mode))
    for row in range(3):
        alone = greedy_decode(decoder, context=context_row(context, row), max_length=3, end_id=end_of(mode))
        assert alone.to_lists() == [together.to_lists()[row]]
        assert torch.allclose(alone.log_prob, together.log_prob[row:row + 1], rtol=0, atol=1e-12)


def test_language_model_decoder_matches_sample_and_log_likelihood() -> None:
    """The adapter of pattern (a): greedy decoding is `sample` at temperature 0, and the log-likelihood of the
    decoded ids with their end symbol equals the prompt-form log-likelihood of prompt + ids + end minus the
    prompt's own."""
    model = tiny_model(LSTMCell, seed=5)
    prompt = [2, 5, 1]
    path = greedy_by_hand(model, prompt, 8)
    end_id = next(v for v in path[2:] if v not in path[:2])  # ends after two or more ids
    decoder = LanguageModelDecoder(model, prompt)
    got = greedy_decode(decoder, max_length=8, end_id=end_id)
    assert got.to_lists() == [path[:path.index(end_id)]] == sample(model, prompt, max_length=8, temperature=0,
                                                                     end_id=end_id)
    assert bool(got.finished[0])
    ids = got.to_lists()[0]
    with torch.no_grad():
        expected = (sequence_log_likelihood(model, prompt + ids + [end_id]) - sequence_log_likelihood(model, prompt))
        scored = sequence_log_likelihood(decoder, ids, end_id=end_id)
    assert abs(float(scored - expected)) < 1e-10 and abs(float(scored - got.log_prob[0])) < 1e-10
    unfinished = greedy_decode(decoder, max_length=2, end_id=end_id)
    assert not bool(unfinished.finished[0])
    with torch.no_grad():
        scored = sequence_log_likelihood(decoder, unfinished.ids[0], end_id=end_id, finished=False)
    assert abs(float(scored - unfinished.log_prob[0])) < 1e-10
    with pytest.raises(ValueError, match="context"):
        greedy_decode(decoder, context=torch.zeros(1, 2), max_length=2)
    with pytest.raises(ValueError, match="prompt_ids"):
        LanguageModelDecoder(model, [])


def test_search_argument_errors() -> None:
    stop = make_decoder("stop")
    end = make_decoder("end")
    context = make_context("stop", 2)
    end_context = make_context("end", 2)
    with pytest.raises(ValueError, match="max_length"):
        greedy_decode(stop, context=context, max_length=0)
    with pytest.raises(ValueError, match="max_length"):
        ancestral_sample(stop, context=context, max_length=-1)
    with pytest.raises(ValueError, match="temperature"):
        ancestral_sample(stop, context=context, max_length=2, temperature=-0.1)
    with pytest.raises(ValueError, match="temperature"):
        ancestral_sample(stop, context=context, max_length=2, temperature=float("nan"))
    with pytest.raises(ValueError, match="top_k"):
        ancestral_sample(stop, context=context, max_length=2, top_k=0)
    with pytest.raises(ValueError, match="num_samples"):
        ancestral_sample(stop, context=context, max_length=2, num_samples=0)
    for bad in (3, -1, 1.0):
        with pytest.raises(ValueError, match="end_id"):
            greedy_decode(end, context=end_context, max_length=2, end_id=bad)
    with pytest.raises(ValueError, match="end_id"):
        greedy_decode(stop, context=context, max_length=2, end_id=0)  # the stop unit ends it already
    with pytest.raises(ValueError, match="batch_size"):
        greedy_decode(stop, context=context, batch_size=3, max_length=2)
    with pytest.raises(ValueError, match="context"):
        greedy_decode(stop, context=torch.zeros(2, 5, dtype=torch.float64), max_length=2)
    with pytest.raises(TypeError, match="decoder"):
        greedy_decode(tiny_model(ElmanCell), max_length=2)
    with pytest.raises(ValueError, match="lengths"):
        sequence_log_likelihood(stop, torch.tensor([[1, 2]]), lengths=torch.tensor([0]), context=context[:1])
    with pytest.raises(ValueError, match="ids"):
        sequence_log_likelihood(end, [1, END_ID, 2], context=context_row(end_context, 0), end_id=END_ID)
    with pytest.raises(ValueError, match="finished"):
        length = make_decoder("length")
        sequence_log_likelihood(length, [1, 2], context=context[:1], finished=False)
    with pytest.raises(ValueError, match="model"):
        sequence_log_likelihood(tiny_model(ElmanCell), [1, 2, 3], end_id=0)
