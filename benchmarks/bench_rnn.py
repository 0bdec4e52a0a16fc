#!/usr/bin/env python
"""Speed of recnets' Elman/LSTM/GRU through ``unroll`` against torch.nn.RNN/LSTM/GRU, measured in one run.

For every cell and hidden size it times training (forward + backward of ``ys.sum()``) and inference
(``torch.inference_mode`` forward) of

- ``fused``: ``recnets.unroll(cell, xs)`` with the default backend ("auto": torch's kernel on the cell's own
  parameters; oneDNN on CPU, cuDNN on GPU),
- ``eager``: ``recnets.unroll(cell, xs, backend="eager")``, the reference loop (projection hoisted),
- ``torch``: the anchor, ``torch.nn.RNN/LSTM/GRU(batch_first=True)`` with the same sizes and weights,

interleaved (each repeat runs every candidate once, in a rotating order, so drift hits all of them), after
warm-up, reporting the median of the repeats. A ragged batch (lengths uniform in [T/2, T], seeded) times the
LSTM's fused path (sorted, cut at the distinct lengths) and eager path against ``nn.LSTM`` on a
``PackedSequence`` (packing and unpacking included) and on the dense padded batch (wrong final states for the
shorter rows: the speed floor, not a correct alternative).

Each thread count runs in a fresh subprocess, so ``torch.set_num_threads`` starts clean.

Usage:
    python benchmarks/bench_rnn.py                      # full CPU grid: threads 1 2, H 64 256 1024
    python benchmarks/bench_rnn.py --quick              # about a minute
    python benchmarks/bench_rnn.py --device cuda --hidden 256 1024 --batch 32 256
    python benchmarks/bench_rnn.py --json results.json  # also write every measurement

Ratios: ``time ratio = our time / torch time`` (< 1.05: within 5%); ``throughput ratio = torch time / our
time`` (>= 0.95 is the acceptance criterion of the speed issue).

Book: 10.2 (the unfolded graph whose cost this measures).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from per_thread import run_benchmark  # benchmarks/ is on sys.path when a script there runs
from recnets.machine import cpu_model
from recnets import ElmanCell, GRUCell, LSTMCell, unroll

CELLS: dict[str, tuple[type, type]] = {"elman": (ElmanCell, nn.RNN), "lstm": (LSTMCell, nn.LSTM),
                                       "gru": (GRUCell, nn.GRU)}


# ---------------------------------------------------------------------------------------------- machine

def describe_machine(device: str) -> dict[str, Any]:
    """CPU model, cores, torch version and threads, and the GPU's name on CUDA."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(),
            "device": "cpu"}
    if device == "cuda":
        info["device"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------------------------------- timing

def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(fn: Callable[[], None], calls: int, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def interleaved_medians(candidates: dict[str, Callable[[], None]], anchor: str, *, device: str, warmup: int,
                        repeats: int, min_sample_s: float, max_row_s: float) -> tuple[dict[str, float], int, int]:
    """Median seconds per call of each candidate, repeats interleaved in a rotating order.

    Warm-up: ``warmup`` calls per candidate, or one when a call takes over 0.25 s (one call builds the
    oneDNN/cuDNN plans). The number of calls per sample is set from the anchor's warm time so that a sample
    lasts about ``min_sample_s`` (short GPU calls are otherwise all launch noise); every candidate uses the
    same count. Repeats: ``repeats``, fewer (at least 3) when a round of all candidates is so slow that the
    row would exceed ``max_row_s``.

    Returns:
        ``({name: median seconds per call}, calls per sample, repeats)``.
    """
    probe = 0.0
    for name, fn in candidates.items():
        for _ in range(warmup):
            seconds = seconds_per_call(fn, 1, device)
            if name == anchor:
                probe = seconds
            if seconds > 0.25:
                break
    calls = max(1, min(200, round(min_sample_s / max(probe, 1e-6))))
    round_s = probe * calls * len(candidates)
    repeats = max(min(3, repeats), min(repeats, int(max_row_s / max(round_s, 1e-6))))
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(seconds_per_call(candidates[name], calls, device))
    return {name: statistics.median(values) for name, values in samples.items()}, calls, repeats


# ---------------------------------------------------------------------------------------------- workloads

def make_pair(kind: str, width: int, hidden: int, device: str) -> tuple[nn.Module, nn.Module]:
    """Our cell and the torch module, with the module's weights copied from the cell."""
    cell_type, module_type = CELLS[kind]
    cell = cell_type(width, hidden, device=device)
    module = module_type(width, hidden, batch_first=True, device=device)
    with torch.no_grad():
        module.weight_ih_l0.copy_(cell.U)
        module.weight_hh_l0.copy_(cell.W)
        if kind == "elman":
            module.bias_ih_l0.copy_(cell.b)
            module.bias_hh_l0.zero_()
        else:
            module.bias_ih_l0.copy_(cell.b_U)
            module.bias_hh_l0.copy_(cell.b_W)
    return cell, module


def training_step(forward: Callable[[], torch.Tensor], module: nn.Module) -> Callable[[], None]:
    def run() -> None:
        forward().sum().backward()
        module.zero_grad(set_to_none=True)
    return run


def inference_step(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            forward()
    return run


def dense_candidates(kind: str, cell: nn.Module, module: nn.Module, xs: torch.Tensor,
                     mode: str) -> dict[str, Callable[[], None]]:
    forwards = {
        "torch": lambda: module(xs)[0],
        "fused": lambda: unroll(cell, xs)[0],
        "eager": lambda: unroll(cell, xs, backend="eager")[0],
    }
    owners = {"torch": module, "fused": cell, "eager": cell}
    if mode == "train":
        return {name: training_step(fn, owners[name]) for name, fn in forwards.items()}
    return {name: inference_step(fn) for name, fn in forwards.items()}


def ragged_candidates(cell: nn.Module, module: nn.Module, xs: torch.Tensor, lengths: torch.Tensor,
                      mode: str) -> dict[str, Callable[[], None]]:
    steps = xs.shape[1]
    lengths_cpu = lengths.cpu()  # pack_padded_sequence wants its lengths on the CPU

    def packed() -> torch.Tensor:
        ys, _ = module(pack_padded_sequence(xs, lengths_cpu, batch_first=True, enforce_sorted=False))
        return pad_packed_sequence(ys, batch_first=True, total_length=steps)[0]

    forwards = {
        "torch_packed": packed,
        "torch_dense": lambda: module(xs)[0],
        "fused": lambda: unroll(cell, xs, lengths=lengths)[0],
        "eager": lambda: unroll(cell, xs, lengths=lengths, backend="eager")[0],
    }
    owners = {"torch_packed": module, "torch_dense": module, "fused": cell, "eager": cell}
    if mode == "train":
        return {name: training_step(fn, owners[name]) for name, fn in forwards.items()}
    return {name: inference_step(fn) for name, fn in forwards.items()}


# ---------------------------------------------------------------------------------------------- worker

def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement for one thread count (one fresh process)."""
    torch.set_num_threads(args.threads)
    device = args.device
    machine = describe_machine(device)
    min_sample_s = 0.02 if device == "cuda" else 0.05
    timing = {"device": device, "warmup": args.warmup, "repeats": args.repeats, "min_sample_s": min_sample_s,
              "max_row_s": args.max_row_seconds}
    rows: list[dict[str, Any]] = []
    generator = torch.Generator().manual_seed(0)
    for batch in args.batch:
        for hidden in args.hidden:
            xs = torch.randn(batch, args.steps, args.width, generator=generator).to(device)
            for kind in args.cells:
                torch.manual_seed(0)
                cell, module = make_pair(kind, args.width, hidden, device)
                for mode in ("train", "infer"):
                    medians, calls, repeats = interleaved_medians(
                        dense_candidates(kind, cell, module, xs, mode), "torch", device=device,
                        warmup=args.warmup, repeats=args.repeats, min_sample_s=min_sample_s,
                        max_row_s=args.max_row_seconds)
                    rows.append({"case": "dense", "cell": kind, "B": batch, "T": args.steps, "D": args.width,
                                 "H": hidden, "mode": mode, "threads": args.threads, "calls": calls,
                                 "repeats": repeats,
                                 "tokens": batch * args.steps, "seconds": medians})
                    log(rows[-1])
            if args.ragged and not (args.quick and hidden != min(args.hidden)):
                lengths = torch.randint(args.steps // 2, args.steps + 1, (batch,), generator=generator)
                torch.manual_seed(0)
                cell, module = make_pair("lstm", args.width, hidden, device)
                for mode in ("train", "infer"):
                    medians, calls, repeats = interleaved_medians(
                        ragged_candidates(cell, module, xs, lengths.to(device), mode), "torch_packed",
                        device=device, warmup=args.warmup, repeats=args.repeats, min_sample_s=min_sample_s,
                        max_row_s=args.max_row_seconds)
                    rows.append({"case": "ragged", "cell": "lstm", "B": batch, "T": args.steps, "D": args.width,
                                 "H": hidden, "mode": mode, "threads": args.threads, "calls": calls,
                                 "repeats": repeats,
                                 "tokens": int(lengths.sum()), "distinct_lengths": int(lengths.unique().numel()),
                                 "seconds": medians})
                    log(rows[-1])
    return {"machine": machine, "timing": timing, "rows": rows}


def log(row: dict[str, Any]) -> None:
    times = " ".join(f"{name}={seconds * 1e3:.2f}ms" for name, seconds in row["seconds"].items())
    print(f"  [{row['threads']} thr] {row['case']:6} {row['cell']:5} B={row['B']:<4} H={row['H']:<5} "
          f"{row['mode']:5} {times} ({row['repeats']} x {row['calls']} calls)", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- report

def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def fmt_rate(tokens: int, seconds: float) -> str:
    rate = tokens / seconds
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}k"


def dense_table(rows: list[dict[str, Any]]) -> str:
    head = ("| threads | B | cell | H | mode | torch ms | fused ms | eager ms | torch tok/s | fused tok/s "
            "| fused/torch time | fused thr. ratio | eager/torch time | eager thr. ratio |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        if row["case"] != "dense":
            continue
        s = row["seconds"]
        lines.append(f"| {row['threads']} | {row['B']} | {row['cell']} | {row['H']} | {row['mode']} "
                     f"| {fmt_ms(s['torch'])} | {fmt_ms(s['fused'])} | {fmt_ms(s['eager'])} "
                     f"| {fmt_rate(row['tokens'], s['torch'])} | {fmt_rate(row['tokens'], s['fused'])} "
                     f"| {s['fused'] / s['torch']:.3f} | {s['torch'] / s['fused']:.3f} "
                     f"| {s['eager'] / s['torch']:.2f} | {s['torch'] / s['eager']:.2f} |")
    return "\n".join(lines)


def ragged_table(rows: list[dict[str, Any]]) -> str:
    head = ("| threads | B | H | mode | distinct lengths | packed ms | dense-padded ms | fused ms | eager ms "
            "| fused tok/s | fused/packed time | fused/dense time | eager/packed time |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        if row["case"] != "ragged":
            continue
        s = row["seconds"]
        lines.append(f"| {row['threads']} | {row['B']} | {row['H']} | {row['mode']} | {row['distinct_lengths']} "
                     f"| {fmt_ms(s['torch_packed'])} | {fmt_ms(s['torch_dense'])} | {fmt_ms(s['fused'])} "
                     f"| {fmt_ms(s['eager'])} | {fmt_rate(row['tokens'], s['fused'])} "
                     f"| {s['fused'] / s['torch_packed']:.3f} | {s['fused'] / s['torch_dense']:.3f} "
                     f"| {s['eager'] / s['torch_packed']:.2f} |")
    return "\n".join(lines)


def report(results: list[dict[str, Any]]) -> str:
    machine = results[0]["machine"]
    timing = results[0]["timing"]
    rows = [row for result in results for row in result["rows"]]
    repeats = [row.get("repeats", timing["repeats"]) for row in rows]
    threads = ", ".join(str(result["machine"]["threads"]) for result in results)
    device = machine["device"] if timing["device"] == "cuda" else "CPU"
    out = [f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['cores_usable']} usable); "
           f"torch {machine['torch']}, Python {machine['python']}; device: {device}"
           + (f" (CUDA {machine.get('cuda')}, cuDNN {machine.get('cudnn')})" if timing["device"] == "cuda" else
              f"; oneDNN {'on' if machine['mkldnn'] else 'off'}")
           + f"; torch threads: {threads}; load average at start: "
           + ", ".join(f"{result['machine'].get('load_average', ['?'])[0]:.2f}" for result in results),
           f"Timing: median of {min(repeats)}-{max(repeats)} "
           f"interleaved repeats (fewer for the slowest rows) after up to {timing['warmup']} warm-up calls; "
           f"each sample is >= {timing['min_sample_s'] * 1e3:.0f} ms of back-to-back calls.",
           "", "Dense batch, all sequences of length T (train = forward + backward of ys.sum(); "
           "infer = inference_mode forward):", "", dense_table(rows)]
    if any(row["case"] == "ragged" for row in rows):
        out += ["", "Ragged batch, LSTM, lengths uniform in [T/2, T] (seeded); tok/s counts real tokens:", "",
                ragged_table(rows)]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch thread counts, each in a fresh process (CPU default: 1 2; CUDA default: 1)")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="H values (default 64 256 1024)")
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="B values (default 32)")
    parser.add_argument("--steps", type=int, default=100, help="T (default 100)")
    parser.add_argument("--width", type=int, default=128, help="D (default 128)")
    parser.add_argument("--cells", nargs="+", choices=sorted(CELLS), default=["elman", "lstm", "gru"])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per candidate (default 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="warm-up calls per candidate (default 2; 1 when a call takes over 0.25 s)")
    parser.add_argument("--max-row-seconds", type=float, default=30.0,
                        help="fewer repeats (at least 3) for a row that would take longer (default 30)")
    parser.add_argument("--no-ragged", dest="ragged", action="store_false", help="skip the ragged-batch rows")
    parser.add_argument("--quick", action="store_true", help="H 64 256, 3 repeats, 1 warm-up, ragged rows at the smallest H only: about a minute")
    parser.add_argument("--json", metavar="PATH", help="write machine, settings and every median here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: expected a CUDA device, but torch.cuda.is_available() is False")
    if args.threads is None:
        args.threads = [1] if args.device == "cuda" else [1, 2]
    if args.hidden is None:
        args.hidden = [64, 256] if args.quick else [64, 256, 1024]
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.quick:
        args.warmup = 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    results = run_benchmark(__file__, args, argv, worker)
    if results is not None:
        print(report(results))


if __name__ == "__main__":
    main()
