#!/usr/bin/env python
"""Custom cells against the fused torch kernel doing the same matrix work, measured in one run.

For every custom cell, the eager reference loop (``unroll(cell, xs, backend="eager")``: projection hoisted,
autograd records every step) and the BPTT kernel (``backend="bptt"``: the whole recurrence as one autograd
Function whose backward is the chapter's BPTT, each weight gradient one product over all steps; see
``recnets.core.bptt_kernels``) are timed against their anchor:

- the book's LSTM with peepholes (``book-lstm-peephole``) and the layer-normalised LSTM (``layer-norm-lstm``,
  Ba et al. 2016) against ``torch.nn.LSTM`` (oneDNN on CPU; the normalisations are extra work the anchor
  does not do),
- leaky units (``leaky``) and the clockwork RNN (``clockwork``) against ``torch.nn.RNN(tanh)``,
- the book's GRU (``book-gru``) and our torch-compatible GRU (``gru``: its ``auto`` backend is torch's own GRU
  kernel, so the BPTT kernel is timed with ``backend="bptt"``) against ``torch.nn.GRU``,

for training (forward + backward of ``ys.sum()``) and inference (``torch.inference_mode`` forward), B=32,
T=100, D=128 by default. Every candidate of one hidden size and mode runs once per round, rounds interleaved
in a rotating order after one warm-up call each; medians of the rounds. The one-time preparation is the warm-up
call (and, on a machine's first run, about a second to compile the kernels' C steps, ``recnets.core.pointwise``);
a new T, new lengths or a new batch size cost nothing extra. Each thread count runs in a
fresh process. The load average (``uptime``) is printed with the table: on a loaded machine read the ratios,
not the milliseconds. Each worker first calls :func:`recnets.machine.keep_freed_memory` (as the ``recnets``
command does), so that neither side pays page faults for buffers freed by the previous call; ``--default-malloc``
leaves glibc's defaults (the kernels' MB-sized buffers are then faulted in anew on every call).

Usage:
    python benchmarks/bench_cells.py                        # H 256 1024, threads 1 2 (a few minutes)
    python benchmarks/bench_cells.py --quick                # H 128, threads 1, 2 rounds (seconds)
    python benchmarks/bench_cells.py --hidden 256 --cells gru book-gru --json cells.json

Ratio = our time / anchor time (goal: BPTT kernel <= 1.25 in training; the torch-compatible GRU <= 1/1.3 =
0.77 against nn.GRU).

Book: 10.2.2 (BPTT, eqs. 10.17-10.28); 10.9.2, 10.9.3, 10.10 (the cells).
"""
from __future__ import annotations

import argparse
import os
import statistics
from typing import Any, Callable

import torch
from torch import nn

from per_thread import interleaved_medians, main_of  # benchmarks/ is on sys.path when a script there runs
from recnets.cells import make_cell
from recnets.core import unroll
from recnets.machine import describe_machine, keep_freed_memory

# cell name -> anchor: the fused torch module with the same matrix work
ANCHORS: dict[str, str] = {"book-lstm-peephole": "lstm", "layer-norm-lstm": "lstm", "leaky": "rnn",
                           "clockwork": "rnn", "book-gru": "gru", "gru": "gru"}
MODULES: dict[str, Callable[..., nn.Module]] = {"lstm": nn.LSTM, "rnn": nn.RNN, "gru": nn.GRU}


