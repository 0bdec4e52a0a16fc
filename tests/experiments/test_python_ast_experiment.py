"""The python-ast experiment's helpers: accuracy by tree size against a direct count; the settings' budgets."""
from __future__ import annotations

import torch

from recnets.experiments.python_ast import SIZE_BINS, settings
from recnets.experiments.tree_against_chain import binned_accuracy


def test_size_accuracy_counts_each_tree_in_its_bin():
    sizes = [1, 10, 11, 25, 40, 41, 200, 150]
    correct = torch.tensor([True, False, True, True, False, True, False, True])
    rows = binned_accuracy(correct, sizes, SIZE_BINS)
    assert [(row["low"], row["high"]) for row in rows] == list(SIZE_BINS)
    for row in rows:
        chosen = [c for c, s in zip(correct.tolist(), sizes) if row["low"] <= s <= row["high"]]
        assert row["count"] == len(chosen)
        assert row["accuracy"] == (sum(chosen) / len(chosen) if chosen else None)
    assert sum(row["count"] for row in rows) == len(sizes)


def test_bins_cover_every_kept_tree_size():
    full = settings(quick=False, progress=False)
    covered = {size for low, high in SIZE_BINS for size in range(low, high + 1)}
    for config in full.values():
        assert set(range(1, config.data.max_nodes + 1)) <= covered


def test_quick_settings_are_smaller_than_the_full_ones():
    quick, full = settings(quick=True, progress=False), settings(quick=False, progress=False)
    assert set(quick) == {"generator"} and set(full) == {"generator", "package"}
    for labeling in quick:
        assert quick[labeling].train.steps < full[labeling].train.steps
        assert quick[labeling].data.max_nodes <= full[labeling].data.max_nodes
        assert quick[labeling].data.max_files is not None and full[labeling].data.max_files is None
        assert quick[labeling].data.labeling == full[labeling].data.labeling == labeling
