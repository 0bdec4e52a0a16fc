#!/usr/bin/env python
"""Training on long sequences in bounded memory: ``checkpointed_unroll`` against the plain ``unroll``.

The model is a character-level language model: an embedding (V=64 -> D=128), an LSTM (H=128, torch's layout,
so each segment runs on the fused kernel) and a read-out to V=64 logits, trained with the summed cross-entropy
of the next character (one forward + backward over the whole sequence, B=8). Two ways to train it:

- ``plain``: ``unroll(cell, embedding(ids))``, logits (B, T, V) for the whole sequence, then the loss; every
  step's activations are kept for the backward pass: memory O(T);
- ``checkpointed``: ``checkpointed_unroll(cell, ids, input_fn=embedding, loss_fn=..., targets=...)`` with the
  default segment ``round(√T)``: the embedding, the read-out and the loss are computed inside each segment,
  only the state at each segment boundary is kept, each segment is recomputed in the backward pass: O(√T);
- ``function`` (``--ablation``, T <= 16,384): the same segments walked by a hand-written autograd Function
  (forward under ``no_grad``, every parameter passed explicitly), the design alternative we measured before
  choosing ``torch.utils.checkpoint``.

Each (method, T) runs in a fresh process, so one configuration's peak cannot hide another's. Memory is the peak
**beyond the inputs and targets**: after building the model, drawing the ids (B, T+1) and running one short
warm-up step (which allocates the parameters' gradients, kept and zeroed), the process resets its peak
resident set size (``/proc/self/clear_refs``), takes its current RSS as the baseline and reports
``VmHWM - baseline`` after one training step. On CUDA (``--device cuda``) it is ``max_memory_allocated`` after
``reset_peak_memory_stats`` minus the memory allocated at the baseline. glibc is told to return every block
over 64 KiB to the system when freed (``MALLOC_MMAP_THRESHOLD_=65536``), so freed activations leave the RSS.
Time is the wall time of that one step (median of ``--repeats`` steps when more than one); at
``--ratio-steps`` (default T = 4,096) the methods are also timed against each other in one process, in
``--ratio-repeats`` interleaved rounds (medians), which is the time ratio to quote. A T that
is a power of 4 apart from the previous one gives the growth per 4x in T: about 2 for O(√T), 4 for O(T).

Usage:
    python benchmarks/bench_long_sequences.py                  # T = 1k, 4k, 10k, 16k, 64k, 100k (plain: 1k-64k)
    python benchmarks/bench_long_sequences.py --quick          # T = 256, 1024, 4096: about a minute
    python benchmarks/bench_long_sequences.py --segment 256    # a fixed segment instead of round(√T)
    python benchmarks/bench_long_sequences.py --ablation       # adds the autograd-Function variant (T <= 16k)
    python benchmarks/bench_long_sequences.py --json long.json

Book: 10.2.2 (back-propagation through time and its O(τ) memory).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from report import growth_exponent  # benchmarks/ is on sys.path when a script there runs
from per_thread import interleaved_medians, main_of  # benchmarks/ is on sys.path when a script there runs
from recnets.cells import LSTMCell
from recnets.core import unroll
from recnets.core.checkpointed_unroll import checkpointed_unroll, default_segment, segment_bounds
from recnets.machine import describe_machine

FULL_STEPS = [1024, 4096, 10_000, 16_384, 65_536, 100_000]
PLAIN_STEPS = [1024, 4096, 16_384, 65_536]  # powers of 4 apart; 64k keeps ~4.6 GiB of activations at B=8
QUICK_STEPS = [256, 1024, 4096]
ABLATION_MAX_STEPS = 16_384


# ---------------------------------------------------------------------------------------------- the model

class CharModel(nn.Module):
    """Embedding -> LSTM -> read-out to the next character's logits."""

    def __init__(self, vocab: int, width: int, hidden: int, device: str) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, width, device=device)
        self.cell = LSTMCell(width, hidden, device=device)
        self.readout = nn.Linear(hidden, vocab, device=device)

    def loss_of(self, ys: torch.Tensor, targets: torch.Tensor, segment_index: int = 0) -> torch.Tensor:
        """Summed cross-entropy of the next character: ys (B, k, H), targets (B, k)."""
        logits = self.readout(ys)  # (B, k, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")


