"""Time series for reservoir computing: generated benchmarks, packaged real data, and the user's own files.

Book: 10.8 (echo state networks). The series the reservoir experiments read:

- :func:`mackey_glass`: the Mackey-Glass delay differential equation (Mackey & Glass 1977), τ = 17, one
  sample per time unit, as in Jaeger & Haas 2004 (the NRMSE84 benchmark). Generated here.
- :func:`narma10`: the tenth-order NARMA system of Atiya & Parlos 2000, driven by iid uniform input.
  Generated here.
- :func:`santafe_laser`: Santa Fe competition data set A, a far-infrared laser in a chaotic regime
  (Weigend & Gershenfeld 1993), read from the file ``reservoirpy/datasets/santafe_laser.npy`` that
  reservoirpy 0.4.2 ships (MIT licence; extra ``recnets[data]``).
- :func:`japanese_vowels`: the UCI Japanese Vowels utterances (Kudo, Toyama & Shimbo 1999), nine speakers,
  12 LPC cepstrum coefficients per frame, read from the ``.ts`` text files that sktime ships
  (``sktime/datasets/data/JapaneseVowels/``, BSD-3 licence; extra ``recnets[data]``).
- :func:`load_series`: the user's own series from a ``.csv`` or ``.npy`` file; :func:`check_series`: the
  validation every reservoir entry point runs on a series.

The packaged files are located with ``importlib.util.find_spec(...).submodule_search_locations``, which finds
a package's folder without importing it: recnets never imports reservoirpy or sktime (DATA.md). Their
sources and licences are listed in DATA.md.
"""
from __future__ import annotations

import csv
import math
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from recnets.tasks.base import step_generator

__all__ = ["mackey_glass", "narma10", "santafe_laser", "japanese_vowels", "JapaneseVowels", "load_series",
           "check_series", "packaged_file", "MissingDataError"]

MACKEY_GLASS_STREAM = 2**62 + 2**43  # the generator stream of the initial history
NARMA10_STREAM = 2**62 + 2**44  # the generator stream of the NARMA-10 input
NARMA10_WARMUP = 200  # steps run from y = 0 and discarded before the returned series
SANTAFE_LENGTH = 10093
INSTALL_HINT = "pip install 'recnets[data]'"


class MissingDataError(ValueError):
    """An optional data package (reservoirpy, sktime) or its packaged file is not installed.

    Book: 10.8 (the real series of the echo-state experiments).
    """


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------ Mackey-Glass


