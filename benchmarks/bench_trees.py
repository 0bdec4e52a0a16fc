#!/usr/bin/env python
"""Tree-LSTM training speed: level-batched ``fold`` against one tree at a time, measured in one run.

Both train the same Child-Sum Tree-LSTM (Tai et al. 2015; D = 64, H = 128, 5 classes at the root, Adam) on
the same 1,000 random trees of 10-60 leaves (each inner node has 2-4 children, formed by merging random
runs of adjacent subtrees; tokens from a vocabulary of 100) in minibatches of ``--batch`` trees:

- **fold**: one ``batch_trees`` (from trees flattened once, as a task holds them) and one ``fold`` per
  minibatch: one cell call per height level for all trees at once;
- **one tree at a time**: ``fold_recursively`` per tree, one ``combine`` per node, children before parents
  (what the PyTorch ports of Tree-LSTM do); the minibatch's losses are summed before one backward.

Both take one optimiser step per minibatch on the summed cross-entropy. The script prints trees per second
of each (median of interleaved repeats; the one-tree-at-a-time path is timed on the first ``--slow-trees``
trees, since it takes minutes per epoch) and the ratio (the issue's target: fold >= 20x). Each thread count
runs in a fresh process.

Usage:
    python benchmarks/bench_trees.py                 # threads 1 and 2
    python benchmarks/bench_trees.py --quick         # a smoke test, seconds
    python benchmarks/bench_trees.py --threads 1 --batch 25 100 --json trees.json

Book: 10.6 (recursive networks).
"""
from __future__ import annotations

import argparse
import os
import random
from typing import Any

import torch
from torch import nn

from per_thread import interleaved_medians, main_of  # benchmarks/ is on sys.path when a script there runs
from recnets.cells.tree_lstm import ChildSumTreeLSTMCell
from recnets.core.fold import fold_recursively
from recnets.core.tree import Tree
from recnets.core.tree_batch import batch_trees, flatten_tree
from recnets.machine import cpu_model
from recnets.nets.tree_models import TreeClassifier

VOCAB, CLASSES = 100, 5


def random_tree(rng: random.Random, leaves: int) -> Tree:
    """A tree over ``leaves`` random tokens: merge a random run of 2-4 adjacent subtrees until one is left."""
    nodes = [Tree(str(rng.randrange(VOCAB))) for _ in range(leaves)]
    while len(nodes) > 1:
        width = min(rng.randint(2, 4), len(nodes))
        start = rng.randrange(len(nodes) - width + 1)
        nodes[start:start + width] = [Tree(None, tuple(nodes[start:start + width]))]
    return nodes[0]


def token_of(node: Tree) -> int:
    return VOCAB if node.label is None else int(node.label)  # id VOCAB: an inner node (no symbol)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    trees = [random_tree(rng, rng.randint(args.min_leaves, args.max_leaves)) for _ in range(args.trees)]
    labels = torch.randint(CLASSES, (len(trees),), generator=torch.Generator().manual_seed(0))
    flats = [flatten_tree(tree, token_of) for tree in trees]
    tokens = [torch.from_numpy(flat.tokens) for flat in flats]
    torch.manual_seed(0)
    model = TreeClassifier(ChildSumTreeLSTMCell(args.embedding, args.hidden), VOCAB + 1, CLASSES)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    def batched_epoch(batch: int, count: int) -> None:
        for start in range(0, count, batch):
            stop = min(start + batch, count)
            trees_batch = batch_trees(flats[start:stop])
            logits, _ = model(trees_batch)  # (N, O)
            loss = loss_fn(logits[trees_batch.roots], labels[start:stop])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def one_at_a_time_epoch(batch: int, count: int) -> None:
        for start in range(0, count, batch):
            loss = 0.0
            for index in range(start, min(start + batch, count)):
                folded = fold_recursively(model.cell, trees[index], model.embedding(tokens[index]))
                loss = loss + loss_fn(model.readout(folded.outputs[-1:]), labels[index:index + 1])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    slow = min(args.slow_trees, len(trees))
    rows = []
    for batch in args.batch:
        seconds = interleaved_medians({
            "fold": lambda: batched_epoch(batch, len(trees)),
            "one tree at a time": lambda: one_at_a_time_epoch(batch, slow),
        }, args.repeats)
        fold_rate = len(trees) / seconds["fold"]
        slow_rate = slow / seconds["one tree at a time"]
        rows.append({"batch": batch, "fold_trees_per_s": fold_rate, "one_at_a_time_trees_per_s": slow_rate,
                     "speedup": fold_rate / slow_rate})
    levels = [len(batch_trees(flats[i:i + args.batch[0]]).level_sizes) for i in range(0, len(trees), args.batch[0])]
    return {"threads": args.threads, "machine": f"{cpu_model()}, {os.cpu_count()} cores", "torch": torch.__version__,
            "trees": len(trees), "nodes": sum(flat.num_nodes for flat in flats),
            "mean_levels_per_batch": sum(levels) / len(levels), "rows": rows}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    lines = [f"Child-Sum Tree-LSTM training, D={args.embedding} H={args.hidden}, {first['trees']} trees of "
             f"{args.min_leaves}-{args.max_leaves} leaves ({first['nodes']:,} nodes; "
             f"{first['mean_levels_per_batch']:.1f} levels per batch of {args.batch[0]}), {first['machine']}, "
             f"torch {first['torch']}",
             "| threads | batch | fold (trees/s) | one tree at a time (trees/s) | speed-up (fold / one at a time) |",
             "|---|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            lines.append(f"| {result['threads']} | {row['batch']} | {row['fold_trees_per_s']:.0f} | "
                         f"{row['one_at_a_time_trees_per_s']:.1f} | {row['speedup']:.1f}x |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    parser.add_argument("--batch", type=int, nargs="+", default=[25, 100], help="trees per minibatch (25 100)")
    parser.add_argument("--trees", type=int, default=1000)
    parser.add_argument("--slow-trees", type=int, default=100,
                        help="trees the one-at-a-time path is timed on (default 100)")
    parser.add_argument("--min-leaves", type=int, default=10)
    parser.add_argument("--max-leaves", type=int, default=60)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per path (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.trees, args.slow_trees, args.repeats, args.hidden, args.embedding = 60, 10, 1, 16, 8
        args.batch = args.batch[:1]
    return args


def main(argv: list[str] | None = None) -> None:
    main_of(__file__, parse, worker, report, argv)


if __name__ == "__main__":
    main()
