"""The stop-unit and predicted-length generators: joint losses written out with torch's cross-entropies, the
teacher-forced path equal to the step path for every registered cell, and joint training of the stop unit."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from recnets.cells import ElmanCell, LSTMCell
from recnets.cells.registry import CELLS, make_cell
from recnets.decode import ancestral_sample, sequence_log_likelihood
from recnets.nets.stopping import PredictedLengthRNN, StopUnitRNN

V, C, L = 4, 2, 5
TARGETS = torch.tensor([[1, 3, 0, 2, 2], [2, 0, -1, -1, -1], [3, 3, 3, 1, -1]])  # -1: padding
LENGTHS = torch.tensor([5, 2, 4])


def context(rows: int = 3) -> torch.Tensor:
    return torch.randn(rows, C, generator=torch.Generator().manual_seed(4), dtype=torch.float64)


def stop_model(cell=None) -> StopUnitRNN:
    return StopUnitRNN(cell or LSTMCell(3, 5), V, context_size=C).double()


def length_model(cell=None) -> PredictedLengthRNN:
    return PredictedLengthRNN(cell or LSTMCell(3, 5), V, L, context_size=C).double()


def test_stop_unit_loss_is_token_cross_entropy_plus_stop_binary_cross_entropy() -> None:
    model = stop_model()
    logits, stop_logits = model(TARGETS, lengths=LENGTHS, context=context())
    expected = []
    for row, length in enumerate(LENGTHS.tolist()):
        tokens = F.cross_entropy(logits[row, :length], TARGETS[row, :length], reduction="sum")
        halt_target = torch.zeros(length, dtype=torch.float64)
        halt_target[-1] = 1.0  # 1 at the last real step, 0 before
        halts = F.binary_cross_entropy_with_logits(stop_logits[row, :length], halt_target, reduction="sum")
        expected.append(-(tokens + halts))
    expected = torch.stack(expected)
    got = model.log_likelihood(TARGETS, lengths=LENGTHS, context=context())
    assert float((got - expected).detach().abs().max()) < 1e-10
    loss = model.loss(TARGETS, lengths=LENGTHS, context=context())
    assert abs(float((loss + expected.sum() / LENGTHS.sum()).detach())) < 1e-10
    model.loss(TARGETS, lengths=LENGTHS, context=context()).backward()
    for parameter in (model.stop_readout.V, model.stop_readout.c, model.readout.V, model.U_c, model.embedding.weight):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_predicted_length_loss_is_length_plus_token_cross_entropy() -> None:
    model = length_model()
    length_logits, logits = model(TARGETS, lengths=LENGTHS, context=context())
    assert length_logits.shape == (3, L) and logits.shape == (3, 5, V)
    expected = torch.stack([
        -F.cross_entropy(length_logits[row:row + 1], LENGTHS[row:row + 1] - 1, reduction="sum")
        - F.cross_entropy(logits[row, :length], TARGETS[row, :length], reduction="sum")
        for row, length in enumerate(LENGTHS.tolist())])
    got = model.log_likelihood(TARGETS, lengths=LENGTHS, context=context())
    assert float((got - expected).detach().abs().max()) < 1e-10
    model.loss(TARGETS, lengths=LENGTHS, context=context()).backward()
    for parameter in (model.length_V, model.length_c, model.remaining_embedding.weight, model.readout.V):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("kind", ["stop", "length"])
def test_teacher_forced_likelihood_equals_the_step_path(name: str, kind: str) -> None:
    """For any registered cell: the unrolled, teacher-forced log-likelihood equals the sum of the per-step
    conditionals the decoders' ``step`` gives (the searches' path)."""
    torch.manual_seed(0)
    cell = make_cell(name, 3, 4)
    model = stop_model(cell) if kind == "stop" else length_model(cell)
    with torch.no_grad():
        unrolled = model.log_likelihood(TARGETS, lengths=LENGTHS, context=context())
        stepped = sequence_log_likelihood(model, TARGETS, lengths=LENGTHS, context=context())
    assert unrolled.dtype == torch.float64
    assert float((unrolled - stepped).abs().max()) < 1e-10


def test_remaining_length_is_an_input() -> None:
    """The predicted-length model knows how near the end it is: the same prefix under different τ gives
    different next-symbol distributions."""
    model = length_model(ElmanCell(3, 5))
    with torch.no_grad():
        state = model.initial_state(2, context(2)[:1].expand(2, -1))
        state = model.with_length(state, torch.tensor([1, 4]))
        logits, stop, state = model.step(torch.full((2,), model.start_id), state, context(2)[:1].expand(2, -1))
    assert float((logits[0] - logits[1]).abs().max()) > 1e-3
    assert stop.tolist() == [float("inf"), float("-inf")] and state.remaining.tolist() == [0, 3]


def length_rule_batch(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences over 3 symbols whose length is 2 + their first symbol; the rest uniform."""
    targets = torch.randint(0, 3, (count, 4), generator=generator)
    lengths = 2 + targets[:, 0]
    return targets, lengths


