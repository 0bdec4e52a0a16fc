"""Learning-rate schedules: closed form, applied every step, and exact across a resume."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.train import Trainer, TrainConfig, learning_rate

from .toy import DelayTask, make_model


def test_learning_rate_closed_form():
    constant = TrainConfig(steps=100, lr=0.1)
    assert [learning_rate(constant, s) for s in (0, 50, 99)] == [0.1, 0.1, 0.1]
    cosine = TrainConfig(steps=100, lr=0.1, schedule="cosine", warmup_steps=10)
    assert learning_rate(cosine, 0) == pytest.approx(0.1 * 0.5 * (1 + math.cos(0.0)) * 1 / 10)
    assert learning_rate(cosine, 9) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 9 / 100)))
    assert learning_rate(cosine, 50) == pytest.approx(0.05)
    assert learning_rate(cosine, 100) == pytest.approx(0.0, abs=1e-15)


def test_bad_schedule_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"schedule: expected one of \(.constant., .cosine.\), got .linear."):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)


class RecordLearningRate:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_step(self, trainer, step, record) -> None:
        self.seen.append(trainer.optimizer.param_groups[0]["lr"])


def test_trainer_applies_the_schedule_at_every_step(tmp_path):
    config = TrainConfig(device="cpu", steps=6, lr=0.02, schedule="cosine", warmup_steps=2, log_every=1,
                         eval_every=0, checkpoint_every=0, progress=False)
    recorder = RecordLearningRate()
    Trainer(make_model(), DelayTask(), config, tmp_path, callbacks=[recorder]).fit()
    assert recorder.seen == pytest.approx([learning_rate(config, s) for s in range(6)])


class StopAt:
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer, step, record) -> None:
        if step == self.step:
            trainer.request_stop("test")


def test_a_run_stopped_and_resumed_follows_the_same_cosine_curve(tmp_path):
    config = TrainConfig(device="cpu", steps=12, lr=0.03, schedule="cosine", warmup_steps=3, log_every=1,
                         eval_every=0, checkpoint_every=0, progress=False, seed=1)
    whole = Trainer(make_model(), DelayTask(streaming=True), config, tmp_path / "whole")
    whole.fit()
    stopped = Trainer(make_model(), DelayTask(streaming=True), config, tmp_path / "split", callbacks=[StopAt(5)])
    assert stopped.fit()["step"] == 5
    resumed = Trainer(make_model(seed=7), DelayTask(streaming=True), config, tmp_path / "split")
    assert resumed.fit(resume=True)["step"] == 12
    for (name, a), b in zip(resumed.model.named_parameters(), whole.model.parameters()):
        assert torch.equal(a, b), name
