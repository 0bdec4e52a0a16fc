"""The shared protocol of the tree reproductions: a Child-Sum Tree-LSTM over the trees against an LSTM over
their bracketed tokens, same width, seed, trainer and steps; each scored on the test split.

Book: 10.6 (a recursive net follows the tree), 10.2 Fig. 10.5 (a chain reads the same tokens in order).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from recnets.cells.registry import make_cell, make_tree_cell
from recnets.nets.patterns import SequenceToOne
from recnets.nets.tree_models import TreeClassifier
from recnets.tasks.tree_data import accuracy, predictions
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["ValidAccuracy", "tree_and_chain", "binned_accuracy", "fit_and_score"]


class ValidAccuracy:
    """Trainer callback: validation accuracy at every evaluation, as (step, accuracy) pairs."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.history: list[tuple[int, float]] = []

    def on_eval(self, trainer: Trainer, step: int, record: dict[str, Any]) -> None:
        self.history.append((step, accuracy(trainer.model, self.task, "valid")))


def tree_and_chain(vocab_size: int, classes: int, hidden: int) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the two contenders, D = H = ``hidden``: ``"Tree-LSTM"`` (Child-Sum, class at the root)
    and ``"LSTM"`` (over the tokens, class after the last one)."""
    return {
        "Tree-LSTM": lambda: TreeClassifier(make_tree_cell("child-sum-tree-lstm", hidden, hidden), vocab_size, classes),
        "LSTM": lambda: SequenceToOne(make_cell("lstm", hidden, hidden), classes, vocab_size=vocab_size),
    }


def binned_accuracy(correct: Tensor, values: Sequence[int], bins: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Accuracy of the examples whose value (depth, size, ...) falls in each bin ``[low, high]``:
    ``{"low", "high", "count", "accuracy"}`` (accuracy None for an empty bin)."""
    rows = []
    for low, high in bins:
        chosen = [i for i, value in enumerate(values) if low <= value <= high]
        rows.append({"low": low, "high": high, "count": len(chosen),
                     "accuracy": float(correct[chosen].double().mean()) if chosen else None})
    return rows


def fit_and_score(build: Callable[[], nn.Module], task: Any, train: TrainConfig, run_dir: Path,
                  run_config: dict[str, Any]) -> tuple[dict[str, Any], Tensor]:
    """Build one model (weights seeded by ``train.seed``), train it with the shared trainer in ``run_dir``,
    and score the final model on the test split.

    Returns:
        ``(result, correct)``: parameters, steps, seconds, test accuracy and loss, the validation accuracy
        history and the run folder; and which test examples it got right (n,) bool.
    """
    torch.manual_seed(train.seed)  # the initial weights; the trainer reseeds before its first batch
    model = build()
    tracker = ValidAccuracy(task)
    clock = time.monotonic()
    trainer = Trainer(model, task, train, run_dir, callbacks=[tracker], run_config=run_config)
    fitted = trainer.fit()
    guess, true = predictions(trainer.model, task, "test")
    correct = guess == true
    result = {"parameters": sum(p.numel() for p in model.parameters()), "steps": fitted["step"],
              "seconds": time.monotonic() - clock, "test_accuracy": float(correct.double().mean()),
              "test_loss": trainer.evaluate("test")["loss"], "valid_accuracy": tracker.history,
              "run_dir": str(trainer.run_dir)}
    return result, correct
