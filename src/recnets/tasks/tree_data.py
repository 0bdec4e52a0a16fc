"""Labelled trees as trainable tasks: the trees themselves for a tree model, their token sequences for a chain.

Book: 10.6 (recursive nets read the tree), 10.2 Fig. 10.5 (a chain RNN reads the same tokens in order and
emits one output at the end).

One set of examples — ``(tree, class)`` pairs split into train/valid/test — gives two tasks that the shared
trainer runs: :class:`TreeClassificationTask` (batches are :class:`~recnets.core.tree_batch.TreeBatch`, the
class is read at the root, optional per-node classes everywhere else) and :class:`TokenSequenceTask` (the
tree's bracketed form ``( MAX 2 9 ( MIN 4 7 ) )`` as a token sequence, parentheses included). Both share one
:class:`TokenVocabulary`, so a comparison differs only in the model.
"""
from __future__ import annotations

import abc
import math
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from recnets.core.tree import Tree, post_order, sexpr_tokens
from recnets.core.tree_batch import FlatTree, batch_trees, flatten_tree
from recnets.tasks.base import Batch, Task, step_generator

__all__ = ["TokenVocabulary", "TreeClassificationTask", "TokenSequenceTask", "predictions", "accuracy",
           "SPLITS"]

SPLITS = ("train", "valid", "test")
Example = tuple[Tree, int]


