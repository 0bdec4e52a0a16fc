"""Pictures of memory networks on bAbI-style stories: where each hop looked, and the test errors beside the paper's.

Book: 10.12 (the soft attention over memories is the mechanism; drawn per hop, with the supporting facts
marked, it shows whether the network found the facts it was never told about: Sukhbaatar et al. 2015,
Fig. 2 and the tables of its appendix).

Every PNG has its numbers beside it as JSON (:func:`recnets.analysis.plots._save`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from recnets.analysis.plots import _figure, _save
from recnets.memory.memn2n import MemN2N
from recnets.tasks.babi import BabiTask, Example

__all__ = ["plot_attention", "plot_errors", "short_questions"]


def short_questions(examples: Sequence[Example], count: int) -> list[int]:
    """Indices of ``count`` examples with the shortest stories (ties: the earlier), for pictures that fit."""
    order = sorted(range(len(examples)), key=lambda index: (len(examples[index].story), index))
    return sorted(order[:count])


def plot_attention(model: MemN2N, task: BabiTask, path: str | os.PathLike, *, count: int = 2,
                   title: str = "") -> Path:
    """Each hop's attention over the story of ``count`` short test questions, supporting facts starred.

    One panel per question: the kept sentences down, the hops across, p_i as the cell's shade and number;
    the title holds the question, the true answer and the model's.

    Returns:
        The PNG's path (``.json`` beside it: per question the sentences, supporting rows, the (K, n) weights,
        the answer and the prediction).
    """
    examples = task.examples("test")
    chosen = short_questions(examples, count)
    batch = task.batch_of([examples[index] for index in chosen])
    model.eval()
    with torch.no_grad():
        logits, _ = model(batch.inputs, lengths=batch.lengths)
        attention = model.attention(batch.inputs, batch.lengths)  # (B, K, M)
    rows = [int(n) for n in batch.lengths]
    figure = _figure((5.0 * count, 1.2 + 0.32 * max(rows)))
    data = {"questions": []}
    for panel, index in enumerate(chosen):
        example, n = examples[index], rows[panel]
        weights = attention[panel, :, :n].double().numpy()  # (K, n)
        kept = example.story[-task.memory_size:]
        first = len(example.story) - len(kept)
        supporting = {fact - first for fact in example.supporting}
        predicted = task.vocabulary[int(logits[panel].argmax())]
        axes = figure.add_subplot(1, count, panel + 1)
        axes.imshow(weights.T, aspect="auto", cmap="Blues", vmin=0.0, vmax=max(1.0, float(weights.max())))
        for (hop, row), value in np.ndenumerate(weights):
            axes.text(hop, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="white" if value > 0.6 else "black")
        axes.set_yticks(range(n))
        axes.set_yticklabels([("* " if row in supporting else "") + " ".join(sentence) for row, sentence in enumerate(kept)],
                             fontsize=7)
        axes.set_xticks(range(weights.shape[0]))
        axes.set_xticklabels([f"hop {hop + 1}" for hop in range(weights.shape[0])], fontsize=8)
        axes.set_title(f"{' '.join(example.question)}?\nanswer {example.answer}, model {predicted}", fontsize=8)
        data["questions"].append({"story": [" ".join(s) for s in kept], "question": " ".join(example.question),
                                  "supporting": sorted(supporting), "attention": weights.tolist(),
                                  "answer": example.answer, "predicted": predicted})
    if title:
        figure.suptitle(title + " (* supporting fact)", fontsize=9)
    figure.tight_layout()
    return _save(figure, path, data)


def plot_errors(errors: Mapping[tuple[str, int], float], paper: Mapping[str, Sequence[float] | None],
                path: str | os.PathLike, *, title: str = "") -> Path:
    """Test error (%) per model per task as bars, the paper's figure as a black tick on each bar.

    Args:
        errors: ``{(model, task): error %}``.
        paper: ``{model: (task 1, task 2, task 3) %}`` or None where the paper has none.
        path: the PNG (``.json`` beside it with both).
    """
    models = list(dict.fromkeys(label for label, _ in errors))
    tasks = sorted({task for _, task in errors})
    figure = _figure((7.0, 4.0))
    axes = figure.add_subplot()
    width = 0.8 / len(models)
    for position, label in enumerate(models):
        xs = [task_index + (position - (len(models) - 1) / 2) * width for task_index in range(len(tasks))]
        ours = [errors[(label, task)] for task in tasks]
        axes.bar(xs, ours, width=width * 0.95, label=label)
        figures = paper.get(label)
        if figures is not None:
            axes.scatter(xs, [figures[task - 1] for task in tasks], marker="_", s=300, color="black", zorder=3,
                         label="paper" if position == 0 or "paper" not in axes.get_legend_handles_labels()[1] else None)
    axes.set_xticks(range(len(tasks)))
    axes.set_xticklabels([f"task {task}" for task in tasks])
    axes.set_ylabel("test error (%)")
    axes.set_ylim(0, 100)
    axes.set_title(title or "test error on bAbI-style tasks (1k), best run by training error")
    axes.legend(fontsize=8)
    figure.tight_layout()
    data = {"errors": [{"model": label, "task": task, "error": value} for (label, task), value in errors.items()],
            "paper": {label: None if figures is None else list(figures) for label, figures in paper.items()}}
    return _save(figure, path, data)
