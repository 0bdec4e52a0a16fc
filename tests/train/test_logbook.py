"""The run folder: config.json once, sane metrics.jsonl records, a loss-curve PNG."""
from __future__ import annotations

import json
import math

import matplotlib.image
import pytest
import torch

from recnets.tasks.base import sequence_nll
from recnets.train import Logbook, Trainer, TrainConfig

from .toy import DelayTask, make_model


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short run with logs every 2 steps and validations every 5."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("run")
    config = TrainConfig(device="cpu", steps=10, lr=1e-2, log_every=2, eval_every=5, checkpoint_every=0, progress=False)
    trainer = Trainer(make_model(), DelayTask(), config, run_dir, run_config={"experiment": "toy", "steps": 10})
    summary = trainer.fit()
    return run_dir, trainer, summary


def test_config_json_is_the_run_config(finished_run):
    run_dir, trainer, _ = finished_run
    assert json.loads((run_dir / "config.json").read_text()) == {"experiment": "toy", "steps": 10}


def test_metrics_records_are_complete_and_ordered(finished_run):
    run_dir, _, _ = finished_run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in train] == [2, 4, 5, 6, 8, 10]  # 5: written before the new best's checkpoint
    assert [r["step"] for r in valid] == [5, 10]
    for record in train:
        assert set(record) == {"step", "split", "loss", "tokens_per_s", "grad_norm", "seconds"}
        assert 0 < record["loss"] < 2 * math.log(4) and record["tokens_per_s"] > 0 and record["grad_norm"] > 0
    for record in valid:
        assert {"loss", "nll", "bits", "tokens_per_s", "seconds"} <= set(record) and record["grad_norm"] is None
        assert record["nll"] == pytest.approx(record["loss"]) and record["bits"] == pytest.approx(
            record["loss"] / math.log(2))
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds)


def test_valid_loss_is_the_per_step_nll_of_the_validation_set(finished_run):
    run_dir, trainer, summary = finished_run
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in trainer.task.eval_batches("valid"):
            outputs, _ = trainer.model(batch.inputs)
            batch_total, batch_count = sequence_nll(outputs, batch.targets, batch.lengths)
            total, count = total + float(batch_total), count + batch_count
    last = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["split"] == "valid" and last["loss"] == pytest.approx(total / count, rel=1e-6)
    assert summary["best"]["loss"] == pytest.approx(min(last["loss"], summary["best"]["loss"]))


def test_loss_plot_is_a_png(finished_run):
    run_dir, _, _ = finished_run
    path = run_dir / "plots" / "loss.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape == (400, 600, 4) and pixels[..., :3].std() > 0.05  # not a blank image


def test_truncate_and_records_skip_a_half_written_line(tmp_path):
    logbook = Logbook(tmp_path)
    for step in (1, 2, 3):
        logbook.append({"step": step, "split": "train", "loss": float(step)})
    logbook.append({"step": 3, "split": "valid", "loss": float("nan")})  # non-finite -> null: strict JSON
    with open(logbook.metrics_path, "a") as handle:
        handle.write('{"step": 4, "spl')
    assert [r["step"] for r in logbook.records()] == [1, 2, 3, 3] and logbook.records()[-1]["loss"] is None
    logbook.truncate(2)
    assert logbook.metrics_path.read_text().splitlines() == [
        '{"step": 1, "split": "train", "loss": 1.0}', '{"step": 2, "split": "train", "loss": 2.0}']


def test_config_is_written_once(tmp_path):
    logbook = Logbook(tmp_path)
    logbook.write_config({"a": 1})
    logbook.write_config({"a": 2})
    assert json.loads(logbook.config_path.read_text()) == {"a": 1}
