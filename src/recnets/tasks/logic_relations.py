"""Logical relations between propositional formulas, labelled exactly from truth tables (Bowman et al. 2015).

**The task.** Two formulas over the variables ``a``-``f`` built with ``not``, ``and``, ``or``; the label is
which of MacCartney's seven natural-logic relations holds between them, read off the sets of worlds (truth
assignments) that satisfy each. With 6 variables there are 64 worlds, so a formula's meaning is one 64-bit
mask (bit w set when world w satisfies it; variable i is true in world w when bit i of w is set) and
``and``/``or``/``not`` are ``&``/``|``/complement. For satisfying sets X and Y (each neither empty nor every
world, see below):

==================  ======  =====================================
relation            symbol  sets
==================  ======  =====================================
equivalence         ≡       X = Y
forward entailment  ⊏       X ⊂ Y (strict)
reverse entailment  ⊐       X ⊃ Y (strict)
negation            ^       X ∩ Y = ∅ and X ∪ Y = all (complements)
alternation         |       X ∩ Y = ∅ and X ∪ Y ≠ all
cover               ‿       X ∩ Y ≠ ∅ and X ∪ Y = all, neither ⊆ the other
independence        #       every other case
==================  ======  =====================================

**Degenerate formulas.** A tautology (all 64 worlds) or a contradiction (none) stands in several relations at
once (a contradiction is both ⊏ and | of anything), so the seven labels would not be exclusive. The authors'
released generator draws again whenever either formula of a pair is a tautology or a contradiction; ours does
the same, and :func:`relation` refuses such sets (ValueError). Under that rule our table gives exactly the
labels of the authors' labelling function (which tests the four regions X∩Y, X∖Y, Y∖X and outside for
emptiness).

**The generator** follows the authors' released one (``sleepinyourhat/vector-entailment``,
``propositionallogic/``; described here, not copied): a pair first draws 4 of the 6 variables, and both of
its formulas use only those. A formula is drawn top-down with a size budget of 12: with probability 4/9 (and a
budget >= 2) a node is ``and`` or ``or`` (even odds) over two sub-formulas with half the budget each (integer
halving: 12, 6, 3, 1 — at most three binary levels), else a variable (uniform over the 4); then, with
probability 1/3, the node is wrapped in one ``not``. A pair is binned by the number of operators (``and``,
``or`` and ``not`` all count) of its larger formula, capped at 12 (so bin 12 holds every pair with >= 12).
Each bin keeps every distinct ordered pair once, in draw order, and is cut into train / valid / test by
position (the authors: 85% train / 15% test per bin); the splits are therefore disjoint, and so are the
bins. Models train on the train parts of bins 0-4 and are tested on the test part of each bin 1-12.

**Two tree forms** of one formula (:class:`recnets.core.tree.Tree`):

- the *prefix* form, the formula itself: ``(and a (not b))``, an operator node over its operands (``not``
  unary, ``and``/``or`` binary) — for N-ary or Child-Sum cells, a unary ``not`` with its second child masked;
- the *binary* form the paper's tree models read, every word a leaf and every inner node unlabelled with
  exactly two children: ``x op y`` is ``(x (op y))`` and ``not x`` is ``(not x)``, so ``(and a (not b))``
  becomes ``(a (and (not b)))`` (the authors' data files write ``( a ( and ( not b ) ) )``). A binary cell
  (the recursive net h = tanh(W[h_left; h_right] + b), the RNTN, the binary Tree-LSTM) needs nothing else.

The flat token sequence a sequence model reads is the binary form's words with its brackets:
``( a ( and ( not b ) ) )`` (:func:`formula_tokens`).

**Tasks.** :class:`TreePairTask` (both formulas of every pair as binary trees in one ``TreeBatch``) and
:class:`TokenPairTask` (both as padded token sequences) feed the shared trainer; their splits are ``train``,
``valid``, ``test`` and one per bin, ``test1`` … ``test12`` (:func:`bin_split`).

Deviations:
    - Our own random stream (Python's ``random.Random(seed)``), so the pairs are not the released ones; the
      number of draws is the config's (the authors drew 500,000 pairs).
    - A validation part (``valid_fraction``, 5% by default) is cut from each bin besides the 85/15 of the
      authors, for early stopping; the test part stays 15%.

Book: 10.6 (recursive networks compose a tree bottom-up with one shared function).
"""
from __future__ import annotations

