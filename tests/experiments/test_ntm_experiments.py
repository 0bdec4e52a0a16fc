"""The NTM experiments' harness: the sequences-seen axis, scores on the requested variants, curves and rows."""
from __future__ import annotations

import json
import math

import pytest
import torch

from recnets.experiments import ntm_associative_recall, ntm_copy, ntm_repeat_copy
from recnets.experiments.ntm_job import (Comparison, Contender, Fitted, build_model, first_below, first_sequence,
                                         fit, generalisation, learning_curve, plot_learning_curves, score,
                                         torch_threads, variant)
from recnets.memory.ntm import NTMCell
from recnets.tasks.ntm_tasks import BitTaskConfig, CopyTask
from recnets.train.config import TrainConfig

TINY_NTM = Contender("NTM", "ntm", 8, {"memory_rows": 6, "memory_width": 4})


def _task(**changes):
    return CopyTask(BitTaskConfig(**{"T": 3, "width": 3, "batch_size": 4, "eval_size": 10, "eval_batch_size": 4,
                                     **changes}))


def test_learning_curve_puts_sequences_seen_on_x_and_bits_on_y():
    records = [{"step": 10, "split": "train", "loss": 2 * math.log(2)},
               {"step": 10, "split": "valid", "loss": 1.0, "bits_per_sequence": 1.5},
               {"step": 20, "split": "train", "loss": None},
               {"step": 20, "split": "train", "loss": math.log(2) / 4},
               {"step": 20, "split": "valid", "loss": 0.1, "bits_per_sequence": 0.2}]
    curve = learning_curve(records, batch_size=32)
    assert curve["train"]["sequences"] == [320, 640] and curve["train"]["bits"] == pytest.approx([2.0, 0.25])
    assert curve["valid"] == {"sequences": [320, 640], "bits": [1.5, 0.2]}
    assert first_below(curve["valid"], 1.0) == 640 and first_below(curve["valid"], 0.1) is None
    assert first_below(curve["train"], 2.0) == 640  # strictly below


