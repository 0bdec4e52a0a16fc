"""The clipping reproduction's scoring: a run's outcome, the outcome rates per condition and length, and the
rescaling of W to a spectral radius."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.experiments.pascanu_clipping import outcome, outcome_rates, rescale_spectral_radius

CHANCE = math.log(4)


@pytest.mark.parametrize(("test_loss", "error_rate", "expected"), [
    (0.02, 0.0, "solved"),
    (0.05, 0.0099, "solved"),
    (0.05, 0.01, "failed"),  # 1% wrong is not below 1%
    (CHANCE, 0.75, "failed"),
    (2 * CHANCE - 1e-9, 0.75, "failed"),
    (2 * CHANCE, 0.75, "diverged"),  # twice chance: confidently wrong
    (11.0, 0.8, "diverged"),
    (None, None, "diverged"),  # the trainer stopped on a non-finite loss
    (math.inf, 0.0, "diverged"),
    (math.nan, 0.5, "diverged"),
])
def test_outcome_reads_the_test_loss_and_error_rate(test_loss, error_rate, expected):
    assert outcome(test_loss, error_rate, CHANCE) == expected


@pytest.mark.parametrize(("max_train_loss", "expected"), [
    (None, "failed"), (1.5, "failed"), (2 * CHANCE - 1e-9, "failed"),
    (2 * CHANCE, "diverged"),  # one training batch confidently wrong: thrown off a cliff
    (math.nan, "diverged"), (math.inf, "diverged"),
])
def test_outcome_counts_a_training_loss_jump_as_diverged(max_train_loss, expected):
    assert outcome(1.39, 0.75, CHANCE, max_train_loss) == expected
    assert outcome(0.01, 0.0, CHANCE, max_train_loss) == "solved"  # a run that recovered and solved it


def test_outcome_rates_count_each_condition_and_length_apart():
    runs = [{"condition": "unclipped", "T": 200, "outcome": "diverged"},
            {"condition": "unclipped", "T": 50, "outcome": "failed"},
            {"condition": "unclipped", "T": 200, "outcome": "diverged"},
            {"condition": "unclipped", "T": 200, "outcome": "failed"},
            {"condition": "unclipped", "T": 200, "outcome": "solved"},
            {"condition": "clipped", "T": 200, "outcome": "solved"}]
    rates = outcome_rates(runs)
    assert rates == {
        "unclipped": {50: {"solved": 0.0, "diverged": 0.0, "failed": 1.0, "runs": 1},
                      200: {"solved": 0.25, "diverged": 0.5, "failed": 0.25, "runs": 4}},
        "clipped": {200: {"solved": 1.0, "diverged": 0.0, "failed": 0.0, "runs": 1}}}
    assert list(rates["unclipped"]) == [50, 200]


def test_an_unknown_outcome_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^outcome: expected one of \('solved', 'diverged', 'failed'\), got 'lost'$"):
        outcome_rates([{"condition": "clipped", "T": 10, "outcome": "lost"}])


def test_rescale_spectral_radius_scales_real_and_complex_spectra():
    diagonal = torch.diag(torch.tensor([1.0, -3.0, 2.0], dtype=torch.float64))
    rescale_spectral_radius(diagonal, 1.5)
    assert torch.allclose(diagonal, torch.diag(torch.tensor([0.5, -1.5, 1.0], dtype=torch.float64)), atol=1e-12)
    rotation = torch.tensor([[0.0, -2.0], [2.0, 0.0]], dtype=torch.float64)  # eigenvalues ±2i
    rescale_spectral_radius(rotation, 1.0)
    assert torch.allclose(rotation, torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64), atol=1e-12)


def test_rescale_spectral_radius_rejects_a_non_square_matrix_and_a_bad_radius():
    with pytest.raises(ValueError, match=r"^W: expected a square matrix \(H, H\), got shape \(2, 3\)$"):
        rescale_spectral_radius(torch.zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match=r"^radius: expected a finite number > 0, got 0.0$"):
        rescale_spectral_radius(torch.eye(2), 0.0)
