#!/usr/bin/env python
"""One table of every benchmark ratio against its anchor, read from the JSON the benchmarks write.

Each benchmark script writes ``{"argv": [...], "results": [one dict per thread count]}`` with ``--json PATH``.
This script reads such files, named after their script (``rnn.json``, ``cells.json``, ``trees.json``,
``reservoir.json``, ``ntm.json``, ``decode.json``, ``long_sequences.json``; a suffix after ``-`` is free, e.g.
``rnn-cuda.json``), and prints one markdown table:

    | benchmark | configuration | threads | ours | anchor | ratio | goal | met? |

``ratio`` is ours / anchor in the row's unit: for a time (ms, s) or memory (MiB) lower is better, for a rate
(trees/s, steps/s, sequences/s) higher is better; ``goal`` says which way and how far (the issue's targets:
fused path >= 0.95x torch's throughput, i.e. time ratio <= 1.05; custom cells <= 1.25x the fused kernel's
training time; our GRU 1.3x faster than nn.GRU, i.e. <= 0.77; trees >= 20x; reservoir fit >= 3x
reservoirpy at an NRMSE within 5 %; NTM >= 10x at batch 32; checkpointed memory ~ T^k with k <= 0.6). Rows
without a target say "-". Nothing is timed here.

Usage:
    python benchmarks/report.py runs/bench                 # every known *.json in the folder
    python benchmarks/report.py rnn.json trees.json        # these files
    python benchmarks/report.py runs/bench --eager         # also the eager reference loop's rows

Book: 10.2 (the unfolded graph these benchmarks time).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

FUSED_GOAL = 1 / 0.95  # the fused path's throughput >= 0.95x the anchor's: time ratio <= 1.053
CELL_GOAL = 1.25  # custom cells: training time <= 1.25x the fused kernel doing the same matrix work
GRU_GOAL = 1 / 1.3  # our torch-compatible GRU trains >= 1.3x faster than nn.GRU
TREE_GOAL, RESERVOIR_GOAL, NTM_GOAL, NRMSE_GOAL, MEMORY_EXPONENT_GOAL = 20.0, 3.0, 10.0, 1.05, 0.6


@dataclass(frozen=True)
class Goal:
    """A target on the row's ratio (``on="ratio"``) or on its own value (``on="ours"``)."""

    op: str  # "<=" or ">="
    value: float
    on: str = "ratio"

    def met(self, row: "Row") -> bool | None:
        subject = row.ratio if self.on == "ratio" else row.ours
        if subject is None or not math.isfinite(subject):
            return None
        return subject <= self.value if self.op == "<=" else subject >= self.value

    def text(self) -> str:
        return f"{self.on} {'≤' if self.op == '<=' else '≥'} {self.value:.3g}"


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure and its anchor's, in the same unit, measured in the same run."""

    benchmark: str
    configuration: str
    threads: str
    ours: float
    anchor: float | None
    unit: str
    anchor_name: str = ""
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        if self.anchor is None or self.anchor == 0:
            return None
        return self.ours / self.anchor

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self)


# ---------------------------------------------------------------------------------------------- extractors

def _argv_threads(data: dict[str, Any], index: int, default: str = "1") -> str:
    """The thread count of ``results[index]`` from the command line's ``--threads`` (for JSON without it)."""
    argv, counts = data.get("argv", []), []
    if "--threads" in argv:
        for token in argv[argv.index("--threads") + 1:]:
            if token.startswith("--"):
                break
            counts.append(token)
    return counts[index] if index < len(counts) else default


def _argv_value(data: dict[str, Any], option: str, default: str) -> str:
    argv = data.get("argv", [])
    return argv[argv.index(option) + 1] if option in argv and argv.index(option) + 1 < len(argv) else default


def rnn_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_rnn.py: fused (and eager) ``unroll`` against nn.RNN/LSTM/GRU (cuDNN on CUDA)."""
    rows = []
    for result in data["results"]:
        device = result.get("timing", {}).get("device", "cpu")
        name = "rnn" if device == "cpu" else f"rnn ({device})"
        modules = {"elman": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}
        for row in result["rows"]:
            s = row["seconds"]
            module = modules.get(row["cell"], "torch")
            kernel = "cuDNN " if device == "cuda" else ""
            if row["case"] == "dense":
                base = f"{row['cell']} H={row['H']} B={row['B']} T={row['T']} {row['mode']}"
                anchor, anchor_name = s["torch"], f"{kernel}{module}"
            else:
                base = (f"{row['cell']} ragged ({row.get('distinct_lengths', '?')} lengths) H={row['H']} B={row['B']} "
                        f"T={row['T']} {row['mode']}")
                anchor, anchor_name = s["torch_packed"], f"{kernel}{module} packed"
            candidates = [("fused", Goal("<=", FUSED_GOAL))] + ([("eager", None)] if eager else [])
            for candidate, goal in candidates:
                rows.append(Row(name, f"{base}, {candidate}", str(row["threads"]), s[candidate] * 1e3, anchor * 1e3,
                                "ms", anchor_name, goal))
    return rows


def cells_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_cells.py: custom cells' BPTT kernel (and eager loop) against the fused torch module."""
    rows = []
    for result in data["results"]:
        device = result.get("device", "cpu")
        name = "cells" if device == "cpu" else f"cells ({device})"
        kernel = "cuDNN " if device == "cuda" else ""
        for row in result["rows"]:
            goal = None
            if row["mode"] == "train":
                goal = Goal("<=", GRU_GOAL if row["cell"] == "gru" else CELL_GOAL)
            candidates = [("bptt", "bptt_s", goal)]
            if eager and "eager_s" in row:
                candidates.append(("eager", "eager_s", None))
            for candidate, key, row_goal in candidates:
                rows.append(Row(name, f"{row['cell']} H={row['hidden']} {row['mode']}, {candidate}",
                                str(result["threads"]), row[key] * 1e3, row["anchor_s"] * 1e3, "ms",
                                f"{kernel}{row['anchor']}", row_goal))
    return rows


