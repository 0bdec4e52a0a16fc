"""The reservoir series: Mackey-Glass against closed forms and its own convergence order, NARMA-10 against its
recurrence, the packaged Santa Fe and Japanese Vowels files, and the user's .csv / .npy files with their errors."""
from __future__ import annotations

import math
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recnets.tasks import series as series_module
from recnets.tasks.series import (JapaneseVowels, MissingDataError, _narma10_outputs, _read_ts, check_series,
                                  japanese_vowels, load_series, mackey_glass, narma10, packaged_file, santafe_laser)


def require_data(reason: object) -> None:
    """Skip a test whose optional data package is missing, with its reason; fail instead in CI (CI=true),
    which installs every extra (STYLE convention 11)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI installs every extra, yet: {reason}")
    pytest.skip(str(reason))


# ------------------------------------------------------------------------------------------ Mackey-Glass


def test_mackey_glass_is_deterministic_per_seed_and_seeds_differ():
    first = mackey_glass(300, seed=3)
    assert first.dtype == torch.float64 and first.shape == (300,)
    assert torch.equal(first, mackey_glass(300, seed=3))
    assert not torch.allclose(first, mackey_glass(300, seed=4), atol=1e-3)


def test_mackey_glass_stays_on_the_tau_17_attractor():
    values = mackey_glass(2000)  # after the default 1000-sample transient
    assert 0.2 < float(values.min()) and float(values.max()) < 1.4
    assert float(values.max() - values.min()) > 0.8  # oscillating over the attractor, not at a fixed point


def test_mackey_glass_before_the_first_delay_is_the_linear_ode_in_closed_form():
    # For 0 <= t <= tau the delayed value is the constant history x0, so dx/dt = c - gamma x with
    # c = beta x0 / (1 + x0^10): x(t) = c/gamma + (x0 - c/gamma) exp(-gamma t).
    values = mackey_glass(18, discard=0, seed=5)
    x0 = float(values[0])
    c = 0.2 * x0 / (1 + x0**10)
    t = torch.arange(18, dtype=torch.float64)
    expected = c / 0.1 + (x0 - c / 0.1) * torch.exp(-0.1 * t)
    assert (values - expected).abs().max() < 1e-10


def test_mackey_glass_without_production_decays_exponentially():
    values = mackey_glass(500, beta=0.0, gamma=0.1, discard=0, seed=2)
    t = torch.arange(500, dtype=torch.float64)
    assert (values - values[0] * torch.exp(-0.1 * t)).abs().max() < 1e-8


def test_mackey_glass_rk4_is_fourth_order():
    # Same sample times at h, h/2, h/4: each halving of h divides the difference by ~2^4 = 16 (first order: 2).
    runs = [mackey_glass(150, step=h, subsample=s, discard=0, seed=1) for h, s in ((0.2, 5), (0.1, 10), (0.05, 20))]
    coarse, fine = (runs[0] - runs[1]).abs().max(), (runs[1] - runs[2]).abs().max()
    assert 0 < fine < coarse < 1e-5
    assert 13 < coarse / fine < 19


def test_mackey_glass_sampling_and_discard_pick_the_same_trajectory():
    every_step = mackey_glass(201, step=0.1, subsample=1, discard=0, seed=7)
    assert torch.equal(mackey_glass(21, discard=0, seed=7), every_step[::10])
    assert torch.equal(mackey_glass(15, discard=6, seed=7), mackey_glass(21, discard=0, seed=7)[6:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(length=0), r"^length: expected an integer >= 1, got 0$"),
    (dict(length=True), r"^length: expected an integer >= 1, got True$"),
    (dict(tau=0.0), r"^tau: expected a number > 0, got 0.0$"),
    (dict(tau=-17), r"^tau: expected a number > 0, got -17$"),
    (dict(tau=0.05), r"^tau: expected a number >= step \(0.1\), got 0.05$"),
    (dict(step=0.0), r"^step: expected a number > 0, got 0.0$"),
    (dict(step=float("nan")), r"^step: expected a number > 0, got nan$"),
    (dict(subsample=0), r"^subsample: expected an integer >= 1, got 0$"),
    (dict(subsample=2.5), r"^subsample: expected an integer >= 1, got 2.5$"),
    (dict(beta=-0.2), r"^beta: expected a number >= 0, got -0.2$"),
    (dict(discard=-1), r"^discard: expected an integer >= 0, got -1$"),
])
def test_bad_mackey_glass_arguments_are_one_clear_line(kwargs, message):
    arguments = dict(length=10) | kwargs
    with pytest.raises(ValueError, match=message):
        mackey_glass(**arguments)


# ------------------------------------------------------------------------------------------ NARMA-10


def test_narma10_satisfies_its_recurrence_at_every_step():
    u, y = narma10(1000, seed=11)
    assert u.dtype == y.dtype == torch.float64 and u.shape == y.shape == (1000,)
    assert float(u.min()) >= 0 and float(u.max()) <= 0.5 and abs(float(u.mean()) - 0.25) < 0.02
    u, y = u.numpy(), y.numpy()
    rng = np.random.default_rng(0)
    for t in sorted(rng.choice(np.arange(9, 999), size=60, replace=False)):
        expected = 0.3 * y[t] + 0.05 * y[t] * sum(y[t - i] for i in range(10)) + 1.5 * u[t - 9] * u[t] + 0.1
        assert abs(y[t + 1] - expected) < 1e-12, t
    assert y[0] != 0  # the warm-up from y = 0 was discarded


def test_narma10_from_zero_matches_a_loop_written_from_the_equation():
    u = 0.5 * torch.rand(50, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = np.zeros(50)
    for t in range(49):
        window = sum(y[t - i] for i in range(10) if t - i >= 0)
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * window + 1.5 * (u[t - 9].item() if t >= 9 else 0.0) * u[t].item() + 0.1
    assert np.abs(_narma10_outputs(u).numpy() - y).max() < 1e-14


def test_narma10_is_deterministic_per_seed_and_seeds_differ():
    u, y = narma10(200, seed=3)
    again_u, again_y = narma10(200, seed=3)
    assert torch.equal(u, again_u) and torch.equal(y, again_y)
    assert not torch.equal(u, narma10(200, seed=4)[0])


def test_narma10_divergence_is_a_clear_error():
    # With u = 0.5 throughout, y = 0.3 y + 0.5 y^2 + 0.475 has no fixed point: y grows without bound.
    with pytest.raises(ValueError, match=r"^narma10: y diverged \(non-finite\) at step \d+; try another seed$"):
        _narma10_outputs(torch.full((300,), 0.5, dtype=torch.float64))


def test_bad_narma10_length_is_one_clear_line():
    with pytest.raises(ValueError, match=r"^length: expected an integer >= 1, got 0$"):
        narma10(0)


# ------------------------------------------------------------------------------------------ packaged data


def _fake_find_spec(locations):
    return lambda name: None if locations is None else SimpleNamespace(submodule_search_locations=locations)


def test_missing_package_names_the_file_and_the_extra(monkeypatch):
    monkeypatch.setattr(series_module, "find_spec", _fake_find_spec(None))
    with pytest.raises(MissingDataError, match=r"^reservoirpy/datasets/santafe_laser.npy: not found \(reservoirpy "
                                               r"is not installed\); install the data extra: "
                                               r"pip install 'recnets\[data\]'$"):
        santafe_laser()
    with pytest.raises(MissingDataError, match=r"^sktime/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts: "
                                               r"not found \(sktime is not installed\)"):
        japanese_vowels()


def test_missing_file_in_an_installed_package_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(series_module, "find_spec", _fake_find_spec([str(tmp_path)]))
    with pytest.raises(MissingDataError, match=r"^reservoirpy/datasets/santafe_laser.npy: not found \("
                                               r"reservoirpy/datasets/santafe_laser.npy is missing from the installed "
                                               r"reservoirpy\); install the data extra"):
        santafe_laser()
    (tmp_path / "datasets").mkdir()
    np.save(tmp_path / "datasets" / "santafe_laser.npy", np.arange(7))
    assert packaged_file("reservoirpy", "datasets", "santafe_laser.npy") == tmp_path / "datasets" / "santafe_laser.npy"
    with pytest.raises(MissingDataError, match=r"expected 10093 numbers \(reservoirpy==0.4.2\), got shape \(7,\)"):
        santafe_laser()


@pytest.fixture(scope="module")
def laser():
    imported_before = "reservoirpy" in sys.modules
    try:
        values = santafe_laser()
    except MissingDataError as error:
        require_data(error)
    assert imported_before or "reservoirpy" not in sys.modules, "santafe_laser imported reservoirpy"
    return values


def test_santafe_laser_is_the_raw_competition_series(laser):
    assert laser.dtype == torch.float64 and laser.shape == (10093,)
    assert torch.equal(laser, laser.round()) and float(laser.min()) == 0 and float(laser.max()) == 255
    # The first values of data set A (Weigend & Gershenfeld 1993), as the competition's A.dat lists them.
    assert laser[:10].tolist() == [86, 141, 95, 41, 22, 21, 32, 72, 138, 111]


@pytest.fixture(scope="module")
def vowels():
    imported_before = "sktime" in sys.modules
    try:
        data = japanese_vowels()
    except MissingDataError as error:
        require_data(error)
    assert imported_before or "sktime" not in sys.modules, "japanese_vowels imported sktime"
    return data


def test_japanese_vowels_has_the_uci_split(vowels):
    assert isinstance(vowels, JapaneseVowels)
    assert len(vowels.train_inputs) == 270 and vowels.train_labels.shape == (270,)
    assert len(vowels.test_inputs) == 370 and vowels.test_labels.shape == (370,)
    for inputs in (vowels.train_inputs, vowels.test_inputs):
        assert all(x.dtype == torch.float64 and x.dim() == 2 and x.shape[1] == 12 for x in inputs)
        assert all(7 <= x.shape[0] <= 29 for x in inputs) and all(bool(torch.isfinite(x).all()) for x in inputs)
    lengths = [x.shape[0] for x in vowels.train_inputs + vowels.test_inputs]
    assert min(lengths) == 7 and max(lengths) == 29  # unpadded: each utterance at its own length
    assert vowels.train_labels.dtype == vowels.test_labels.dtype == torch.int64
    assert torch.bincount(vowels.train_labels).tolist() == [30] * 9  # 30 utterances per speaker
    counts = torch.bincount(vowels.test_labels, minlength=9)
    assert counts.numel() == 9 and int(counts.min()) == 24 and int(counts.max()) == 88
    # Orientation (T, D): the file's first case starts "1.860936,..." in dimension 1, "-0.207383,..." in 2.
    first = vowels.train_inputs[0]
    assert first.shape == (20, 12) and first[0, :2].tolist() == [1.860936, -0.207383]
    assert first[1, 0].item() == 1.891651


TS_HEADER = "#a comment\n@problemName Toy\n@dimensions 2\n@equalLength false\n@classLabel true b a\n@data\n"


def test_ts_reader_strips_padding_and_maps_labels_by_header_order(tmp_path):
    path = tmp_path / "toy.ts"
    path.write_text(TS_HEADER + "1,2,3,?,?:4,5,6,NaN,?:a\n\n7,8:9,10:b\n")
    inputs, labels = _read_ts(path)
    assert [x.tolist() for x in inputs] == [[[1, 4], [2, 5], [3, 6]], [[7, 9], [8, 10]]]
    assert labels.tolist() == [1, 0] and labels.dtype == torch.int64


@pytest.mark.parametrize("data, message", [
    ("1,2:3:a\n", r"line 7: expected dimensions of one length, got lengths \[1, 2\]$"),
    ("1,2:3,4:c\n", r"line 7: expected a class label in \['b', 'a'\] after the last ':', got 'c'$"),
    ("1,x:3,4:a\n", r"line 7: expected numbers, got 'x'$"),
    ("1,2:a\n", r"line 7: expected 2 dimensions, got 1$"),
    ("", r"expected cases after @data, got none$"),
])
def test_bad_ts_files_are_one_clear_line(tmp_path, data, message):
    path = tmp_path / "bad.ts"
    path.write_text(TS_HEADER + data)
    with pytest.raises(ValueError, match=message) as caught:
        _read_ts(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------------ user files


def test_csv_with_a_header_and_several_columns(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text('time,"x value", y\n0, 1.5,-2\n1,2.5e-1,3\n\n2,-1,0\n\n')
    values = load_series(path)
    assert values.dtype == torch.float64
    assert values.tolist() == [[0, 1.5, -2], [1, 0.25, 3], [2, -1, 0]]


def test_csv_without_header_and_one_column_is_t_by_1(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("0.5\n1\n-2\n")
    assert load_series(str(path)).tolist() == [[0.5], [1.0], [-2.0]]


def test_npy_arrays_become_t_by_d_float64(tmp_path):
    np.save(tmp_path / "flat.npy", np.arange(5, dtype=np.int32))
    np.save(tmp_path / "matrix.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    flat, matrix = load_series(tmp_path / "flat.npy"), load_series(tmp_path / "matrix.npy")
    assert flat.dtype == matrix.dtype == torch.float64
    assert flat.tolist() == [[0], [1], [2], [3], [4]] and matrix.tolist() == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("name, content, message", [
    ("s.txt", "1\n", r"expected a .csv or .npy file, got extension '.txt'$"),
    ("s.csv", "", r"expected at least one row of numbers, got an empty file$"),
    ("s.csv", "a,b\n\n", r"expected at least one row of numbers, got an empty file$"),
    ("s.csv", "a,b\n1,2\n3,oops\n", r"line 3, column 2: expected a number, got 'oops'$"),
    ("s.csv", "1,2\n3,\n", r"line 2, column 2: expected a number, got ''$"),
    ("s.csv", "1,2\n3,4\n5\n", r"line 3: expected 2 columns, got 1 \(ragged rows\)$"),
    ("s.csv", "x,y\n1,2\n3,nan\n", r"line 3, column 2: expected a finite number, got 'nan'$"),
    ("s.csv", "1,-inf\n", r"line 1, column 2: expected a finite number, got '-inf'$"),
])
def test_bad_user_files_are_one_line_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as caught:
        load_series(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("array, message", [
    (np.array([[1.0, 2.0], [3.0, np.inf]]), r"row 1, column 1: expected finite values, got inf$"),
    (np.array([1.0, np.nan]), r"row 1, column 0: expected finite values, got nan$"),
    (np.zeros((2, 2, 2)), r"expected a 1-D \(T,\) or 2-D \(T, D\) array, got 3 dims \(2, 2, 2\)$"),
    (np.zeros((0,)), r"expected at least one value, got an empty array of shape \(0,\)$"),
    (np.array(["a", "b"]), r"expected a numeric array, got dtype <U1$"),
    (np.array([1.0, None], dtype=object), r"expected a numeric .npy array, got an unreadable file \(Object arrays"),
])
def test_bad_npy_files_are_one_line_naming_the_file(tmp_path, array, message):
    path = tmp_path / "s.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(ValueError, match=message) as caught:
        load_series(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_missing_user_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.csv: no such file$"):
        load_series(tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------ check_series


def test_check_series_accepts_finite_series_longer_than_the_washout():
    assert check_series(torch.zeros(101), washout=100) is None
    assert check_series(torch.zeros(3, 2, dtype=torch.float64)) is None
    assert check_series(torch.arange(5)) is None  # integers are finite


@pytest.mark.parametrize("series, kwargs, error, message", [
    (torch.zeros(50), dict(washout=100), ValueError, r"^series: expected more than washout \(100\) steps, got 50$"),
    (torch.zeros(100, 2), dict(washout=100, name="train"), ValueError,
     r"^train: expected more than washout \(100\) steps, got 100$"),
    (torch.tensor([0.0, 1.0, math.nan, math.inf]), {}, ValueError,
     r"^series: expected finite values, got nan at index 2$"),
    (torch.tensor([[0.0, 1.0], [2.0, -math.inf]]), {}, ValueError,
     r"^series: expected finite values, got -inf at index \(1, 1\)$"),
    (torch.zeros(2, 3, 4), {}, ValueError, r"^series: expected a \(T,\) or \(T, D\) tensor, got shape \(2, 3, 4\)$"),
    (np.zeros(5), {}, TypeError, r"^series: expected a torch.Tensor, got ndarray$"),
    (torch.zeros(5), dict(washout=-1), ValueError, r"^washout: expected an integer >= 0, got -1$"),
])
def test_bad_series_are_one_clear_line(series, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_series(series, **kwargs)
