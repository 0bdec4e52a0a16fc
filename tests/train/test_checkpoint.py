"""Checkpoints: an exact round trip, one-line CheckpointErrors for every kind of damage, no unpickling."""
from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch

from recnets.cells import ElmanCell, LSTMState
from recnets.core.state import state_from_flat
from recnets.nets import SequenceToOne
from recnets.train import (CheckpointError, Trainer, TrainConfig, checkpoint_steps, latest_checkpoint,
                           load_checkpoint, remove_unpublished, restore_rng_state, save_checkpoint)

from .toy import DelayTask, make_model


def _trained(cell: str = "lstm", steps: int = 3):
    """An LSTM model and an Adam optimiser with a few steps of state."""
    model = make_model(cell=cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    task = DelayTask()
    for step in range(steps):
        batch = task.train_batch(step)
        outputs, _ = model(batch.inputs)
        task.loss(outputs, batch)[0].backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


@pytest.fixture
def saved(tmp_path):
    """A run folder with one published checkpoint (LSTM model, Adam state, a carried LSTM state)."""
    model, optimizer = _trained()
    carry = LSTMState(torch.randn(16, 16), torch.randn(16, 16))
    folder = save_checkpoint(tmp_path, 7, model=model, optimizer=optimizer, carry=carry,
                             trainer={"early_stopping": {"best_step": 5}}, run_config={"lr": 0.01})
    return tmp_path, folder, model, optimizer, carry


def test_round_trip_restores_everything_exactly(saved):
    run_dir, folder, model, optimizer, carry = saved
    assert folder.name == "step-00000007" and latest_checkpoint(run_dir) == folder
    assert (run_dir / "checkpoints" / "latest").read_text() == "step-00000007\n"
    assert sorted(p.name for p in folder.iterdir()) == ["carry.safetensors", "model.safetensors",
                                                       "optim.safetensors", "state.json"]
    fresh = make_model(cell="lstm", seed=1)
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.5)
    loaded = load_checkpoint(folder, fresh, fresh_optimizer)
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    ours, theirs = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]  # lr 0.01, betas a tuple again
    for param_id, entries in ours["state"].items():
        for key, value in entries.items():
            assert torch.equal(theirs["state"][param_id][key], value), (param_id, key)
    assert loaded.step == 7 and loaded.trainer == {"early_stopping": {"best_step": 5}}
    assert loaded.run_config == {"lr": 0.01}
    template = fresh.initial_state(16)
    rebuilt = state_from_flat(template, loaded.carry, "carry")
    assert torch.equal(rebuilt.h, carry.h) and torch.equal(rebuilt.c, carry.c)


