"""Adding and multiplication: marker placement, lengths and value ranges as the papers define them, targets
recomputed, and the constant predictor's closed-form MSE against its empirical value."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.tasks import make_task
from recnets.tasks.arithmetic import hochreiter_first_pair_probabilities, hochreiter_marker_windows
from recnets.tasks.base import step_generator

MANY = 20_000


def draw(name: str, T: int, count: int = MANY):
    task = make_task(name, T=T)
    return task, task.generate(step_generator(7, 0), count)


def test_hochreiter_windows_are_the_papers_at_T_100():
    assert hochreiter_marker_windows(100) == (10, 49)  # one of the first ten; one of the first T/2 - 1 unmarked
    assert hochreiter_first_pair_probabilities(100) == (0.1, 0.9 / 49)


@pytest.mark.parametrize("name, low", [("adding", -1.0), ("multiplication", 0.0)])
@pytest.mark.parametrize("T", [100, 3, 13])
def test_hochreiter_sequences_follow_the_paper(name, low, T):
    _, batch = draw(name, T, 4000)
    values, markers, lengths = batch.inputs[..., 0], batch.inputs[..., 1], batch.lengths
    assert batch.inputs.shape[1] == T + T // 10
    assert lengths.min() == T and lengths.max() == T + T // 10  # L uniform in [T, T + T/10]
    n1, m = hochreiter_marker_windows(T)
    for row in range(0, 4000, 7):
        L = int(lengths[row])
        marked = (markers[row] == 1.0).nonzero().flatten().tolist()
        assert len(marked) == 2
        # some order of the two is (X1 among the first n1 pairs, X2 among the first m pairs still unmarked)
        assert any(a < n1 and b - (a < b) < m for a, b in (marked, marked[::-1]))
        expected = torch.zeros(markers.shape[1])
        expected[0], expected[L - 1] = -1.0, -1.0
        expected[marked] = 1.0
        assert torch.equal(markers[row], expected)  # -1 on the first (if unmarked) and final pair, else 0
        assert (values[row, :L] >= low).all() and (values[row, :L] <= 1.0).all()
        if 0 in marked:
            assert values[row, 0] == (0.0 if name == "adding" else 1.0)
    # the windows are reached at both ends
    positions = (markers == 1.0).nonzero()[:, 1]
    assert int(positions.min()) == 0 and int(positions.max()) == max(m, n1 - 1)


def test_hochreiter_second_marker_can_precede_the_first_and_lands_everywhere_in_its_window():
    _, batch = draw("adding", 100, 4000)
    positions = (batch.inputs[..., 1] == 1.0).nonzero()[:, 1].reshape(-1, 2)  # (B, 2) sorted per row
    beyond_ten = positions[:, 1] >= 10
    assert beyond_ten.float().mean() > 0.7  # X2 mostly beyond the first ten pairs ...
    assert set(positions[:, 1].tolist()) == set(range(1, 50))  # ... anywhere up to pair T/2 = 50


@pytest.mark.parametrize("name", ["adding", "multiplication", "adding-pascanu", "multiplication-pascanu"])
@pytest.mark.parametrize("T", [100, 12])
def test_constant_predictor_mse_matches_its_closed_form(name, T):
    task, batch = draw(name, T)
    floors = task.baselines()
    targets = batch.targets.double().flatten()
    squared = (targets - floors["constant"]) ** 2
    error = 4 * float(squared.std()) / math.sqrt(MANY)  # four standard errors
    assert abs(float(squared.mean()) - floors["constant_mse"]) < error
    assert abs(float(targets.mean()) - floors["constant"]) < 4 * float(targets.std()) / math.sqrt(MANY)
    # the mean is the best constant: any shifted constant is worse on the same sample
    assert float(squared.mean()) < float(((targets - floors["constant"] - 0.02) ** 2).mean())


def test_adding_baseline_closed_form_at_T_100():
    p1, p2 = 0.1, 0.9 / 49
    assert make_task("adding", T=100).baselines()["constant_mse"] == pytest.approx((2 - p1 - p2) / 3 / 16, abs=1e-15)
    assert make_task("adding-pascanu", T=50).baselines()["constant_mse"] == 1 / 24


@pytest.mark.parametrize("name", ["adding-pascanu", "multiplication-pascanu"])
@pytest.mark.parametrize("T", [100, 2, 37])
def test_pascanu_sequences_follow_the_authors_code(name, T):
    task = make_task(name, T=T)
    lengths = set()
    for step in range(40):
        batch = task.train_batch(step)
        assert batch.lengths is None
        L = batch.inputs.shape[1]
        lengths.add(L)
        values, markers = batch.inputs[..., 0], batch.inputs[..., 1]
        assert ((values >= 0) & (values <= 1)).all()
        assert set(markers.unique().tolist()) <= {0.0, 1.0} and (markers.sum(1) == 2).all()
        positions = (markers == 1.0).nonzero()[:, 1].reshape(-1, 2)  # (B, 2)
        first_window = max(1, int(L * 0.1))
        assert (positions[:, 0] < first_window).all()
        assert (positions[:, 1] >= first_window).all() and (positions[:, 1] < first_window + max(1, int(L * 0.4))).all()
    assert lengths <= set(range(T, T + max(1, T // 10)))
    if T >= 20:
        assert len(lengths) > 1