def plain_loss(model: CharModel, ids: torch.Tensor, segment: int) -> torch.Tensor:
    ys, _ = unroll(model.cell, model.embedding(ids[:, :-1]))  # (B, T, H)
    return model.loss_of(ys, ids[:, 1:])


def checkpointed_loss(model: CharModel, ids: torch.Tensor, segment: int) -> torch.Tensor:
    loss, _ = checkpointed_unroll(model.cell, ids[:, :-1], segment=segment, loss_fn=model.loss_of,
                                  targets=ids[:, 1:], input_fn=model.embedding)
    return loss


class SegmentWalk(torch.autograd.Function):
    """The alternative design: one Function over all segments, forward under ``no_grad`` keeping the boundary
    states, backward walking the segments last to first, recomputing each with gradients on. Every tensor that
    needs a gradient must be an explicit input (a read-out captured in a closure would silently get none)."""

    @staticmethod
    def forward(ctx, run, bounds, state_count, *tensors):
        state, parameters = tensors[:state_count], tensors[state_count:]
        boundaries, total = [], 0.0
        for index, (t0, t1) in enumerate(bounds):
            boundaries.append(state)
            loss, state = run(index, t0, t1, state)
            total = total + loss
        ctx.run, ctx.bounds, ctx.boundaries = run, bounds, boundaries
        ctx.save_for_backward(*parameters)
        return (total, *state)

    @staticmethod
    def backward(ctx, grad_loss, *grad_state):
        parameters = ctx.saved_tensors
        grad_parameters = [torch.zeros_like(p) for p in parameters]
        for index in reversed(range(len(ctx.bounds))):
            state = tuple(leaf.detach().requires_grad_() for leaf in ctx.boundaries[index])
            ctx.boundaries[index] = None
            with torch.enable_grad():
                loss, final = ctx.run(index, *ctx.bounds[index], state)
                pairs = [(loss, grad_loss)] + [(f, g) for f, g in zip(final, grad_state) if g is not None]
                grads = torch.autograd.grad([p[0] for p in pairs], [*state, *parameters], [p[1] for p in pairs])
            grad_state = grads[:len(state)]
            for total, grad in zip(grad_parameters, grads[len(state):]):
                total += grad
        return (None, None, None, *grad_state, *grad_parameters)


def function_loss(model: CharModel, ids: torch.Tensor, segment: int) -> torch.Tensor:
    inputs, targets = ids[:, :-1], ids[:, 1:]

    def run(index: int, t0: int, t1: int, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple]:
        ys, final = unroll(model.cell, model.embedding(inputs[:, t0:t1]), type(initial)(*state))
        return model.loss_of(ys, targets[:, t0:t1]), tuple(final)

    initial = model.cell.initial_state(ids.shape[0], device=ids.device)
    bounds = segment_bounds(inputs.shape[1], segment)
    return SegmentWalk.apply(run, bounds, len(initial), *initial, *model.parameters())[0]


METHODS = {"plain": plain_loss, "checkpointed": checkpointed_loss, "function": function_loss}


# ---------------------------------------------------------------------------------------------- one measurement

def _status_bytes(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


def _reset_peak(device: str) -> int:
    """Forget the peak so far; return the baseline (bytes in use now)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    return _status_bytes("VmRSS")


def _peak(device: str) -> int:
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return _status_bytes("VmHWM")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Peak memory beyond the inputs and the time of one training step of ``args.method`` at ``args.T``."""
    torch.set_num_threads(args.threads)
    device, steps = args.device, args.T
    segment = args.segment or default_segment(steps)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.batch, steps + 1), generator=generator).to(device)  # inputs+targets
    torch.manual_seed(0)
    model = CharModel(args.vocab, args.width, args.hidden, device)
    loss_of = METHODS[args.measure]

    def train_step(batch: torch.Tensor, segment: int) -> float:
        loss = loss_of(model, batch, segment)
        loss.backward()
        return float(loss.detach())

    warm = min(steps, 256)
    train_step(ids[:, :warm + 1], min(segment, warm))  # kernels built, gradients allocated
    for parameter in model.parameters():
        parameter.grad.zero_()
    baseline = _reset_peak(device)
    seconds, losses = [], []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        losses.append(train_step(ids, segment))
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        if repeat == 0:
            peak = _peak(device) - baseline
    return {"method": args.measure, "T": steps, "segment": segment if args.measure != "plain" else None,
            "peak_bytes": peak, "seconds": statistics.median(seconds), "loss": losses[0],
            "grad_norm": float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())}


