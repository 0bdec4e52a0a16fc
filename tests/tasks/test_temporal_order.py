"""Temporal order 6a/6b: the paper's windows, sequence structure, labels recomputed, chance baseline."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.tasks import make_task
from recnets.tasks.base import step_generator
from recnets.tasks.temporal_order import temporal_order_windows

CASES = [("temporal-order-2bit", (0.1, 0.5)), ("temporal-order-3bit", (0.1, 0.33, 0.66))]


def test_windows_are_the_papers_at_T_100():
    assert temporal_order_windows(100, (0.1, 0.5)) == ((10, 20), (50, 60))
    assert temporal_order_windows(100, (0.1, 0.33, 0.66)) == ((10, 20), (33, 43), (66, 76))


@pytest.mark.parametrize("name, fractions", CASES)
def test_windows_stay_disjoint_ordered_and_inside_for_every_T(name, fractions):
    for T in range(make_task(name, T=100).min_T, 301):
        windows = temporal_order_windows(T, fractions)
        assert windows[0][0] >= 2 and windows[-1][1] <= T - 1, (T, windows)  # after E, before the earliest B
        assert all(first <= last for first, last in windows)
        assert all(a[1] < b[0] for a, b in zip(windows, windows[1:])), (T, windows)


@pytest.mark.parametrize("name, fractions", CASES)
@pytest.mark.parametrize("T", [100, 5, 31])
def test_sequences_follow_the_paper_and_labels_are_the_order(name, fractions, T):
    task = make_task(name, T=T)
    batch = task.generate(step_generator(3, 0), 2000)
    windows = temporal_order_windows(T, fractions)
    assert batch.lengths.min() == T and batch.lengths.max() == T + T // 10
    assert ((batch.inputs.sum(-1) == 1) == (torch.arange(batch.inputs.shape[1]) < batch.lengths[:, None])).all()
    symbols = batch.inputs.argmax(-1)  # (B, T')
    seen = [set() for _ in windows]
    for row in range(2000):
        L = int(batch.lengths[row])
        sequence = symbols[row, :L].tolist()
        assert sequence[0] == 0 and sequence[-1] == 1  # E first, the trigger B last
        relevant = [(t + 1, s) for t, s in enumerate(sequence) if s in (6, 7)]  # 1-based positions of X/Y
        assert len(relevant) == len(windows)
        for (position, _), (first, last), positions in zip(relevant, windows, seen):
            assert first <= position <= last
            positions.add(position)
        assert all(2 <= s <= 5 for t, s in enumerate(sequence[1:-1], 2) if s not in (6, 7))  # a-d elsewhere
        label = 0
        for _, s in relevant:  # XX -> Q (0), XY -> R (1), YX -> S (2), YY -> U (3); 6b likewise in binary
            label = 2 * label + (1 if s == 7 else 0)
        assert int(batch.targets[row]) == label
    assert all(positions == set(range(first, last + 1)) for positions, (first, last) in zip(seen, windows))


@pytest.mark.parametrize("name, classes", [("temporal-order-2bit", 4), ("temporal-order-3bit", 8)])
def test_chance_baseline_matches_the_class_frequencies(name, classes):
    task = make_task(name, T=40)
    floors = task.baselines()
    assert floors == {"chance_loss": math.log(classes), "chance_error": 1 - 1 / classes}
    labels = task.generate(step_generator(5, 0), 40_000).targets
    frequencies = torch.bincount(labels, minlength=classes).double() / labels.numel()
    # the best constant predictor (the empirical frequencies) reaches the chance entropy
    entropy = float(-(frequencies * frequencies.log()).sum())
    assert abs(entropy - floors["chance_loss"]) < 2e-3
    assert abs(float(1 - frequencies.max()) - floors["chance_error"]) < 0.01
