"""A batch of stories and questions as the memory networks read it: checks, the question and the memories,
which memory rows are real.

The layout is the bAbI-style task's (:mod:`recnets.tasks.babi`): ``inputs (B, 1 + M, L)`` word ids, row 0
the question, rows 1..M the story's sentences oldest first, word id 0 the padding of short sentences and
of stories with fewer than M sentences; ``lengths (B,)`` the number of sentences each story keeps.

Book: 10.12 (memory networks read a story into memory slots, one sentence per slot).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["StoryBatch", "split_story", "bag_of_words"]


class StoryBatch(NamedTuple):
    """A checked batch: ``question (B, L)`` and ``story (B, M, L)`` word ids, ``lengths (B,)`` int64 and
    ``real (B, M)`` bool, True on the rows that hold a sentence."""

    question: Tensor
    story: Tensor
    lengths: Tensor
    real: Tensor


def split_story(inputs: Tensor, lengths: Tensor | None, num_words: int) -> StoryBatch:
    """Check ``inputs (B, 1 + M, L)`` word ids in [0, V) and ``lengths (B,)`` in [0, M]; split them.

    Args:
        inputs: int64 ids; row 0 the question, rows 1..M the memories.
        lengths: sentences kept per story; None means all M rows are sentences.
        num_words: V, the vocabulary size (id 0 the padding).

    Returns:
        A :class:`StoryBatch`.

    Raises:
        ValueError: a shape, dtype or value out of contract, naming the argument.
    """
    if inputs.dtype.is_floating_point or inputs.dtype == torch.bool or inputs.dim() != 3 or inputs.shape[1] < 2:
        raise ValueError(f"inputs: expected word ids of shape (B, 1 + M, L) with M >= 1 and an integer dtype, "
                         f"got shape {tuple(inputs.shape)} dtype {inputs.dtype}")
    batch, rows = inputs.shape[0], inputs.shape[1] - 1
    # checked on CPU only: on a GPU the check would stall the host every step
    if inputs.device.type == "cpu" and inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= num_words):
        raise ValueError(f"inputs: expected word ids in [0, {num_words}), got values in "
                         f"[{int(inputs.min())}, {int(inputs.max())}]")
    if lengths is None:
        lengths = torch.full((batch,), rows, dtype=torch.long, device=inputs.device)
    else:
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.shape != (batch,):
            raise ValueError(f"lengths: expected integer shape ({batch},), got shape {tuple(lengths.shape)} "
                             f"dtype {lengths.dtype}")
        if lengths.device.type == "cpu" and (int(lengths.min()) < 0 or int(lengths.max()) > rows):
            raise ValueError(f"lengths: expected sentence counts in [0, {rows}], got values in "
                             f"[{int(lengths.min())}, {int(lengths.max())}]")
        lengths = lengths.to(device=inputs.device, dtype=torch.long)
    real = torch.arange(rows, device=inputs.device) < lengths.unsqueeze(1)  # (B, M)
    return StoryBatch(inputs[:, 0], inputs[:, 1:], lengths, real)


def bag_of_words(ids: Tensor, num_words: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Word counts of each sentence, padding (id 0) left out: ``ids (..., L)`` -> ``(..., V)``.

    Book: 10.12 (Weston et al.'s Φ, a bag of words over the dictionary).
    """
    counts = torch.zeros(*ids.shape[:-1], num_words, dtype=dtype, device=ids.device)
    counts.scatter_add_(-1, ids, torch.ones(ids.shape, dtype=dtype, device=ids.device))
    counts[..., 0] = 0  # the padding word
    return counts
