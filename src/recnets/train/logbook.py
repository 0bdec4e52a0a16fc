"""The run folder's records: ``config.json``, ``metrics.jsonl`` and the loss curves in ``plots/loss.png``.

Book: 10.2.2 (the training criterion is the summed per-step negative log-likelihood; the curves plot it per
scored step for the training batches and the validation set).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from recnets.files import write_atomically, write_json

__all__ = ["Logbook"]

CONFIG_FILE, METRICS_FILE, PLOTS, LOSS_PLOT = "config.json", "metrics.jsonl", "plots", "loss.png"


def _jsonable(value: Any) -> Any:
    """Non-finite floats become None so that every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Logbook:
    """Appends one JSON record per line to ``metrics.jsonl`` and draws the train and valid loss curves.

    Args:
        run_dir: the run folder (created if needed).

    A record holds at least ``step`` and ``split`` ("train" or "valid"); the trainer adds ``loss`` (per
    scored step), ``tokens_per_s``, ``grad_norm``, ``seconds`` and, for "valid", the task's metrics.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.config_path = self.run_dir / CONFIG_FILE
        self.plot_path = self.run_dir / PLOTS / LOSS_PLOT

    def write_config(self, config: dict[str, Any]) -> None:
        """Save the run's configuration once; an existing ``config.json`` is left as it is."""
        if not self.config_path.exists():
            write_json(self.config_path, config)

    def append(self, record: dict[str, Any]) -> None:
        """Add one record as a line of ``metrics.jsonl``."""
        line = json.dumps({key: _jsonable(value) for key, value in record.items()}, allow_nan=False)
        with open(self.metrics_path, "a") as handle:
            handle.write(line + "\n")

    def records(self) -> list[dict[str, Any]]:
        """Every complete record (a half-written last line, left by a killed process, is skipped)."""
        if not self.metrics_path.exists():
            return []
        found = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                found.append(record)
        return found

    def truncate(self, step: int) -> None:
        """Keep the records with ``step <= step`` only (resuming from the checkpoint of that step)."""
        kept = [record for record in self.records() if record["step"] <= step]
        write_atomically(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def clear(self) -> None:
        """Start ``metrics.jsonl`` empty (a fresh run in this folder)."""
        write_atomically(self.metrics_path, "")

    def plot(self) -> Path:
        """Draw the train and valid loss per scored step against the step into ``plots/loss.png``.

        Returns:
            The path of the PNG.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # the Agg backend, without pyplot's state
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        records = self.records()
        for split, style in (("train", "-"), ("valid", "o-")):
            points = [(r["step"], r["loss"]) for r in records if r.get("split") == split and r.get("loss") is not None]
            if points:
                steps, losses = zip(*points)
                axes.plot(steps, losses, style, label=split, markersize=3)
        axes.set_xlabel("step")
        axes.set_ylabel("loss per scored step")
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
        figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.96)
        self.plot_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.plot_path.with_name(self.plot_path.name + ".tmp")
        figure.savefig(temporary, format="png")
        os.replace(temporary, self.plot_path)
        return self.plot_path
