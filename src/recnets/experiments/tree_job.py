"""The ``tree`` job: a recursive network classifies the user's own labelled trees (``recnets train tree``).

Book: 10.6 (recursive networks: one composition at every node, the class read at the root, Fig. 10.14).

The data file holds one bracketed tree per line, ``(CLASS child ...)``: the root's label is the class to
predict (it is never shown to the model), leaves are words, e.g. ``(pos (the film) (was great))`` or the
treebank style ``(3 (2 It) (4 (2 's) (3 good)))``. Inner labels are read two ways (``data.node_labels``):

- ``false`` (default): inner labels are inputs, like the operators of ``(7 (MAX 2 (MIN 7 9)))``;
- ``true``: every labelled node is classified too (sentiment treebank style); inner labels are then
  targets, not inputs, and the loss covers every labelled node.

The lines are shuffled with ``data.split_seed`` and cut into train/valid/test by ``data.valid_fraction`` and
``data.test_fraction``. Trees go to any registered tree cell (``model.cell``); N-ary cells get binarised
trees (``model.binarize``). The run folder holds ``config.json``, ``vocab.json`` (tokens and classes),
checkpoints (safetensors), ``metrics.jsonl``, ``plots/loss.png`` and ``summary.json``; ``recnets eval RUN
[--data FILE]`` reloads the latest checkpoint and scores a split or another file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from recnets.cells.registry import TREE_CELLS, make_tree_cell
from recnets.config import config_to_dict
from recnets.experiments.run_folder import check_resumed_model, is_job_run, positive_int, read_run_config
from recnets.core.tree import Tree, binarize, parse_trees, post_order
from recnets.files import write_json
from recnets.nets.tree_models import TreeClassifier
from recnets.tasks.splits import check_fractions, split_keys
from recnets.tasks.tree_data import TokenVocabulary, TreeClassificationTask
from recnets.train.checkpoint import latest_checkpoint, load_checkpoint
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer, resolve_device

__all__ = ["JOB", "TreeDataConfig", "TreeModelConfig", "TreeRunConfig", "read_labelled_trees", "train_tree",
           "evaluate_tree", "eval_report", "is_tree_run"]

JOB = "tree"
VOCAB_FILE, SUMMARY_FILE = "vocab.json", "summary.json"


@dataclass(frozen=True)
class TreeDataConfig:
    """The user's trees (``data.*``): the file, how labels are read, the split and the batches."""

    data: str = ""
    node_labels: bool = False
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    batch_size: int = 32
    eval_batch_size: int = 256
    min_count: int = 1

    def __post_init__(self) -> None:
        check_fractions({"valid": self.valid_fraction, "test": self.test_fraction}, prefix="data.")
        for name in ("batch_size", "eval_batch_size", "min_count"):
            positive_int(f"data.{name}", getattr(self, name))


@dataclass(frozen=True)
class TreeModelConfig:
    """The network (``model.*``): a registered tree cell, token embedding width D, hidden width H, and the
    side binary cells binarise wider nodes to."""

    cell: str = "child-sum-tree-lstm"
    embedding: int = 64
    hidden: int = 128
    binarize: str = "left"

    def __post_init__(self) -> None:
        if self.cell not in TREE_CELLS:
            raise ValueError(f"model.cell: expected one of {', '.join(TREE_CELLS)}, got {self.cell!r}")
        if self.binarize not in ("left", "right"):
            raise ValueError(f"model.binarize: expected 'left' or 'right', got {self.binarize!r}")
        positive_int("model.embedding", self.embedding)
        positive_int("model.hidden", self.hidden)


def _default_train() -> TrainConfig:
    return TrainConfig(steps=2000, lr=3e-3, clip_norm=5.0, eval_every=200, checkpoint_every=500)


@dataclass(frozen=True)
class TreeRunConfig:
    """Everything a tree run needs: ``model.*``, ``data.*``, ``train.*`` (dotted keys on the CLI)."""

    model: TreeModelConfig = field(default_factory=TreeModelConfig)
    data: TreeDataConfig = field(default_factory=TreeDataConfig)
    train: TrainConfig = field(default_factory=_default_train)