def trees_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_trees.py: level-batched fold against one tree at a time (trees/s of training)."""
    return [Row("trees", f"Tree-LSTM training, {row['batch']} trees per batch", str(result["threads"]),
                row["fold_trees_per_s"], row["one_at_a_time_trees_per_s"], "trees/s", "one tree at a time",
                Goal(">=", TREE_GOAL))
            for result in data["results"] for row in result["rows"]]


def reservoir_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_reservoir.py: our echo state network against reservoirpy (steps/s of fit and predict)."""
    rows = []
    for result in data["results"]:
        threads = str(result["threads"])
        steps = result.get("steps")
        for what, key, goal in (("fit", "train", Goal(">=", RESERVOIR_GOAL)), ("predict", "test", None)):
            seconds = result[what]
            count, unit = (steps[key], "steps/s") if steps else (1, f"{what}s/s")
            size = f"N={steps['size']}, {steps[key]:,} steps" if steps else ""
            rows.append(Row("reservoir", f"ESN {what} {size}".strip(), threads, count / seconds["ours"],
                            count / seconds["reservoirpy"], unit, "reservoirpy", goal))
        seeds = result.get("nrmse_seeds")
        nrmse = ({name: sum(values) / len(values) for name, values in seeds.items()} if seeds else result["nrmse"])
        rows.append(Row("reservoir", f"ESN test NRMSE{' (mean over seeds)' if seeds else ''}", threads,
                        nrmse["ours"], nrmse["reservoirpy"], "NRMSE", "reservoirpy", Goal("<=", NRMSE_GOAL)))
        if "batch" in result:
            batch = result["batch"]
            for what in ("fit", "predict"):
                rows.append(Row("reservoir", f"ESN {batch['B']} series x {batch['T']} steps, {what}", threads,
                                batch["B"] * batch["T"] / batch[what]["ours"],
                                batch["B"] * batch["T"] / batch[what]["reservoirpy"], "steps/s", "reservoirpy"))
    return rows


def ntm_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_ntm.py: the batched NTM cell against one sequence at a time (sequences/s of training)."""
    return [Row("ntm", f"NTM copy training, batch {row['batch']}", str(result["threads"]),
                row["batched_sequences_per_s"], row["per_sequence_sequences_per_s"], "seq/s", "one sequence at a time",
                Goal(">=", NTM_GOAL) if row["batch"] == 32 else None)
            for result in data["results"] for row in result["rows"]]


def decode_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_decode.py: beam search against greedy decoding of the same model (no torch anchor exists)."""
    beam = _argv_value(data, "--beam", "5")
    return [Row("decode", f"beam {beam}, attention {row['attention']}, batch {row['batch']}", str(result["threads"]),
                row["beam_sentences_per_s"], row["greedy_sentences_per_s"], "sentences/s", "greedy, same model")
            for result in data["results"] for row in result["rows"]]


