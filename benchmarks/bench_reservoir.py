#!/usr/bin/env python
"""Speed and accuracy of recnets' echo state network against reservoirpy 0.4.2, measured in one run.

Both libraries fit the same Mackey-Glass series (``recnets.tasks.series.mackey_glass``, τ = 17; the identical
float64 numpy array goes to both) one step ahead: N = 1000 units, W 10% connected at spectral radius 0.9, leak
0.3, input weights 10% connected (reservoirpy: ±1; ours: U[-√3, √3], the same variance), no bias, 10,000
training steps after a 100-step washout, ridge 1e-7 on the readout [1; x(n)]. It prints, measured in the same
process:

- **init**: building the model (reservoirpy initialises lazily on its first call: here ``model.initialize``
  first); ours includes W's dense eigenvalues (timed apart too) and its CSR copy;
- **fit** and **predict** (the 1,000 test steps that follow, from the training's last state): median seconds of
  interleaved repeats, and the ratios;
- **NRMSE** on the test steps of each library's own reservoir, and of ours run with *reservoirpy's* W, W_in and
  bias copied in (float64: equal to rounding; float32: the precision that our speed uses);
- **many series at once**: 64 series (disjoint windows of one long series) fitted with one shared readout in
  one call, series per second; reservoirpy's batch API (a 3-D array) runs them one after the other;
- a **per-step breakdown**: the operations of one reservoir step and the readout's XᵀX.

Ours runs the reservoir in float32 (``--dtype``) and accumulates the readout's statistics in float64.
Each thread count runs in a fresh subprocess with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` set before numpy and torch load, so both libraries' BLAS obey it.

Usage:
    python benchmarks/bench_reservoir.py                  # threads 1 and 2 (see docs/benchmarks.md for time)
    python benchmarks/bench_reservoir.py --quick          # tiny sizes: a smoke test, seconds
    python benchmarks/bench_reservoir.py --threads 1 --repeats 7 --json reservoir.json

Ratios: ``speed-up = reservoirpy time / our time`` (the issue's target: fit >= 3x at an NRMSE within 5% of
reservoirpy's); ``ours/rpy`` is its inverse, the house's time ratio.

Book: 10.8 (echo state networks).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch

from per_thread import interleaved_medians, run_benchmark  # benchmarks/ is on sys.path when a script there runs
from recnets.machine import describe_machine
from recnets.reservoir import EchoStateNetwork, ReservoirCell, nrmse, spectral_radius
from recnets.tasks.series import mackey_glass

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
INPUT_SCALING = 3 ** 0.5  # our W_in ~ U[-s, s] with variance s²/3 = 1, that of reservoirpy's Bernoulli ±1


# ---------------------------------------------------------------------------------------------- timing

def microseconds_per_call(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median over ``repeats`` samples of ``calls`` back-to-back calls, in µs per call."""
    for _ in range(max(1, calls // 10)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


# ---------------------------------------------------------------------------------------------- models

def reservoirpy_model(size: int, seed: int, args: argparse.Namespace):
    """reservoirpy's ESN: Reservoir (normal W, Bernoulli ±1 W_in) >> Ridge (readout [1; x], bias not penalised)."""
    from reservoirpy import ESN
    from reservoirpy.nodes import Reservoir, Ridge
    reservoir = Reservoir(size, lr=args.leak, sr=args.radius, rc_connectivity=args.connectivity,
                          input_connectivity=args.connectivity, input_scaling=1.0, seed=seed)
    return ESN(reservoir=reservoir, readout=Ridge(ridge=args.ridge))


def our_model(size: int, seed: int, dtype: torch.dtype, args: argparse.Namespace) -> EchoStateNetwork:
    """Ours with the same settings: normal W; W_in uniform on [-√3, √3], the variance of reservoirpy's ±1 (with
    U[-1, 1] the input drive is weaker and the test NRMSE ~20% worse: measured); readout [1; x]."""
    cell = ReservoirCell(1, size, spectral_radius=args.radius, connectivity=args.connectivity, leak=args.leak,
                         input_scaling=INPUT_SCALING, input_connectivity=args.connectivity, distribution="normal",
                         seed=seed, dtype=dtype)
    cell._operator()  # the CSR copy of W, built on first use: part of the set-up, as reservoirpy's
    return EchoStateNetwork(cell, 1, input_in_readout=False)


def copied_model(model, dtype: torch.dtype, args: argparse.Namespace) -> EchoStateNetwork:
    """Ours with reservoirpy's W, W_in and bias copied in (the same reservoir)."""
    reservoir = model.reservoir
    size = reservoir.W.shape[0]
    W = torch.from_numpy(np.asarray(reservoir.W.toarray() if hasattr(reservoir.W, "toarray") else reservoir.W))
    W_in = reservoir.Win.toarray() if hasattr(reservoir.Win, "toarray") else np.asarray(reservoir.Win)
    bias = np.broadcast_to(np.asarray(reservoir.bias, dtype=np.float64).reshape(-1), (size,))
    cell = ReservoirCell(1, size, W=W, leak=args.leak, dtype=dtype)
    cell.W_in.copy_(torch.from_numpy(W_in))
    cell.b.copy_(torch.from_numpy(bias.copy()))
    return EchoStateNetwork(cell, 1, input_in_readout=False)


def fit_ours(esn: EchoStateNetwork, u: np.ndarray, y: np.ndarray, args: argparse.Namespace):
    """Our fit on the numpy arrays reservoirpy gets (``torch.from_numpy`` shares their memory)."""
    return esn.fit(torch.from_numpy(u), torch.from_numpy(y), washout=args.washout, ridge=args.ridge)


# ---------------------------------------------------------------------------------------------- worker

def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement for one thread count (one fresh process)."""
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    import reservoirpy
    dtype = getattr(torch, args.dtype)
    N, train, test, washout = args.size, args.train_steps, args.test_steps, args.washout
    result: dict[str, Any] = {"threads": args.threads, "machine": describe_machine("cpu"),
                              "load_average": os.getloadavg()[0], "numpy": np.__version__,
                              "reservoirpy": reservoirpy.__version__,
                              "steps": {"train": train, "test": test, "washout": washout, "size": N}}
    series = mackey_glass(train + test + 1).numpy().reshape(-1, 1)  # (T + 1, 1) float64: both get this array
    u_train, y_train = series[:train], series[1:train + 1]
    u_test, y_test = series[train:train + test], series[train + 1:train + test + 1]
    target = torch.from_numpy(y_test)

    # --- initialisation, timed apart
    init = {"reservoirpy": [], "ours": [], "ours_eigvals": []}
    for _ in range(args.init_repeats):
        start = time.perf_counter()
        theirs = reservoirpy_model(N, 0, args)
        theirs.initialize(u_train, y_train)
        init["reservoirpy"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = our_model(N, 0, dtype, args)
        init["ours"].append(time.perf_counter() - start)
        start = time.perf_counter()
        spectral_radius(ours.reservoir.W)  # the dense eigenvalues that rescaling W costs
        init["ours_eigvals"].append(time.perf_counter() - start)
    result["init"] = {name: statistics.median(values) for name, values in init.items()}
    log(f"init: reservoirpy {result['init']['reservoirpy']:.3f} s, ours {result['init']['ours']:.3f} s "
        f"(eigvals {result['init']['ours_eigvals']:.3f} s)")

    # --- fit and predict, interleaved
    outputs: dict[str, np.ndarray] = {}

    def fit_theirs() -> None:
        theirs.reset()
        theirs.fit(u_train, y_train, warmup=washout)

    def predict_theirs() -> None:
        outputs["reservoirpy"] = theirs.run(u_test)

    fitted: dict[str, Any] = {}

    def fit_mine() -> None:
        fitted["report"] = fit_ours(ours, u_train, y_train, args)

    def predict_mine() -> None:
        outputs["ours"] = ours.predict(torch.from_numpy(u_test), fitted["report"].state)[0].double().numpy()

    candidates = {"reservoirpy": (fit_theirs, predict_theirs), "ours": (fit_mine, predict_mine)}
    fit_times = {name: [] for name in candidates}
    predict_times = {name: [] for name in candidates}
    for fit, predict in candidates.values():  # warm-up
        fit()
        predict()
    names = list(candidates)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            fit, predict = candidates[name]
            start = time.perf_counter()
            fit()
            fit_times[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            predict()  # the test steps that follow the training, from its last state
            predict_times[name].append(time.perf_counter() - start)
    result["fit"] = {name: statistics.median(values) for name, values in fit_times.items()}
    result["predict"] = {name: statistics.median(values) for name, values in predict_times.items()}
    result["nrmse"] = {name: nrmse(torch.from_numpy(outputs[name]), target) for name in names}
    log(f"fit: reservoirpy {result['fit']['reservoirpy']:.3f} s, ours {result['fit']['ours']:.3f} s; "
        f"predict: {result['predict']['reservoirpy'] * 1e3:.1f} ms, {result['predict']['ours'] * 1e3:.1f} ms; "
        f"NRMSE {result['nrmse']['reservoirpy']:.5f}, {result['nrmse']['ours']:.5f}")

    # --- the same reservoir: reservoirpy's W, W_in and bias in ours
    same: dict[str, Any] = {"reservoirpy": result["nrmse"]["reservoirpy"]}
    theirs.reset()
    their_states = theirs.reservoir.run(u_train[:1000])  # (1000, N) from rest
    for name, same_dtype in (("ours_float64", torch.float64), ("ours_float32", dtype)):
        copy = copied_model(theirs, same_dtype, args)
        states, _ = copy.reservoir.run(torch.from_numpy(u_train[None, :1000]))
        same[f"{name}_state_diff"] = float((states[0].double() - torch.from_numpy(their_states)).abs().max())
        report = fit_ours(copy, u_train, y_train, args)
        prediction = copy.predict(torch.from_numpy(u_test), report.state)[0].double()
        same[name] = nrmse(prediction, target)
        same[f"{name}_output_diff"] = float((prediction - torch.from_numpy(outputs["reservoirpy"])).abs().max())
    result["same_reservoir"] = same
    log("same reservoir: " + ", ".join(f"{key} {value:.3g}" for key, value in same.items()))

    # --- NRMSE over more seeds (own reservoirs), untimed: the first worker only
    if args.nrmse_seeds > 1 and args.first_worker:
        seeds = {"reservoirpy": [result["nrmse"]["reservoirpy"]], "ours": [result["nrmse"]["ours"]]}
        for seed in range(1, args.nrmse_seeds):
            model = reservoirpy_model(N, seed, args)
            model.fit(u_train, y_train, warmup=washout)
            seeds["reservoirpy"].append(nrmse(torch.from_numpy(model.run(u_test)), target))
            esn = our_model(N, seed, dtype, args)
            report = fit_ours(esn, u_train, y_train, args)
            seeds["ours"].append(nrmse(esn.predict(torch.from_numpy(u_test), report.state)[0].double(), target))
        result["nrmse_seeds"] = seeds
        log("NRMSE over seeds: " + ", ".join(f"{name} {statistics.mean(v):.5f}" for name, v in seeds.items()))

    # --- many series at once
    if args.batch:
        result["batch"] = batch_measurements(args, dtype)
    result["breakdown"] = breakdown(args, dtype, theirs, ours, u_train)
    return result


def batch_measurements(args: argparse.Namespace, dtype: torch.dtype) -> dict[str, Any]:
    """Fit one shared readout on B series in one call, and predict them; series per second."""
    B, T, washout = args.batch, args.batch_steps, args.washout
    long = mackey_glass(B * (T + 1), seed=1).numpy().reshape(B, T + 1, 1)  # B disjoint windows
    us, ys = np.ascontiguousarray(long[:, :-1]), np.ascontiguousarray(long[:, 1:])  # (B, T, 1) each
    theirs = reservoirpy_model(args.size, 0, args)
    theirs.initialize(us[0], ys[0])
    ours = our_model(args.size, 0, dtype, args)
    outputs: dict[str, np.ndarray] = {}

    def fit_theirs() -> None:
        theirs.reset()
        theirs.fit(us, ys, warmup=washout)

    def predict_theirs() -> None:
        theirs.reset()
        outputs["reservoirpy"] = np.asarray(theirs.run(us))

    def predict_mine() -> None:
        outputs["ours"] = ours.predict(torch.from_numpy(us))[0].double().numpy()

    fit = interleaved_medians({"reservoirpy": fit_theirs, "ours": lambda: fit_ours(ours, us, ys, args)},
                              args.batch_repeats)
    predict = interleaved_medians({"reservoirpy": predict_theirs, "ours": predict_mine}, args.batch_repeats)
    target = torch.from_numpy(ys[:, washout:])
    in_sample = {name: nrmse(torch.from_numpy(outputs[name][:, washout:]), target) for name in outputs}
    log(f"batch {B} x {T}: fit reservoirpy {fit['reservoirpy']:.2f} s, ours {fit['ours']:.2f} s; predict "
        f"{predict['reservoirpy']:.2f} s, {predict['ours']:.2f} s")
    return {"B": B, "T": T, "fit": fit, "predict": predict, "nrmse_in_sample": in_sample}


def breakdown(args: argparse.Namespace, dtype: torch.dtype, theirs, ours: EchoStateNetwork,
              u_train: np.ndarray) -> dict[str, float]:
    """µs of one reservoir step's operations (ours and reservoirpy's), and ms of the readout's XᵀX."""
    from recnets.reservoir.readout import _gram
    cell = ours.reservoir
    N, calls, repeats = args.size, args.breakdown_calls, 5
    operator = cell._operator()
    x = torch.rand(N, dtype=dtype) * 0.5
    px = torch.rand(N, dtype=dtype)
    pre, out = torch.empty(N, dtype=dtype), torch.empty(N, dtype=dtype)
    dense = cell.W.contiguous()
    cell64 = ReservoirCell(1, N, W=cell.W.double(), leak=args.leak, dtype=torch.float64)
    x64, px64, pre64 = x.double(), px.double(), pre.double()
    operator64 = cell64._operator()
    W_scipy, s = theirs.reservoir.W, np.random.default_rng(0).random(N) * 0.5
    us = torch.from_numpy(u_train[None, :args.breakdown_steps])
    rows = {
        f"ours: W x + px (CSR addmv, {args.dtype})": microseconds_per_call(
            lambda: torch.addmv(px, operator, x, out=pre), calls, repeats),
        "ours: tanh (in place)": microseconds_per_call(lambda: pre.tanh_(), calls, repeats),
        "ours: leaky mix (lerp into the states)": microseconds_per_call(
            lambda: torch.lerp(x, pre, args.leak, out=out), calls, repeats),
        "ours: whole step (run / T)": microseconds_per_call(
            lambda: cell.run(us), 1, repeats) / us.shape[1],
        f"idea: W x + px, dense W (addmv, {args.dtype})": microseconds_per_call(
            lambda: torch.addmv(px, dense, x, out=pre), calls, repeats),
        "idea: W x + px, CSR float64": microseconds_per_call(
            lambda: torch.addmv(px64, operator64, x64, out=pre64), calls, repeats),
        "reservoirpy: W @ s (scipy CSR, float64)": microseconds_per_call(lambda: W_scipy @ s, calls, repeats),
        "reservoirpy: whole step (run / T)": microseconds_per_call(
            lambda: theirs.reservoir.run(u_train[:args.breakdown_steps]), 1, repeats) / args.breakdown_steps,
    }
    X = torch.rand(args.train_steps - args.washout, N + 1, dtype=torch.float64)
    gram = {"readout XtX, numpy syrk (ours), ms": microseconds_per_call(lambda: _gram(X), 1, 3) / 1e3,
            "readout XtX, torch X.t() @ X (before), ms": microseconds_per_call(lambda: X.t() @ X, 1, 3) / 1e3}
    log("breakdown: " + ", ".join(f"{key} {value:.1f}" for key, value in {**rows, **gram}.items()))
    return {**rows, **gram}


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- report

def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    out = [f"Machine: {first['machine']}; numpy {first['numpy']}, reservoirpy {first['reservoirpy']}; "
           f"load average at start: " + ", ".join(f"{r['load_average']:.2f}" for r in results),
           f"Workload: Mackey-Glass (tau 17), N={args.size}, connectivity {args.connectivity}, spectral radius "
           f"{args.radius}, leak {args.leak}, {args.train_steps} training steps after a {args.washout}-step washout, "
           f"ridge {args.ridge:g}, {args.test_steps} test steps; ours in {args.dtype} (readout statistics float64). "
           f"Median of {args.repeats} interleaved repeats.", "",
           "| threads | what | reservoirpy | ours | ours/rpy time | speed-up |", "|---|---|---|---|---|---|"]
    for r in results:
        t = r["threads"]
        init = r["init"]
        out.append(f"| {t} | init, s (ours: eigvals {init['ours_eigvals']:.2f} s of it) | {init['reservoirpy']:.3f} "
                   f"| {init['ours']:.3f} | {init['ours'] / init['reservoirpy']:.2f} "
                   f"| {init['reservoirpy'] / init['ours']:.2f}x |")
        for what, key, unit, scale in (("fit", "fit", "s", 1), ("predict", "predict", "ms", 1e3)):
            v = r[key]
            out.append(f"| {t} | {what} {args.train_steps if key == 'fit' else args.test_steps} steps, {unit} "
                       f"| {v['reservoirpy'] * scale:.3f} | {v['ours'] * scale:.3f} "
                       f"| {v['ours'] / v['reservoirpy']:.3f} | **{v['reservoirpy'] / v['ours']:.2f}x** |")
        n = r["nrmse"]
        out.append(f"| {t} | test NRMSE (own reservoirs, seed 0) | {n['reservoirpy']:.5f} | {n['ours']:.5f} "
                   f"| {n['ours'] / n['reservoirpy']:.3f} | |")
        if "batch" in r:
            b = r["batch"]
            for what in ("fit", "predict"):
                v = b[what]
                out.append(f"| {t} | {b['B']} series x {b['T']} steps: {what}, series/s "
                           f"| {b['B'] / v['reservoirpy']:.1f} | {b['B'] / v['ours']:.1f} "
                           f"| {v['ours'] / v['reservoirpy']:.3f} | **{v['reservoirpy'] / v['ours']:.2f}x** |")
    same = first["same_reservoir"]
    steps = min(1000, args.train_steps)
    out += ["", f"Same reservoir (reservoirpy's W, W_in, bias copied into ours): test NRMSE reservoirpy "
            f"{same['reservoirpy']:.6f}, ours float64 {same['ours_float64']:.6f} (relative difference "
            f"{abs(same['ours_float64'] / same['reservoirpy'] - 1):.1e}; max |state difference| over {steps} steps "
            f"{same['ours_float64_state_diff']:.1e}; max |output difference| {same['ours_float64_output_diff']:.1e}, "
            f"from the readouts alone: reservoirpy leaves the bias out of the ridge penalty, ours does not), ours "
            f"{args.dtype} {same['ours_float32']:.6f} (relative difference "
            f"{abs(same['ours_float32'] / same['reservoirpy'] - 1):.1e}; state difference "
            f"{same['ours_float32_state_diff']:.1e})."]
    if "nrmse_seeds" in first:
        seeds = first["nrmse_seeds"]
        ratio = statistics.mean(seeds["ours"]) / statistics.mean(seeds["reservoirpy"])
        verdicts = []
        for r in results:
            speedup = r["fit"]["reservoirpy"] / r["fit"]["ours"]
            verdicts.append(f"{speedup:.2f}x at {r['threads']} thread{'s' if r['threads'] > 1 else ''}: "
                            f"{'met' if speedup >= 3 and ratio <= 1.05 else 'not met'}")
        out.append(f"Target (fit >= 3x faster at an NRMSE within 5%; NRMSE ours/reservoirpy {ratio:.3f}, mean over "
                   f"seeds): " + "; ".join(verdicts) + ".")
        listed = {name: ", ".join(f"{v:.5f}" for v in values) for name, values in seeds.items()}
        out.append(f"Test NRMSE of own reservoirs over seeds 0-{len(seeds['ours']) - 1}: reservoirpy mean "
                   f"{statistics.mean(seeds['reservoirpy']):.5f} ({listed['reservoirpy']}), "
                   f"ours mean {statistics.mean(seeds['ours']):.5f} ({listed['ours']}).")
    out += ["", "Per-step breakdown (µs per call unless stated; median of 5 samples):", "",
            "| " + " | ".join(["what"] + [f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" for r in results])
            + " |", "|---|" + "---|" * len(results)]
    for key in first["breakdown"]:
        out.append(f"| {key} | " + " | ".join(f"{r['breakdown'][key]:.1f}" for r in results) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, each in a fresh process (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed fit/predict repeats (default 5)")
    parser.add_argument("--size", type=int, default=None, help="N, the reservoir units (default 1000)")
    parser.add_argument("--train-steps", type=int, default=None, help="training steps (default 10000)")
    parser.add_argument("--test-steps", type=int, default=None, help="test steps (default 1000)")
    parser.add_argument("--washout", type=int, default=100, help="steps left out of the regression (default 100)")
    parser.add_argument("--connectivity", type=float, default=0.1)
    parser.add_argument("--radius", type=float, default=0.9, help="spectral radius of W (default 0.9)")
    parser.add_argument("--leak", type=float, default=0.3)
    parser.add_argument("--ridge", type=float, default=1e-7)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="our reservoir's dtype (default float32; the readout accumulates in float64)")
    parser.add_argument("--batch", type=int, default=None, help="series fitted at once (default 64; 0: skip)")
    parser.add_argument("--batch-steps", type=int, default=None, help="steps per batch series (default 1000)")
    parser.add_argument("--nrmse-seeds", type=int, default=None,
                        help="seeds for the own-reservoir NRMSE comparison, untimed (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (N 100, 1000 steps): a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--first-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"repeats": 2 if quick else 5, "size": 100 if quick else 1000,
                "train_steps": 1000 if quick else 10000, "test_steps": 200 if quick else 1000,
                "batch": 8 if quick else 64, "batch_steps": 300 if quick else 1000,
                "nrmse_seeds": 1 if quick else 3}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.init_repeats = 1 if quick else 3
    args.batch_repeats = 1 if quick else 3
    args.breakdown_calls = 200 if quick else 2000
    args.breakdown_steps = 200 if quick else 2000
    if args.train_steps <= args.washout or args.batch_steps <= args.washout and args.batch:
        parser.error(f"--train-steps/--batch-steps: expected more than the washout ({args.washout})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    results = run_benchmark(__file__, args, argv, worker, environment=THREAD_VARIABLES, flag_first="--first-worker")
    if results is not None:
        print(report(results, args))


if __name__ == "__main__":
    main()
