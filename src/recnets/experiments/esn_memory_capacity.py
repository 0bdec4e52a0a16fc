"""``esn-memory-capacity``: the short-term memory capacity of echo state networks (Jaeger 2001).

A reservoir with one input is driven by i.i.d. u(n) ~ U[-1, 1]; one linear readout per delay k is trained
to recall u(n - k) from x(n), and MC_k is the squared correlation it reaches on fresh data. Jaeger (2001)
proved MC = Σ_k MC_k ≤ N for N units, with equality for a linear reservoir whose Krylov matrix
[w, W w, ..., W^(N-1) w] has full rank. Two figures: the forgetting curve MC_k against k at one N, and MC
against N with the line MC = N, for three reservoirs:

- linear, orthogonal W: identity activation, W = ρ Q with Q a random orthogonal matrix (every eigenvalue
  on the circle |λ| = ρ), the case of the theorem;
- tanh, random W: the usual sparse random reservoir at spectral radius 0.9 with a small input scaling;
- linear, the tanh's W: the same W and W_in as the tanh reservoir with the identity activation, which
  separates what the nonlinearity costs from what the random W costs.

For the linear orthogonal reservoir the forgetting curve of an infinitely long series has a closed form
(:func:`linear_memory_curve`), drawn beside the measurement.

Book: 10.8 (echo state networks), 10.7 (a linear recurrence's memory fades with the powers of W).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from recnets.analysis.plots import plot_curves
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.machine import one_torch_thread
from recnets.reservoir import ReservoirCell, memory_capacity

__all__ = ["NAME", "TITLE", "BOOK", "run", "Settings", "settings", "orthogonal_matrix", "make_reservoirs",
           "linear_memory_curve", "delays_for", "finite_sample_slack", "within_band", "KINDS"]

NAME = "esn-memory-capacity"
TITLE = "Short-term memory capacity of echo state networks: MC ≤ N, close to N for linear reservoirs (Jaeger 2001)"
BOOK = "10.8"
PAPER = "Jaeger 2001"

LINEAR, TANH, CONTROL = "linear, orthogonal W", "tanh, random W", "linear, the tanh's W"
KINDS = (LINEAR, TANH, CONTROL)


@dataclass(frozen=True)
class Settings:
    """One run's sizes and series.

    Attributes:
        sizes: the reservoir sizes N of the MC-against-N figure.
        seeds: reservoirs (and input series) per size and kind.
        length, test_length: the readouts' training and test steps.
        curve_size: N of the forgetting-curve figure (one of ``sizes``).
        min_delays: delays read out at least (K = max(2N, min_delays)): a linear reservoir near ρ = 1 spreads
            its capacity over many more than N delays.
        linear_radius: ρ of the orthogonal W.
        tanh_radius: ρ of the tanh reservoir's sparse random W.
        input_scaling: W_in's entries are U[-s, s] in the tanh reservoir (irrelevant to a linear one's MC).
        units_per_row: the sparse W has about this many nonzeros per row (dense for N below it).
    """

    sizes: tuple[int, ...]
    seeds: int
    length: int
    test_length: int
    curve_size: int
    min_delays: int
    linear_radius: float = 0.95
    tanh_radius: float = 0.9
    input_scaling: float = 0.1
    units_per_row: int = 10


def settings(quick: bool) -> Settings:
    """Full: N = 10..200, 3 seeds, 5,000 training and 2,000 test steps. Quick: N = 5, 10, 20, 1 seed, 1,000 + 500."""
    if quick:
        return Settings(sizes=(5, 10, 20), seeds=1, length=1000, test_length=500, curve_size=10, min_delays=100)
    return Settings(sizes=(10, 20, 50, 100, 200), seeds=3, length=5000, test_length=2000, curve_size=50,
                    min_delays=150)


def delays_for(size: int, config: Settings) -> int:
    """K = max(2N, ``min_delays``): the delays 0..K-1 read out from a reservoir of N units."""
    return max(2 * size, config.min_delays)


def orthogonal_matrix(size: int, *, spectral_radius: float, generator: torch.Generator | None = None) -> Tensor:
    """ρ Q for a random orthogonal (N, N) float64 Q (Haar-distributed): every eigenvalue has modulus ρ.

    Q is the QR factor of a standard Gaussian matrix with the signs of R's diagonal folded in (without the
    sign fix Q is not uniformly distributed).

    Book: 10.7 (an orthogonal W neither shrinks nor stretches: its powers keep every direction).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: expected an integer >= 1, got {size!r}")
    if isinstance(spectral_radius, bool) or not isinstance(spectral_radius, (int, float)) or not (
            math.isfinite(spectral_radius) and spectral_radius > 0):
        raise ValueError(f"spectral_radius: expected a finite number > 0, got {spectral_radius!r}")
    gaussian = torch.randn(size, size, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(gaussian)
    signs = torch.where(R.diagonal() < 0, -1.0, 1.0).to(torch.float64)
    return Q * signs * spectral_radius  # column j times sign(R_jj)


def make_reservoirs(size: int, seed: int, config: Settings) -> dict[str, ReservoirCell]:
    """The three reservoirs of one size and seed, float64: ``{kind: ReservoirCell}`` over :data:`KINDS`.

    The control shares the tanh reservoir's W and W_in exactly; only its activation is the identity.
    """
    generator = torch.Generator().manual_seed(seed)
    linear = ReservoirCell(1, size, W=orthogonal_matrix(size, spectral_radius=config.linear_radius,
                                                        generator=generator),
                           activation="identity", input_scaling=1.0, seed=seed, dtype=torch.float64)
    connectivity = min(1.0, config.units_per_row / size)
    nonlinear = ReservoirCell(1, size, spectral_radius=config.tanh_radius, connectivity=connectivity,
                              input_scaling=config.input_scaling, seed=seed, dtype=torch.float64)
    control = ReservoirCell(1, size, W=nonlinear.W.clone(), activation="identity", seed=seed, dtype=torch.float64)
    control.W_in.copy_(nonlinear.W_in)
    control.b.copy_(nonlinear.b)
    return {LINEAR: linear, TANH: nonlinear, CONTROL: control}


def linear_memory_curve(W: Tensor, w_in: Tensor, max_delay: int) -> Tensor:
    """MC_k, k = 0..K-1, of the linear reservoir x(n) = W x(n-1) + w u(n) driven by i.i.d. input, in closed form.

    x(n) = Σ_j W^j w u(n - j), so Cov x = σ² C with C = Σ_j W^j w wᵀ (W^j)ᵀ (the solution of the Lyapunov
    equation C = W C Wᵀ + w wᵀ) and Cov(x(n), u(n - k)) = σ² W^k w: the best linear readout of u(n - k)
    reaches r² = (W^k w)ᵀ C⁻¹ (W^k w). Summed over every k ≥ 0 this is tr(C⁻¹ C) = N when C has full rank
    (Jaeger 2001). C is summed by doubling (Smith's method: C ← C + A C Aᵀ, A ← A²), in float64.

    Args:
        W: (N, N) with spectral radius < 1.
        w_in: (N,) the input weights (the bias is irrelevant: it shifts x by a constant).
        max_delay: K >= 1.

    Returns:
        (K,) float64: the squared correlations of an infinitely long training and test series.

    Book: 10.8; 10.7 (the powers of W).
    """
    if not isinstance(W, Tensor) or W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W: expected a square matrix (N, N), got {getattr(W, 'shape', type(W).__name__)}")
    if not isinstance(w_in, Tensor) or tuple(w_in.shape) != (W.shape[0],):
        raise ValueError(f"w_in: expected a vector of shape ({W.shape[0]},), got "
                         f"{tuple(w_in.shape) if isinstance(w_in, Tensor) else type(w_in).__name__}")
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay < 1:
        raise ValueError(f"max_delay: expected an integer >= 1, got {max_delay!r}")
    W, w = W.detach().to(torch.float64), w_in.detach().to(torch.float64)
    radius = float(torch.linalg.eigvals(W).abs().max())
    if not radius < 1:
        raise ValueError(f"W: expected a spectral radius < 1 (the sum over delays must converge), got {radius:.6g}")
    C, A = torch.outer(w, w), W.clone()  # C = Σ_{j<m} W^j w wᵀ (W^j)ᵀ and A = W^m, for m = 1
    while True:
        term = A @ C @ A.t()  # Σ_{m<=j<2m}
        C, A = C + term, A @ A  # m -> 2m
        if float(term.abs().max()) <= 1e-17 * float(C.abs().max()):
            break
    columns = [w]
    for _ in range(max_delay - 1):
        columns.append(W @ columns[-1])
    Krylov = torch.stack(columns, 1)  # (N, K): column k is W^k w
    return (Krylov * torch.linalg.solve(C, Krylov)).sum(0)  # (K,)


def finite_sample_slack(per_delay: Tensor, test_length: int) -> float:
    """How far above its expectation a measured MC may lie by chance: Σ_k 1/L + 2 Σ_k 2 r_k (1 - r_k²)/√L.

    A readout's r² between two independent series of L test steps is ≈ 1/L; an estimate r̂² of r² has the
    standard error ≈ 2 r (1 - r²)/√L (the delta method for a correlation). The sum of the K standard errors
    bounds the standard error of their sum whatever their correlations (the delays share one input series);
    the slack allows two of those.

    Args:
        per_delay: the measured MC_k (K,).
        test_length: L.
    """
    r2 = per_delay.double().clamp(0, 1)
    standard_errors = 2 * r2.sqrt() * (1 - r2) / math.sqrt(test_length)  # (K,)
    return per_delay.numel() / test_length + 2 * float(standard_errors.sum())


def measure(config: Settings, echo: Callable[[str], None]) -> dict[str, Any]:
    """MC of every kind, size and seed with its finite-sample slack, the per-delay curves at ``curve_size``
    (seed 0) and the closed forms of the linear orthogonal reservoir."""
    totals: dict[str, dict[int, list[float]]] = {kind: {N: [] for N in config.sizes} for kind in KINDS}
    slacks: dict[str, dict[int, list[float]]] = {kind: {N: [] for N in config.sizes} for kind in KINDS}
    curves: dict[str, list[float]] = {}
    theory: dict[int, list[float]] = {}  # closed-form MC of the linear orthogonal reservoir over the K delays
    for N in config.sizes:
        K = delays_for(N, config)
        started = time.monotonic()
        for seed in range(config.seeds):
            for kind, reservoir in make_reservoirs(N, seed, config).items():
                capacity = memory_capacity(reservoir, max_delay=K, length=config.length,
                                           test_length=config.test_length, seed=seed)
                totals[kind][N].append(capacity.total)
                slacks[kind][N].append(finite_sample_slack(capacity.per_delay, config.test_length))
                if N == config.curve_size and seed == 0:
                    curves[kind] = capacity.per_delay.tolist()
                if kind == LINEAR:
                    curve = linear_memory_curve(reservoir.W, reservoir.W_in[:, 0], K)
                    theory.setdefault(N, []).append(float(curve.sum()))
                    if N == config.curve_size and seed == 0:
                        curves[f"{kind}, closed form"] = curve.tolist()
        means = ", ".join(f"{kind} {statistics.fmean(totals[kind][N]):.2f}" for kind in KINDS)
        echo(f"N = {N} (K = {K} delays, {config.seeds} seeds): MC {means} ({time.monotonic() - started:.1f} s)")
    return {"totals": totals, "slacks": slacks, "curves": curves, "theory": theory}


def within_band(measured: float, closed: float, slack: float, *, size: int, delays: int, length: int) -> bool:
    """Whether a measured MC agrees with its closed form up to finite-sample effects.

    Above: up to ``slack`` (:func:`finite_sample_slack`). Below: a least-squares readout of p = N + 1 weights
    fitted on L steps loses about (1 - r²) p/(L - p - 1) of r² out of sample (the expected excess error of
    ordinary least squares), summed over the K delays (K - MC) p/(L - p - 1); that, less the same slack.
    """
    weights = size + 1
    shortfall = (delays - closed) * weights / (length - weights - 1)
    return closed - shortfall - slack <= measured <= closed + slack


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure MC for linear and tanh reservoirs of several sizes, plot both figures, check Jaeger's bound.

    Runs on one torch thread (:func:`recnets.machine.one_torch_thread`, which says why).
    """
    with one_torch_thread():
        return _run(Path(out_dir), quick, progress, echo)


def _run(out_dir: Path, quick: bool, progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    config = settings(quick)
    results = measure(config, echo if progress else (lambda _: None))
    totals, slacks, theory = results["totals"], results["slacks"], results["theory"]
    mean = {kind: [statistics.fmean(totals[kind][N]) for N in config.sizes] for kind in KINDS}

    N0, K0 = config.curve_size, delays_for(config.curve_size, config)
    delays = list(range(K0))
    styles = {kind: (delays, values) for kind, values in results["curves"].items()}
    plot_curves(styles, out_dir / "plots" / "forgetting_curve.png",
                title=f"forgetting curve, N = {N0}: MC_k = r²(u(n-k), y_k(n))", xlabel="delay k",
                ylabel="MC_k")
    sizes = list(config.sizes)
    plot_curves({kind: (sizes, mean[kind], [_spread(totals[kind][N]) for N in sizes]) for kind in KINDS},
                out_dir / "plots" / "capacity.png", title=f"memory capacity against N ({config.seeds} seeds, "
                                                          f"K = max(2N, {config.min_delays}) delays)",
                xlabel="reservoir size N", ylabel="MC = Σ_k MC_k", logx=True, logy=True,
                reference=("MC = N", sizes, sizes))

    largest_slack = max(value for by_size in slacks.values() for values in by_size.values() for value in values)
    enough = [N for N in sizes if config.length >= 20 * N]  # at least 20 training steps per readout weight
    checks = {
        "MC ≤ N + its finite-sample slack for every reservoir, size and seed":
            all(value <= N + slack for kind in KINDS for N in sizes
                for value, slack in zip(totals[kind][N], slacks[kind][N])),
        f"linear orthogonal reservoir: MC ≥ 0.9 N at every N with ≥ 20 training steps per unit ({enough})":
            all(value >= 0.9 * N for N in enough for value in totals[LINEAR][N]),
        "tanh reservoir: mean MC below the linear orthogonal reservoir's at every N":
            all(t < lin for t, lin in zip(mean[TANH], mean[LINEAR])),
        "mean MC grows with N for every kind of reservoir":
            all(a < b for kind in KINDS for a, b in zip(mean[kind], mean[kind][1:])),
        "linear orthogonal reservoir: every measured MC within the finite-sample band of its closed form":
            all(within_band(measured, closed, slack, size=N, delays=delays_for(N, config), length=config.length)
                for N in sizes
                for measured, closed, slack in zip(totals[LINEAR][N], theory[N], slacks[LINEAR][N])),
    }
    rows = []
    for index, N in enumerate(sizes):
        last = index == len(sizes) - 1
        rows.append(Row(f"N = {N}: linear reservoir, orthogonal W (ρ = {config.linear_radius}), MC",
                        mean[LINEAR][index], paper=f"≤ {N}, close to {N}", source=PAPER if last else None,
                        status="V" if last else None))
        rows.append(Row(f"N = {N}: tanh reservoir, random W (ρ = {config.tanh_radius}), MC", mean[TANH][index],
                        paper=f"≤ {N}", source=PAPER if last else None, status="V" if last else None))
        rows.append(Row(f"N = {N}: linear reservoir with the tanh's W, MC", mean[CONTROL][index]))
    rows.append(Row(f"N = {N0}: closed-form MC of the linear orthogonal reservoir over the same {K0} delays "
                    "(infinite series)", statistics.fmean(theory[N0])))
    budget = (f"N in {sizes}, {config.seeds} seed(s) per N and kind; i.i.d. input U[-1, 1]; readouts of delays "
              f"k = 0..K-1, K = max(2N, {config.min_delays}), ridge 1e-10, trained on {config.length} steps after a "
              f"washout of K and tested on {config.test_length}; float64")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks,
        notes=("Jaeger (2001) proves MC ≤ N for any reservoir with one input and i.i.d. input, with equality "
               "for a linear reservoir whose Krylov matrix has full rank. The linear reservoir here has W = ρ Q, "
               "Q random orthogonal; its forgetting curve has a closed form (x(n) = Σ_j W^j w u(n-j), so "
               "MC_k = (W^k w)ᵀ C⁻¹ W^k w with C the solution of C = W C Wᵀ + w wᵀ), drawn beside the "
               "measurement. The third reservoir uses the tanh reservoir's W and W_in with the identity "
               "activation: the gap between it and the tanh reservoir is what the nonlinearity costs, the gap "
               "between it and the orthogonal one what a random non-normal W at ρ = 0.9 costs. "
               "Deviations: delays count from k = 0 (the current input), as recnets' memory_capacity does, so "
               "a linear reservoir attains N; the sum stops at K delays (a lower estimate of the infinite sum, "
               "whose tail is small at ρ = 0.95: see the closed form); the bound allows each estimate a finite-sample "
               "slack of K/L (chance r² on L test steps) plus twice the summed standard errors 2 r_k (1 - r_k²)/√L "
               f"of the K per-delay estimates (here at most {largest_slack:.2f})."),
        extra={"settings": asdict(config), "mc": {kind: {str(N): v for N, v in by_size.items()}
                                                  for kind, by_size in totals.items()},
               "slack": {kind: {str(N): v for N, v in by_size.items()} for kind, by_size in slacks.items()},
               "closed_form_mc_linear": {str(N): values for N, values in theory.items()},
               "forgetting_curves": {"N": N0, "delays": K0, **results["curves"]}})
    write_summary(out_dir, summary)
    return summary
