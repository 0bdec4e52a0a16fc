"""Reading a user job's run folder back: which job wrote it, its config, its JSON side files; the checks
those jobs share before they write into one.

The jobs that train on the user's own data (``recnets train tree | tagger | seq2seq``) write ``config.json``
with ``{"job": NAME, "config": {...}}`` beside their vocabularies; ``recnets eval``, ``tag`` and ``translate``
read them back through these helpers, so a wrong or damaged folder ends in one line naming it. Before
training, :func:`check_resumed_model` (``--resume``: the model must be the run's own) and
:func:`check_no_checkpoints` (a fresh run must not write over another's checkpoints) guard the folder;
:func:`positive_int` checks the jobs' integer options.

Book: 10.2.2 (a trained model is its parameters θ plus the configuration that rebuilds f).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from recnets.config import config_from_dict, config_to_dict
from recnets.train.checkpoint import LATEST, checkpoint_steps

__all__ = ["CONFIG_FILE", "is_job_run", "read_run_config", "read_json_side_file", "positive_int",
           "check_resumed_model", "check_no_checkpoints"]

CONFIG_FILE = "config.json"
Config = TypeVar("Config")


def is_job_run(run_dir: str | os.PathLike, job: str) -> bool:
    """Whether ``run_dir/config.json`` names a ``job`` run (False for anything unreadable)."""
    try:
        saved = json.loads((Path(run_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and saved.get("job") == job


def read_run_config(run_dir: Path, job: str, config_type: type[Config], *, hint: str = "") -> Config:
    """The ``config_type`` saved in ``run_dir/config.json`` by a ``job`` run.

    Raises:
        ValueError: no config.json, invalid JSON, or another job's folder (``hint`` follows the job's name,
            e.g. " (recnets train seq2seq)").
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"run: expected a run folder with {CONFIG_FILE}, got {run_dir}")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"run: {path} is not valid JSON ({error})") from None
    if not isinstance(saved, dict) or saved.get("job") != job:
        raise ValueError(f"run: expected a {job} run{hint}, got {path}")
    return config_from_dict(config_type, saved["config"])


def read_json_side_file(run_dir: Path, name: str, what: str) -> Any:
    """``run_dir/name`` parsed as JSON; a missing or damaged file is a one-line error naming ``what`` it holds."""
    try:
        return json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"run: cannot read the {what} {Path(run_dir) / name} ({error})") from None


def positive_int(name: str, value: object) -> None:
    """A job option that must be an integer >= 1 (``bool`` is not one).

    Raises:
        ValueError: one line naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_resumed_model(saved: Any, model: Any, run_dir: Path) -> None:
    """A resumed run's ``model.*`` config must be the one it was trained with (its parameters fit no other).

    Raises:
        ValueError: the two configs differ (both shown).
    """
    if config_to_dict(saved) != config_to_dict(model):
        raise ValueError(f"model: expected the run's own model config {config_to_dict(saved)} to resume "
                         f"{run_dir}, got {config_to_dict(model)}")


def check_no_checkpoints(run_dir: Path) -> None:
    """A fresh run must not start in a folder that holds another run's checkpoints.

    Raises:
        ValueError: ``run_dir`` holds checkpoints (or a ``latest`` pointer); add ``--resume`` or choose another.
    """
    if checkpoint_steps(run_dir) or (Path(run_dir) / "checkpoints" / LATEST).exists():
        raise ValueError(f"--run: expected a folder without checkpoints for a fresh run, got {run_dir} which "
                         f"holds some; add --resume to continue it, or choose another folder")
