"""ListOps: nested list operations over single digits, the label the expression's exact value (Nangia & Bowman 2018).

**The data.** An expression is a tree: a leaf is a digit 0-9, an inner node an operator over 2-5 arguments,
``MIN``, ``MAX``, ``MED`` (median) or ``SM`` (sum modulo 10); the label is the expression's value, one of ten
classes. The dataset writes ``[MAX 2 9 [MIN 4 7 ] 0 ]`` (value 9); here it is the :class:`Tree`
``Tree("MAX", (Tree("2"), Tree("9"), Tree("MIN", (Tree("4"), Tree("7"))), Tree("0")))``, printed
``(MAX 2 9 (MIN 4 7) 0)``.

**The generator**, as ``shared/PAPERS.md`` describes the authors' own (written here from that description,
not copied): ``VALUE_P`` 0.25, ``MAX_ARGS`` 5, ``MAX_DEPTH`` 20. At every node draw r uniform in [0, 1) (r = 1
at the maximal depth); r > VALUE_P gives a digit leaf (uniform over 0-9), else an operator (uniform over the
four) with 2-``MAX_ARGS`` children (uniform), each drawn the same way one level deeper. The root is at depth
1, so a leaf is forced at depth 20 and a tree is at most 19 operators deep (:meth:`Tree.height` <= 19).
Bare-digit roots are dropped and every tree is kept once: :func:`make_listops` draws trees until it holds
enough distinct ones and cuts that one pool into train / valid / test, so no expression is in two splits.

**The median of an even count** is the floored mean of the two middle values (``MED 1 4`` = 2): the authors'
generator computes ``int(median)`` with numpy, which averages the two middle values, and every label of the
paper's data was computed that way. It is neither the lower (1) nor the upper (4) median.

Deviations:
    - Smaller data: the paper's set is 1M distinct trees (90k training examples used in its experiments, a
      test file of 10,000); ours is as large as a config asks (the experiment says how many). Distinctness is
      enforced over our smaller pool, so fewer of the (frequent) small trees are rejected as repeats than in
      a 1M pool: the length distribution is very slightly shorter.
    - ``max_tokens`` (off by default) rejects trees longer than that many dataset tokens, for budget reasons;
      the released data has no length filter, so a run that sets it says so.
    - Our own random stream (Python's ``random.Random(seed)``), so the trees are not the released ones.

Book: 10.6 (recursive networks: a tree-structured computation whose depth is the tree's, not the sequence's).
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from recnets.core.tree import Tree, post_order

__all__ = ["OPERATORS", "DIGITS", "VALUE_P", "MAX_ARGS", "MAX_DEPTH", "ListOpsConfig", "ListOpsData",
           "evaluate_listops", "generate_tree", "make_listops", "listops_tokens", "parse_listops", "binary_parse",
           "operator_depth", "majority_class"]

OPERATORS = ("MIN", "MAX", "MED", "SM")
DIGITS = tuple(str(digit) for digit in range(10))
VALUE_P = 0.25
MAX_ARGS = 5
MAX_DEPTH = 20
_SPLITS = ("train", "valid", "test")


def _apply(operator: str, values: list[int]) -> int:
    """One operator on its argument values (each 0-9); the result is 0-9."""
    if operator == "MIN":
        return min(values)
    if operator == "MAX":
        return max(values)
    if operator == "SM":
        return sum(values) % 10
    ordered = sorted(values)  # MED
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2  # the authors' int(np.median): floored mean


def evaluate_listops(tree: Tree) -> int:
    """The exact value (0-9) of a ListOps expression: digits at the leaves, an operator at every inner node.

    Raises:
        ValueError: a leaf that is not a single digit, or an inner node whose label is not one of
            :data:`OPERATORS`.
    """
    if not isinstance(tree, Tree):
        raise TypeError(f"tree: expected a Tree, got {type(tree).__name__}")
    values: dict[int, int] = {}
    for node in post_order(tree):
        if node.is_leaf:
            if node.label not in DIGITS:
                raise ValueError(f"tree: expected a digit 0-9 at every leaf, got the leaf {node.label!r}")
            values[id(node)] = int(node.label)
        else:
            if node.label not in OPERATORS:
                raise ValueError(f"tree: expected an operator in {OPERATORS} at every inner node, got {node.label!r}")
            values[id(node)] = _apply(node.label, [values[id(child)] for child in node.children])
    return values[id(tree)]


def _draw(rng: random.Random, value_p: float, max_args: int, max_depth: int, depth: int) -> int | tuple:
    """The authors' recursion on plain values: a digit (int), or ``(operator, (child, ...))``."""
    r = rng.random() if depth < max_depth else 1.0
    if r > value_p:
        return int(rng.random() * 10)
    count = 2 + int(rng.random() * (max_args - 1))  # uniform over 2..max_args
    children = tuple([_draw(rng, value_p, max_args, max_depth, depth + 1) for _ in range(count)])
    return (OPERATORS[int(rng.random() * len(OPERATORS))], children)


