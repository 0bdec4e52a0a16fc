"""The window regression: targets against the definition written out as loops, the exact floors against
Monte Carlo estimates of the errors they claim, determinism and disjoint streams."""
from __future__ import annotations

import pytest
import torch

from recnets.tasks.window_regression import (WindowRegressionConfig, WindowRegressionTask, causal_floor,
                                             constant_floor, window_targets, window_weights)


def test_weights_fall_off_linearly_on_both_sides_and_are_scaled():
    a = window_weights(2, 3)
    w = torch.tensor([1 / 3, 2 / 3, 1, 3 / 4, 2 / 4, 1 / 4], dtype=torch.float64)  # k = -2 .. 3
    assert torch.allclose(a / a[2], w, rtol=0, atol=1e-15)
    assert abs(float(a.square().sum()) - 12.0) < 1e-12  # Var y = Σ a² / 12 = 1 inside the sequence


def test_targets_follow_the_definition():
    left, right, T = 2, 3, 7
    inputs = torch.rand(4, T, dtype=torch.float64)
    a = window_weights(left, right)
    expected = torch.zeros(4, T, dtype=torch.float64)
    for b in range(4):
        for t in range(T):
            for k in range(-left, right + 1):
                if 0 <= t + k < T:  # outside the sequence x - 1/2 counts as 0
                    expected[b, t] += a[k + left] * (inputs[b, t + k] - 0.5)
    assert torch.allclose(window_targets(inputs, left, right), expected, rtol=0, atol=1e-12)


def test_a_batch_is_its_inputs_window_targets():
    task = WindowRegressionTask(WindowRegressionConfig(T=9, left=2, right=4, batch_size=3))
    batch = task.train_batch(5)
    assert batch.inputs.shape == (3, 9, 1) and batch.targets.shape == (3, 9, 1) and batch.lengths is None
    assert batch.inputs.dtype == torch.float32 and 0 <= float(batch.inputs.min()) and float(batch.inputs.max()) <= 1
    exact = window_targets(batch.inputs[..., 0], 2, 4)  # of exactly the float32 inputs the model reads
    assert torch.allclose(batch.targets[..., 0].double(), exact, rtol=0, atol=1e-6)


def test_floors_are_the_errors_of_the_best_predictors():
    """Monte Carlo: predicting 0 costs constant_floor; predicting the part of y(t) made of x(0 .. t + d)
    (the conditional mean given those inputs) costs causal_floor(d)."""
    left, right, T = 3, 5, 12
    inputs = torch.rand(20_000, T, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = window_targets(inputs, left, right)  # (N, T)
    assert abs(float(y.square().mean()) / constant_floor(T, left, right) - 1) < 0.02
    for delay in (0, 2, 4):
        predictions = torch.empty_like(y)
        for t in range(T):  # the prediction for t: y(t) with every input after t + d at its mean 1/2
            seen = inputs.clone()
            seen[:, t + delay + 1:] = 0.5
            predictions[:, t] = window_targets(seen, left, right)[:, t]
        error = float((y - predictions).square().mean())
        assert abs(error / causal_floor(delay, T, left, right) - 1) < 0.03, delay
    assert causal_floor(right, T, left, right) == 0.0
    floors = [causal_floor(d, T, left, right) for d in range(right + 1)]
    assert all(a > b for a, b in zip(floors[:-1], floors[1:]))
    assert floors[0] < constant_floor(T, left, right)


def test_baselines_and_determinism():
    config = WindowRegressionConfig(T=30, batch_size=4, eval_size=8, eval_batch_size=8)
    task = WindowRegressionTask(config)
    assert task.baselines() == {"constant_mse": constant_floor(30, 10, 20), "causal_mse": causal_floor(0, 30, 10, 20)}
    again = WindowRegressionTask(config)
    assert torch.equal(task.train_batch(3).inputs, again.train_batch(3).inputs)
    assert not torch.equal(task.train_batch(3).inputs, task.train_batch(4).inputs)
    test = next(iter(task.eval_batches("test"))).inputs
    assert torch.equal(test, next(iter(again.eval_batches("test"))).inputs)
    assert not torch.equal(test[:4], task.train_batch(0).inputs)


@pytest.mark.parametrize("field, value, needle", [("left", -1, "left: expected an integer >= 0"),
                                                  ("right", 0, "right: expected an integer >= 1"),
                                                  ("T", 0, "T: expected an integer >= 1")])
def test_bad_configs(field, value, needle):
    with pytest.raises(ValueError, match=needle):
        WindowRegressionConfig(**{field: value})
    with pytest.raises(ValueError, match="delay: expected an integer >= 0"):
        causal_floor(-1, 10, 2, 3)
