"""Run a benchmark once per thread count, each in a fresh process, and gather the workers' JSON results;
time candidates against each other in interleaved rounds.

A fresh process per thread count keeps BLAS and OpenMP pools from carrying over between counts; the
worker is the same script called with ``--threads N --worker PATH`` (it writes its results to PATH).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import statistics
import tempfile
import time
from typing import Any, Callable, Sequence

__all__ = ["run_benchmark", "run_workers", "strip_option", "interleaved_medians"]


def run_benchmark(script: str, args: Any, argv: Sequence[str] | None, worker: Callable[[Any], dict[str, Any]],
                  **options: Any) -> list[dict[str, Any]] | None:
    """A benchmark's ``main``: in a worker (``args.worker`` set) run ``worker(args)`` for the one thread count
    and write its results there (returns None); else run one worker per ``args.threads`` and return their
    results, also written to ``args.json`` when given. ``options`` go to :func:`run_workers`."""
    if args.worker:  # one thread count, in this fresh process
        args.threads = args.threads[0]
        with open(args.worker, "w", encoding="utf-8") as handle:
            json.dump(worker(args), handle)
        return None
    passthrough = list(argv if argv is not None else sys.argv[1:])
    results = run_workers(script, passthrough, args.threads, **options)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"argv": passthrough, "results": results}, handle, indent=1)
    return results


def main_of(script: str, parse: Callable[[Sequence[str] | None], Any], worker: Callable[[Any], dict[str, Any]],
            report: Callable[[list[dict[str, Any]], Any], str], argv: Sequence[str] | None = None) -> None:
    """A benchmark's ``main``: parse, run one worker per thread count, print the report and the wall time."""
    args = parse(argv)
    started = time.monotonic()
    results = run_benchmark(script, args, argv, worker)
    if results is not None:
        print(report(results, args))
        print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)


def run_workers(script: str, argv: Sequence[str], thread_counts: Sequence[int], *,
                environment: dict[str, str] | None = None, flag_first: str | None = None) -> list[dict[str, Any]]:
    """The results of ``script`` run once per thread count (``--threads N --worker PATH``), in order.

    Args:
        script: the benchmark's own path (``__file__``).
        argv: its command line, from which ``--threads`` and ``--json`` are dropped for the workers.
        thread_counts: one worker each.
        environment: variables set to the thread count in each worker (e.g. ``OMP_NUM_THREADS``).
        flag_first: a flag given to the first worker only (e.g. untimed extras run once).
    """
    base = strip_option(strip_option(list(argv), "--threads"), "--json")
    results = []
    for index, threads in enumerate(thread_counts):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            path = handle.name
        try:
            command = [sys.executable, os.path.abspath(script), *base, "--threads", str(threads), "--worker", path]
            if flag_first and index == 0:
                command.append(flag_first)
            env = {**os.environ, **{name: str(threads) for name in (environment or ())}}
            print(f"threads={threads}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, env=env)
            with open(path, encoding="utf-8") as handle:
                results.append(json.load(handle))
        finally:
            os.unlink(path)
    return results


def strip_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and the values that follow it."""
    out, skipping = [], False
    for arg in argv:
        if arg == option:
            skipping = True
            continue
        if arg.startswith(option + "="):
            continue
        if skipping and not arg.startswith("--"):
            continue
        skipping = False
        out.append(arg)
    return out


def interleaved_medians(candidates: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of one call of each candidate: one warm-up call each, then ``repeats`` rounds in a
    rotating order, so that drift in the machine's load hits every candidate alike."""
    for fn in candidates.values():
        fn()
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            candidates[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}