import abc
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from recnets.core.tree import Tree
from recnets.core.tree_batch import FlatTree, batch_trees
from recnets.tasks.base import Batch, Task, step_generator
from recnets.tasks.tree_data import TokenVocabulary

__all__ = ["VARIABLES", "BINARY_OPERATORS", "NEGATION", "RELATION_NAMES", "RELATION_SYMBOLS", "NUM_RELATIONS",
           "WORLDS", "ALL_WORLDS", "variable_mask", "truth_set", "relation", "operator_count", "binary_tree",
           "formula_tokens", "LogicPair", "LogicRelationsConfig", "LogicRelationsData", "draw_formula", "tree_of_drawn",
           "make_logic_relations", "majority_label", "bin_split", "flat_binary_tree", "TreePairTask", "TokenPairTask"]

VARIABLES = ("a", "b", "c", "d", "e", "f")
BINARY_OPERATORS = ("and", "or")
NEGATION = "not"
RELATION_NAMES = ("equivalence", "forward entailment", "reverse entailment", "negation", "alternation", "cover",
                  "independence")
RELATION_SYMBOLS = ("≡", "⊏", "⊐", "^", "|", "‿", "#")
NUM_RELATIONS = len(RELATION_NAMES)
WORLDS = 2 ** len(VARIABLES)  # 64 truth assignments
ALL_WORLDS = (1 << WORLDS) - 1  # the mask of every world