def _size_in_tokens(drawn: int | tuple) -> int:
    """Dataset tokens of a drawn expression: one per digit, two per operator (``[OP`` and ``]``)."""
    if isinstance(drawn, int):
        return 1
    return 2 + sum(_size_in_tokens(child) for child in drawn[1])


def _value(drawn: int | tuple) -> int:
    """The value of a drawn expression (the same rules as :func:`evaluate_listops`, on plain values)."""
    if isinstance(drawn, int):
        return drawn
    return _apply(drawn[0], [_value(child) for child in drawn[1]])


def _as_tree(drawn: int | tuple) -> Tree:
    if isinstance(drawn, int):
        return Tree(DIGITS[drawn])
    return Tree(drawn[0], tuple(_as_tree(child) for child in drawn[1]))


def generate_tree(rng: random.Random, *, value_p: float = VALUE_P, max_args: int = MAX_ARGS,
                  max_depth: int = MAX_DEPTH, depth: int = 1) -> Tree:
    """One expression drawn by the authors' recursion from node depth ``depth`` (the root is at 1).

    At depth < ``max_depth`` draw r ~ U[0, 1), else r = 1; r > ``value_p``: a digit leaf (uniform); otherwise
    an operator with 2..``max_args`` children (uniform count) drawn at ``depth + 1``, then the operator
    (uniform over :data:`OPERATORS`). May return a bare digit (the caller drops those).
    """
    return _as_tree(_draw(rng, value_p, max_args, max_depth, depth))


def listops_tokens(tree: Tree) -> list[str]:
    """The dataset's flat form: ``[MAX 2 9 [MIN 4 7 ] 0 ]`` as ``["[MAX", "2", "9", "[MIN", "4", "7", "]",
    "0", "]"]`` (an operator opens with its bracket, every list closes with ``]``)."""
    tokens: list[str] = []
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            tokens.append("]")
        elif node.is_leaf:
            tokens.append(str(node.label))
        else:
            tokens.append(f"[{node.label}")
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.children))
    return tokens


def binary_parse(tree: Tree) -> Tree:
    """The dataset's own binary, left-branching parse of an expression, the tree the paper's TreeLSTM read.

    Every token of the flat form is a leaf (``[MAX``, digits, ``]``) and an operator's list is built left
    to right: ``[MAX 2 9 ]`` becomes ``(((([MAX) 2) 9) ])``, i.e. ``Tree(None, (Tree(None, (Tree(None,
    (Tree("[MAX"), Tree("2"))), Tree("9"))), Tree("]")))``: unlabelled inner nodes with two children each,
    the operator first, so that every partial list already knows its operator. An operator with k
    arguments takes k + 1 levels.
    """
    done: dict[int, Tree] = {}
    for node in post_order(tree):
        if node.is_leaf:
            done[id(node)] = node
            continue
        partial = Tree(f"[{node.label}")
        for child in node.children:
            partial = Tree(None, (partial, done[id(child)]))
        done[id(node)] = Tree(None, (partial, Tree("]")))
    return done[id(tree)]


def parse_listops(text: str) -> Tree:
    """A tree from the dataset's flat form (``[MAX 2 9 [MIN 4 7 ] 0 ]``, tokens separated by spaces).

    Raises:
        ValueError: an unknown token, a ``]`` that closes nothing, an unclosed ``[``, an empty list, or
            anything after the first complete expression.
    """
    stack: list[tuple[str, list[Tree]]] = []
    result: Tree | None = None
    for position, token in enumerate(text.split(), start=1):
        if result is not None:
            raise ValueError(f"text: expected one expression, got the token {token!r} (token {position}) after it")
        if token.startswith("[") and token[1:] in OPERATORS:
            stack.append((token[1:], []))
        elif token == "]":
            if not stack:
                raise ValueError(f"text: expected ']' to close an open '[', got one that closes nothing "
                                 f"(token {position})")
            operator, children = stack.pop()
            if not children:
                raise ValueError(f"text: expected at least one argument for [{operator}, got none (token {position})")
            node = Tree(operator, tuple(children))
            if stack:
                stack[-1][1].append(node)
            else:
                result = node
        elif token in DIGITS:
            if not stack:
                result = Tree(token)
            else:
                stack[-1][1].append(Tree(token))
        else:
            raise ValueError(f"text: expected a digit, ']' or one of {['[' + op for op in OPERATORS]}, got {token!r} "
                             f"(token {position})")
    if stack or result is None:
        raise ValueError(f"text: expected a complete expression, got {len(stack)} unclosed '[' in {text[:60]!r}")
    return result