def time_ratios(args: argparse.Namespace) -> dict[str, Any]:
    """Median seconds of a training step of every method at ``args.T``, interleaved in one process (memory
    aside: the one-step times of the memory runs are single samples on a shared machine)."""
    torch.set_num_threads(args.threads)
    steps = args.T
    segment = args.segment or default_segment(steps)
    ids = torch.randint(0, args.vocab, (args.batch, steps + 1), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = CharModel(args.vocab, args.width, args.hidden, args.device)
    ids = ids.to(args.device)

    def candidate(loss_of):
        def run() -> None:
            loss_of(model, ids, segment).backward()
            if args.device == "cuda":
                torch.cuda.synchronize()
        return run

    names = ["plain", "checkpointed"] + (["function"] if args.ablation else [])
    medians = interleaved_medians({name: candidate(METHODS[name]) for name in names}, args.ratio_repeats)
    return {"T": steps, "segment": segment, "repeats": args.ratio_repeats, "seconds": medians}


# ---------------------------------------------------------------------------------------------- the grid

def configurations(args: argparse.Namespace) -> list[tuple[str, int]]:
    grid = []
    for steps in args.steps:
        grid.append(("checkpointed", steps))
        if steps in args.plain_steps:
            grid.append(("plain", steps))
        if args.ablation and steps <= ABLATION_MAX_STEPS:
            grid.append(("function", steps))
    return grid


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration in its own process (this worker runs one thread count)."""
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = []
    sizes = ["--batch", str(args.batch), "--width", str(args.width), "--hidden", str(args.hidden),
             "--vocab", str(args.vocab), "--device", args.device, "--threads", str(args.threads),
             "--repeats", str(args.repeats)] + (["--segment", str(args.segment)] if args.segment else [])
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    for method, steps in configurations(args):
        command = [sys.executable, os.path.abspath(__file__), "--measure", method, "--T", str(steps), *sizes]
        done = subprocess.run(command, check=True, env=environment, stdout=subprocess.PIPE, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"  {method:12} T={steps:<7} peak={row['peak_bytes'] / 2**20:8.1f} MiB  {row['seconds']:7.2f} s  "
              f"loss/token={row['loss'] / (args.batch * steps):.4f}", file=sys.stderr, flush=True)
    ratios = []
    for steps in args.ratio_steps:
        command = [sys.executable, os.path.abspath(__file__), "--time-ratio", "--T", str(steps), *sizes,
                   "--ratio-repeats", str(args.ratio_repeats)] + (["--ablation"] if args.ablation else [])
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        ratios.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  interleaved T={steps}: " + " ".join(f"{name}={seconds:.2f}s" for name, seconds
                                                      in ratios[-1]["seconds"].items()), file=sys.stderr, flush=True)
    return {"machine": describe_machine(args.device), "load_average": [load_before, os.getloadavg()],
            "sizes": {"B": args.batch, "D": args.width, "H": args.hidden, "V": args.vocab,
                      "device": args.device, "repeats": args.repeats}, "rows": rows, "ratios": ratios}


# ---------------------------------------------------------------------------------------------- report

def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = []
    for result in results:
        by = {(row["method"], row["T"]): row for row in result["rows"]}
        sizes = result["sizes"]
        loads = result["load_average"]
        out += [f"Machine: {result['machine']}; load average (1 min) {loads[0][0]:.2f} at start, "
                f"{loads[1][0]:.2f} at end",
                f"Char-LM training step (forward + backward): B={sizes['B']}, D={sizes['D']}, H={sizes['H']} "
                f"LSTM, V={sizes['V']}; peak memory beyond inputs and targets (MiB); time of one step (s)"
                + (f", median of {sizes['repeats']}" if sizes["repeats"] > 1 else ""), ""]
        methods = [m for m in ("checkpointed", "plain", "function") if any(k[0] == m for k in by)]
        head = "| T | segment |" + "".join(f" {m} MiB | {m} x per 4x T |" for m in methods)
        head += "".join(f" {m} s |" for m in methods) + " ckpt/plain memory | ckpt/plain time | ckpt µs/step |"
        out += [head, "|" + "---|" * (head.count("|") - 1)]
        for steps in sorted({k[1] for k in by}):
            ckpt, plain = by.get(("checkpointed", steps)), by.get(("plain", steps))
            line = f"| {steps:,} | {ckpt['segment'] if ckpt else '-'} |"
            for method in methods:
                row, previous = by.get((method, steps)), by.get((method, steps // 4))
                line += f" {row['peak_bytes'] / 2**20:.1f} |" if row else " - |"
                line += (f" {row['peak_bytes'] / previous['peak_bytes']:.2f} |"
                         if row and previous and steps % 4 == 0 else " |")
            for method in methods:
                row = by.get((method, steps))
                line += f" {row['seconds']:.2f} |" if row else " - |"
            if ckpt and plain:
                line += (f" {ckpt['peak_bytes'] / plain['peak_bytes']:.3f} | "
                         f"{ckpt['seconds'] / plain['seconds']:.2f} |")
            else:
                line += " - | - |"
            line += f" {ckpt['seconds'] / steps * 1e6:.0f} |" if ckpt else " - |"
            out.append(line)
        out.append("")
        for method in methods:
            rows = sorted((row for row in result["rows"] if row["method"] == method), key=lambda r: r["T"])
            exponent = growth_exponent((row["T"], row["peak_bytes"]) for row in rows)
            if exponent is not None:
                out.append(f"{method}: peak memory ~ T^{exponent:.2f} over T = {rows[0]['T']:,}..{rows[-1]['T']:,} "
                           f"(least squares on log-log; 0.5 = O(√T), 1 = O(T))")
        equal = [abs(by[("checkpointed", s)]["loss"] - by[("plain", s)]["loss"]) / abs(by[("plain", s)]["loss"])
                 for (m, s) in by if m == "plain" and ("checkpointed", s) in by]
        if equal:
            out.append(f"checkpointed vs plain: largest relative difference of the loss {max(equal):.1e} (float32)")
        for ratio in result.get("ratios", []):
            seconds = ratio["seconds"]
            out.append(f"Time of a training step at T = {ratio['T']:,} (segment {ratio['segment']}), median of "
                       f"{ratio['repeats']} interleaved steps in one process: "
                       + ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items())
                       + "; " + ", ".join(f"{name}/plain {seconds[name] / seconds['plain']:.2f}"
                                          for name in seconds if name != "plain"))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=None, help=f"T values (default {FULL_STEPS})")
    parser.add_argument("--batch", type=int, default=8, help="B (default 8)")
    parser.add_argument("--width", type=int, default=128, help="D, the embedding width (default 128)")
    parser.add_argument("--hidden", type=int, default=128, help="H (default 128)")
    parser.add_argument("--vocab", type=int, default=64, help="V, characters (default 64)")
    parser.add_argument("--segment", type=int, default=None, help="steps per segment (default round(√T))")
    parser.add_argument("--plain-steps", type=int, nargs="+", default=None,
                        help=f"the T values at which the plain unroll runs too (default {PLAIN_STEPS}; "
                             f"with --quick every T)")
    parser.add_argument("--ablation", action="store_true",
                        help=f"also the hand-written autograd Function (T <= {ABLATION_MAX_STEPS:,})")
    parser.add_argument("--repeats", type=int, default=1, help="timed steps per configuration (default 1)")
    parser.add_argument("--ratio-steps", type=int, nargs="*", default=None,
                        help="T values where the methods are also timed interleaved in one process "
                             "(default 4096; --quick: 1024)")
    parser.add_argument("--ratio-repeats", type=int, default=5, help="interleaved steps per method (default 5)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help=f"T = {QUICK_STEPS}: seconds")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=sorted(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--T", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--time-ratio", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: expected a CUDA device, but torch.cuda.is_available() is False")
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else FULL_STEPS
    if args.ratio_steps is None:
        args.ratio_steps = [1024] if args.quick else [4096]
    if args.plain_steps is None:
        args.plain_steps = args.steps if args.quick else PLAIN_STEPS
    if min(args.steps) < 1 or args.repeats < 1:
        parser.error(f"--steps/--repeats: expected positive integers, got {args.steps} / {args.repeats}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.measure or args.time_ratio:  # one configuration, in this fresh process
        args.threads = args.threads[0]
        print(json.dumps(measure(args) if args.measure else time_ratios(args)))
        return
    main_of(__file__, lambda _: args, worker, report, argv)


if __name__ == "__main__":
    main()