def variable_mask(index: int) -> int:
    """The worlds (a 64-bit mask) where variable ``index`` (0 = ``a`` … 5 = ``f``) is true: bit w is set when
    bit ``index`` of w is."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(VARIABLES):
        raise ValueError(f"index: expected a variable index in [0, {len(VARIABLES)}), got {index!r}")
    return sum(1 << world for world in range(WORLDS) if (world >> index) & 1)


_VARIABLE_MASKS = {name: variable_mask(index) for index, name in enumerate(VARIABLES)}


def truth_set(formula: Tree) -> int:
    """The 64-bit mask of worlds that satisfy ``formula`` (prefix form, e.g. ``(and a (not b))``).

    Raises:
        ValueError: an unknown variable or operator, or an operator with the wrong number of operands.
    """
    if formula.is_leaf:
        if formula.label not in _VARIABLE_MASKS:
            raise ValueError(f"formula: expected a variable in {VARIABLES} at a leaf, got {formula.label!r}")
        return _VARIABLE_MASKS[formula.label]
    arity = {NEGATION: 1, "and": 2, "or": 2}.get(formula.label)
    if arity is None or len(formula.children) != arity:
        raise ValueError(f"formula: expected 'not' over 1 operand or 'and'/'or' over 2, got {formula.label!r} over "
                         f"{len(formula.children)} in {formula}")
    operands = [truth_set(child) for child in formula.children]
    if formula.label == NEGATION:
        return ALL_WORLDS & ~operands[0]
    return operands[0] & operands[1] if formula.label == "and" else operands[0] | operands[1]


def relation(x: int, y: int) -> int:
    """The index (into :data:`RELATION_NAMES`) of the natural-logic relation between satisfying sets ``x``, ``y``.

    Args:
        x, y: 64-bit world masks (:func:`truth_set`), each neither 0 nor :data:`ALL_WORLDS`.

    Raises:
        ValueError: a mask out of range, empty (a contradiction) or full (a tautology): such sets stand in
            several relations at once, and the data excludes them.
    """
    for name, mask in (("x", x), ("y", y)):
        if isinstance(mask, bool) or not isinstance(mask, int) or not 0 < mask < ALL_WORLDS:
            raise ValueError(f"{name}: expected a world mask in (0, 2**{WORLDS} - 1) (neither a contradiction nor "
                             f"a tautology), got {mask!r}")
    if x == y:
        return 0  # ≡
    if x & y == x:
        return 1  # ⊏: x ⊂ y
    if x & y == y:
        return 2  # ⊐: x ⊃ y
    disjoint, exhaustive = (x & y) == 0, (x | y) == ALL_WORLDS
    if disjoint and exhaustive:
        return 3  # ^
    if disjoint:
        return 4  # |
    if exhaustive:
        return 5  # ‿
    return 6  # #


def operator_count(formula: Tree) -> int:
    """The number of operators (``and``, ``or``, ``not``) in a prefix-form formula: its inner nodes."""
    stack, count = [formula], 0
    while stack:
        node = stack.pop()
        if node.children:
            count += 1
            stack.extend(node.children)
    return count


def binary_tree(formula: Tree) -> Tree:
    """The paper's binary form of a prefix-form formula: ``(and a (not b))`` → ``(a (and (not b)))``.

    Every word (variable or operator) is a leaf; every inner node is unlabelled with two children:
    ``x op y`` → ``(x (op y))``, ``not x`` → ``(not x)``.
    """
    if formula.is_leaf:
        return Tree(formula.label)
    if formula.label == NEGATION:
        return Tree(None, (Tree(NEGATION), binary_tree(formula.children[0])))
    left, right = formula.children
    return Tree(None, (binary_tree(left), Tree(None, (Tree(formula.label), binary_tree(right)))))


def formula_tokens(formula: Tree) -> list[str]:
    """The flat token sequence of the binary form, brackets included: ``(and a (not b))`` →
    ``( a ( and ( not b ) ) )`` as a list of 12 tokens (a bare variable is one token)."""
    tokens: list[str] = []

    def walk(node: Tree) -> None:
        if node.is_leaf:
            tokens.append(str(node.label))
            return
        tokens.append("(")
        for child in node.children:
            walk(child)
        tokens.append(")")

    walk(binary_tree(formula))
    return tokens


# ------------------------------------------------------------------------------------------- generation
OPERATOR_P = 4 / 9  # the chance that a node (with budget >= 2) is and/or
NEGATION_P = 1 / 3  # the chance that a drawn node is wrapped in one 'not'
BUDGET = 12
_MASKS_BY_INDEX = tuple(_VARIABLE_MASKS[name] for name in VARIABLES)
_SUBSETS = tuple(itertools.combinations(range(len(VARIABLES)), 4))  # the 15 sets of 4 variables a pair draws from


def draw_formula(rng: random.Random, variables: Sequence[int], budget: int = BUDGET) -> tuple[tuple, int, int]:
    """One random formula over ``variables`` (indices) by the authors' procedure (module docstring): a binary
    node with probability 4/9 while ``budget`` >= 2 (its operands get ``budget // 2``), else a variable; then
    a ``not`` around it with probability 1/3.

    Returns:
        ``(drawn, mask, operators)``: the formula as nested tuples (``("a",)``, ``("not", f)``,
        ``("and", f, g)``; :func:`tree_of_drawn` makes the prefix-form Tree), its :func:`truth_set` and its
        :func:`operator_count`, computed while drawing.
    """
    if budget >= 2 and rng.random() < OPERATOR_P:
        operator = BINARY_OPERATORS[rng.random() < 0.5]
        left, left_mask, left_ops = draw_formula(rng, variables, budget // 2)
        right, right_mask, right_ops = draw_formula(rng, variables, budget // 2)
        mask = left_mask & right_mask if operator == "and" else left_mask | right_mask
        drawn, operators = (operator, left, right), 1 + left_ops + right_ops
    else:
        index = variables[int(rng.random() * len(variables))]
        drawn, mask, operators = (VARIABLES[index],), _MASKS_BY_INDEX[index], 0
    if rng.random() < NEGATION_P:
        return (NEGATION, drawn), ALL_WORLDS & ~mask, operators + 1
    return drawn, mask, operators


def tree_of_drawn(drawn: tuple) -> Tree:
    """The prefix-form :class:`Tree` of a formula drawn by :func:`draw_formula`."""
    return Tree(drawn[0], tuple(tree_of_drawn(child) for child in drawn[1:]))


@dataclass(frozen=True)
class LogicPair:
    """One example: two prefix-form formulas, their relation (index into :data:`RELATION_NAMES`) and bin
    (operators in the larger formula, capped at :attr:`LogicRelationsConfig.max_operators`)."""

    left: Tree
    right: Tree
    label: int
    operators: int

    def __str__(self) -> str:
        return f"{RELATION_SYMBOLS[self.label]}\t{self.left}\t{self.right}"


@dataclass(frozen=True)
class LogicRelationsConfig:
    """How much data to draw and how to cut it.

    Attributes:
        draws: pairs drawn in all (before removing repeats); the authors drew 500,000.
        train_max_operators: train (and validate) on bins 0..this (the paper: 3, 4 or 6; 4 here).
        max_operators: the last bin; bigger pairs fall into it (12, as the paper's figure).
        valid_fraction, test_fraction: each bin's share for validation and test, taken after its train part
            (by position in draw order); the rest is train.
        max_test_per_bin: keep at most this many test pairs per bin (0 = all), for evaluation time.
        seed: seeds ``random.Random``.
    """

    draws: int = 500_000
    train_max_operators: int = 4
    max_operators: int = 12
    valid_fraction: float = 0.05
    test_fraction: float = 0.15
    max_test_per_bin: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("draws", 1), ("train_max_operators", 0), ("max_operators", 1),
                              ("max_test_per_bin", 0), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
        if self.train_max_operators > self.max_operators:
            raise ValueError(f"train_max_operators: expected at most max_operators ({self.max_operators}), got "
                             f"{self.train_max_operators}")
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name}: expected a fraction in [0, 1), got {value!r}")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError(f"test_fraction: expected valid_fraction + test_fraction < 1, got "
                             f"{self.valid_fraction} + {self.test_fraction}")


@dataclass(frozen=True)
class LogicRelationsData:
    """The cut data: ``train`` and ``valid`` from bins 0..``train_max_operators``, ``test[k]`` the test part
    of bin k for k = 1..``max_operators`` (a dict; a bin with no pairs is absent)."""

    config: LogicRelationsConfig
    train: list[LogicPair]
    valid: list[LogicPair]
    test: dict[int, list[LogicPair]]
    bin_sizes: dict[int, int] = field(default_factory=dict)  # distinct pairs per bin before cutting

    def label_counts(self, pairs: Iterable[LogicPair]) -> list[int]:
        """How many of ``pairs`` carry each relation."""
        counts = Counter(pair.label for pair in pairs)
        return [counts.get(label, 0) for label in range(NUM_RELATIONS)]


def make_logic_relations(config: LogicRelationsConfig) -> LogicRelationsData:
    """Draw ``config.draws`` pairs (dropping any pair with a tautology or contradiction and redrawing), keep
    each distinct ordered pair once per bin, and cut every bin into train / valid / test by position.

    Deterministic: the same config gives the same pairs in the same order.
    """
    rng = random.Random(config.seed)
    bins: dict[int, dict[tuple[tuple, tuple], int]] = {k: {} for k in range(config.max_operators + 1)}
    drawn = 0
    while drawn < config.draws:
        variables = _SUBSETS[int(rng.random() * len(_SUBSETS))]  # 4 of the 6 variables, uniformly
        left, x, left_operators = draw_formula(rng, variables)
        right, y, right_operators = draw_formula(rng, variables)
        if not (0 < x < ALL_WORLDS and 0 < y < ALL_WORLDS):
            continue  # a tautology or a contradiction: redraw (the authors' rule)
        drawn += 1
        kept = bins[min(max(left_operators, right_operators), config.max_operators)]
        if (left, right) not in kept:
            kept[left, right] = relation(x, y)
    train: list[LogicPair] = []
    valid: list[LogicPair] = []
    test: dict[int, list[LogicPair]] = {}
    for operators, kept in bins.items():
        drawn_pairs = list(kept.items())  # ((left, right), label) in draw order

        def parsed(part: list[tuple[tuple[tuple, tuple], int]], operators: int = operators) -> list[LogicPair]:
            return [LogicPair(tree_of_drawn(left), tree_of_drawn(right), label, operators)
                    for (left, right), label in part]

        n_test = int(round(config.test_fraction * len(drawn_pairs)))
        n_valid = int(round(config.valid_fraction * len(drawn_pairs)))
        n_train = len(drawn_pairs) - n_test - n_valid
        if operators <= config.train_max_operators:
            train += parsed(drawn_pairs[:n_train])
            valid += parsed(drawn_pairs[n_train:n_train + n_valid])
        if operators >= 1 and n_test:
            tests = drawn_pairs[n_train + n_valid:]
            test[operators] = parsed(tests[:config.max_test_per_bin] if config.max_test_per_bin else tests)
    return LogicRelationsData(config, train, valid, test, {k: len(v) for k, v in bins.items()})


def majority_label(pairs: Iterable[LogicPair]) -> int:
    """The most frequent relation among ``pairs`` (the lowest index on ties): the constant predictor's guess."""
    counts = Counter(pair.label for pair in pairs)
    if not counts:
        raise ValueError("pairs: expected at least one pair, got none")
    return max(range(NUM_RELATIONS), key=lambda label: (counts.get(label, 0), -label))


# ------------------------------------------------------------------------------------------- tasks
def flat_binary_tree(formula: Tree, ids: dict[str, int]) -> FlatTree:
    """``flatten_tree(binary_tree(formula), vocabulary.node_token)`` in one pass over the prefix form, without
    building the binary tree (about ten times faster; the task flattens every formula once).

    Args:
        formula: a prefix-form formula.
        ids: token ids of the words; inner nodes get ``ids["<none>"]``.
    """
    tokens: list[int] = []
    children: list[tuple[int, int]] = []
    heights: list[int] = []
    none = ids["<none>"]

    def node(token: int, left: int = -1, right: int = -1) -> int:
        tokens.append(token)
        children.append((left, right))
        heights.append(0 if left < 0 else 1 + max(heights[left], heights[right]))
        return len(tokens) - 1

    def emit(formula: Tree) -> int:  # post-order: children first, left to right; returns the node's index
        if formula.is_leaf:
            return node(ids[formula.label])
        if formula.label == NEGATION:
            negation = node(ids[NEGATION])
            return node(none, negation, emit(formula.children[0]))
        left = emit(formula.children[0])
        operator = node(ids[formula.label])
        return node(none, left, node(none, operator, emit(formula.children[1])))

    emit(formula)
    width = 0 if len(tokens) == 1 else 2
    return FlatTree(np.asarray(tokens, dtype=np.int64), np.asarray(children, dtype=np.int64).reshape(-1, 2)[:, :width],
                    np.asarray(heights, dtype=np.int64), np.full(len(tokens), -1, dtype=np.int64))


def bin_split(operators: int) -> str:
    """The name of bin ``operators``' test split (``"test7"``; the authors' files are named so)."""
    return f"test{operators}"


class _PairTask(Task):
    """Pairs of formulas → one of the 7 relations; the two formulas of every pair go through one encoder.

    Splits: ``"train"``, ``"valid"`` (bins 0..``train_max_operators``), ``"test"`` (every test bin) and
    ``"test1"`` … ``"test12"`` (one bin each). A batch of B pairs holds the B left formulas, then the B right
    ones, so a model encodes all 2B formulas at once and compares row i with row B + i.

    Args:
        data: :func:`make_logic_relations`'s cut data.
        batch_size: B, pairs per training batch (drawn with replacement, seeded per step).
        eval_batch_size: pairs per evaluation batch.
        seed: seeds every training batch through :func:`step_generator`.

    Book: 10.6.
    """

    name = "logic-relations"

    def __init__(self, data: LogicRelationsData, *, batch_size: int = 64, eval_batch_size: int = 512,
                 seed: int = 0) -> None:
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        if not data.train:
            raise ValueError("data.train: expected at least one training pair, got none (draw more pairs)")
        self.data, self.batch_size, self.eval_batch_size, self.seed = data, batch_size, eval_batch_size, seed
        self.vocabulary = TokenVocabulary((*VARIABLES, *BINARY_OPERATORS, NEGATION))
        self.pairs: dict[str, list[LogicPair]] = {
            "train": data.train, "valid": data.valid,
            "test": [pair for operators in sorted(data.test) for pair in data.test[operators]],
            **{bin_split(operators): pairs for operators, pairs in data.test.items()}}
        self.labels = {split: torch.tensor([pair.label for pair in pairs], dtype=torch.long)
                       for split, pairs in self.pairs.items()}

    def splits(self) -> list[str]:
        return list(self.pairs)

    @abc.abstractmethod
    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        """The batch of ``split``'s examples at ``indices``."""

    def train_batch(self, step: int) -> Batch:
        generator = step_generator(self.seed, step)
        indices = torch.randint(len(self.pairs["train"]), (self.batch_size,), generator=generator).tolist()
        return self._batch("train", indices)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        if split not in self.pairs:
            raise ValueError(f"split: expected one of {', '.join(self.pairs)}, got {split!r}")
        size = len(self.pairs[split])
        for start in range(0, size, self.eval_batch_size):
            yield self._batch(split, range(start, min(start + self.eval_batch_size, size)))

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy of ``outputs (B, 7)`` against the relations ``(B,)``, and B."""
        targets = batch.targets.to(outputs.device)
        return nn.functional.cross_entropy(outputs, targets, reduction="sum"), int(targets.shape[0])

    def predicted(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """``(predicted relations (B,), true relations (B,))``."""
        return outputs.argmax(-1), batch.targets.to(outputs.device)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        return {"nats": total_loss / max(count, 1)}

    def baselines(self) -> dict[str, float]:
        """The constant predictor's floors: the training relations' entropy (nats) and the accuracy of always
        answering the training majority (``#``), on all test pairs and per bin (``majority_accuracy_test7``)."""
        counts = torch.bincount(self.labels["train"], minlength=NUM_RELATIONS).double()
        p = counts[counts > 0] / counts.sum()
        majority = int(counts.argmax())
        floors = {"majority_loss": float(-(p * p.log()).sum())}
        for split, labels in self.labels.items():
            if split.startswith("test") and len(labels):
                floors[f"majority_accuracy_{split}" if split != "test" else "majority_accuracy"] = \
                    float((labels == majority).double().mean())
        return floors

    def describe(self) -> dict[str, Any]:
        config = self.data.config
        return {"name": self.name, "classes": NUM_RELATIONS, "vocabulary": len(self.vocabulary),
                "draws": config.draws, "seed": config.seed, "train_max_operators": config.train_max_operators,
                **{f"{split}_pairs": len(pairs) for split, pairs in self.pairs.items()}}


class TreePairTask(_PairTask):
    """Both formulas as binary trees (:func:`binary_tree`) in one :class:`TreeBatch` of 2B trees.

    Shapes:
        ``Batch.inputs`` TreeBatch (B lefts, then B rights; ``inputs.roots`` (2B,)), ``Batch.targets`` (B,);
        a model's outputs (B, 7).

    Book: 10.6.
    """

    def __init__(self, data: LogicRelationsData, **options: Any) -> None:
        super().__init__(data, **options)
        ids = self.vocabulary.ids
        self.flat = {split: ([flat_binary_tree(p.left, ids) for p in self.pairs[split]],
                             [flat_binary_tree(p.right, ids) for p in self.pairs[split]])
                     for split in ("train", "valid", "test")}
        for operators in data.test:  # the per-bin splits are slices of "test"
            start = sum(len(data.test[k]) for k in data.test if k < operators)
            stop = start + len(data.test[operators])
            lefts, rights = self.flat["test"]
            self.flat[bin_split(operators)] = (lefts[start:stop], rights[start:stop])

    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        lefts, rights = self.flat[split]
        trees = batch_trees([lefts[i] for i in indices] + [rights[i] for i in indices], max_children=2)
        return Batch(trees, self.labels[split][list(indices)])


class TokenPairTask(_PairTask):
    """Both formulas as flat token sequences (:func:`formula_tokens`, brackets included) in one padded batch.

    Shapes:
        ``Batch.inputs`` (2B, T) ids padded with 0 (B lefts, then B rights), ``Batch.lengths`` (2B,),
        ``Batch.targets`` (B,); a model's outputs (B, 7).

    Book: 10.2, Fig. 10.5 (a chain reads each formula and its last state summarises it).
    """

    def __init__(self, data: LogicRelationsData, **options: Any) -> None:
        super().__init__(data, **options)
        ids = self.vocabulary.ids

        def encode(formula: Tree) -> np.ndarray:
            return np.asarray([ids[token] for token in formula_tokens(formula)], dtype=np.int64)

        self.sequences = {split: ([encode(p.left) for p in pairs], [encode(p.right) for p in pairs])
                          for split, pairs in self.pairs.items()}

    def _batch(self, split: str, indices: Sequence[int]) -> Batch:
        lefts, rights = self.sequences[split]
        rows = [lefts[i] for i in indices] + [rights[i] for i in indices]
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        inputs = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)  # (2B, T), 0 = <pad>
        for index, row in enumerate(rows):
            inputs[index, :len(row)] = torch.from_numpy(row)
        return Batch(inputs, self.labels[split][list(indices)], lengths)