def mackey_glass(length: int, *, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, exponent: float = 10,
                 step: float = 0.1, subsample: int = 10, discard: int = 1000, seed: int = 0) -> Tensor:
    """The Mackey-Glass series x(t) sampled every ``subsample * step`` time units, after a discarded transient.

    The delay differential equation (Mackey & Glass 1977)

        dx/dt = β x(t - τ) / (1 + x(t - τ)^n) - γ x(t),   n = ``exponent``,

    is integrated with the classical fourth-order Runge-Kutta method at a fixed ``step`` h. The delayed value
    x(t - τ) at the RK4 stage times t_k, t_k + h/2, t_k + h is read from the solution computed so far by cubic
    Hermite interpolation between grid points (values and the derivatives f the stages already computed), a
    fourth-order-accurate continuous extension. When τ/h is an integer, as for the defaults, only grid and
    half-grid points are read, the jumps in the derivatives that the constant history causes at t = 0, τ,
    2τ, ... fall on grid points, and the scheme is fourth order (halving h divides the error by 16: a test
    measures it); otherwise the step that straddles t = τ, where x'' jumps, makes it second order. For t <= 0 the
    history is the constant x0 = 1.2 + ε, ε ~ U[-0.1, 0.1] drawn from ``seed`` (a constant, so it is the same
    function whatever the step). Sample i is x(t_i), t_i = (discard + i) · subsample · h; with ``discard=0``
    sample 0 is x(0) = x0. Defaults: τ = 17, β = 0.2, γ = 0.1, n = 10, h = 0.1, one sample per time unit, the
    first 1000 samples dropped (Jaeger & Haas 2004).

    Args:
        length: samples returned, >= 1.
        tau: the delay τ > 0, at least ``step`` (the RK4 stages must not read ahead of the solution).
        beta, gamma: β >= 0 and γ >= 0 (x then stays positive).
        exponent: n, a finite number.
        step: the integration step h > 0.
        subsample: integration steps per sample, >= 1.
        discard: samples dropped from the start (the transient), >= 0.
        seed: draws x0.

    Returns:
        (length,) float64.

    Book: 10.8.

    Deviations:
        Jaeger & Haas 2004 do not state their integrator; reservoirpy integrates at h = 1 by default. Series
        from different integrators agree only over the first few hundred time units (the system is chaotic),
        not sample for sample.
    """
    _check_mackey_glass(length, tau, beta, gamma, exponent, step, subsample, discard, seed)
    x0 = 1.2 + 0.2 * (float(torch.rand((), generator=step_generator(seed, MACKEY_GLASS_STREAM),
                                       dtype=torch.float64)) - 0.5)
    h = float(step)
    beta, gamma, exponent = float(beta), float(gamma), exponent if _is_int(exponent) else float(exponent)

    def f(x: float, delayed: float) -> float:
        return beta * delayed / (1.0 + delayed**exponent) - gamma * x

    # The delayed time of stage c (0, 1/2, 1) of step k is t_k + c h - τ = (k + offset_c + θ_c) h, θ_c in [0, 1):
    # Hermite weights on the interval [k + offset_c, k + offset_c + 1] of the grid.
    delay = float(tau) / h
    if abs(delay - round(delay)) < 1e-9:
        delay = float(round(delay))
    stages = []
    for c in (0.0, 0.5, 1.0):
        position = c - delay
        offset = math.floor(position)
        theta = position - offset
        if theta < 1e-12:
            theta = 0.0
        weights = (2 * theta**3 - 3 * theta**2 + 1, (theta**3 - 2 * theta**2 + theta) * h,
                   -2 * theta**3 + 3 * theta**2, (theta**3 - theta**2) * h)
        stages.append((offset, theta, weights))

    xs: list[float] = []  # x(t_k), k = 0, 1, ...
    ds: list[float] = []  # f at t_k: the derivative there

    def delayed_value(k: int, stage: tuple[int, float, tuple[float, float, float, float]]) -> float:
        offset, theta, (w0, w1, w2, w3) = stage
        left = k + offset
        if left < 0 or (left == 0 and theta == 0.0):
            return x0  # the history, t <= 0
        if theta == 0.0:
            return xs[left]
        return w0 * xs[left] + w1 * ds[left] + w2 * xs[left + 1] + w3 * ds[left + 1]

    total = (discard + length - 1) * subsample  # the last step index needed
    samples: list[float] = []
    x = x0
    for k in range(total + 1):
        xs.append(x)
        k1 = f(x, delayed_value(k, stages[0]))
        ds.append(k1)
        if k % subsample == 0 and k >= discard * subsample:
            samples.append(x)
        if k == total:
            break
        middle = delayed_value(k, stages[1])
        k2 = f(x + 0.5 * h * k1, middle)
        k3 = f(x + 0.5 * h * k2, middle)
        k4 = f(x + h * k3, delayed_value(k, stages[2]))
        x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        if not math.isfinite(x):
            raise ValueError(f"mackey_glass: the integration diverged at t = {(k + 1) * h:g}; try a smaller step")
    return torch.tensor(samples, dtype=torch.float64)


def _check_mackey_glass(length, tau, beta, gamma, exponent, step, subsample, discard, seed) -> None:
    if not _is_int(length) or length < 1:
        raise ValueError(f"length: expected an integer >= 1, got {length!r}")
    if not _is_number(step) or step <= 0:
        raise ValueError(f"step: expected a number > 0, got {step!r}")
    if not _is_number(tau) or tau <= 0:
        raise ValueError(f"tau: expected a number > 0, got {tau!r}")
    if tau < step:
        raise ValueError(f"tau: expected a number >= step ({step!r}), got {tau!r}")
    for name, value in (("beta", beta), ("gamma", gamma)):
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    if not _is_number(exponent):
        raise ValueError(f"exponent: expected a finite number, got {exponent!r}")
    if not _is_int(subsample) or subsample < 1:
        raise ValueError(f"subsample: expected an integer >= 1, got {subsample!r}")
    if not _is_int(discard) or discard < 0:
        raise ValueError(f"discard: expected an integer >= 0, got {discard!r}")
    if not _is_int(seed):
        raise TypeError(f"seed: expected an integer, got {seed!r}")


# ------------------------------------------------------------------------------------------ NARMA-10


