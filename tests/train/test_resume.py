"""Resuming: N steps + resume + N steps is bit-identical to 2N steps; the records are cut back; budgets stop."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from recnets.train import CheckpointError, Trainer, TrainConfig, checkpoint_steps, latest_checkpoint

from .toy import DelayTask, make_model

SETTINGS = {
    "adam, clip by norm, separate sequences, LSTM": (
        dict(optimizer="adam", lr=1e-2, clip_norm=0.5), dict(), "lstm"),
    "sgd momentum, clip by value, streaming truncated BPTT, Elman": (
        dict(optimizer="sgd", lr=0.1, momentum=0.9, clip_value=0.05, tbptt_steps=3, loss_reduction="sum"),
        dict(streaming=True), "elman"),
    "rmsprop momentum (the NTM paper's optimiser), clip by value, LSTM": (
        dict(optimizer="rmsprop", lr=1e-2, momentum=0.9, clip_value=10.0), dict(), "lstm"),
}


def _parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, setting):
    train, task_options, cell = SETTINGS[setting]
    config = TrainConfig(device="cpu", steps=12, eval_every=4, checkpoint_every=0, log_every=2, progress=False,
                         seed=3, **train)
    whole = Trainer(make_model(cell=cell), DelayTask(**task_options), config, tmp_path / "whole")
    whole.fit()

    first_half = dataclasses.replace(config, steps=6)
    Trainer(make_model(cell=cell), DelayTask(**task_options), first_half, tmp_path / "split").fit()
    torch.manual_seed(12345)  # the process's generator is disturbed in between: resume must restore it
    resumed = Trainer(make_model(cell=cell, seed=99), DelayTask(**task_options), config, tmp_path / "split")
    summary = resumed.fit(resume=True)

    assert summary["step"] == 12 and resumed.step == 12
    expected = _parameters(whole.model)
    for name, tensor in _parameters(resumed.model).items():
        assert torch.equal(tensor, expected[name]), name
    if task_options.get("streaming"):
        assert all(torch.equal(a, b) for a, b in zip(resumed.carry, whole.carry))


def test_resume_from_an_older_checkpoint_cuts_the_records_back_and_continues_exactly(tmp_path):
    config = TrainConfig(device="cpu", steps=8, eval_every=0, checkpoint_every=4, keep_checkpoints=3, log_every=1,
                         progress=False)
    first = Trainer(make_model(), DelayTask(streaming=True), config, tmp_path)
    first.fit()
    expected = _parameters(first.model)
    assert checkpoint_steps(tmp_path) == [4, 8]
    # As if the process had died just after publishing step 4:
    (tmp_path / "checkpoints" / "latest").write_text("step-00000004\n")
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 9, "split": "tr')  # a half-written line
    second = Trainer(make_model(seed=5), DelayTask(streaming=True), config, tmp_path)
    assert second.fit(resume=True)["step"] == 8
    assert checkpoint_steps(tmp_path) == [4, 8] and latest_checkpoint(tmp_path).name == "step-00000008"
    for name, tensor in _parameters(second.model).items():
        assert torch.equal(tensor, expected[name]), name
    records = second.logbook.records()
    for split, steps in (("train", list(range(1, 9))), ("valid", [8])):
        assert [r["step"] for r in records if r["split"] == split] == steps
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(records) == 9  # the half-written line is gone


def test_early_stopping_state_survives_a_resume(tmp_path):
    config = TrainConfig(device="cpu", steps=50, optimizer="sgd", lr=1e-30, eval_every=1, patience=3, progress=False,
                         checkpoint_every=0)
    Trainer(make_model(), DelayTask(), dataclasses.replace(config, steps=2), tmp_path).fit()
    summary = Trainer(make_model(), DelayTask(), config, tmp_path).fit(resume=True)
    # bad evaluations at steps 2, 3, 4: the one counted before the resume is not forgotten
    assert summary["stop_reason"] == "early_stopping" and summary["step"] == 4 and summary["best"]["step"] == 1


def test_time_budget_stops_cleanly_with_a_checkpoint(tmp_path):
    config = TrainConfig(device="cpu", steps=20, max_seconds=1e-9, eval_every=0, checkpoint_every=0, progress=False)
    summary = Trainer(make_model(), DelayTask(), config, tmp_path).fit()
    assert summary["stop_reason"] == "max_seconds" and summary["step"] == 1
    assert latest_checkpoint(tmp_path).name == "step-00000001"
    assert [r["split"] for r in Trainer(make_model(), DelayTask(), config, tmp_path).logbook.records()] == \
        ["train", "valid"]
    unlimited = dataclasses.replace(config, max_seconds=0.0)
    assert Trainer(make_model(), DelayTask(), unlimited, tmp_path).fit(resume=True)["step"] == 20


def test_resume_without_a_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="latest: missing"):
        Trainer(make_model(), DelayTask(), TrainConfig(device="cpu", progress=False), tmp_path).fit(resume=True)


def test_resume_past_the_last_step_does_nothing(tmp_path):
    config = TrainConfig(device="cpu", steps=3, eval_every=0, progress=False)
    Trainer(make_model(), DelayTask(), config, tmp_path).fit()
    again = Trainer(make_model(), DelayTask(), config, tmp_path)
    summary = again.fit(resume=True)
    assert summary["step"] == 3 and summary["stop_reason"] == "steps" and checkpoint_steps(tmp_path) == [3]