def test_state_json_describes_the_checkpoint(saved):
    _, folder, model, _, _ = saved
    state = json.loads((folder / "state.json").read_text())
    assert state["format_version"] == 1 and state["step"] == 7 and state["model_class"] == "OutputEveryStep"
    assert state["module_classes"]["cell"] == "LSTMCell"
    assert state["parameters"] == {name: list(t.shape) for name, t in model.state_dict().items()}
    assert state["optimizer"]["class"] == "Adam" and state["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    assert len(state["rng"]["torch_cpu"]) == torch.get_rng_state().numel()


def test_rng_state_restores_the_draws(saved):
    _, folder, _, _, _ = saved
    loaded = load_checkpoint(folder, make_model(cell="lstm"))
    restore_rng_state(loaded.rng)
    first = torch.rand(5)
    restore_rng_state(loaded.rng)
    assert torch.equal(torch.rand(5), first)


def _raises_one_line(path_fragment: str, reason: str, load) -> None:
    with pytest.raises(CheckpointError) as caught:
        load()
    message = str(caught.value)
    assert "\n" not in message and path_fragment in message and reason in message, message
    assert isinstance(caught.value, ValueError)


def test_truncated_safetensors(saved):
    run_dir, folder, *_ = saved
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    _raises_one_line(str(path), "truncated", lambda: load_checkpoint(folder, make_model(cell="lstm")))


def test_corrupt_safetensors(saved):
    _, folder, *_ = saved
    path = folder / "optim.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    model = make_model(cell="lstm")
    _raises_one_line(str(path), "corrupt",
                     lambda: load_checkpoint(folder, model, torch.optim.Adam(model.parameters())))


def test_truncated_safetensors_with_a_matching_digest_is_still_caught(saved):
    _, folder, *_ = saved
    path, state_path = folder / "model.safetensors", folder / "state.json"
    data = path.read_bytes()[:40]
    path.write_bytes(data)
    state = json.loads(state_path.read_text())
    state["files"]["model.safetensors"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    state_path.write_text(json.dumps(state))
    _raises_one_line(str(path), "not a valid safetensors file",
                     lambda: load_checkpoint(folder, make_model(cell="lstm")))


def test_garbage_state_json(saved):
    _, folder, *_ = saved
    (folder / "state.json").write_text('{"step": 7, "rng": [1, 2')
    _raises_one_line(str(folder / "state.json"), "not valid JSON",
                     lambda: load_checkpoint(folder, make_model(cell="lstm")))
    (folder / "state.json").write_text('{"step": 7}')
    _raises_one_line(str(folder / "state.json"), "missing keys",
                     lambda: load_checkpoint(folder, make_model(cell="lstm")))


def test_missing_files(saved):
    run_dir, folder, *_ = saved
    (folder / "carry.safetensors").unlink()
    _raises_one_line(str(folder / "carry.safetensors"), "missing",
                     lambda: load_checkpoint(folder, make_model(cell="lstm")))
    (run_dir / "checkpoints" / "latest").unlink()
    _raises_one_line(str(run_dir / "checkpoints" / "latest"), "missing", lambda: latest_checkpoint(run_dir))


def test_latest_naming_a_missing_or_odd_folder(saved):
    run_dir, *_ = saved
    latest = run_dir / "checkpoints" / "latest"
    latest.write_text("step-00000009\n")
    _raises_one_line(str(latest), "does not exist", lambda: latest_checkpoint(run_dir))
    latest.write_text("../../etc\n")
    _raises_one_line(str(latest), "expected a folder name", lambda: latest_checkpoint(run_dir))


def test_another_models_checkpoint_is_refused_and_the_model_left_untouched(saved):
    _, folder, *_ = saved
    elman = make_model(cell="elman", seed=3)
    before = {k: v.clone() for k, v in elman.state_dict().items()}
    _raises_one_line(str(folder), "module classes differ", lambda: load_checkpoint(folder, elman))
    assert all(torch.equal(before[k], v) for k, v in elman.state_dict().items())
    wider = make_model(cell="lstm", hidden_size=12)
    _raises_one_line(str(folder), "parameter shapes differ", lambda: load_checkpoint(folder, wider))
    other = SequenceToOne(ElmanCell(6, 16), 4, vocab_size=4)
    _raises_one_line(str(folder), "model class differs", lambda: load_checkpoint(folder, other))
    model = make_model(cell="lstm")
    _raises_one_line(str(folder), "optimizer class differs",
                     lambda: load_checkpoint(folder, model, torch.optim.SGD(model.parameters(), lr=0.1)))


def test_loading_never_unpickles(saved, monkeypatch):
    _, folder, *_ = saved

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model = make_model(cell="lstm")
    assert load_checkpoint(folder, model, torch.optim.Adam(model.parameters())).step == 7


def test_pruning_keeps_the_newest_and_the_protected(tmp_path):
    model, optimizer = _trained(steps=1)
    for step in range(1, 7):
        save_checkpoint(tmp_path, step, model=model, optimizer=optimizer, keep=2, protect=(2,))
    assert checkpoint_steps(tmp_path) == [2, 5, 6]
    assert latest_checkpoint(tmp_path).name == "step-00000006"
    save_checkpoint(tmp_path, 6, model=model, optimizer=optimizer, keep=2)  # the same step again
    assert checkpoint_steps(tmp_path) == [5, 6] and latest_checkpoint(tmp_path).name == "step-00000006"


def test_unpublished_leftovers_are_removed(tmp_path):
    model, optimizer = _trained(steps=1)
    save_checkpoint(tmp_path, 1, model=model, optimizer=optimizer)
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / ".tmp-step-00000002-123").mkdir()
    (checkpoints / "step-00000002").mkdir()  # renamed but never published
    (checkpoints / "latest.tmp").write_text("step-00000002\n")
    removed = remove_unpublished(tmp_path)
    assert sorted(p.name for p in removed) == [".tmp-step-00000002-123", "latest.tmp", "step-00000002"]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest", "step-00000001"]


def test_trainer_checkpoints_hold_the_carried_state_only_for_streaming_tasks(tmp_path):
    config = TrainConfig(device="cpu", steps=2, tbptt_steps=4, eval_every=0, checkpoint_every=1, progress=False)
    Trainer(make_model(), DelayTask(streaming=True), config, tmp_path / "streaming").fit()
    Trainer(make_model(), DelayTask(), config, tmp_path / "separate").fit()
    assert (latest_checkpoint(tmp_path / "streaming") / "carry.safetensors").exists()
    assert not (latest_checkpoint(tmp_path / "separate") / "carry.safetensors").exists()


def test_a_fresh_run_refuses_a_folder_with_checkpoints(tmp_path):
    config = TrainConfig(device="cpu", steps=1, eval_every=0, progress=False)
    Trainer(make_model(), DelayTask(), config, tmp_path).fit()
    with pytest.raises(ValueError, match=r"^run_dir: expected a folder without checkpoints"):
        Trainer(make_model(), DelayTask(), config, tmp_path).fit()
