"""Pattern (b) learns by teacher forcing and then runs free on its own outputs (Book: 10.2.1, Fig. 10.6).

Task: y(t) = (y(t-1) + x(t)) mod 3. Everything the model must remember is in its previous output, so the
output-to-hidden recurrence of Fig. 10.4 suffices, and teacher forcing trains all steps at once.
"""
from __future__ import annotations

from typing import Iterator

import torch

from recnets.nets import OutputToHidden
from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.train import Trainer, TrainConfig

CLASSES, STEPS = 3, 10


def running_sum_batch(generator: torch.Generator, batch_size: int) -> Batch:
    symbols = torch.randint(CLASSES, (batch_size, STEPS), generator=generator)  # (B, T)
    targets = torch.cumsum(symbols, 1) % CLASSES  # y(t) = (y(t-1) + x(t)) mod 3, y(-1) = 0
    return Batch(torch.nn.functional.one_hot(symbols, CLASSES).float(), targets)


class RunningSum(Task):
    name = "running-sum"

    def train_batch(self, step: int) -> Batch:
        return running_sum_batch(step_generator(0, step), 32)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        yield running_sum_batch(step_generator(1, 0), 256)

    def loss(self, outputs, batch):
        return sequence_nll(outputs, batch.targets, batch.lengths)

    def metrics(self, total_loss, count):
        return {"nll": total_loss / count}

    def baselines(self):
        return {"chance_nll": float(torch.log(torch.tensor(float(CLASSES))))}


def test_teacher_forced_training_then_free_running(tmp_path):
    torch.manual_seed(0)
    model = OutputToHidden(CLASSES, 16, CLASSES, categorical=True)
    config = TrainConfig(device="cpu", steps=300, lr=0.03, eval_every=0, checkpoint_every=0, progress=False)
    Trainer(model, RunningSum(), config, tmp_path).fit()
    test = running_sum_batch(step_generator(2, 0), 512)
    with torch.no_grad():
        forced, _ = model(test.inputs, targets=test.targets)  # every step sees the true y(t-1)
        free, _ = model(test.inputs)  # every step sees the model's own previous output
    forced_accuracy = (forced.argmax(-1) == test.targets).float().mean().item()
    free_accuracy = (free.argmax(-1) == test.targets).float().mean().item()
    assert forced_accuracy > 0.99, forced_accuracy
    assert free_accuracy > 0.99, free_accuracy  # chance is 1/3; errors would compound when running free


def test_non_finite_real_inputs_are_a_one_line_error():
    import pytest

    from recnets.cells import ElmanCell
    from recnets.nets import OutputEveryStep, SequenceToOne

    for bad in (float("nan"), float("inf")):
        xs = torch.randn(2, 5, 3)
        xs[1, 3, 2] = bad
        for model in (OutputEveryStep(ElmanCell(3, 4), 2), SequenceToOne(ElmanCell(3, 4), 2),
                      OutputToHidden(3, 4, 2)):
            with pytest.raises(ValueError, match=r"^inputs: expected finite values, got NaN or Inf$"):
                model(xs)
