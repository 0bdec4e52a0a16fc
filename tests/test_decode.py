"""Generation and sequence log-likelihood against hand-written step loops on tiny float64 models."""
from __future__ import annotations

import pytest
import torch

from recnets.cells import ElmanCell, LSTMCell
from recnets.decode import sample, sequence_log_likelihood
from recnets.nets import OutputEveryStep

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