def read_labelled_trees(path: str | os.PathLike) -> list[tuple[Tree, str]]:
    """``(tree, class label)`` for every non-blank line of ``path``: one bracketed tree per line.

    Raises:
        ValueError: a missing or empty file, a syntax error (with line and column), a line with more or less
            than one tree, or a root without a label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: expected a file of bracketed trees, got {path} (no such file)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"data: expected UTF-8 text, got undecodable bytes in {path} ({error.reason})") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        trees = parse_trees(line, source=str(path), first_line=number)
        if len(trees) != 1:
            raise ValueError(f"{path}: line {number}: expected one tree per line, got {len(trees)}")
        tree = trees[0]
        if tree.label is None or tree.is_leaf:
            raise ValueError(f"{path}: line {number}: expected '(CLASS child ...)', a root with a label (the class) "
                             f"and children, got {str(tree)[:60]!r}")
        examples.append((tree, tree.label))
    if not examples:
        raise ValueError(f"data: expected at least one tree in {path}, got an empty file")
    return examples


def _input_tree(tree: Tree, node_labels: bool, classes: dict[str, int],
                targets: dict[int, int]) -> Tree:
    """The tree the model reads: the root's label removed (it is the answer) and, with ``node_labels``,
    every inner label removed too and recorded in ``targets`` (keyed by the new node's id)."""
    done: dict[int, Tree] = {}
    for node in post_order(tree):
        if node.is_leaf:
            done[id(node)] = node
            continue
        is_target = node is tree or (node_labels and node.label is not None)
        new = Tree(None if is_target else node.label, tuple(done[id(child)] for child in node.children))
        if is_target and node is not tree:
            if node.label not in classes:
                raise ValueError(f"data: expected node classes among the known {sorted(classes)[:10]}, got "
                                 f"{node.label!r}")
            targets[id(new)] = classes[node.label]
        done[id(node)] = new
    return done[id(tree)]


def _class_order(labels: set[str]) -> list[str]:
    """Numbers in numeric order, other labels alphabetically."""
    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None
    if all(number(label) is not None for label in labels):
        return sorted(labels, key=lambda label: (number(label), label))
    return sorted(labels)


def _class_labels(examples: list[tuple[Tree, str]], node_labels: bool) -> list[str]:
    labels = {label for _, label in examples}
    if node_labels:
        labels |= {node.label for tree, _ in examples for node in post_order(tree)
                   if not node.is_leaf and node.label is not None}
    return _class_order(labels)


def _arity(cell: str) -> int | None:
    """The most children the registered tree cell ``cell`` takes (None: any; then trees stay as they are)."""
    return make_tree_cell(cell, 1, 1).max_children


def _examples_for(examples: list[tuple[Tree, str]], config: TreeRunConfig, classes: list[str],
                  targets: dict[int, int]) -> list[tuple[Tree, int]]:
    index = {label: i for i, label in enumerate(classes)}
    binary = _arity(config.model.cell) is not None
    prepared = []
    for tree, label in examples:
        if label not in index:
            raise ValueError(f"data: expected root classes among the run's {classes[:10]}, got {label!r}")
        source = binarize(tree, config.model.binarize) if binary else tree
        prepared.append((_input_tree(source, config.data.node_labels, index, targets), index[label]))
    return prepared


def _splits(examples: list, config: TreeDataConfig) -> dict[str, list]:
    """The seeded split of the trees (:func:`~recnets.tasks.splits.split_keys`; train may be left empty)."""
    positions = split_keys(examples, {"valid": config.valid_fraction, "test": config.test_fraction},
                           config.split_seed, name="data", items="trees", when_no_train="allow", prefix="data.")
    return {split: [examples[i] for i in chosen] for split, chosen in positions.items()}


def _task(config: TreeRunConfig, splits: dict[str, list], vocabulary: TokenVocabulary, classes: list[str],
          targets: dict[int, int]) -> TreeClassificationTask:
    return TreeClassificationTask(
        splits, vocabulary, len(classes), max_children=_arity(config.model.cell),
        node_target_of=(lambda node: targets.get(id(node), -1)) if config.data.node_labels else None,
        batch_size=config.data.batch_size, eval_batch_size=config.data.eval_batch_size, seed=config.train.seed,
        name=f"trees from {config.data.data}")


def build_model(config: TreeModelConfig, vocab_size: int, num_classes: int) -> TreeClassifier:
    """Embedding (V -> D), the configured tree cell (D -> H), readout (H -> classes)."""
    return TreeClassifier(make_tree_cell(config.cell, config.embedding, config.hidden), vocab_size, num_classes)


def _scores(model: TreeClassifier, task: TreeClassificationTask, split: str, device: torch.device) -> dict[str, Any]:
    """Accuracy at the roots and at every labelled node (the roots included), in one pass over ``split``."""
    roots_right = roots = nodes_right = nodes = 0
    model.eval()
    with torch.no_grad():
        for batch in task.eval_batches(split):
            batch = batch.to(device)
            outputs, _ = model(batch.inputs)  # (N, O)
            guess, true = task.predicted(outputs, batch)
            roots_right, roots = roots_right + int((guess == true).sum()), roots + int(true.numel())
            scored = batch.targets >= 0
            nodes_right += int((outputs.argmax(-1)[scored] == batch.targets[scored]).sum())
            nodes += int(scored.sum())
    return {"trees": roots, "root_accuracy": roots_right / max(roots, 1), "node_accuracy": nodes_right / max(nodes, 1),
            "scored_nodes": nodes}


def train_tree(config: TreeRunConfig, run_dir: str | os.PathLike, *, resume: bool = False,
               echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Read and split the trees, train (or resume), then score the test split beside the majority class."""
    if not config.data.data:
        raise ValueError("--data: expected a file of labelled trees, one per line, got none")
    run_dir = Path(run_dir)
    examples = read_labelled_trees(config.data.data)  # read and check before anything is written
    classes = _class_labels(examples, config.data.node_labels)
    targets: dict[int, int] = {}
    splits = _splits(_examples_for(examples, config, classes, targets), config.data)
    vocabulary = TokenVocabulary.from_trees((tree for tree, _ in splits["train"]), min_count=config.data.min_count)
    if resume:
        check_resumed_model(_read_run(run_dir).model, config.model, run_dir)
    task = _task(config, splits, vocabulary, classes, targets)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / VOCAB_FILE, {"tokens": vocabulary.tokens[len(TokenVocabulary.SPECIALS):], "classes": classes})
    echo(f"data: {len(examples):,} trees from {config.data.data} ({task.split_size('train'):,} train, "
         f"{task.split_size('valid'):,} valid, {task.split_size('test'):,} test), {len(classes)} classes, "
         f"vocabulary {len(vocabulary):,}")
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, len(vocabulary), len(classes))
    trainer = Trainer(model, task, config.train, run_dir,
                      run_config={"job": JOB, "config": config_to_dict(config), "data": task.describe()})
    result = trainer.fit(resume=resume)
    echo(f"trained {result['step']} steps in {result['total_seconds']:.0f} s ({result['stop_reason']})")
    test = _scores(model, task, "test", trainer.device)
    floors = task.baselines()
    summary = {"job": JOB, "run_dir": str(run_dir), "train": result, "test": test, "floors": floors,
               "classes": classes, "config": config_to_dict(config)}
    write_json(run_dir / SUMMARY_FILE, summary)
    echo(eval_report({"run": str(run_dir), "step": result["step"], "data": "the run's test split", **test,
                      "majority_accuracy": floors["majority_accuracy"], "node_labels": config.data.node_labels}))
    return summary


def is_tree_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir/config.json`` names a ``tree`` run (False for anything unreadable)."""
    return is_job_run(run_dir, JOB)


def _read_run(run_dir: Path) -> TreeRunConfig:
    return read_run_config(run_dir, JOB, TreeRunConfig)


def evaluate_tree(run_dir: str | os.PathLike, *, data: str | None = None, split: str = "test",
                  device: str = "cpu") -> dict[str, Any]:
    """Accuracy of a trained run's latest checkpoint on its own split, or on every tree of ``data``."""
    run_dir = Path(run_dir)
    config = _read_run(run_dir)
    try:
        saved = json.loads((run_dir / VOCAB_FILE).read_text(encoding="utf-8"))
        vocabulary, classes = TokenVocabulary(saved["tokens"]), list(saved["classes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"run: cannot read the vocabulary {run_dir / VOCAB_FILE} ({error})") from None
    targets: dict[int, int] = {}
    if data is None:
        examples = _examples_for(read_labelled_trees(config.data.data), config, classes, targets)
        splits = _splits(examples, config.data)
    else:
        examples = _examples_for(read_labelled_trees(data), config, classes, targets)
        splits = {"train": examples, "valid": examples, "test": examples}
        split = "test"
    task = _task(config, splits, vocabulary, classes, targets)
    model = build_model(config.model, len(vocabulary), len(classes))
    step = load_checkpoint(latest_checkpoint(run_dir), model).step
    model = model.to(resolve_device(device))
    scores = _scores(model, task, split, next(model.parameters()).device)
    return {"run": str(run_dir), "step": step, "data": data or f"the run's {split} split",
            "node_labels": config.data.node_labels, **scores, "majority_accuracy": task.majority_accuracy(split)}


def eval_report(result: dict[str, Any]) -> str:
    """Accuracy lines of a tree run's evaluation."""
    lines = [f"run {result['run']} at step {result['step']}, scored on {result['data']}:",
             f"  root accuracy      {result['root_accuracy']:.4f} on {result['trees']:,} trees "
             f"(majority class: {result['majority_accuracy']:.4f})"]
    if result.get("node_labels"):
        lines.append(f"  labelled nodes     {result['node_accuracy']:.4f} on {result['scored_nodes']:,} nodes")
    return "\n".join(lines)
