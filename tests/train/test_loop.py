"""The training loop: it learns, carries streaming state, truncates BPTT exactly, stops, calls back."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from recnets.core.state import detach_state, tree_leaves
from recnets.tasks.base import Batch, sequence_nll
from recnets.train import Trainer, TrainConfig, checkpoint_steps
from recnets.train.loop import EarlyStopping

from .toy import DelayTask, make_model

QUIET = dict(progress=False, checkpoint_every=0)


class Spy(nn.Module):
    """Wraps a model and records, for every training call, the state it received and the state it returned."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[tuple[object, object]] = []

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return self.inner.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, inputs, *, lengths=None, state=None, targets=None):
        outputs, final = self.inner(inputs, lengths=lengths, state=state, targets=targets)
        if self.training:
            self.calls.append((state, detach_state(final)))
        return outputs, final


def test_training_beats_the_chance_baseline(tmp_path):
    task = DelayTask(length=8, delay=1)
    config = TrainConfig(device="cpu", steps=150, lr=1e-2, eval_every=75, log_every=25, **QUIET)
    summary = Trainer(make_model(), task, config, tmp_path).fit()
    chance = task.baselines()["chance"]  # log 4 nats: a uniform guess
    floor = math.log(4) / 8  # the first target of each sequence is unseen
    assert summary["stop_reason"] == "steps" and summary["step"] == 150
    assert floor < summary["best"]["nll"] < 0.25 * chance


def test_streaming_carries_the_state_and_beats_the_no_carry_floor(tmp_path):
    task = DelayTask(length=8, delay=1, streaming=True)
    spy = Spy(make_model())
    config = TrainConfig(device="cpu", steps=200, lr=1e-2, eval_every=200, log_every=50, **QUIET)
    summary = Trainer(spy, task, config, tmp_path).fit()
    assert spy.calls[0][0] is None
    for (_, previous_final), (received, _) in zip(spy.calls, spy.calls[1:]):
        for leaf_received, leaf_final in zip(tree_leaves(received), tree_leaves(previous_final)):
            assert not leaf_received.requires_grad and leaf_received.grad_fn is None
            assert torch.equal(leaf_received, leaf_final)
    # Without the carried state the first target of each batch is a guess: (1/8) log 4 nats per step.
    assert summary["best"]["nll"] < 0.8 * math.log(4) / 8


def test_non_streaming_starts_every_batch_from_the_initial_state(tmp_path):
    spy = Spy(make_model())
    Trainer(spy, DelayTask(), TrainConfig(device="cpu", steps=3, tbptt_steps=4, eval_every=0, **QUIET), tmp_path).fit()
    received = [state for state, _ in spy.calls]
    assert len(received) == 6 and received[0::2] == [None, None, None]  # two chunks per batch of T = 8
    assert all(state is not None for state in received[1::2])


class FixedBatchTask(DelayTask):
    """Always the same batch, its one-hot inputs requiring a gradient so that the test can read dL/dx."""

    def __init__(self, batch: Batch) -> None:
        super().__init__(one_hot=True, length=batch.inputs.shape[1], batch_size=batch.inputs.shape[0])
        self.batch = batch

    def train_batch(self, step: int) -> Batch:
        return self.batch

    def eval_batches(self, split: str):
        yield Batch(self.batch.inputs.detach(), self.batch.targets)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_truncated_bptt_equals_the_manual_chunked_computation(tmp_path, reduction):
    base = DelayTask(one_hot=True, length=4, batch_size=3, seed=5).train_batch(0)
    inputs = base.inputs.double().requires_grad_()  # (B, T, V) = (3, 4, 4)
    task = FixedBatchTask(Batch(inputs, base.targets))
    model = make_model(one_hot=True, hidden_size=5, dtype=torch.float64)
    reference = copy.deepcopy(model)
    config = TrainConfig(device="cpu", steps=1, optimizer="sgd", lr=0.3, tbptt_steps=2, loss_reduction=reduction,
                         eval_every=0, log_every=1, **QUIET)
    trainer = Trainer(model, task, config, tmp_path)
    trainer.fit()

    # By hand: chunk 1 at θ0, update; chunk 2 at θ1 from chunk 1's final state with its graph cut.
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.3)
    x1, x2 = inputs.detach()[:, :2].requires_grad_(), inputs.detach()[:, 2:]
    out1, h1 = reference(x1)
    sum1, count1 = sequence_nll(out1, base.targets[:, :2], None)
    loss1 = sum1 / (count1 if reduction == "mean" else 3)
    grad_x1, = torch.autograd.grad(loss1, x1, retain_graph=True)
    loss1.backward()
    optimizer.step()
    optimizer.zero_grad()
    out2, _ = reference(x2, state=detach_state(h1))
    sum2, count2 = sequence_nll(out2, base.targets[:, 2:], None)
    (sum2 / (count2 if reduction == "mean" else 3)).backward()
    optimizer.step()

    for (name, ours), theirs in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-12), name
    # No gradient crosses the boundary: x(1..2) receives chunk 1's gradient only.
    assert torch.allclose(inputs.grad[:, :2], grad_x1, rtol=0, atol=1e-12)
    record = trainer.logbook.records()[0]
    assert record["loss"] == pytest.approx(float((sum1 + sum2).detach()) / (count1 + count2), rel=1e-12)


def test_truncated_bptt_rejects_ragged_batches(tmp_path):
    config = TrainConfig(device="cpu", steps=2, tbptt_steps=3, eval_every=0, **QUIET)
    with pytest.raises(ValueError, match=r"^tbptt_steps: expected equal-length batches"):
        Trainer(make_model(), DelayTask(ragged=True), config, tmp_path).fit()


