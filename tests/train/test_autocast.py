"""Mixed precision in the trainer (``TrainConfig.autocast``): bf16 on CPU and CUDA, fp16 with a GradScaler on
CUDA; "none" leaves training bit-identical to a plain float32 loop; a resumed run continues exactly.

The oracle is a hand-written loop with the same batches, the same ``torch.autocast`` region (forward and
loss), the same optimiser and clipping: the trainer must give bit-identical parameters.

Book: 10.2.2 (the loss of eqs. 10.12-10.14 and its gradient by BPTT), 10.11.1 (clipping after unscaling).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json

import pytest
import torch
from torch import nn

from recnets.cells import GRUCell
from recnets.config import apply_overrides, parse_dotted_args
from recnets.nets import OutputEveryStep
from recnets.train import Trainer, TrainConfig, latest_checkpoint
from recnets.train.loop import autocast_dtype

from .toy import DelayTask, make_model

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def _parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _gru_model(seed: int = 0) -> OutputEveryStep:
    torch.manual_seed(seed)
    return OutputEveryStep(GRUCell(6, 16), 4, vocab_size=4)


def _manual_loop(model: nn.Module, task: DelayTask, steps: int, *, lr: float, clip_norm: float,
                 dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """The oracle: Adam on the mean per-step NLL, forward and loss under ``torch.autocast(dtype)``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        batch = task.train_batch(step)
        optimizer.zero_grad(set_to_none=True)
        region = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with region:
            outputs, _ = model(batch.inputs, lengths=batch.lengths, state=None, targets=batch.targets)
            total, count = task.loss(outputs, batch)
        (total / count).backward()
        nn.utils.clip_grad_norm_(list(model.parameters()), clip_norm)
        optimizer.step()
    return _parameters(model)


# ----------------------------------------------------------------------------------------- configuration

def test_config_accepts_the_three_modes_and_defaults_to_none():
    assert TrainConfig().autocast == "none"
    for mode in ("none", "bf16", "fp16"):
        assert TrainConfig(autocast=mode).autocast == mode


@pytest.mark.parametrize("value", ["float16", "BF16", "", None, 16])
def test_config_rejects_unknown_modes_in_one_line(value):
    with pytest.raises(ValueError, match=r"^autocast: expected one of \('none', 'bf16', 'fp16'\), got") as error:
        TrainConfig(autocast=value)
    assert "\n" not in str(error.value)


def test_fp16_on_the_cpu_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^autocast: expected 'none' or 'bf16' with device 'cpu'.*got 'fp16'$"):
        TrainConfig(device="cpu", autocast="fp16")
    with pytest.raises(ValueError, match=r"^autocast: expected 'none' or 'bf16' on device 'cpu'.*got 'fp16'$"):
        autocast_dtype("fp16", torch.device("cpu"))
    if not CUDA:  # "auto" resolves to the CPU here: the trainer refuses
        with pytest.raises(ValueError, match=r"^autocast: .*device 'cpu'"):
            Trainer(make_model(), DelayTask(), TrainConfig(device="auto", autocast="fp16", progress=False), tmp_path)
    assert autocast_dtype("none", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16


def test_the_cli_sets_autocast_through_a_dotted_override():
    from recnets.experiments.char_lm import CharLMRunConfig

    config = apply_overrides(CharLMRunConfig(), parse_dotted_args(["--train.autocast", "bf16"]))
    assert config.train.autocast == "bf16"
    with pytest.raises(ValueError, match=r"^autocast: expected one of"):
        apply_overrides(CharLMRunConfig(), parse_dotted_args(["--train.autocast=half"]))


# ----------------------------------------------------------------------------------------- CPU training

def test_none_is_bit_identical_to_a_plain_float32_loop(tmp_path):
    task = DelayTask(ragged=True)
    config = TrainConfig(device="cpu", steps=6, lr=1e-2, clip_norm=0.5, eval_every=0, progress=False)
    trainer = Trainer(make_model(cell="elman"), task, config, tmp_path)
    trainer.fit()
    expected = _manual_loop(make_model(cell="elman"), task, 6, lr=1e-2, clip_norm=0.5, dtype=None)
    for name, tensor in _parameters(trainer.model).items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, expected[name]), name


@pytest.mark.parametrize("build", [lambda: make_model(cell="elman"), _gru_model], ids=["elman", "gru"])
def test_bf16_on_the_cpu_is_the_autocast_loop_exactly(tmp_path, build):
    task = DelayTask(ragged=True)
    config = TrainConfig(device="cpu", steps=4, lr=1e-2, clip_norm=0.5, eval_every=0, progress=False,
                         autocast="bf16")
    trainer = Trainer(build(), task, config, tmp_path)
    trainer.fit()
    expected = _manual_loop(build(), task, 4, lr=1e-2, clip_norm=0.5, dtype=torch.bfloat16)
    plain = _manual_loop(build(), task, 4, lr=1e-2, clip_norm=0.5, dtype=None)
    for name, tensor in _parameters(trainer.model).items():
        assert tensor.dtype == torch.float32, name  # the parameters stay float32
        assert torch.equal(tensor, expected[name]), name
    assert any(not torch.equal(tensor, plain[name]) for name, tensor in _parameters(trainer.model).items())