def operator_depth(tree: Tree) -> int:
    """How deep operators nest: :meth:`Tree.height` (``(MAX 2 9)`` is 1, ``(MAX 2 (MIN 4 7))`` is 2)."""
    return tree.height()


@dataclass(frozen=True)
class ListOpsConfig:
    """Sizes and generator settings of a ListOps draw.

    Attributes:
        train_size, valid_size, test_size: distinct trees in each split (>= 1).
        seed: seeds the one random stream the pool is drawn from.
        value_p, max_args, max_depth: the authors' constants (0.25, 5, 20).
        max_tokens: drop trees with more dataset tokens than this (None: no cap, as the released data).
    """

    train_size: int = 10_000
    valid_size: int = 1_000
    test_size: int = 2_000
    seed: int = 0
    value_p: float = VALUE_P
    max_args: int = MAX_ARGS
    max_depth: int = MAX_DEPTH
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("train_size", "valid_size", "test_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {self.seed!r}")
        if not 0 < self.value_p < 1:
            raise ValueError(f"value_p: expected a probability in (0, 1), got {self.value_p!r}")
        if isinstance(self.max_args, bool) or not isinstance(self.max_args, int) or self.max_args < 2:
            raise ValueError(f"max_args: expected an integer >= 2, got {self.max_args!r}")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int) or self.max_depth < 2:
            raise ValueError(f"max_depth: expected an integer >= 2 (depth 1 is the root), got {self.max_depth!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int)
                                            or self.max_tokens < 4):
            raise ValueError(f"max_tokens: expected None or an integer >= 4 (the shortest tree has 4 tokens), "
                             f"got {self.max_tokens!r}")


@dataclass(frozen=True)
class ListOpsData:
    """Three disjoint splits of distinct trees with their exact values.

    Attributes:
        trees: ``{"train": [...], "valid": [...], "test": [...]}``.
        labels: the value (0-9) of each tree, split by split.
        config: what drew them.
        draws: trees drawn in all (bare digits, repeats and over-long ones included).
    """

    trees: dict[str, list[Tree]]
    labels: dict[str, list[int]]
    config: ListOpsConfig
    draws: int

    def split(self, name: str) -> tuple[list[Tree], list[int]]:
        """The trees and labels of ``name`` ("train", "valid" or "test")."""
        if name not in _SPLITS:
            raise ValueError(f"split: expected one of {_SPLITS}, got {name!r}")
        return self.trees[name], self.labels[name]


def make_listops(config: ListOpsConfig) -> ListOpsData:
    """Draw distinct non-digit trees from ``config.seed`` until all splits are full; cut the pool in order.

    Train is the pool's first ``train_size`` trees, valid the next ``valid_size``, test the last
    ``test_size``; the same config always gives the same splits, and no tree is in two of them.

    Raises:
        ValueError: the generator settings make too few distinct trees to fill the splits (after 50 draws
            per tree asked for).
    """
    if not isinstance(config, ListOpsConfig):
        raise TypeError(f"config: expected a ListOpsConfig, got {type(config).__name__}")
    rng = random.Random(config.seed)
    wanted = config.train_size + config.valid_size + config.test_size
    seen: set[tuple] = set()
    pool: list[tuple] = []
    draws = 0
    while len(pool) < wanted:
        if draws > 50 * wanted:
            raise ValueError(f"config: expected settings that give {wanted} distinct trees, got {len(pool)} after "
                             f"{draws} draws (max_tokens={config.max_tokens})")
        draws += 1
        drawn = _draw(rng, config.value_p, config.max_args, config.max_depth, 1)
        if isinstance(drawn, int) or drawn in seen:
            continue  # the authors drop bare-digit roots and keep every tree once
        seen.add(drawn)
        if config.max_tokens is not None and _size_in_tokens(drawn) > config.max_tokens:
            continue
        pool.append(drawn)
    bounds = {"train": (0, config.train_size),
              "valid": (config.train_size, config.train_size + config.valid_size),
              "test": (config.train_size + config.valid_size, wanted)}
    trees = {name: [_as_tree(drawn) for drawn in pool[start:stop]] for name, (start, stop) in bounds.items()}
    labels = {name: [_value(drawn) for drawn in pool[start:stop]] for name, (start, stop) in bounds.items()}
    return ListOpsData(trees=trees, labels=labels, config=config, draws=draws)


def majority_class(labels: Iterable[int]) -> int:
    """The most frequent label (the smallest among ties): the majority-class floor predicts it always."""
    counts = Counter(labels)
    if not counts:
        raise ValueError("labels: expected at least one label, got none")
    return min(counts, key=lambda label: (-counts[label], label))