def test_joint_training_learns_when_to_stop() -> None:
    """A short joint training run on sequences of length 2 + (first symbol): the stop unit fires exactly at the
    last step on fresh sequences, and samples follow the length rule."""
    torch.manual_seed(0)
    model = StopUnitRNN(ElmanCell(6, 16), 3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(100):  # plain gradient descent (a torch.optim step first imports torch._dynamo: seconds)
        targets, lengths = length_rule_batch(64, generator)
        model.zero_grad()
        model.loss(targets, lengths=lengths).backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 1.0 * parameter.grad
    targets, lengths = length_rule_batch(300, generator)
    with torch.no_grad():
        _, stop_logits = model(targets, lengths=lengths)
    fires = stop_logits > 0  # (B, T)
    should = torch.arange(4) == (lengths - 1).unsqueeze(1)
    inside = torch.arange(4) < lengths.unsqueeze(1)
    correct = ((fires == should) | ~inside).all(1).double().mean()
    assert correct > 0.97, float(correct)
    samples = ancestral_sample(model, num_samples=400, max_length=6, generator=torch.Generator().manual_seed(2))
    follows = [len(row) == 2 + row[0] for row in samples.to_lists()]
    assert sum(follows) / len(follows) > 0.95
    untrained = StopUnitRNN(ElmanCell(6, 16), 3)
    with torch.no_grad():
        _, before = untrained(targets, lengths=lengths)
    assert (((before > 0) == should) | ~inside).all(1).double().mean() < 0.5


def test_stopping_argument_errors() -> None:
    model = stop_model()
    with pytest.raises(ValueError, match="context"):
        model(TARGETS, lengths=LENGTHS)
    with pytest.raises(ValueError, match="context"):
        model(TARGETS, lengths=LENGTHS, context=context(2))
    with pytest.raises(ValueError, match="context"):
        StopUnitRNN(ElmanCell(3, 4), V)(TARGETS, lengths=LENGTHS, context=context())
    with pytest.raises(ValueError, match="lengths"):
        model(TARGETS, lengths=torch.tensor([6, 1, 1]), context=context())
    with pytest.raises(ValueError, match="lengths"):
        model(TARGETS, lengths=torch.tensor([0, 1, 1]), context=context())
    with pytest.raises(ValueError, match="targets"):
        model(torch.tensor([[1, V]]), context=context(1))
    with pytest.raises(ValueError, match="targets"):
        model(TARGETS.double(), lengths=LENGTHS, context=context())
    with pytest.raises(ValueError, match="vocab_size"):
        StopUnitRNN(ElmanCell(3, 4), 0)
    with pytest.raises(ValueError, match="context_size"):
        StopUnitRNN(ElmanCell(3, 4), V, context_size=-1)
    with pytest.raises(ValueError, match="max_length"):
        PredictedLengthRNN(ElmanCell(3, 4), V, 0)
    short = PredictedLengthRNN(LSTMCell(3, 5), V, 3, context_size=C).double()
    with pytest.raises(ValueError, match="lengths"):
        short(TARGETS, lengths=LENGTHS, context=context())
    with pytest.raises(ValueError, match="lengths"):
        short.with_length(short.initial_state(2, context(2)), torch.tensor([1, 4]))
