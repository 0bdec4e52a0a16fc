"""The task contract: batches from counter-based seeds, a loss, metrics and a trivial baseline.

Book: 10.2.2 (the loss is the sum over time of per-step negative log-likelihoods, eqs. 10.12-10.14).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor

__all__ = ["Batch", "Task", "step_generator", "sequence_nll"]


@dataclass(frozen=True)
class Batch:
    """One batch: ``inputs (B, T[, D])``, ``targets (B, T[, O])`` or ``(B[, O])``, ``lengths (B,)`` or None,
    ``mask (B, T)`` bool or None: which steps' targets are scored, for tasks that score only some (the
    recall window of the NTM's copy task); None scores every real step.

    ``to(device)`` moves inputs, targets and mask; lengths stay on the CPU, where ``unroll`` and the losses
    read them without waiting on the device.
    """

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None
    mask: Tensor | None = None

    def to(self, device: torch.device | str) -> "Batch":
        mask = None if self.mask is None else self.mask.to(device, non_blocking=True)
        return Batch(self.inputs.to(device, non_blocking=True), self.targets.to(device, non_blocking=True),
                     self.lengths, mask)


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, step)`` alone: batch ``step`` is the same in every run and after
    every resume, whatever came before it."""
    generator = torch.Generator()
    generator.manual_seed(_splitmix64(_splitmix64(seed) ^ (step & _MASK64)) & (2**63 - 1))
    return generator


_MASK64 = 2**64 - 1


def _splitmix64(value: int) -> int:
    """One round of the splitmix64 mixer: distinct (seed, step) pairs get unrelated seeds."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def sequence_nll(logits: Tensor, targets: Tensor, lengths: Tensor | None, *,
                 mask: Tensor | None = None) -> tuple[Tensor, int]:
    """Summed negative log-likelihood (nats) of class targets over the real steps, and their count.

    The real steps are the first ``lengths[b]`` of each row, or where ``mask`` is True (a seq2seq target
    mask, which counts the end symbol); every step when both are None.

    Shapes:
        logits (B, T, V), targets (B, T) int64, lengths (B,) or None, mask (B, T) bool or None.

    Book: 10.2.2, eqs. 10.12-10.14: L = Σ_t L(t) = -Σ_t log p_model(y(t) | x(1..t)).
    """
    targets = targets.to(logits.device)
    if logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(targets.shape):
        raise ValueError(f"outputs: expected logits of shape (B, T, V) with (B, T) = {tuple(targets.shape)}, "
                         f"got {tuple(logits.shape)}")
    per_step = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    if mask is not None:
        return (per_step * mask.to(per_step.device)).sum(), int(mask.sum())
    if lengths is None:
        return per_step.sum(), per_step.numel()
    real = torch.arange(targets.shape[1], device=targets.device).unsqueeze(0) < lengths.to(targets.device).unsqueeze(1)
    return (per_step * real).sum(), int(lengths.sum())


class Task(abc.ABC):
    """A source of batches with its loss, metrics and floors.

    Attributes:
        name: registry name.
        streaming: consecutive training batches continue each row's sequence, so the trainer carries the
            (detached) final state from one batch to the next: truncated BPTT over an unbounded stream.
        seed: seeds every batch through :func:`step_generator`.
    """

    name: str = ""
    streaming: bool = False
    seed: int = 0

    @abc.abstractmethod
    def train_batch(self, step: int) -> Batch:
        """Training batch number ``step``: a pure function of ``(seed, step)``."""

    @abc.abstractmethod
    def eval_batches(self, split: str) -> Iterator[Batch]:
        """Deterministic batches of ``split`` ("valid" or "test"); consecutive when ``streaming``."""

    @abc.abstractmethod
    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """``(summed loss, number of scored steps or examples)`` of ``outputs`` on ``batch``."""

    @abc.abstractmethod
    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """Named metrics from a summed loss over ``count`` items (e.g. bits per character)."""

    @abc.abstractmethod
    def baselines(self) -> dict[str, float]:
        """Trivial floors in the units of :meth:`metrics`' main metric (e.g. unigram entropy in bpc)."""

    def describe(self) -> dict[str, Any]:
        """Provenance for the run folder (sources, versions, content hashes)."""
        return {"name": self.name}
