"""The NARMA-10 experiment's helpers against loops written from their definitions and closed-form ridge fits."""
from __future__ import annotations

import pytest
import torch

from recnets.experiments.esn_narma10 import (Reservoir, Segments, Settings, evaluate_reservoir, lagged_features,
                                             linear_baseline, one_step_pairs, tune)
from recnets.tasks.series import narma10


def test_one_step_pairs_put_u_of_t_beside_y_of_t_plus_one():
    u, y = narma10(30, seed=2)
    us, targets = one_step_pairs(u, y)
    assert us.shape == targets.shape == (29, 1)
    for t in range(29):
        assert us[t, 0] == u[t] and targets[t, 0] == y[t + 1]
    with pytest.raises(ValueError, match=r"^u, y: expected two \(T,\) series of the same length T >= 2, got \(30,\) "
                                         r"and \(29,\)"):
        one_step_pairs(u, y[:-1])


@pytest.mark.parametrize("outputs", [False, True])
def test_lagged_features_read_the_last_k_values_with_zeros_before_the_start(outputs):
    u = torch.arange(1.0, 9.0, dtype=torch.float64)  # 1..8
    y = -torch.arange(1.0, 9.0, dtype=torch.float64)
    k = 3
    features = lagged_features(u, y, k, outputs=outputs)
    assert features.shape == (7, 1 + (2 * k if outputs else k))
    for t in range(7):
        row = [1.0] + [float(u[t - i]) if t - i >= 0 else 0.0 for i in range(k)]
        if outputs:
            row += [float(y[t - i]) if t - i >= 0 else 0.0 for i in range(k)]
        assert features[t].tolist() == row, t
    with pytest.raises(ValueError, match="^order: expected an integer >= 1, got 0"):
        lagged_features(u, y, 0, outputs=outputs)


def test_linear_baseline_equals_the_closed_form_ridge_fit_on_training_and_validation():
    generator = torch.Generator().manual_seed(0)
    segments = Segments(washout=5, train=60, validation=20, test=15)
    features = torch.cat([torch.ones(segments.total, 1, dtype=torch.float64),
                          torch.randn(segments.total, 3, generator=generator, dtype=torch.float64)], 1)
    targets = features @ torch.tensor([[0.2], [1.0], [-0.5], [0.3]], dtype=torch.float64) \
        + 0.1 * torch.randn(segments.total, 1, generator=generator, dtype=torch.float64)
    ridge = 0.5
    score, predictions = linear_baseline(features, targets, segments, [ridge])
    X, Y = features[5:85], targets[5:85]  # training + validation rows
    W = torch.linalg.solve(X.t() @ X + ridge * torch.eye(4, dtype=torch.float64), X.t() @ Y)  # (F, 1)
    expected = features[85:] @ W
    assert torch.allclose(predictions, expected, rtol=0, atol=1e-12)
    truth = targets[85:]
    assert abs(score - float(((expected - truth).square().mean() / truth.var(unbiased=False)).sqrt())) < 1e-12


def test_linear_baseline_chooses_the_ridge_on_validation():
    generator = torch.Generator().manual_seed(1)
    segments = Segments(washout=0, train=40, validation=40, test=20)
    features = torch.randn(segments.total, 3, generator=generator, dtype=torch.float64)
    targets = features @ torch.tensor([[1.0], [2.0], [-1.0]], dtype=torch.float64)  # exactly linear
    score, _ = linear_baseline(features, targets, segments, [1e-10, 1e3])
    assert score < 1e-6  # the tiny ridge wins: the huge one would shrink the weights towards 0


def _small_settings() -> Settings:
    return Settings(sizes=(20,), seeds=(0,), segments=Segments(washout=20, train=200, validation=60, test=40),
                    candidates=(Reservoir(0.5, 0.1, 1.0), Reservoir(0.9, 0.5, 0.8)), tuning_seeds=(3,))


def test_evaluate_reservoir_continues_the_reservoir_state_from_the_fit_into_the_test_segment():
    config = _small_settings()
    u, y = narma10(config.segments.total + 1, seed=1)
    us, targets = one_step_pairs(u, y)
    result = evaluate_reservoir(config.candidates[1], 20, 5, us, targets, config)
    esn = result["network"]
    states, _ = esn.reservoir.run(us[None])  # (1, T, N): one uninterrupted run from x = 0
    end = config.segments.fit_end
    expected = esn.readout(us[None, end:], states[:, end:])[0]  # (test, 1)
    assert torch.allclose(result["predictions"], expected, rtol=0, atol=1e-12)
    truth = targets[end:]
    assert abs(result["nmse"] - float((expected - truth).square().mean() / truth.var(unbiased=False))) < 1e-12
    assert abs(result["nrmse"] ** 2 - result["nmse"]) < 1e-12
    assert "predictions" not in evaluate_reservoir(config.candidates[1], 20, 5, us, targets, config, test=False)


def test_tune_picks_the_candidate_with_the_lowest_validation_nrmse():
    config = _small_settings()
    u, y = narma10(config.segments.total + 1, seed=1)
    us, targets = one_step_pairs(u, y)
    best, scores = tune(20, us, targets, config)
    oracle = {c.label(): evaluate_reservoir(c, 20, 3, us, targets, config, test=False)["validation"]
              for c in config.candidates}
    assert scores == pytest.approx(oracle, rel=0, abs=1e-12)
    assert best.label() == min(oracle, key=oracle.__getitem__)
