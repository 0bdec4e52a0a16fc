"""esn-japanese-vowels' helpers: padding, the sampled readout rows, the batched member readouts against
RidgeAccumulator, the block-diagonal ensemble reservoir against its equations, the folds, cross-validation
against a plain loop, the confusion matrix, and the missing-data error."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.experiments import esn_japanese_vowels as experiment
from recnets.experiments.esn_japanese_vowels import (block_reservoir, confusion_matrix, cross_validate,
                                                     member_statistics, pad_batch, readout_features, sample_points,
                                                     solve_members, stratified_folds)
from recnets.reservoir import RidgeAccumulator
from recnets.tasks import series as series_module
from recnets.tasks.series import MissingDataError


def test_pad_batch_zero_pads_to_the_longest_and_returns_the_lengths():
    series = [torch.arange(6.0).reshape(3, 2), torch.arange(2.0).reshape(1, 2) + 10]
    inputs, lengths = pad_batch(series)
    assert inputs.dtype == torch.float64 and lengths.tolist() == [3, 1]
    expected = torch.tensor([[[0, 1], [2, 3], [4, 5]], [[10, 11], [0, 0], [0, 0]]], dtype=torch.float64)
    assert torch.equal(inputs, expected)
    with pytest.raises(ValueError, match=r"^series: expected at least one \(T_i, D\) tensor, got none$"):
        pad_batch([])
    with pytest.raises(ValueError, match=r"^series: expected \(T_i, 2\) tensors with T_i >= 1"):
        pad_batch([torch.zeros(3, 2), torch.zeros(3, 4)])


def test_sample_points_spread_over_each_length_and_end_on_the_last_step():
    lengths = torch.tensor([7, 29, 1, 10])
    for points in (1, 2, 3, 5):
        steps = sample_points(lengths, points)
        assert steps.shape == (4, points)
        for row, L in enumerate(lengths.tolist()):
            expected = [max(math.floor(j * L / points + 0.5) - 1, 0) for j in range(1, points + 1)]  # half up
            assert steps[row].tolist() == expected
            assert steps[row, -1] == L - 1 and int(steps[row].min()) >= 0
    with pytest.raises(ValueError, match=r"^points: expected an integer >= 1, got 0$"):
        sample_points(lengths, 0)
    with pytest.raises(ValueError, match=r"^lengths: expected every length >= 1, got \[3, 0\]$"):
        sample_points(torch.tensor([3, 0]), 2)


def test_readout_features_are_one_the_sampled_inputs_and_each_members_sampled_states():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)  # (B, T, D)
    states = torch.randn(2, 5, 4, generator=generator, dtype=torch.float64)  # two members of two units
    lengths = torch.tensor([5, 3])
    features = readout_features(inputs, states, lengths, 2, members=2)
    assert features.shape == (2, 2, 1 + 2 * (3 + 2))
    for b, L in enumerate(lengths.tolist()):
        steps = [math.floor(j * L / 2 + 0.5) - 1 for j in (1, 2)]
        for e in range(2):
            expected = torch.cat([torch.ones(1, dtype=torch.float64), inputs[b, steps[0]], inputs[b, steps[1]],
                                  states[b, steps[0], 2 * e:2 * e + 2], states[b, steps[1], 2 * e:2 * e + 2]])
            assert torch.equal(features[e, b], expected)
    no_reservoir = readout_features(inputs, states[:, :, :0], lengths, 2)
    assert no_reservoir.shape == (1, 2, 7) and torch.equal(no_reservoir[0, :, 1:], features[0, :, 1:7])


def test_solve_members_equals_one_ridge_accumulator_per_member():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(3, 40, 6, generator=generator, dtype=torch.float64)  # (E, R, F)
    targets = torch.nn.functional.one_hot(torch.randint(0, 4, (40,), generator=generator), 4).double()
    XtX, XtY = member_statistics(features, targets)
    for ridge in (0.0, 1e-3, 2.0):
        W_out = solve_members(XtX, XtY, ridge)  # (E, O, F)
        assert W_out.shape == (3, 4, 6)
        for e in range(3):
            accumulator = RidgeAccumulator(6, 4)
            accumulator.add(features[e, :25], targets[:25])
            accumulator.add(features[e, 25:], targets[25:])
            assert torch.allclose(W_out[e], accumulator.solve(ridge), atol=1e-10)


def test_solve_members_reports_a_singular_system_and_a_bad_ridge():
    features = torch.ones(2, 5, 3, dtype=torch.float64)  # rank 1
    XtX, XtY = member_statistics(features, torch.ones(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^ridge: the readouts' normal equations are singular at ridge 0 for 2 of 2 "
                                         r"members; expected a larger ridge$"):
        solve_members(XtX, XtY, 0.0)
    with pytest.raises(ValueError, match=r"^ridge: expected a finite number >= 0, got -1\.0$"):
        solve_members(XtX, XtY, -1.0)


def test_block_reservoir_members_follow_their_own_leaky_equations_alone():
    reservoir = block_reservoir(3, 2, 4, spectral_radius=0.7, leak=0.4, input_scaling=0.5, bias_scaling=0.2, seed=2)
    W, W_in, b = reservoir.W, reservoir.W_in, reservoir.b
    for e in range(3):
        block = W[2 * e:2 * e + 2, 2 * e:2 * e + 2]
        assert math.isclose(float(torch.linalg.eigvals(block).abs().max()), 0.7, rel_tol=1e-12)
        outside = W[2 * e:2 * e + 2].clone()
        outside[:, 2 * e:2 * e + 2] = 0
        assert bool((outside == 0).all())
    inputs = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lengths = torch.tensor([6, 4])
    states, _ = reservoir.run(inputs, lengths=lengths)  # (B, T, 6)
    for e in range(3):
        rows = slice(2 * e, 2 * e + 2)
        for batch, L in enumerate(lengths.tolist()):
            x = torch.zeros(2, dtype=torch.float64)
            for n in range(L):  # x(n) = (1 - α) x(n-1) + α tanh(W_in u(n) + b + W x(n-1)), member e alone
                x = 0.6 * x + 0.4 * torch.tanh(W_in[rows] @ inputs[batch, n] + b[rows] + W[rows, rows] @ x)
                assert torch.allclose(states[batch, n, rows], x, atol=1e-12)
            assert bool((states[batch, L:, rows] == 0).all())
    again = block_reservoir(3, 2, 4, spectral_radius=0.7, leak=0.4, input_scaling=0.5, bias_scaling=0.2, seed=2)
    assert torch.equal(again.W, W) and torch.equal(again.W_in, W_in)
    with pytest.raises(ValueError, match=r"^spectral_radius: expected a finite number > 0, got 0$"):
        block_reservoir(2, 2, 1, spectral_radius=0, leak=1.0, input_scaling=1.0, bias_scaling=0.0)


def test_stratified_folds_deal_each_class_evenly_and_reproducibly():
    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 9)
    folds = stratified_folds(labels, 3, seed=4)
    for c, count in ((0, 7), (1, 5), (2, 9)):
        per_fold = torch.bincount(folds[labels == c], minlength=3).tolist()
        assert sorted(per_fold) == sorted([count // 3 + (i < count % 3) for i in range(3)])
    assert torch.equal(folds, stratified_folds(labels, 3, seed=4))
    assert not torch.equal(folds, stratified_folds(labels, 3, seed=5))
    with pytest.raises(ValueError, match=r"^folds: expected at most the smallest class's count \(5\), got 6$"):
        stratified_folds(labels, 6)
    with pytest.raises(ValueError, match=r"^folds: expected an integer >= 2, got 1$"):
        stratified_folds(labels, 1)


def test_cross_validate_counts_the_held_out_errors_of_the_averaged_members():
    generator = torch.Generator().manual_seed(6)
    labels = torch.arange(30) % experiment.CLASSES
    features = torch.randn(2, 30, 5, generator=generator, dtype=torch.float64)
    features[:, :, 1] += labels.double()  # some signal, so that the errors depend on the ridge
    folds = stratified_folds(labels, 3, seed=0)
    ridges = [1e-3, 1.0, 100.0]
    expected = []
    for ridge in ridges:
        wrong = 0
        for f in range(3):
            train, held_out = folds != f, folds == f
            outputs = 0
            for e in range(2):
                accumulator = RidgeAccumulator(5, experiment.CLASSES)
                accumulator.add(features[e, train], torch.nn.functional.one_hot(labels[train], 9).double())
                outputs = outputs + features[e, held_out] @ accumulator.solve(ridge).t() / 2
            wrong += int((outputs.argmax(-1) != labels[held_out]).sum())
        expected.append(wrong)
    assert cross_validate(features, labels, folds, ridges) == expected


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels = torch.tensor([0, 0, 1, 8, 8])
    predicted = torch.tensor([0, 1, 1, 8, 2])
    matrix = confusion_matrix(predicted, labels)
    assert matrix.shape == (9, 9) and int(matrix.sum()) == 5
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[8, 8] == 1 and matrix[8, 2] == 1


def test_run_raises_the_loaders_one_line_error_without_sktime(monkeypatch, tmp_path):
    monkeypatch.setattr(series_module, "find_spec", lambda name: None)
    with pytest.raises(MissingDataError, match=r"^sktime/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN\.ts: "
                                               r"not found \(sktime is not installed\)"):
        experiment.run(tmp_path, quick=True, progress=False)