def test_bf16_on_the_cpu_trains_a_tiny_model(tmp_path):
    seen: list[torch.dtype] = []
    model = make_model(cell="elman")
    model.readout.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    config = TrainConfig(device="cpu", steps=60, lr=3e-2, eval_every=0, log_every=10, progress=False,
                         autocast="bf16")
    trainer = Trainer(model, DelayTask(), config, tmp_path)
    summary = trainer.fit()
    losses = [r["loss"] for r in trainer.logbook.records() if r["split"] == "train"]
    assert seen[0] == torch.bfloat16 and seen[-1] == torch.float32  # training under autocast, validation not
    assert losses[-1] < 0.5 * losses[0]
    assert summary["best"]["loss"] < 0.5 * DelayTask().baselines()["chance"]


def test_bf16_resume_continues_exactly(tmp_path):
    """Streaming truncated BPTT: the carried state (bfloat16 out of autocast) is kept in float32, so the state
    carried in memory and the one restored from the checkpoint are the same tensors."""
    config = TrainConfig(device="cpu", steps=10, lr=1e-2, clip_norm=1.0, tbptt_steps=3, eval_every=5,
                         checkpoint_every=0, log_every=2, progress=False, seed=3, autocast="bf16")
    whole = Trainer(make_model(cell="elman"), DelayTask(streaming=True), config, tmp_path / "whole")
    whole.fit()
    Trainer(make_model(cell="elman"), DelayTask(streaming=True), dataclasses.replace(config, steps=5),
            tmp_path / "split").fit()
    torch.manual_seed(12345)
    resumed = Trainer(make_model(cell="elman", seed=9), DelayTask(streaming=True), config, tmp_path / "split")
    assert resumed.fit(resume=True)["step"] == 10
    expected = _parameters(whole.model)
    for name, tensor in _parameters(resumed.model).items():
        assert torch.equal(tensor, expected[name]), name
    assert all(a.dtype == torch.float32 and torch.equal(a, b) for a, b in zip(resumed.carry, whole.carry))


# ----------------------------------------------------------------------------------------- CUDA only

@needs_cuda
def test_bf16_on_cuda_trains(tmp_path):
    config = TrainConfig(device="cuda", steps=60, lr=3e-2, eval_every=0, log_every=10, progress=False,
                         autocast="bf16")
    trainer = Trainer(make_model(cell="elman"), DelayTask(), config, tmp_path)
    trainer.fit()
    losses = [r["loss"] for r in trainer.logbook.records() if r["split"] == "train"]
    assert losses[-1] < 0.5 * losses[0]


@needs_cuda
@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_fp16_on_cuda_trains_with_a_scaler_whose_state_resumes_exactly(tmp_path, cell):
    config = TrainConfig(device="cuda", steps=10, lr=1e-2, clip_norm=1.0, eval_every=5, checkpoint_every=0,
                         log_every=2, progress=False, seed=3, autocast="fp16")
    whole = Trainer(make_model(cell=cell), DelayTask(), config, tmp_path / "whole")
    whole.fit()
    assert whole.scaler is not None
    Trainer(make_model(cell=cell), DelayTask(), dataclasses.replace(config, steps=5), tmp_path / "split").fit()
    saved = json.loads((latest_checkpoint(tmp_path / "split") / "state.json").read_text())
    assert saved["trainer"]["grad_scaler"]["scale"] > 0
    resumed = Trainer(make_model(cell=cell, seed=9), DelayTask(), config, tmp_path / "split")
    resumed.fit(resume=True)
    assert resumed.scaler.state_dict() == whole.scaler.state_dict()
    expected = _parameters(whole.model)
    for name, tensor in _parameters(resumed.model).items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, expected[name]), name


@needs_cuda
def test_fp16_clips_the_unscaled_gradient(tmp_path):
    """The recorded norm is the true gradient's (unscaled before clipping), not the one scaled by 2^16 or so;
    a step the scaler skips (inf/NaN gradients) adds 0."""
    config = TrainConfig(device="cuda", steps=6, lr=1e-3, clip_norm=1.0, eval_every=0, log_every=1, progress=False,
                         autocast="fp16")
    trainer = Trainer(make_model(), DelayTask(), config, tmp_path)
    trainer.fit()
    norms = [r["grad_norm"] for r in trainer.logbook.records() if r["split"] == "train"]
    assert all(0 <= norm < 100 for norm in norms) and any(norm > 0 for norm in norms)
