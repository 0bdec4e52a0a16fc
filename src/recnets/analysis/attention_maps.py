"""Attention maps: for each output token (rows), the weights α over the source tokens (columns), as heat maps.

A decoder that attends where a human aligner would shows it at a glance: a diagonal for a monotone alignment,
an anti-diagonal for a reversal, crossing blocks for reordered phrases (Bahdanau et al. 2015, Fig. 3).

Book: 12.4.5.1 (attention weights α(t) over feature vectors), 10.4 (the encoder-decoder they belong to).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from recnets.analysis.plots import _figure, _save

__all__ = ["AttentionExample", "plot_attention_maps"]

_MAX_LABELS = 40  # beyond this many tokens an axis is labelled by position, not token


class AttentionExample(NamedTuple):
    """One map to draw.

    Attributes:
        weights: (T, S) α of each output step over the source positions (rows may sum to less than 1 where
            the caller cut the source); source: the S source tokens; output: the T output tokens; title.
    """

    weights: Tensor
    source: Sequence[str]
    output: Sequence[str]
    title: str = ""


def plot_attention_maps(examples: Sequence[AttentionExample], path: str | os.PathLike, *, columns: int = 2,
                        title: str = "") -> Path:
    """Several attention maps in one PNG (``.json`` beside it with the weights and tokens).

    Args:
        examples: the maps, drawn left to right, top to bottom.
        path: the PNG to write.
        columns: maps per row of the figure.
        title: the figure's title.

    Returns:
        The PNG's path.

    Book: 12.4.5.1.
    """
    if not examples:
        raise ValueError("examples: expected at least one AttentionExample, got none")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns: expected an integer >= 1, got {columns!r}")
    for index, example in enumerate(examples):
        shape = tuple(example.weights.shape)
        if len(shape) != 2 or shape != (len(example.output), len(example.source)):
            raise ValueError(f"examples[{index}].weights: expected shape ({len(example.output)}, "
                             f"{len(example.source)}) (output tokens, source tokens), got {shape}")
    columns = min(columns, len(examples))
    rows = math.ceil(len(examples) / columns)
    figure = _figure((4.2 * columns, 4.0 * rows))
    for index, example in enumerate(examples):
        axes = figure.add_subplot(rows, columns, index + 1)
        weights = example.weights.detach().to(torch.float64).cpu()
        image = axes.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto",
                            interpolation="nearest")
        for axis, tokens, setter in ((axes.xaxis, example.source, axes.set_xticks),
                                     (axes.yaxis, example.output, axes.set_yticks)):
            if len(tokens) <= _MAX_LABELS:
                setter(range(len(tokens)), list(tokens), fontsize=6 if len(tokens) > 20 else 8)
        axes.set_xlabel("source")
        axes.set_ylabel("output")
        axes.set_title(example.title, fontsize=9)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    data = {"title": title, "examples": [{"title": e.title, "source": list(e.source), "output": list(e.output),
                                         "weights": e.weights.detach().to(torch.float64).cpu().tolist()}
                                        for e in examples]}
    return _save(figure, path, data)
