"""The JSON summary every reproduced experiment writes, and its publication to ``results/``."""
from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from recnets.files import write_atomically, write_json
from recnets.machine import describe_machine

__all__ = ["Row", "make_summary", "write_summary", "publish_summary", "RESULTS_FOLDER"]

RESULTS_FOLDER = Path("results")


def Row(what: str, ours: float | None, *, unit: str = "", paper: float | str | None = None,
        source: str | None = None, status: str | None = None) -> dict[str, Any]:  # noqa: N802 - a record
    """One line of a results table: our figure beside the paper's (with its PAPERS.md status)."""
    return {"what": what, "ours": ours, "unit": unit, "paper": paper, "source": source, "status": status}


def make_summary(*, name: str, title: str, book: str, budget: str, rows: list[dict[str, Any]], quick: bool,
                 wall_seconds: float, checks: dict[str, bool] | None = None, device: str = "cpu", notes: str = "",
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A summary record with the machine, torch version, date and the command that reproduces it.

    ``checks`` maps each claim the run is meant to show (in words) to whether it held; the test suite
    asserts every check of every ``--quick`` run, and ``docs/results.md`` lists them for full runs.
    """
    return {"name": name, "title": title, "book": book, "budget": budget, "rows": rows, "quick": quick,
            "checks": {claim: bool(held) for claim, held in (checks or {}).items()},
            "command": f"recnets reproduce {name}" + (" --quick" if quick else ""),
            "machine": describe_machine(device), "torch": torch.__version__.split("+")[0],
            "date": datetime.date.today().isoformat(), "wall_seconds": wall_seconds, "notes": notes,
            "extra": extra or {}}


def write_summary(run_dir: str | os.PathLike, summary: dict[str, Any]) -> Path:
    """``run_dir/summary.json`` and its short human report ``run_dir/report.md``, each written atomically."""
    from recnets.results import render_section

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "summary.json"
    write_json(path, summary)
    write_atomically(run_dir / "report.md", render_section(summary, level="#") + "\n")
    return path


def publish_summary(summary_path: Path, folder: Path = RESULTS_FOLDER) -> Path:
    """Copy a full run's summary to ``results/NAME.json`` (what ``make results`` renders)."""
    summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    if summary.get("quick"):
        raise ValueError("publish: expected a full run's summary, got a --quick one (quick runs are smoke tests)")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{summary['name']}.json"
    shutil.copyfile(summary_path, target)
    return target
