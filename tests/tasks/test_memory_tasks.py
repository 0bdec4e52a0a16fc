"""Copy memory, memorisation, permutation and latching: structure as the papers define it, labels recomputed,
memoryless and chance floors reached by the models that define them."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.tasks import LatchingConfig, make_task
from recnets.tasks.base import step_generator

NEG = -1e4  # a logit whose probability underflows to exactly 0 in float64 next to a logit of 0


@pytest.mark.parametrize("T", [1, 7, 100])
def test_copy_sequences_are_arjovskys(T):
    task = make_task("copy-memory", T=T)
    batch = task.generate(step_generator(1, 0), 500)
    ids = batch.inputs.argmax(-1)  # (B, T + 20)
    assert batch.inputs.shape == (500, T + 20, 10) and (batch.inputs.sum(-1) == 1).all()
    data = ids[:, :10]
    assert set(data.unique().tolist()) == set(range(8))  # drawn with replacement from a1..a8
    assert (ids[:, 10:10 + T - 1] == 8).all()  # T - 1 blanks
    assert (ids[:, 10 + T - 1] == 9).all()  # the delimiter
    assert (ids[:, T + 10:] == 8).all()  # ten blanks
    assert (batch.targets[:, :T + 10] == 8).all() and torch.equal(batch.targets[:, T + 10:], data)


@pytest.mark.parametrize("T", [1, 50, 200])
def test_copy_memoryless_strategy_reaches_10_ln8_over_T_plus_20(T):
    task = make_task("copy-memory", T=T)
    batch = task.train_batch(0)
    B = batch.inputs.shape[0]
    logits = torch.full((B, T + 20, 10), NEG, dtype=torch.float64)
    logits[:, :T + 10, 8] = 0.0  # blank until (and one step past) the delimiter
    logits[:, T + 10:, :8] = 0.0  # then uniform over the 8 symbols
    total, count = task.loss(logits, batch)
    expected = 10 * math.log(8) / (T + 20)
    assert count == B * (T + 20)
    assert abs(task.metrics(float(total), count)["loss"] - expected) < 1e-12
    assert task.baselines() == {"memoryless_loss": expected}


def test_copy_best_per_step_frequencies_reach_the_memoryless_floor():
    """Estimate, on training batches, each step's class frequencies (the best predictor without memory of the
    symbols); its held-out cross-entropy is the memoryless floor within sampling error."""
    task = make_task("copy-memory", T=30, batch_size=500)
    counts = sum(torch.nn.functional.one_hot(task.train_batch(s).targets, 10).sum(0) for s in range(8)).double()
    probabilities = (counts + 1e-3) / (counts + 1e-3).sum(-1, keepdim=True)  # (T + 20, 10)
    total = count = 0
    for batch in task.eval_batches("test"):
        logits = probabilities.log().expand(batch.targets.shape[0], -1, -1)
        batch_total, batch_count = task.loss(logits, batch)
        total, count = total + float(batch_total), count + batch_count
    assert abs(total / count - task.baselines()["memoryless_loss"]) < 0.005


@pytest.mark.parametrize("T", [1, 25])
def test_memorization_sequences_are_pascanus(T):
    task = make_task("memorization", T=T)
    batch = task.generate(step_generator(2, 0), 400)
    ids = batch.inputs.argmax(-1)
    assert batch.inputs.shape == (400, T + 20, 7) and (batch.inputs.sum(-1) == 1).all()
    data = ids[:, :10]
    assert set(data.unique().tolist()) == set(range(5))
    assert (ids[:, 10:T + 10] == 5).all() and (ids[:, T + 10] == 6).all() and (ids[:, T + 11:] == 5).all()
    assert (batch.targets[:, :T + 10] == 5).all() and torch.equal(batch.targets[:, T + 10:], data)
    logits = torch.full((400, T + 20, 6), NEG, dtype=torch.float64)
    logits[:, :T + 10, 5] = 0.0
    logits[:, T + 10:, :5] = 0.0
    total, count = task.loss(logits, batch)
    assert abs(float(total) / count - 10 * math.log(5) / (T + 20)) < 1e-12
    assert task.baselines()["memoryless_loss"] == 10 * math.log(5) / (T + 20)


@pytest.mark.parametrize("T", [1, 60])
def test_permutation_sequences_and_chance(T):
    task = make_task("random-permutation", T=T)
    many = 20_000 if T == 1 else 2_000  # (B, T, 100) one-hot: keep it small
    batch = task.generate(step_generator(4, 0), many)
    ids = batch.inputs.argmax(-1)  # (B, T)
    assert batch.inputs.shape == (many, T, 100)
    assert torch.equal(ids[:, 0], batch.targets) and set(batch.targets.unique().tolist()) == {0, 1}
    if T > 1:
        assert int(ids[:, 1:].min()) == 2 and int(ids[:, 1:].max()) == 99
    rate = float(batch.targets.double().mean())
    assert abs(rate - 0.5) < 4 * 0.5 / math.sqrt(many)
    logits = torch.full((many, 100), NEG, dtype=torch.float64)
    logits[:, :2] = 0.0  # the constant guess: 1/2 on each possible answer
    total, count = task.loss(logits, batch)
    assert abs(float(total) / count - task.baselines()["chance_loss"]) < 1e-12


def test_latching_sequences_carry_the_class_in_the_first_L_steps_then_noise():
    task = make_task("latching", T=40, latch_steps=4)
    batch = task.generate(step_generator(6, 0), 5000)
    inputs, targets = batch.inputs[..., 0].double(), batch.targets.double()
    assert batch.inputs.shape == (5000, 40, 1)
    assert set(batch.targets.flatten().tolist()) == {float(torch.tensor(0.8)), float(torch.tensor(-0.8))}  # float32
    assert torch.equal(inputs[:, :4], torch.sign(targets).expand(-1, 4))
    noise = inputs[:, 4:]
    assert abs(float(noise.mean())) < 4 * math.sqrt(0.2 / noise.numel())
    assert abs(float(noise.var()) - 0.2) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([noise[:, -1], targets[:, 0]]))[0, 1])) < 0.06  # no class in the noise
    assert abs(float((targets > 0).double().mean()) - 0.5) < 4 * 0.5 / math.sqrt(5000)
    zero = torch.zeros(5000, 1, dtype=torch.float64)
    total, count = task.loss(zero, batch)
    assert abs(float(total) / count - task.baselines()["constant_mse"]) < 1e-6


def test_latching_config_errors_are_one_clear_line():
    with pytest.raises(ValueError, match=r"^T: expected an integer >= latch_steps \(5\), got 4$"):
        LatchingConfig(T=4, latch_steps=5)
    with pytest.raises(ValueError, match="^latch_steps: expected an integer >= 1, got 0$"):
        LatchingConfig(latch_steps=0)
    with pytest.raises(ValueError, match="^noise_variance: expected a finite number >= 0, got -0.1$"):
        LatchingConfig(noise_variance=-0.1)