class TokenVocabulary:
    """Node labels and bracket tokens to ids: ``<pad>`` 0, ``<unk>`` 1, ``<none>`` 2 (an unlabelled node),
    ``(`` 3, ``)`` 4, then the labels.

    Args:
        labels: the label tokens, in id order (specials are added in front).
    """

    SPECIALS = ("<pad>", "<unk>", "<none>", "(", ")")
    PAD, UNK, NONE = 0, 1, 2

    def __init__(self, labels: Iterable[str]) -> None:
        self.tokens = list(self.SPECIALS) + [label for label in labels if label not in self.SPECIALS]
        self.ids = {token: index for index, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            raise ValueError("labels: expected distinct tokens, got duplicates")

    @classmethod
    def from_trees(cls, trees: Iterable[Tree], *, min_count: int = 1, max_size: int | None = None) -> "TokenVocabulary":
        """Labels seen at least ``min_count`` times in ``trees``, most frequent first (ties by name), at most
        ``max_size`` of them; the rest read as ``<unk>``."""
        counts = Counter(node.label for tree in trees for node in post_order(tree) if node.label is not None)
        ranked = sorted((label for label, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size is not None else ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, label: str | None) -> int:
        """The id of a node label (``<none>`` for None, ``<unk>`` for an unseen one)."""
        return self.NONE if label is None else self.ids.get(label, self.UNK)

    def node_token(self, node: Tree) -> int:
        return self.id_of(node.label)

    def sequence(self, tree: Tree) -> list[int]:
        """Ids of the tree's bracketed tokens, parentheses included."""
        return [self.ids.get(token, self.UNK) for token in sexpr_tokens(tree)]


def _check_examples(splits: Mapping[str, Sequence[Example]], num_classes: int) -> None:
    missing = [split for split in SPLITS if split not in splits]
    if missing:
        raise ValueError(f"splits: expected {', '.join(SPLITS)}, got {sorted(splits)} (missing {missing})")
    if not splits["train"]:
        raise ValueError("splits['train']: expected at least one example, got none")
    for split in SPLITS:
        for index, example in enumerate(splits[split]):
            if not (isinstance(example, tuple) and len(example) == 2 and isinstance(example[0], Tree)):
                raise TypeError(f"splits[{split!r}][{index}]: expected a (Tree, class) pair, got {example!r:.80}")
            label = example[1]
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_classes:
                raise ValueError(f"splits[{split!r}][{index}]: expected a class in [0, {num_classes}), got {label!r}")


class _ExamplesTask(Task):
    """Shared: split bookkeeping, seeded sampling of training examples, majority-class floors, accuracy."""

    def __init__(self, splits: Mapping[str, Sequence[Example]], vocabulary: TokenVocabulary, num_classes: int, *,
                 batch_size: int = 32, eval_batch_size: int = 256, seed: int = 0, name: str = "trees") -> None:
        _check_examples(splits, num_classes)
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        self.vocabulary, self.num_classes = vocabulary, num_classes
        self.batch_size, self.eval_batch_size, self.seed, self.name = batch_size, eval_batch_size, seed, name
        self.labels = {split: torch.tensor([label for _, label in splits[split]], dtype=torch.long) for split in SPLITS}

    def split_size(self, split: str) -> int:
        return int(self.labels[split].shape[0])

    @abc.abstractmethod
    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        """The batch of ``split``'s examples at ``indices``."""

    def train_batch(self, step: int) -> Batch:
        generator = step_generator(self.seed, step)
        indices = torch.randint(self.split_size("train"), (self.batch_size,), generator=generator).tolist()
        return self._batch("train", indices)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        size = self.split_size(split)
        for start in range(0, size, self.eval_batch_size):
            yield self._batch(split, range(start, min(start + self.eval_batch_size, size)))

    @abc.abstractmethod
    def predicted(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """``(predicted classes (B,), true classes (B,))`` of the examples in ``batch``."""

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        return {"nats": total_loss / max(count, 1)}

    def majority_accuracy(self, split: str = "test") -> float:
        """The accuracy on ``split`` of always answering the training set's most frequent class."""
        majority = int(torch.bincount(self.labels["train"], minlength=self.num_classes).argmax())
        labels = self.labels[split]
        return float((labels == majority).double().mean()) if len(labels) else math.nan

    def baselines(self) -> dict[str, float]:
        """The constant predictor's floors on the training classes: its loss (their entropy, nats) and the
        majority class's accuracy on the test split."""
        counts = torch.bincount(self.labels["train"], minlength=self.num_classes).double()
        p = counts / counts.sum()
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        return {"majority_loss": entropy, "majority_accuracy": self.majority_accuracy("test")}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "classes": self.num_classes, "vocabulary": len(self.vocabulary),
                **{f"{split}_examples": self.split_size(split) for split in SPLITS}}


class TreeClassificationTask(_ExamplesTask):
    """Trees in, a class at the root (and optionally at other nodes) out: batches of ``TreeBatch``.

    Args:
        splits: ``{"train", "valid", "test"}`` -> ``(tree, class)`` pairs (the class is the root's target).
        vocabulary: node labels to ids.
        num_classes: O.
        node_target_of: the class of every other node (-1: none), for trees labelled at every node.
        max_children: an N-ary cell's N (checked per batch), or None.

    Shapes:
        ``Batch.inputs`` TreeBatch of B trees / N nodes, ``Batch.targets`` (N,) per node, -1 where none;
        outputs (N, O) from :class:`~recnets.nets.tree_models.TreeClassifier`.

    Book: 10.6.
    """

    def __init__(self, splits: Mapping[str, Sequence[Example]], vocabulary: TokenVocabulary, num_classes: int, *,
                 node_target_of: Callable[[Tree], int] | None = None, max_children: int | None = None,
                 **options: Any) -> None:
        super().__init__(splits, vocabulary, num_classes, **options)
        self.max_children = max_children
        self.flat = {split: [self._flatten(tree, label, node_target_of) for tree, label in splits[split]]
                     for split in SPLITS}

    def _flatten(self, tree: Tree, label: int, node_target_of: Callable[[Tree], int] | None) -> FlatTree:
        flat = flatten_tree(tree, self.vocabulary.node_token, node_target_of)
        if self.max_children is not None and flat.children.shape[1] > self.max_children:
            raise ValueError(f"tree {str(tree)[:60]!r}: expected at most {self.max_children} children per node, "
                             f"got {flat.children.shape[1]} (binarize the trees)")
        if node_target_of is not None and ((flat.targets < -1) | (flat.targets >= self.num_classes)).any():
            raise ValueError(f"node_target_of: expected classes in [0, {self.num_classes}) or -1, got "
                             f"{sorted(set(flat.targets.tolist()))[:5]}")
        targets = flat.targets.copy()
        targets[-1] = label  # the root is last in post-order
        return FlatTree(flat.tokens, flat.children, flat.heights, targets)

    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        trees = batch_trees([self.flat[split][i] for i in indices], max_children=self.max_children)
        return Batch(trees, trees.node_targets)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        targets = batch.targets.to(outputs.device)
        total = nn.functional.cross_entropy(outputs, targets, ignore_index=-1, reduction="sum")
        return total, int((batch.targets >= 0).sum())

    def predicted(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        roots = batch.inputs.roots.to(outputs.device)
        return outputs[roots].argmax(-1), batch.targets.to(outputs.device)[roots]


class TokenSequenceTask(_ExamplesTask):
    """The same examples as token sequences (the bracketed form, parentheses included) for a chain RNN.

    Shapes:
        ``Batch.inputs`` (B, T) ids padded with 0, ``Batch.lengths`` (B,), ``Batch.targets`` (B,);
        outputs (B, O) from :class:`~recnets.nets.patterns.SequenceToOne`.

    Book: 10.2, Fig. 10.5.
    """

    def __init__(self, splits: Mapping[str, Sequence[Example]], vocabulary: TokenVocabulary, num_classes: int,
                 **options: Any) -> None:
        super().__init__(splits, vocabulary, num_classes, **options)
        self.sequences = {split: [np.asarray(vocabulary.sequence(tree), dtype=np.int64) for tree, _ in splits[split]]
                          for split in SPLITS}

    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        rows = [self.sequences[split][i] for i in indices]
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        inputs = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)  # (B, T), 0 = <pad>
        for index, row in enumerate(rows):
            inputs[index, :len(row)] = torch.from_numpy(row)
        return Batch(inputs, self.labels[split][list(indices)], lengths)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        targets = batch.targets.to(outputs.device)
        return nn.functional.cross_entropy(outputs, targets, reduction="sum"), int(targets.shape[0])

    def predicted(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        return outputs.argmax(-1), batch.targets.to(outputs.device)


def predictions(model: nn.Module, task: _ExamplesTask, split: str = "test") -> tuple[Tensor, Tensor]:
    """``(predicted, true)`` classes (n,) of every example of ``split``, in the split's order (no gradients)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predicted, true = [], []
    with torch.no_grad():
        for batch in task.eval_batches(split):
            batch = batch.to(device)
            outputs, _ = model(batch.inputs, lengths=batch.lengths)
            guess, target = task.predicted(outputs, batch)
            predicted.append(guess.cpu())
            true.append(target.cpu())
    model.train(was_training)
    if not predicted:
        raise ValueError(f"split: expected examples in {split!r}, got none")
    return torch.cat(predicted), torch.cat(true)


def accuracy(model: nn.Module, task: _ExamplesTask, split: str = "test") -> float:
    """The fraction of ``split``'s examples whose class the model predicts."""
    guess, true = predictions(model, task, split)
    return float((guess == true).double().mean())
