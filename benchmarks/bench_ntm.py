#!/usr/bin/env python
"""Neural Turing machine training speed: the batched ``NTMCell`` against one sequence at a time, in one run.

Both train the same NTM (Graves et al. 2014's copy sizes: LSTM controller of 100, memory 128 x 20, one read
and one write head, shifts -1..1; a linear readout of 8 bits) on the same copy batches (``CopyTask``: 8-bit
vectors, lengths 1-20 per sequence, so 3-41 steps) with the paper's optimiser (RMSprop, decay 0.95,
momentum 0.9, lr 1e-4, gradients clipped element-wise to ±10), one optimiser step per batch:

- **batched**: ``OutputEveryStep(NTMCell)`` on the padded batch with its lengths (``unroll``), the task's
  summed bit cross-entropy, one backward;
- **per sequence**: ``ntm_sequence`` (:mod:`recnets.memory.ntm_per_sequence`: memory (N, W), weightings
  (N,), a Python loop over heads, what the public per-sequence NTM code does) on the same cell's
  parameters, one sequence after another without padding, each sequence's loss backpropagated as it ends
  (gradients accumulate), then the one optimiser step.

The script prints training steps (batches) per second and sequences per second of each, median of
interleaved repeats over the same batches, and the ratio batched / per sequence (the issue's target: >= 10x
at batch 32). Each thread count runs in a fresh process.

Usage:
    python benchmarks/bench_ntm.py                   # threads 1 and 2, batch 1 and 32 (~2-3 min on 2 cores)
    python benchmarks/bench_ntm.py --quick           # a smoke test, seconds
    python benchmarks/bench_ntm.py --threads 1 --batch 32 --json ntm.json

Book: 10.12 (explicit memory).
"""
from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

from per_thread import interleaved_medians, main_of  # benchmarks/ is on sys.path when a script there runs
from recnets.machine import describe_machine
from recnets.memory.ntm import NTMCell
from recnets.memory.ntm_per_sequence import ntm_sequence
from recnets.nets.patterns import OutputEveryStep
from recnets.tasks.base import Batch
from recnets.tasks.ntm_tasks import BitTaskConfig, CopyTask


def worker(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    width = 8
    cell = NTMCell(width + 1, args.controller, memory_rows=args.rows, memory_width=args.width,
                   read_heads=1, write_heads=1, shift_range=1)
    model = OutputEveryStep(cell, width)
    parameters = list(model.parameters())
    optimizer = torch.optim.RMSprop(parameters, lr=1e-4, alpha=0.95, momentum=0.9)

    def update() -> None:
        nn.utils.clip_grad_value_(parameters, 10.0)  # element-wise, as in the paper
        optimizer.step()

    def batched(task: CopyTask, batches: list[Batch]) -> None:
        for batch in batches:
            outputs, _ = model(batch.inputs, lengths=batch.lengths)  # (B, T, 8)
            loss, _ = task.loss(outputs, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            update()

    def per_sequence(task: CopyTask, batches: list[Batch]) -> None:
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            for b, length in enumerate(batch.lengths.tolist()):
                ys, _ = ntm_sequence(cell, batch.inputs[b, :length])  # (T_b, H + W)
                one = Batch(batch.inputs[b:b + 1, :length], batch.targets[b:b + 1, :length], None,
                            batch.mask[b:b + 1, :length])
                loss, _ = task.loss(model.readout(ys).unsqueeze(0), one)
                loss.backward()  # gradients accumulate over the batch's sequences
            update()

    rows = []
    for size in args.batch:
        task = CopyTask(BitTaskConfig(T=args.longest, min_length=1, width=width, batch_size=size, seed=0))
        steps = args.steps if size > 1 else args.steps_batch_one
        batches = [task.train_batch(step) for step in range(steps)]
        seconds = interleaved_medians({
            "batched": lambda: batched(task, batches),
            "per sequence": lambda: per_sequence(task, batches),
        }, args.repeats)
        real = sum(int(batch.lengths.sum()) for batch in batches)
        padded = sum(batch.inputs.shape[0] * batch.inputs.shape[1] for batch in batches)
        row = {"batch": size, "steps": steps, "real_time_steps": real, "padded_time_steps": padded}
        for name, key in (("batched", "batched"), ("per sequence", "per_sequence")):
            row[f"{key}_steps_per_s"] = steps / seconds[name]
            row[f"{key}_sequences_per_s"] = steps * size / seconds[name]
        row["speedup"] = seconds["per sequence"] / seconds["batched"]
        rows.append(row)
    return {"threads": args.threads, "machine": describe_machine(), "torch": torch.__version__,
            "rows": rows}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    lines = [f"NTM copy training (LSTM controller {args.controller}, memory {args.rows}x{args.width}, 1 read + 1 "
             f"write head, lengths 1-{args.longest}, RMSprop), {first['machine']}, torch {first['torch']}",
             "| threads | batch | batched (steps/s) | batched (seq/s) | per sequence (steps/s) | per sequence (seq/s) "
             "| speed-up (batched / per sequence) |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            lines.append(f"| {result['threads']} | {row['batch']} | {row['batched_steps_per_s']:.2f} | "
                         f"{row['batched_sequences_per_s']:.1f} | {row['per_sequence_steps_per_s']:.3f} | "
                         f"{row['per_sequence_sequences_per_s']:.1f} | {row['speedup']:.1f}x |")
    for row in first["rows"]:
        lines.append(f"batch {row['batch']}: {row['steps']} batches, {row['real_time_steps']} real time steps, "
                     f"{row['padded_time_steps']} padded")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="sequences per batch (1 32)")
    parser.add_argument("--steps", type=int, default=2, help="batches timed per repeat at batch > 1 (default 2)")
    parser.add_argument("--steps-batch-one", type=int, default=16,
                        help="batches timed per repeat at batch 1 (default 16)")
    parser.add_argument("--longest", type=int, default=20, help="the longest copy length L (default 20)")
    parser.add_argument("--controller", type=int, default=100)
    parser.add_argument("--rows", type=int, default=128, help="memory rows N (default 128)")
    parser.add_argument("--width", type=int, default=20, help="memory width W (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per path (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.steps_batch_one, args.repeats, args.longest = 1, 2, 1, 4
        args.controller, args.rows, args.width = 16, 16, 8
        args.batch = [1, 4]
    return args


def main(argv: list[str] | None = None) -> None:
    main_of(__file__, parse, worker, report, argv)


if __name__ == "__main__":
    main()
