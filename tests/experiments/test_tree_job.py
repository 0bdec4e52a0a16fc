"""``recnets train tree`` and ``recnets eval`` on the user's own labelled trees, in-process: the run folder,
a resumed run that continues exactly, node labels, binary cells, and one-line errors for bad files."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conftest import one_line_error
from recnets.cli import main
from recnets.core.tree import parse_tree
from recnets.experiments.tree_job import TreeDataConfig, TreeRunConfig, _examples_for, _input_tree

TINY = ["--no-progress", "--model.hidden", "8", "--model.embedding", "4", "--data.batch_size", "8",
        "--train.eval_every", "5", "--train.checkpoint_every", "5", "--train.device", "cpu"]


def max_min_line(rng: random.Random) -> str:
    op = rng.choice(["MAX", "MIN"])
    digits = [rng.randrange(10) for _ in range(rng.randint(2, 4))]
    value = max(digits) if op == "MAX" else min(digits)
    return f"({value} ({op} {' '.join(map(str, digits))}))"


@pytest.fixture(scope="module")
def trees_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "trees.txt"
    path.write_text("\n".join(max_min_line(rng) for _ in range(60)) + "\n", encoding="utf-8")
    return path


def test_train_eval_and_resume(trees_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "tree", "--data", str(trees_file), "--run", str(run), "--train.steps", "5", *TINY]) == 0
    for name in ("config.json", "vocab.json", "metrics.jsonl", "summary.json", "plots/loss.png", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert json.loads((run / "vocab.json").read_text())["classes"] == [str(i) for i in range(10)]
    assert main(["train", "tree", "--data", str(trees_file), "--run", str(run), "--train.steps", "10", "--resume",
                 *TINY]) == 0
    resumed = json.loads((run / "summary.json").read_text())
    straight = tmp_path / "straight"
    assert main(["train", "tree", "--data", str(trees_file), "--run", str(straight), "--train.steps", "10",
                 *TINY]) == 0
    assert resumed["train"]["step"] == 10
    assert resumed["test"] == json.loads((straight / "summary.json").read_text())["test"]  # continued exactly
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "root accuracy" in out and "on 6 trees" in out
    assert main(["eval", str(run), "--data", str(trees_file)]) == 0
    assert "on 60 trees" in capsys.readouterr().out


def test_node_labels_and_binary_cells(tmp_path, capsys):
    path = tmp_path / "sentiment.txt"
    rng = random.Random(1)
    words = {"good": "pos", "great": "pos", "bad": "neg", "dull": "neg"}
    lines = []
    for _ in range(30):
        a, b, c = (rng.choice(list(words)) for _ in range(3))
        label = "pos" if [words[w] for w in (a, b, c)].count("pos") >= 2 else "neg"
        lines.append(f"({label} ({words[a]} {a}) ({words[b]} {b}) ({words[c]} {c}))")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = tmp_path / "nodes"
    assert main(["train", "tree", "--data", str(path), "--run", str(run), "--train.steps", "3",
                 "--data.node_labels", "true", "--model.cell", "nary-tree-lstm", *TINY]) == 0
    assert "labelled nodes" in capsys.readouterr().out
    config = TreeRunConfig(data=TreeDataConfig(data=str(path), node_labels=True))
    targets: dict[int, int] = {}
    (tree, label), = _examples_for([(parse_tree(lines[0]), parse_tree(lines[0]).label)], config, ["neg", "pos"],
                                   targets)
    assert tree.label is None and len(targets) == 3  # the root's class and the three preterminals' are targets
    assert all(node.label is None for node in tree.children)  # never inputs
    assert _input_tree(parse_tree("(7 (MAX 2 7))"), False, {}, {}).children[0].label == "MAX"  # an input


@pytest.mark.parametrize("text, needles", [
    ("(1 (MAX 1 0))\n(2 (MAX 2 0)\n", ["line 2, column 1: '(' is never closed"]),
    ("(1 (MAX 1 0)))\n", ["line 1, column 14: ')' closes nothing"]),
    ("\n\n", ["expected at least one tree", "empty file"]),
    ("((MAX 1 0))\n", ["line 1: expected '(CLASS child ...)'"]),
    ("(1 (MAX 1 0)) (2 (MAX 2 1))\n", ["line 1: expected one tree per line, got 2"]),
    ("(1 (MAX 1 0))\n(2 (MAX 2 1))\n", ["expected at least 3 trees", "got 2"]),
])
def test_bad_tree_files_are_one_line_errors(text, needles, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    assert main(["train", "tree", "--data", str(path), "--run", str(tmp_path / "run"), *TINY]) == 2
    one_line_error(capsys, *needles)


def test_missing_data_and_unknown_cell(trees_file, tmp_path, capsys):
    assert main(["train", "tree", "--run", str(tmp_path / "r"), *TINY]) == 2
    one_line_error(capsys, "--data: expected a file of labelled trees")
    assert main(["train", "tree", "--data", str(tmp_path / "none.txt"), *TINY]) == 2
    one_line_error(capsys, "no such file")
    assert main(["train", "tree", "--data", str(trees_file), "--model.cell", "lstm", *TINY]) == 2
    one_line_error(capsys, "model.cell: expected one of recursive, rntn")
