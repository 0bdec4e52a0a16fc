"""Networks over trees: a token embedding, ``fold`` with any tree cell, and a readout at every node.

Book: 10.6 (a recursive network maps a tree to a fixed-size representation at its root, Fig. 10.14).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from recnets.core.fold import Folded, fold
from recnets.core.tree_batch import TreeBatch
from recnets.core.tree_cell import TreeCell
from recnets.nets.readout import Readout

__all__ = ["TreeClassifier"]


class TreeClassifier(nn.Module):
    """Class scores o = c + V h at every node of a batch of trees; the roots' rows classify whole trees.

    Args:
        cell: any :class:`~recnets.core.tree_cell.TreeCell` (its D is the embedding width).
        vocab_size: the number of node tokens (``batch.tokens`` ids).
        num_classes: O.

    Shapes:
        ``model(batch) -> (logits (N, O), None)``: one row per node in the batch's row order;
        ``logits[batch.roots]`` (B, O) are the trees' scores. The call matches the chain models' so that the
        shared trainer runs it (``lengths``, ``state`` and ``targets`` are unused).

    Book: 10.6, Fig. 10.14 (output at the root), 10.2 eq. 10.8 (the readout).
    """

    def __init__(self, cell: TreeCell, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, cell.input_size)
        self.readout = Readout(cell.hidden_size, num_classes)

    def encode(self, batch: TreeBatch) -> Folded:
        """Every node's output and state: ``fold`` over the embedded tokens."""
        vocab = self.embedding.num_embeddings
        tokens = batch.tokens.to(self.embedding.weight.device)
        if tokens.device.type == "cpu" and tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
            raise ValueError(f"batch.tokens: expected token ids in [0, {vocab}), got values in "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        return fold(self.cell, batch, self.embedding(tokens))  # outputs (N, H)

    def forward(self, batch: TreeBatch, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        if not isinstance(batch, TreeBatch):
            raise TypeError(f"batch: expected a TreeBatch (recnets.core.tree_batch.batch_trees), got "
                            f"{type(batch).__name__}")
        return self.readout(self.encode(batch).outputs), None  # (N, O)