def narma10(length: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Input u and output y of the tenth-order NARMA system (Atiya & Parlos 2000).

    The standard form:

        y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,   u(t) ~ U[0, 0.5] iid,

    started from y = 0 (and u = 0) before the first step. The first ``NARMA10_WARMUP`` (200) steps are run and
    discarded, so the returned series start on the system's stationary regime. Indices are aligned as in the
    recurrence: y[t+1] is computed from u[t] and u[t-9], so a model that reads u up to step t predicts y[t+1]
    (shift the target by one).

    The benchmark's score is an error against y; some papers report the NMSE (mean squared error over the
    variance of y), others the NRMSE (its square root): never compare the two.

    Args:
        length: steps returned, >= 1.
        seed: draws u.

    Returns:
        (u, y), each (length,) float64.

    Raises:
        ValueError: y became non-finite (NARMA-10 can diverge for rare input draws); try another seed.

    Book: 10.8.
    """
    if not _is_int(length) or length < 1:
        raise ValueError(f"length: expected an integer >= 1, got {length!r}")
    if not _is_int(seed):
        raise TypeError(f"seed: expected an integer, got {seed!r}")
    u = 0.5 * torch.rand(NARMA10_WARMUP + length, generator=step_generator(seed, NARMA10_STREAM),
                         dtype=torch.float64)  # (W + T,)
    y = _narma10_outputs(u, seed)
    return u[NARMA10_WARMUP:].clone(), y[NARMA10_WARMUP:].clone()


def _narma10_outputs(u: Tensor, seed: int | None = None) -> Tensor:
    """y for input u, from y = 0: y[t+1] = 0.3 y[t] + 0.05 y[t] Σ_{i<10} y[t-i] + 1.5 u[t-9] u[t] + 0.1."""
    inputs = u.tolist()
    y = [0.0] * len(inputs)
    for t in range(len(inputs) - 1):
        window = sum(y[max(t - 9, 0):t + 1])
        previous = inputs[t - 9] if t >= 9 else 0.0
        value = 0.3 * y[t] + 0.05 * y[t] * window + 1.5 * previous * inputs[t] + 0.1
        if not math.isfinite(value) or abs(value) > 1e100:
            which = "" if seed is None else f" for seed {seed}"
            raise ValueError(f"narma10: y diverged (non-finite) at step {t + 1}{which}; try another seed")
        y[t + 1] = value
    return torch.tensor(y, dtype=torch.float64)


# ------------------------------------------------------------------------------------------ packaged data


def packaged_file(package: str, *parts: str) -> Path:
    """The path of a data file that an installed package ships, found without importing the package.

    Args:
        package: a top-level package name, e.g. ``"reservoirpy"``.
        parts: the file's path inside the package folder.

    Returns:
        The file's path.

    Raises:
        MissingDataError: the package or the file is not installed (one line, with the install command).

    Book: 10.8.
    """
    if not isinstance(package, str) or not package.isidentifier():
        raise ValueError(f"package: expected a top-level package name, got {package!r}")
    relative = "/".join((package, *parts))
    spec = find_spec(package)  # a top-level name: finds the folder, imports nothing
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location, *parts)
        if path.is_file():
            return path
    what = f"{package} is not installed" if spec is None else f"{relative} is missing from the installed {package}"
    raise MissingDataError(f"{relative}: not found ({what}); install the data extra: {INSTALL_HINT}")


def santafe_laser() -> Tensor:
    """Santa Fe data set A (a chaotic far-infrared laser, Weigend & Gershenfeld 1993), as reservoirpy ships it.

    Reads ``reservoirpy/datasets/santafe_laser.npy`` (reservoirpy 0.4.2, extra ``recnets[data]``) without
    importing reservoirpy. The values are the raw 8-bit intensities 0..255, not normalised; the first 1,000
    are the competition's training series.

    Returns:
        (10093,) float64.

    Raises:
        MissingDataError: reservoirpy (or its file) is not installed.

    Book: 10.8.
    """
    path = packaged_file("reservoirpy", "datasets", "santafe_laser.npy")
    values = np.load(path, allow_pickle=False)
    if values.size != SANTAFE_LENGTH or values.ndim > 2 or values.dtype.kind not in "iuf":
        raise MissingDataError(f"{path}: expected {SANTAFE_LENGTH} numbers (reservoirpy==0.4.2), got "
                               f"shape {values.shape} of {values.dtype}; install the data extra: {INSTALL_HINT}")
    return torch.from_numpy(values.astype(np.float64).reshape(-1))


class JapaneseVowels(NamedTuple):
    """The UCI Japanese Vowels utterances (Kudo, Toyama & Shimbo 1999): which of nine speakers said /ae/.

    Attributes:
        train_inputs: 270 utterances, each (T_i, 12) float64 (12 LPC cepstrum coefficients per frame,
            T_i in 7..29 frames).
        train_labels: (270,) int64, the speaker 0..8 (30 utterances each).
        test_inputs: 370 utterances, each (T_i, 12) float64.
        test_labels: (370,) int64 (24 to 88 per speaker).

    Book: 10.8 (Jaeger et al. 2007 classify these with leaky echo state networks).
    """

    train_inputs: list[Tensor]
    train_labels: Tensor
    test_inputs: list[Tensor]
    test_labels: Tensor


def japanese_vowels() -> JapaneseVowels:
    """The UCI Japanese Vowels train and test sets, parsed from the ``.ts`` files that sktime ships.

    Reads ``sktime/datasets/data/JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts`` (extra ``recnets[data]``)
    without importing sktime. The files store each utterance at its own length (no padding); trailing missing
    values (``?`` or ``NaN``), should a version pad them, are stripped. Labels are the position of the file's
    class label in its ``@classLabel`` list (speakers 1..9 become 0..8).

    Returns:
        :class:`JapaneseVowels`.

    Raises:
        MissingDataError: sktime (or its files) is not installed.

    Book: 10.8.
    """
    parts = []
    for split in ("TRAIN", "TEST"):
        path = packaged_file("sktime", "datasets", "data", "JapaneseVowels", f"JapaneseVowels_{split}.ts")
        inputs, labels = _read_ts(path)
        parts += [inputs, labels]
    return JapaneseVowels(*parts)


def _read_ts(path: Path) -> tuple[list[Tensor], Tensor]:
    """Cases (T_i, D) float64 and labels (N,) int64 (positions in ``@classLabel``) of a classification .ts file.

    The format (sktime / UEA): ``#`` comment lines and ``@key value`` header lines, then after ``@data`` one
    case per line: D dimensions separated by ``:``, each a comma-separated series, the last field the class
    label. Trailing ``?``/``NaN`` are padding and stripped; the dimensions of a case must then have one length.
    """
    classes: list[str] | None = None
    dimensions: int | None = None
    inputs: list[Tensor] = []
    labels: list[int] = []
    in_data = False
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{path}: line {number}: expected a # or @ header line before @data, "
                                     f"got {line[:40]!r}")
                key, _, value = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                elif key == "classlabel":
                    words = value.split()
                    if not words or words[0].lower() != "true":
                        raise ValueError(f"{path}: line {number}: expected '@classLabel true LABELS...', got {line!r}")
                    classes = words[1:]
                elif key == "dimensions":
                    dimensions = int(value)
                continue
            fields = line.split(":")
            if classes is None:
                raise ValueError(f"{path}: expected a '@classLabel true LABELS...' header before @data")
            if len(fields) < 2 or fields[-1].strip() not in classes:
                raise ValueError(f"{path}: line {number}: expected a class label in {classes} after the last ':', "
                                 f"got {fields[-1].strip()[:40]!r}")
            series = [_ts_dimension(path, number, field) for field in fields[:-1]]
            if dimensions is not None and len(series) != dimensions:
                raise ValueError(f"{path}: line {number}: expected {dimensions} dimensions, got {len(series)}")
            if len({len(values) for values in series}) != 1:
                raise ValueError(f"{path}: line {number}: expected dimensions of one length, got lengths "
                                 f"{sorted({len(values) for values in series})}")
            inputs.append(torch.tensor(series, dtype=torch.float64).T.contiguous())  # (T_i, D)
            labels.append(classes.index(fields[-1].strip()))
    if not inputs:
        raise ValueError(f"{path}: expected cases after @data, got none")
    return inputs, torch.tensor(labels, dtype=torch.int64)


def _ts_dimension(path: Path, number: int, field: str) -> list[float]:
    cells = [cell.strip() for cell in field.split(",")]
    while cells and cells[-1].lower() in ("?", "nan"):
        cells.pop()  # padding
    try:
        values = [float(cell) for cell in cells]
    except ValueError:
        bad = next(cell for cell in cells if not _parses(cell))
        raise ValueError(f"{path}: line {number}: expected numbers, got {bad[:40]!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{path}: line {number}: expected finite numbers after stripping padding, got {field[:40]!r}")
    return values


def _parses(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------ the user's series


def load_series(path: str | Path) -> Tensor:
    """The user's own series from a ``.csv`` or ``.npy`` file, one row per time step, one column per variable.

    ``.csv``: comma-separated numbers; the first row is a header of names (ignored) when none of its cells is
    a number. ``.npy``: a 1-D (T,) or 2-D (T, D) numeric array, read with ``allow_pickle=False``. Every value
    must be finite.

    Args:
        path: the file.

    Returns:
        (T, D) float64 (D = 1 for a single column or a 1-D array).

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file: an unknown extension, no data, a non-numeric cell (line and
            column, 1-based), ragged rows (line), a NaN or inf (csv: line and column, 1-based; npy: row and
            column, 0-based), or an array of more than 2 dims.

    Book: 10.8.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _load_csv(path)
    if suffix == ".npy":
        return _load_npy(path)
    raise ValueError(f"{path}: expected a .csv or .npy file, got extension {path.suffix or '(none)'!r}")


