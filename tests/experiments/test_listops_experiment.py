"""listops: the depth bins cover every depth the generator makes; per-bin accuracy against a direct count; the full
run's data has no length cap (only the quick run caps, and says so)."""
from __future__ import annotations

import torch

from recnets.experiments import listops
from recnets.experiments.tree_against_chain import binned_accuracy
from recnets.tasks.listops import MAX_DEPTH


def test_depth_bins_cover_every_generated_depth_once():
    covered = [depth for low, high in listops.DEPTH_BINS for depth in range(low, high + 1)]
    assert covered == list(range(1, MAX_DEPTH))  # depths 1..19: the root is at depth 1, leaves forced at 20


def test_accuracy_by_depth_counts_each_bin():
    depths = [1, 1, 2, 5, 6, 19, 3]
    correct = torch.tensor([True, False, True, True, False, True, False])
    rows = {(row["low"], row["high"]): row for row in binned_accuracy(correct, depths, listops.DEPTH_BINS)}
    assert rows[(1, 1)] == {"low": 1, "high": 1, "count": 2, "accuracy": 0.5}
    assert rows[(5, 6)]["count"] == 2 and rows[(5, 6)]["accuracy"] == 0.5
    assert rows[(15, 19)]["accuracy"] == 1.0 and rows[(3, 3)]["accuracy"] == 0.0
    assert rows[(7, 9)] == {"low": 7, "high": 9, "count": 0, "accuracy": None}


def test_full_run_keeps_the_datas_lengths_and_quick_run_is_small():
    full, quick = listops.settings(quick=False, progress=False), listops.settings(quick=True, progress=False)
    assert full.data.max_tokens is None
    assert quick.data.train_size < full.data.train_size and quick.train.steps < full.train.steps