def test_full_bptt_trains_on_ragged_batches(tmp_path):
    summary = Trainer(make_model(), DelayTask(ragged=True),
                      TrainConfig(device="cpu", steps=30, lr=1e-2, eval_every=30, **QUIET), tmp_path).fit()
    assert summary["best"]["nll"] < math.log(4)


class NaNAtStep(DelayTask):
    """A loss that turns NaN on the third training batch, i.e. step 3 (finite inputs: ``unroll`` itself
    rejects NaN inputs, so the divergence has to come from the loss, as it does when training blows up)."""

    calls = 0

    def loss(self, outputs, batch):
        total, count = super().loss(outputs, batch)
        self.calls += 1
        return (total * float("nan") if self.calls == 3 else total), count


def test_non_finite_loss_names_its_step_even_between_logs(tmp_path):
    config = TrainConfig(device="cpu", steps=8, log_every=5, eval_every=0, **QUIET)
    with pytest.raises(ValueError) as caught:
        Trainer(make_model(one_hot=True), NaNAtStep(one_hot=True), config, tmp_path).fit()
    message = str(caught.value)
    assert "step 3;" in message and "lower lr" in message and "\n" not in message
    assert checkpoint_steps(tmp_path) == []  # nothing non-finite was saved


def test_early_stopping_bookkeeping():
    early = EarlyStopping()
    improved = [early.update(loss, step, {"nll": loss}) for step, loss in enumerate([3.0, 2.0, 2.5, 2.0, 1.0, 1.5])]
    assert improved == [True, True, False, False, True, False]
    assert (early.best_loss, early.best_step, early.bad_evals) == (1.0, 4, 1)
    assert early.update(float("nan"), 6, {}) is False and early.bad_evals == 2


def test_early_stopping_triggers_on_a_plateau(tmp_path):
    # lr 1e-30 moves no float32 parameter: the validation loss is exactly flat after the first evaluation.
    config = TrainConfig(device="cpu", steps=50, optimizer="sgd", lr=1e-30, eval_every=1, patience=2,
                         keep_checkpoints=1, progress=False, checkpoint_every=0)
    summary = Trainer(make_model(), DelayTask(), config, tmp_path).fit()
    assert summary["stop_reason"] == "early_stopping" and summary["step"] == 3
    assert summary["best"]["step"] == 1
    assert checkpoint_steps(tmp_path) == [1, 3]  # the newest and the best


class Recorder:
    """Callback that records its calls and asks to stop at a given step."""

    def __init__(self, stop_at: int) -> None:
        self.steps, self.evals, self.stop_at = [], [], stop_at

    def on_step(self, trainer, step, record):
        self.steps.append((step, record["split"]))
        if step == self.stop_at:
            trainer.request_stop("enough")

    def on_eval(self, trainer, step, metrics):
        self.evals.append((step, sorted(metrics)))


def test_callbacks_are_called_and_can_stop_the_run(tmp_path):
    recorder = Recorder(stop_at=4)
    config = TrainConfig(device="cpu", steps=10, eval_every=3, log_every=2, checkpoint_every=0, progress=False)
    summary = Trainer(make_model(), DelayTask(), config, tmp_path, callbacks=[recorder, object()]).fit()
    assert recorder.steps == [(2, "train"), (3, "train"), (4, "train")]  # 3: written before its checkpoint
    assert [step for step, _ in recorder.evals] == [3, 4]
    assert {"nll", "bits", "loss", "step", "split"} <= set(recorder.evals[0][1])
    assert summary["stop_reason"] == "enough" and summary["step"] == 4 and checkpoint_steps(tmp_path) == [3, 4]


def test_progress_bar_shows_loss_and_throughput(tmp_path, capsys):
    config = TrainConfig(device="cpu", steps=4, log_every=2, eval_every=0, checkpoint_every=0, progress=True)
    Trainer(make_model(), DelayTask(), config, tmp_path).fit()
    shown = capsys.readouterr().err
    assert "4/4" in shown and "loss=" in shown and "tokens_per_s=" in shown


def test_quiet_run_prints_nothing(tmp_path, capsys):
    Trainer(make_model(), DelayTask(), TrainConfig(device="cpu", steps=2, eval_every=0, **QUIET), tmp_path).fit()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_asking_for_a_missing_cuda_device_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"^device: expected an available device, got 'cuda'"):
        Trainer(make_model(), DelayTask(), TrainConfig(device="cuda"), tmp_path)


def test_the_model_follows_the_configured_device(tmp_path):
    trainer = Trainer(make_model(), DelayTask(), TrainConfig(device="cpu", steps=1, **QUIET), tmp_path)
    assert trainer.device == torch.device("cpu") and next(trainer.model.parameters()).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_and_resume_on_cuda(tmp_path):
    config = TrainConfig(device="cuda", steps=20, lr=1e-2, tbptt_steps=4, eval_every=10, checkpoint_every=5,
                         log_every=5, progress=False)
    first = Trainer(make_model(cell="lstm"), DelayTask(streaming=True), config, tmp_path)
    first.fit()
    assert next(first.model.parameters()).device.type == "cuda" and first.carry.h.device.type == "cuda"
    records = first.logbook.records()
    assert records[-1]["split"] == "valid" and records[-1]["nll"] < math.log(4)
    (tmp_path / "checkpoints" / "latest").write_text("step-00000010\n")
    second = Trainer(make_model(cell="lstm", seed=4), DelayTask(streaming=True), config, tmp_path)
    assert second.fit(resume=True)["step"] == 20
    for ours, theirs in zip(second.model.parameters(), first.model.parameters()):
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.detach().abs().max()))