def growth_exponent(points: Iterable[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(memory) against log(T): 0.5 for O(√T), 1 for O(T)."""
    logs = [(math.log(t), math.log(m)) for t, m in points if t > 0 and m > 0]
    if len(logs) < 2:
        return None
    mean_x, mean_y = sum(x for x, _ in logs) / len(logs), sum(y for _, y in logs) / len(logs)
    spread = sum((x - mean_x) ** 2 for x, _ in logs)
    return sum((x - mean_x) * (y - mean_y) for x, y in logs) / spread if spread else None


def long_sequences_rows(data: dict[str, Any], eager: bool = False) -> list[Row]:
    """bench_long_sequences.py: checkpointed_unroll against the plain unroll (memory and time of a step)."""
    rows = []
    for index, result in enumerate(data["results"]):
        threads = _argv_threads(data, index)
        device = result.get("sizes", {}).get("device", "cpu")
        name = "long sequences" if device == "cpu" else f"long sequences ({device})"
        by = {(row["method"], row["T"]): row for row in result["rows"]}
        for steps in sorted({t for method, t in by if method == "checkpointed"}):
            ours, plain = by[("checkpointed", steps)], by.get(("plain", steps))
            rows.append(Row(name, f"char-LM T={steps:,} peak memory beyond inputs", threads,
                            ours["peak_bytes"] / 2 ** 20, plain["peak_bytes"] / 2 ** 20 if plain else None, "MiB",
                            "plain unroll"))
        curves = {method: sorted((row["T"], row["peak_bytes"]) for row in result["rows"] if row["method"] == method)
                  for method in ("checkpointed", "plain")}
        ours, plain = growth_exponent(curves["checkpointed"]), growth_exponent(curves["plain"])
        if ours is not None:
            span = f"T={curves['checkpointed'][0][0]:,}..{curves['checkpointed'][-1][0]:,}"
            rows.append(Row(name, f"peak memory ~ T^k: k over {span}", threads, ours, plain, "", "plain unroll",
                            Goal("<=", MEMORY_EXPONENT_GOAL, on="ours")))
        for ratio in result.get("ratios", []):
            seconds = ratio["seconds"]
            rows.append(Row(name, f"char-LM T={ratio['T']:,} training step (segment {ratio['segment']})", threads,
                            seconds["checkpointed"], seconds["plain"], "s", "plain unroll"))
    return rows


EXTRACTORS: dict[str, Callable[..., list[Row]]] = {
    "rnn": rnn_rows, "cells": cells_rows, "trees": trees_rows, "reservoir": reservoir_rows, "ntm": ntm_rows,
    "decode": decode_rows, "long_sequences": long_sequences_rows,
}


def kind_of(path: Path) -> str | None:
    """The benchmark a JSON file holds, from its name: ``rnn.json``, ``bench_rnn.json``, ``rnn-cuda.json``."""
    stem = path.stem.removeprefix("bench_").split("-", 1)[0]
    return stem if stem in EXTRACTORS else None


def rows_of(path: Path, *, eager: bool = False) -> list[Row]:
    """Every row of one benchmark's JSON file.

    Raises:
        ValueError: the name is no known benchmark's, or the file is not a benchmark's JSON.
    """
    kind = kind_of(path)
    if kind is None:
        raise ValueError(f"path: expected a file named after a benchmark ({', '.join(EXTRACTORS)}; e.g. rnn.json or "
                         f"rnn-cuda.json), got {path.name!r}")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"path: expected a readable JSON file, got {path} ({' '.join(str(error).split())})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError(f"path: expected a benchmark's --json output ({{'argv', 'results'}}), got {path}")
    try:
        return EXTRACTORS[kind](data, eager=eager)
    except (KeyError, TypeError, IndexError) as error:
        raise ValueError(f"path: expected the JSON of bench_{kind}.py, got {path} without {error!s}") from None


def collect(paths: Iterable[str | Path], *, eager: bool = False) -> list[Row]:
    """Rows of the given files and of every known ``*.json`` in the given folders, in EXTRACTORS' order."""
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            files += [path for path in sorted(item.glob("*.json")) if kind_of(path) is not None]
        elif item.exists():
            files.append(item)
        else:
            raise ValueError(f"paths: expected JSON files or folders that exist, got {str(item)!r}")
    order = list(EXTRACTORS)
    files.sort(key=lambda path: (order.index(kind_of(path)) if kind_of(path) else len(order),
                                 "-" in path.stem, path.name))  # rnn.json before rnn-cuda.json
    return [row for path in files for row in rows_of(path, eager=eager)]


# ---------------------------------------------------------------------------------------------- table

def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2e}"


def table(rows: list[Row]) -> str:
    """The markdown table, one line per row, and a count of the goals met."""
    lines = ["| benchmark | configuration | threads | ours | anchor | ratio (ours/anchor) | goal | met? |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        unit = f" {row.unit}" if row.unit else ""
        anchor = "-" if row.anchor is None else f"{_number(row.anchor)}{unit} ({row.anchor_name})"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(f"| {row.benchmark} | {row.configuration} | {row.threads} | {_number(row.ours)}{unit} | "
                     f"{anchor} | {ratio} | {row.goal.text() if row.goal else '-'} | {met} |")
    judged = [row.met for row in rows if row.met is not None]
    lines += ["", f"{sum(judged)} of {len(judged)} goals met ({len(rows) - len(judged)} rows without a goal). "
              f"Ratio = ours / anchor in the row's unit: for ms, s and MiB lower is better, for /s higher is better."]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="benchmark JSON files, or folders holding them")
    parser.add_argument("--eager", action="store_true", help="also the eager reference loop's rows (rnn, cells)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    try:
        rows = collect(args.paths, eager=args.eager)
    except ValueError as error:
        sys.exit(f"report.py: {error}")
    if not rows:
        sys.exit(f"report.py: paths: expected benchmark JSON files ({', '.join(EXTRACTORS)}), found none in "
                 f"{' '.join(args.paths)}")
    print(table(rows))


if __name__ == "__main__":
    main()