def _load_csv(path: Path) -> Tensor:
    rows: list[list[float]] = []
    width: int | None = None
    header_seen = False
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        for cells in reader:
            number = reader.line_num
            if not cells or all(not cell.strip() for cell in cells):
                continue
            cells = [cell.strip() for cell in cells]
            if width is None and not header_seen and not any(_parses(cell) for cell in cells):
                header_seen, width = True, len(cells)
                continue
            if width is not None and len(cells) != width:
                raise ValueError(f"{path}: line {number}: expected {width} columns, got {len(cells)} (ragged rows)")
            width = len(cells)
            row = []
            for column, cell in enumerate(cells, start=1):
                try:
                    value = float(cell)
                except ValueError:
                    raise ValueError(f"{path}: line {number}, column {column}: expected a number, "
                                     f"got {cell!r}") from None
                if not math.isfinite(value):
                    raise ValueError(f"{path}: line {number}, column {column}: expected a finite number, got {cell!r}")
                row.append(value)
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: expected at least one row of numbers, got an empty file")
    return torch.tensor(rows, dtype=torch.float64)  # (T, D)


def _load_npy(path: Path) -> Tensor:
    try:
        values = np.load(path, allow_pickle=False)
    except ValueError as error:  # object arrays, or not an .npy file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: expected a numeric .npy array, got an unreadable file ({reason})") from None
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{path}: expected a numeric array, got dtype {values.dtype}")
    if values.ndim not in (1, 2):
        raise ValueError(f"{path}: expected a 1-D (T,) or 2-D (T, D) array, got {values.ndim} dims {values.shape}")
    if values.size == 0:
        raise ValueError(f"{path}: expected at least one value, got an empty array of shape {values.shape}")
    values = values.astype(np.float64).reshape(values.shape[0], -1)  # (T, D)
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, column = (int(i) for i in bad[0])
        raise ValueError(f"{path}: row {row}, column {column}: expected finite values, got {values[row, column]}")
    return torch.from_numpy(values)