def test_fit_records_the_trainers_curve_in_bits_against_sequences(tmp_path):
    task = _task()
    train = TrainConfig(steps=6, lr=1e-2, eval_every=3, log_every=2, checkpoint_every=0, progress=False,
                        device="cpu")
    fitted = fit(task, TINY_NTM, train, tmp_path / "ntm", threshold=1e9, echo=lambda _: None)
    record = fitted.record
    assert isinstance(fitted.model.cell, NTMCell)
    assert record["steps"] == 6 and record["sequences"] == 24
    lines = [json.loads(line) for line in (tmp_path / "ntm" / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in lines if line["split"] == "train"]
    assert record["curve"]["train"]["sequences"] == [4 * line["step"] for line in train_lines]
    assert record["curve"]["train"]["bits"] == pytest.approx([line["loss"] / math.log(2) for line in train_lines])
    assert {8, 16, 24} <= set(record["curve"]["train"]["sequences"])  # every log_every = 2 steps of 4 sequences
    assert record["curve"]["valid"]["sequences"] == [12, 24]
    valid = [line["bits_per_sequence"] for line in lines if line["split"] == "valid"]
    assert record["curve"]["valid"]["bits"] == valid
    assert record["sequences_below"] == 12  # any cost is below 1e9: the first validation's sequences
    losses = [(line["loss"], line["step"]) for line in lines if line["split"] == "valid"]
    assert record["tested_step"] == min(losses)[1]  # the best validation's weights are the ones tested
    assert record["test"] == score(fitted.model, task, "test")
    json.dumps(record)  # JSON-ready


def test_score_is_the_tasks_cost_and_perfect_fraction_over_the_split():
    task = _task()
    torch.manual_seed(0)
    model = build_model(task, Contender("LSTM", "lstm", 5))
    total, count, right = 0.0, 0, 0
    with torch.no_grad():
        for batch in task.eval_batches("test"):
            outputs, _ = model(batch.inputs, lengths=batch.lengths)
            summed, n = task.loss(outputs, batch)
            total, count = total + float(summed), count + n
            right += int(((outputs > 0) == (batch.targets > 0.5)).logical_or(~batch.mask.unsqueeze(-1)).all(2)
                         .all(1).sum())
    result = score(model, task, "test")
    assert result["count"] == 10 == count
    assert result["bits_per_sequence"] == pytest.approx(total / count / math.log(2))
    assert result["perfect"] == pytest.approx(right / count)
    assert result["memoryless_bits"] == task.baselines()["memoryless_bits"] == 3 * (1 + 3) / 2


def test_generalisation_scores_the_requested_fixed_lengths():
    task = _task()
    torch.manual_seed(0)
    model = build_model(task, TINY_NTM)
    lengths = (5, 7)
    tasks = {L: variant(task, min_length=L, T=L, eval_size=6, eval_batch_size=6) for L in lengths}
    for L, fixed in tasks.items():
        batch = next(iter(fixed.eval_batches("test")))
        assert batch.inputs.shape[1] == 2 * L + 1 and bool((batch.lengths == 2 * L + 1).all())
        assert int(batch.mask.sum(1).max()) == L
    results = generalisation(model, tasks)
    assert sorted(results) == [5, 7]
    for L in lengths:
        assert results[L]["count"] == 6 and results[L]["memoryless_bits"] == 3 * L
        assert results[L] == score(model, tasks[L], "test")
    assert type(tasks[5]) is CopyTask and tasks[5].config.width == 3


def test_first_sequence_is_one_unpadded_sequence():
    task = _task(min_length=1, T=4)
    batch = first_sequence(task)
    full = next(iter(task.eval_batches("test")))
    length = int(full.lengths[0])
    assert batch.inputs.shape == (1, length, 4) and torch.equal(batch.inputs[0], full.inputs[0, :length])
    assert batch.mask.shape == (1, length) and int(batch.lengths[0]) == length


def test_learning_curve_plot_writes_the_curves(tmp_path):
    task = _task()
    train = TrainConfig(steps=2, lr=1e-2, eval_every=2, log_every=1, checkpoint_every=0, progress=False,
                        device="cpu")
    fitted = fit(task, Contender("LSTM", "lstm", 4), train, tmp_path / "run", echo=lambda _: None)
    path = plot_learning_curves([fitted], 6.0, tmp_path / "curves.png")
    assert path.stat().st_size > 1000
    drawn = json.loads(path.with_suffix(".json").read_text())
    assert drawn["floor"] == 6.0 and drawn["curves"]["LSTM"]["train"]["sequences"] == [4, 8]


def test_bad_contender_kind_is_a_one_line_error():
    with pytest.raises(ValueError, match="kind"):
        Contender("GRU", "gru", 4)


def test_copy_checks_read_the_claims_off_the_scores():
    chosen = ntm_copy.settings(quick=False, progress=False)
    ntm = {"test": {"bits_per_sequence": 0.3}}
    lstm = {"test": {"bits_per_sequence": 5.0}}

    def scores(bits):
        return {L: {"bits_per_sequence": b, "memoryless_bits": 8.0 * L} for L, b in zip((30, 50, 100), bits)}

    good = ntm_copy._checks(False, chosen, ntm, lstm, {"NTM": scores([1, 2, 50]), "LSTM": scores([90, 300, 700])},
                            84.0)
    assert all(good.values()) and len(good) == 3
    bad = ntm_copy._checks(False, chosen, {"test": {"bits_per_sequence": 3.0}}, lstm,
                           {"NTM": scores([100, 2, 50]), "LSTM": scores([90, 300, 300])}, 84.0)
    assert not any(bad.values())
    quick = ntm_copy._checks(True, ntm_copy.settings(True, False), ntm, lstm, {}, 0.2)
    assert quick == {"every test cost is finite": True, "the NTM's test cost is below the memoryless floor": False}


def test_torch_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(other):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def _comparison(test_bits, family, scores_at):
    """A Comparison as compare() returns it, from test costs {label: bits} and {label: {setting: bits}}."""
    fitted = [Fitted(Contender(label, label.lower(), 4), None, {"label": label, "test": {"bits_per_sequence": bits}})
              for label, bits in test_bits.items()]
    general = {family: {label: {x: {"bits_per_sequence": b, "memoryless_bits": 100.0} for x, b in at.items()}
                        for label, at in scores_at.items()}}
    return Comparison(fitted, general, 18.0)


def test_repeat_copy_and_recall_checks_compare_the_ntm_with_the_lstm():
    chosen = ntm_repeat_copy.settings(quick=False, progress=False)
    longer = {x: b for x, b in zip(chosen.lengths, (90.0, 300.0, 480.0))}
    result = _comparison({"NTM": 30.0, "LSTM": 20.0}, "length", {"NTM": longer,
                                                                 "LSTM": {x: b + 100 for x, b in longer.items()}})
    baselines = {"memoryless_bits": 90.0, "no_recall_bits": 72.0}
    assert all(ntm_repeat_copy._checks(False, chosen, result, baselines).values())
    worse = _comparison({"NTM": 80.0, "LSTM": 20.0}, "length", {"NTM": {x: b + 1 for x, b in longer.items()},
                                                                "LSTM": longer})
    assert sum(ntm_repeat_copy._checks(False, chosen, worse, baselines).values()) == 1  # only "finite"
    mixed = _comparison({"NTM": 30.0, "LSTM": 20.0}, "length", {"NTM": {5: 1.0, 8: 1.0, 10: 999.0},
                                                                "LSTM": {5: 9.0, 8: 9.0, 10: 9.0}})
    assert sum(ntm_repeat_copy._checks(False, chosen, mixed, baselines).values()) == 2  # 10 is beyond training

    result = _comparison({"NTM": 4.0, "LSTM": 9.0}, "items", {})
    assert all(ntm_associative_recall._checks(False, result).values())  # the floor is 18 bits
    worse = _comparison({"NTM": 18.5, "LSTM": 9.0}, "items", {})
    assert sum(ntm_associative_recall._checks(False, worse).values()) == 1  # only "finite"
    quick = ntm_associative_recall._checks(True, worse)
    assert quick == {"every test cost is finite": True, "the NTM's test cost is below the memoryless floor": False}


@pytest.mark.parametrize("module", [ntm_copy, ntm_repeat_copy, ntm_associative_recall])
def test_quick_settings_are_tiny_and_full_settings_pair_an_ntm_with_an_lstm(module):
    quick, full = module.settings(True, False), module.settings(False, False)
    assert quick.train.steps <= 300 and quick.train.device == "cpu"
    for chosen in (quick, full):
        assert [c.kind for c in chosen.contenders] == ["ntm", "lstm"]
        assert chosen.train.clip_value == 10.0  # the paper's element-wise clipping


def test_fit_tests_the_weights_of_the_best_validation_not_the_last(tmp_path):
    import safetensors.torch

    task = _task()
    train = TrainConfig(steps=6, lr=0.5, optimizer="sgd", eval_every=2, log_every=2, checkpoint_every=0,
                        progress=False, device="cpu")
    fitted = fit(task, Contender("LSTM", "lstm", 5), train, tmp_path / "run", echo=lambda _: None)
    valid = fitted.record["curve"]["valid"]["bits"]
    assert valid.index(min(valid)) == 1 and fitted.record["tested_step"] == 4  # seeded: the middle one is best
    saved = safetensors.torch.load_file(tmp_path / "run" / "checkpoints" / "step-00000004" / "model.safetensors")
    last = safetensors.torch.load_file(tmp_path / "run" / "checkpoints" / "step-00000006" / "model.safetensors")
    state = fitted.model.state_dict()
    assert all(torch.equal(state[name], saved[name]) for name in saved)
    assert not all(torch.equal(state[name], last[name]) for name in last)
    assert fitted.record["test"] == score(fitted.model, task, "test")
