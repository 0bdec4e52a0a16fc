"""A toy task and model for the trainer's tests: predict the token seen ``delay`` steps earlier.

Book: 10.2.2 (per-step negative log-likelihood, eqs. 10.12-10.14). The first ``delay`` targets of a
sequence are tokens the model has not seen, so a full-BPTT model on separate sequences cannot beat
(delay / T) log V there; a streaming model that carries its state across batches can, because those tokens
ended the previous batch of the same stream.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor

from recnets.cells import ElmanCell, LSTMCell
from recnets.nets import OutputEveryStep
from recnets.tasks.base import Batch, Task, sequence_nll, step_generator

VALID_SEED_OFFSET = 1_000_003


class DelayTask(Task):
    """y(t) = x(t - delay) over a vocabulary of ``vocab_size`` uniform tokens.

    Args:
        vocab_size: V; length: T; batch_size: B; delay: d (1 <= d < T).
        streaming: batch s continues each row's stream of batch s - 1 (its first d targets are the last d
            inputs of batch s - 1); otherwise the first d targets are fresh unseen tokens.
        one_hot: inputs as float one-hot vectors (B, T, V) instead of ids (B, T).
        ragged: random lengths in [d + 1, T] (one row always T).
        valid_batches: how many validation batches.
        seed: seeds every batch through ``step_generator``.
    """

    name = "toy-delay"

    def __init__(self, *, vocab_size: int = 4, length: int = 8, batch_size: int = 16, delay: int = 1,
                 streaming: bool = False, one_hot: bool = False, ragged: bool = False, valid_batches: int = 2,
                 seed: int = 0) -> None:
        self.vocab_size, self.length, self.batch_size, self.delay = vocab_size, length, batch_size, delay
        self.streaming, self.one_hot, self.ragged = streaming, one_hot, ragged
        self.valid_batches, self.seed = valid_batches, seed

    def _tokens(self, seed: int, index: int) -> tuple[Tensor, torch.Generator]:
        generator = step_generator(seed, index)
        width = self.length if self.streaming else self.length + self.delay
        return torch.randint(self.vocab_size, (self.batch_size, width), generator=generator), generator

    def _batch(self, seed: int, index: int) -> Batch:
        tokens, generator = self._tokens(seed, index)  # (B, T) streaming, (B, T + d) otherwise
        if self.streaming:
            previous, _ = self._tokens(seed, index - 1)
            stream = torch.cat([previous, tokens], 1)  # (B, 2T)
            inputs, targets = tokens, stream[:, self.length - self.delay: 2 * self.length - self.delay]
        else:
            inputs, targets = tokens[:, self.delay:], tokens[:, :self.length]
        lengths = None
        if self.ragged:
            lengths = torch.randint(self.delay + 1, self.length + 1, (self.batch_size,), generator=generator)
            lengths[0] = self.length
        if self.one_hot:
            inputs = torch.nn.functional.one_hot(inputs, self.vocab_size).float()  # (B, T, V)
        return Batch(inputs, targets, lengths)

    def train_batch(self, step: int) -> Batch:
        return self._batch(self.seed, step)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        for index in range(self.valid_batches):
            yield self._batch(self.seed + VALID_SEED_OFFSET, index)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        return sequence_nll(outputs, batch.targets, batch.lengths)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        nll = total_loss / max(count, 1)
        return {"nll": nll, "bits": nll / math.log(2)}

    def baselines(self) -> dict[str, float]:
        return {"chance": math.log(self.vocab_size)}


def make_model(*, cell: str = "elman", vocab_size: int = 4, input_size: int = 6, hidden_size: int = 16,
               one_hot: bool = False, seed: int = 0, dtype: torch.dtype = torch.float32) -> OutputEveryStep:
    """A tiny ``OutputEveryStep`` over an Elman or LSTM cell, seeded."""
    torch.manual_seed(seed)
    width = vocab_size if one_hot else input_size
    core = ElmanCell(width, hidden_size) if cell == "elman" else LSTMCell(width, hidden_size)
    model = OutputEveryStep(core, vocab_size, vocab_size=None if one_hot else vocab_size)
    return model.to(dtype)