def check_series(series: Tensor, *, name: str = "series", washout: int = 0) -> None:
    """Check that a series is a finite (T,) or (T, D) real tensor longer than the washout.

    Args:
        series: (T,) or (T, D).
        name: the argument's name in the error messages.
        washout: steps the reservoir discards, >= 0; T must exceed it.

    Raises:
        TypeError: not a tensor, or complex.
        ValueError: one line: the wrong number of dims, T <= washout, or the first NaN/inf and its index.

    Book: 10.8.
    """
    if not _is_int(washout) or washout < 0:
        raise ValueError(f"washout: expected an integer >= 0, got {washout!r}")
    if not isinstance(series, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(series).__name__}")
    if series.is_complex() or series.dtype == torch.bool:
        raise TypeError(f"{name}: expected a real tensor, got dtype {series.dtype}")
    if series.dim() not in (1, 2):
        raise ValueError(f"{name}: expected a (T,) or (T, D) tensor, got shape {tuple(series.shape)}")
    if series.shape[0] <= washout:
        raise ValueError(f"{name}: expected more than washout ({washout}) steps, got {series.shape[0]}")
    if series.is_floating_point():
        bad = (~torch.isfinite(series)).nonzero()
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            raise ValueError(f"{name}: expected finite values, got {float(series[index])} at index "
                             f"{index[0] if len(index) == 1 else index}")
