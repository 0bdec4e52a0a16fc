"""The trainer's norm-preserving regulariser option (Book 10.11.2): off at 0, loss + weight·Ω when > 0."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from recnets.analysis import norm_preserving_penalty, recording_states
from recnets.train import Trainer, TrainConfig

from .test_loop import Spy
from .toy import DelayTask, make_model

QUIET = dict(device="cpu", progress=False, checkpoint_every=0, eval_every=0)


@pytest.mark.parametrize("weight", [-0.1, math.nan, math.inf, "1"])
def test_weight_is_checked(weight):
    with pytest.raises(ValueError, match="norm_preserving_weight: expected a finite number >= 0"):
        TrainConfig(norm_preserving_weight=weight)


def test_one_sgd_step_descends_the_loss_plus_the_weighted_penalty(tmp_path):
    """θ' = θ - lr ∇(L + w Ω), with L the mean per-step NLL and Ω computed independently on the same batch."""
    task = DelayTask(length=6, delay=2, batch_size=4)
    model = make_model(dtype=torch.float64, hidden_size=5)
    with torch.no_grad():
        model.cell.W.mul_(3.0)  # far from norm-preserving: Ω's gradient is large
    reference = copy.deepcopy(model)
    weight, lr = 0.7, 0.1
    config = TrainConfig(steps=1, lr=lr, optimizer="sgd", norm_preserving_weight=weight, **QUIET)
    Trainer(model, task, config, tmp_path).fit()

    batch = task.train_batch(0)
    with recording_states(reference) as records:
        outputs, _ = reference(batch.inputs)
    total, count = task.loss(outputs, batch)
    loss = total / count
    omega = norm_preserving_penalty(loss, records, reference.cell)
    omega_grad, = torch.autograd.grad(omega, reference.cell.W, retain_graph=True)
    assert float(omega_grad.abs().max()) > 1e-2  # the penalty really moves W
    (loss + weight * omega).backward()
    for after, before in zip(model.parameters(), reference.parameters()):
        expected = before.detach() - lr * before.grad
        assert float((after.detach() - expected).abs().max()) <= 1e-12
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [record for record in records if record["split"] == "train"]
    assert train[-1]["norm_penalty"] == pytest.approx(float(omega.detach()), rel=1e-12)


def test_training_changes_only_when_the_weight_is_positive(tmp_path, monkeypatch):
    """At weight 0 nothing is recorded (the fused kernels run as before); above 0 the updates differ."""
    import recnets.train.loop as loop

    task = DelayTask(length=6, delay=1)
    finals = {}
    for weight in (0.0, 0.5):
        if weight == 0.0:
            def refuse(model):
                raise AssertionError("recording_states called at norm_preserving_weight = 0")
            monkeypatch.setattr(loop, "recording_states", refuse)
        else:
            monkeypatch.undo()
        model = make_model(seed=3)
        config = TrainConfig(steps=5, lr=1e-2, norm_preserving_weight=weight, **QUIET)
        Trainer(model, task, config, tmp_path / str(weight)).fit()
        finals[weight] = [p.detach().clone() for p in model.parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(finals[0.0], finals[0.5]))
    for weight, logged in ((0.0, False), (0.5, True)):
        lines = (tmp_path / str(weight) / "metrics.jsonl").read_text().splitlines()
        assert all(("norm_penalty" in json.loads(line)) == logged for line in lines if '"train"' in line)
    assert all(bool(torch.isfinite(p).all()) for p in finals[0.5])


def test_a_model_without_a_cell_trains_at_weight_zero_and_is_refused_above(tmp_path):
    task = DelayTask(length=6)
    Trainer(Spy(make_model()), task, TrainConfig(steps=1, **QUIET), tmp_path / "a").fit()  # never recorded
    with pytest.raises(ValueError, match="norm_preserving_weight: expected 0 for a model without a Cell"):
        Trainer(Spy(make_model()), task, TrainConfig(steps=1, norm_preserving_weight=0.1, **QUIET), tmp_path / "b")
