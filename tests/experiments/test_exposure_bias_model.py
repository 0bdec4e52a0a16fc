"""The exposure-bias experiment's decoder and scoring (Book 10.2.1) against a manual loop over torch.nn.GRUCell
with copied weights: teacher-forced logits, greedy free-running outputs, and the two token errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from recnets.experiments.exposure_bias import (FedSeq2Seq, SourceDecoder, build_model, feeding_errors,
                                               feeding_modes, inverse_sigmoid_scale, label_share)
from recnets.tasks.digit_recurrence import BOS, EOS, DigitRecurrenceConfig, DigitRecurrenceTask
from recnets.train.scheduled_sampling import FeedingConfig, gold_probability

CONFIG = DigitRecurrenceConfig(length=5, order=1, period=2, batch_size=8, eval_size=12, eval_batch_size=5)


def _model(feeding: FeedingConfig = FeedingConfig()) -> tuple[DigitRecurrenceTask, FedSeq2Seq]:
    torch.manual_seed(0)
    task = DigitRecurrenceTask(CONFIG)
    return task, build_model(task, feeding, hidden=6, embedding=4).double()


def _reference(model: FedSeq2Seq) -> nn.GRUCell:
    decoder = model.decoder
    cell = nn.GRUCell(decoder.cell.input_size, decoder.cell.hidden_size).double()
    with torch.no_grad():
        cell.weight_ih.copy_(decoder.cell.U)
        cell.weight_hh.copy_(decoder.cell.W)
        cell.bias_ih.copy_(decoder.cell.b_U)
        cell.bias_hh.copy_(decoder.cell.b_W)
    return cell


def _manual(model: FedSeq2Seq, inputs: torch.Tensor, targets: torch.Tensor | None, steps: int) -> torch.Tensor:
    """The equations step by step: c = one-hot source, x(t) = E y(t-1) + U_c c, h(t) = GRU(x(t), h(t-1)),
    o(t) = c_o + V h(t); y(t-1) is the label (targets given) or the previous argmax (None). (B, T, V)."""
    decoder, cell = model.decoder, _reference(model)
    source = nn.functional.one_hot(inputs, decoder.vocab_size).flatten(1).double()  # (B, S·V)
    h = torch.zeros(inputs.shape[0], decoder.cell.hidden_size, dtype=torch.float64)
    previous = torch.full((inputs.shape[0],), BOS)
    logits = []
    for t in range(steps):
        x = decoder.embedding.weight[previous] + source @ decoder.U_c.T
        h = cell(x, h)
        logits.append(h @ decoder.readout.V.T + decoder.readout.c)
        previous = targets[:, t] if targets is not None else logits[-1].argmax(-1)
    return torch.stack(logits, 1)


def test_teacher_forced_logits_equal_the_manual_loop():
    task, model = _model(FeedingConfig("free-running"))  # eval mode feeds the labels whatever the mode
    batch = task.train_batch(0)
    model.eval()
    with torch.no_grad():
        logits, final = model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
        expected = _manual(model, batch.inputs, batch.targets, batch.targets.shape[1])
    assert logits.shape == expected.shape and float((logits - expected).abs().max()) < 1e-12
    assert final is None


def test_the_errors_equal_the_manual_teacher_forced_and_greedy_loops():
    task, model = _model()
    with torch.no_grad():
        for p in model.parameters():  # a model that emits <eos> early on some rows, so early ends are scored
            p.add_(torch.randn_like(p, dtype=torch.float64) * 0.5)
        scores = feeding_errors(model, task, "test")
        batches = list(task.eval_batches("test"))
        inputs = torch.cat([b.inputs for b in batches])
        targets = torch.cat([b.targets for b in batches])
        steps = targets.shape[1]
        teacher = _manual(model, inputs, targets, steps).argmax(-1)
        own = _manual(model, inputs, None, steps).argmax(-1)
    # greedy stops at <eos>: every position after the first <eos> is scored as an error
    after_end = torch.cumsum((own == EOS).long(), 1) - (own == EOS).long() > 0
    assert after_end.any()
    own = torch.where(after_end, -1, own)
    assert scores["teacher_forced_error"] == pytest.approx((teacher != targets).double().mean().item(), abs=1e-12)
    assert scores["free_running_error"] == pytest.approx((own != targets).double().mean().item(), abs=1e-12)
    assert scores["free_running_exact"] == pytest.approx((own == targets).all(1).double().mean().item())
    assert scores["free_running_error_by_position"] == pytest.approx((own != targets).double().mean(0).tolist())
    assert model.training


def test_training_mode_follows_the_schedule_and_counts_updates():
    task, model = _model(FeedingConfig("linear", epsilon=0.0, k=1.0, c=0.5))
    batch = task.train_batch(1)
    model.train()
    for _ in range(3):
        model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
    assert int(model.schedule.updates) == 3 and model.schedule.probability() == 0.0


def test_the_decays_reach_their_floor_where_asked():
    modes = feeding_modes(1000, floor=0.1, reach=0.6)
    for label in ("scheduled, linear", "scheduled, exponential", "scheduled, inverse sigmoid"):
        assert gold_probability(modes[label], 600) == pytest.approx(0.1, rel=1e-6)
        assert gold_probability(modes[label], 0) > 0.9
    assert gold_probability(modes["scheduled, linear"], 1000) == pytest.approx(0.1)
    assert math.isclose(inverse_sigmoid_scale(600, 0.1) / (inverse_sigmoid_scale(600, 0.1)
                                                           + math.exp(600 / inverse_sigmoid_scale(600, 0.1))), 0.1,
                        rel_tol=1e-6)
    rollout = FeedingConfig("constant", epsilon=0.75, rollout=3)
    assert label_share(rollout, 0) == pytest.approx(0.75 / (0.75 + 0.25 * 3))


def test_bad_arguments_name_themselves():
    task, model = _model()
    batch = task.train_batch(0)
    with pytest.raises(ValueError, match="targets"):
        model(batch.inputs)
    with pytest.raises(ValueError, match="inputs"):
        model(batch.inputs[:, :1], targets=batch.targets)
    with pytest.raises(ValueError, match="source_length"):
        FedSeq2Seq(model.decoder, FeedingConfig(), 5)
    with pytest.raises(ValueError, match="start_id"):
        SourceDecoder(model.decoder.cell, 14, 42, start_id=14)
    with pytest.raises(ValueError, match="context"):
        model.decoder.step(torch.zeros(2, dtype=torch.int64), model.decoder.cell.initial_state(2), torch.zeros(2, 3))