def training(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        forward().sum().backward()
    return run


def inference(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            forward()
    return run


def candidates(args: argparse.Namespace, hidden: int, xs: torch.Tensor, mode: str) -> dict[str, Callable[[], None]]:
    """``torch-<anchor>`` for each anchor needed, ``<cell>/eager`` and ``<cell>/bptt`` for each cell."""
    wrap = training if mode == "train" else inference
    out: dict[str, Callable[[], None]] = {}
    for anchor in dict.fromkeys(ANCHORS[name] for name in args.cells):
        module = MODULES[anchor](args.width, hidden, batch_first=True, device=args.device)
        out[f"torch-{anchor}"] = wrap(lambda module=module: module(xs)[0])
    for name in args.cells:
        cell = make_cell(name, args.width, hidden).to(args.device)
        backends = ("bptt",) if args.no_eager else ("eager", "bptt")
        for backend in backends:
            out[f"{name}/{backend}"] = wrap(lambda cell=cell, backend=backend: unroll(cell, xs, backend=backend)[0])
    if args.device == "cuda":  # time the kernels, not their launches
        out = {key: synchronised(fn) for key, fn in out.items()}
    return out


def synchronised(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        fn()
        torch.cuda.synchronize()
    return run


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement for one thread count (one fresh process)."""
    torch.set_num_threads(args.threads)
    kept = not args.default_malloc and keep_freed_memory()
    load_before = os.getloadavg()
    generator = torch.Generator().manual_seed(0)
    rows = []
    for hidden in args.hidden:
        xs = torch.randn(args.batch, args.steps, args.width, generator=generator).to(args.device)
        for mode in args.modes:
            torch.manual_seed(0)
            fns = candidates(args, hidden, xs, mode)
            repeats = args.repeats if hidden < 1024 else max(2, args.repeats - 2)
            seconds = interleaved_medians(fns, repeats)
            for name in args.cells:
                anchor = seconds[f"torch-{ANCHORS[name]}"]
                row = {"hidden": hidden, "mode": mode, "cell": name, "anchor": f"nn.{MODULES[ANCHORS[name]].__name__}",
                       "anchor_s": anchor, "bptt_s": seconds[f"{name}/bptt"], "repeats": repeats}
                if not args.no_eager:
                    row["eager_s"] = seconds[f"{name}/eager"]
                rows.append(row)
    return {"threads": args.threads, "device": args.device, "machine": describe_machine(args.device),
            "torch": torch.__version__, "kept_freed_memory": kept, "load_before": load_before, "load_after": os.getloadavg(), "rows": rows}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    lines = [f"Custom cells against the fused torch kernel, B={args.batch} T={args.steps} D={args.width}, "
             f"{first['machine']}, torch {first['torch']}; ratio = ours / anchor (median of interleaved rounds); "
             f"malloc {'keeps freed memory' if first.get('kept_freed_memory') else 'at its defaults'}", ""]
    for result in results:
        before, after = result["load_before"], result["load_after"]
        lines.append(f"threads={result['threads']}: load average {before[0]:.2f} before, {after[0]:.2f} after")
    lines += ["", "| threads | H | mode | cell | anchor | anchor ms | eager ms | bptt ms | eager / anchor | bptt / anchor |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            eager = row.get("eager_s")
            eager_ms = f"{eager * 1e3:.1f}" if eager is not None else "-"
            eager_ratio = f"{eager / row['anchor_s']:.2f}" if eager is not None else "-"
            lines.append(f"| {result['threads']} | {row['hidden']} | {row['mode']} | {row['cell']} | {row['anchor']} | "
                         f"{row['anchor_s'] * 1e3:.1f} | {eager_ms} | {row['bptt_s'] * 1e3:.1f} | {eager_ratio} | "
                         f"**{row['bptt_s'] / row['anchor_s']:.2f}** |")
    train = [row["bptt_s"] / row["anchor_s"] for result in results for row in result["rows"] if row["mode"] == "train"]
    if train:
        lines += ["", f"training, bptt / anchor: geometric mean {statistics.geometric_mean(train):.2f}, "
                      f"worst {max(train):.2f} (goal <= 1.25)"]
    gru = [row["anchor_s"] / row["bptt_s"] for result in results for row in result["rows"]
           if row["mode"] == "train" and row["cell"] == "gru"]
    if gru:
        lines.append(f"torch-compatible GRU, training speed-up over nn.GRU: "
                     f"{', '.join(f'{value:.2f}x' for value in gru)} (goal >= 1.3x)")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default: 1 2)")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="H values (default 256 1024)")
    parser.add_argument("--batch", type=int, default=32, help="B (default 32)")
    parser.add_argument("--steps", type=int, default=100, help="T (default 100)")
    parser.add_argument("--width", type=int, default=128, help="D (default 128)")
    parser.add_argument("--cells", nargs="+", choices=list(ANCHORS), default=list(ANCHORS))
    parser.add_argument("--modes", nargs="+", choices=("train", "infer"), default=["train", "infer"])
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds per hidden size (default 5; 2 fewer, at least 2, at H >= 1024)")
    parser.add_argument("--no-eager", action="store_true", help="skip the eager loop (it is the slowest)")
    parser.add_argument("--quick", action="store_true", help="H 128, threads 1, 2 rounds: seconds")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults (do not call keep_freed_memory)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: anchors on cuDNN, every call synchronised (default cpu)")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: expected a CUDA device, but torch.cuda.is_available() is False")
    if args.quick:
        args.hidden = args.hidden or [128]
        args.threads = args.threads or [1]
        args.repeats = args.repeats or 2
    args.hidden = args.hidden or [256, 1024]
    args.threads = args.threads or [1, 2]
    args.repeats = args.repeats or 5
    return args


def main(argv: list[str] | None = None) -> None:
    main_of(__file__, parse, worker, report, argv)


if __name__ == "__main__":
    main()
