"""Crash-safe checkpoints: step-numbered folders of safetensors and JSON, published through a ``latest`` file.

Book: 10.2.2 (truncated BPTT carries the state across batches, so a checkpoint saves that state too).

Layout of ``run_dir/checkpoints/``::

    step-00001234/      model.safetensors   the model's state_dict
                        optim.safetensors   the optimiser's tensor state, flat names "state.<param>.<key>"
                        carry.safetensors   the carried state (only when one exists)
                        state.json          format version, step, RNG states, optimiser hyper-parameters and
                                            non-tensor state, model classes, parameter names and shapes,
                                            file sizes and SHA-256 digests, trainer state, run config
    latest              "step-00001234": the newest complete checkpoint

A checkpoint is written under a temporary name with every file fsynced, renamed into place, its parent
fsynced, and only then published by atomically replacing ``latest`` (a folder cannot be renamed over a
non-empty one). A process killed at any moment leaves ``latest`` naming a complete checkpoint. Loading
reads safetensors and JSON only: nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import safetensors.torch
import torch
from torch import Tensor, nn

from recnets.core.state import state_to_flat
from recnets.files import fsync_folder

__all__ = [
    "CheckpointError",
    "LoadedCheckpoint",
    "FORMAT_VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "checkpoint_steps",
    "remove_unpublished",
    "rng_state",
    "restore_rng_state",
]

FORMAT_VERSION = 1
CHECKPOINTS = "checkpoints"
LATEST = "latest"
MODEL_FILE, OPTIM_FILE, CARRY_FILE, STATE_FILE = "model.safetensors", "optim.safetensors", "carry.safetensors", \
    "state.json"
CARRY_PREFIX = "carry"
_STEP_FOLDER = re.compile(r"^step-(\d{8,})$")


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, or does not fit the model (one line: path and reason)."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :func:`load_checkpoint` read besides the tensors it put into the model and optimiser.

    Attributes:
        path: the step folder.
        step: training steps completed when it was saved.
        rng: RNG states, for :func:`restore_rng_state`.
        trainer: the trainer's own state (early stopping, elapsed seconds).
        run_config: the run's configuration as saved.
        carry: the carried state as flat tensors (``state_from_flat(template, carry, "carry")``), or None.
    """

    path: Path
    step: int
    rng: dict[str, Any]
    trainer: dict[str, Any]
    run_config: dict[str, Any] | None
    carry: dict[str, Tensor] | None = field(default=None, repr=False)


def _folder_name(step: int) -> str:
    return f"step-{step:08d}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _cpu_copies(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Contiguous CPU copies (safetensors refuses tensors that share storage, e.g. tied weights)."""
    return {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}


def _module_classes(model: nn.Module) -> dict[str, str]:
    return {name or "<root>": type(module).__name__ for name, module in model.named_modules()}


def _parameter_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {name: list(t.shape) for name, t in model.state_dict().items()}


def rng_state() -> dict[str, Any]:
    """torch's CPU generator state and every CUDA device's, as lists of ints (JSON, no pickling)."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state().tolist()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the generator states saved by :func:`rng_state` (CUDA ones where devices exist)."""
    torch.set_rng_state(torch.tensor(state["torch_cpu"], dtype=torch.uint8))
    cuda = state.get("torch_cuda")
    if cuda and torch.cuda.is_available():
        count = min(len(cuda), torch.cuda.device_count())
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in cuda[:count]])


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into flat tensors and a JSON description."""
    saved = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for param_id, entries in saved["state"].items():
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"state.{param_id}.{key}"] = value
            else:
                other.setdefault(str(param_id), {})[key] = value
    groups = [{key: list(value) if isinstance(value, tuple) else value for key, value in group.items()}
              for group in saved["param_groups"]]
    return tensors, {"class": type(optimizer).__name__, "param_groups": groups, "state": other}


def save_checkpoint(run_dir: str | os.PathLike, step: int, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                    carry: Any = None, trainer: dict[str, Any] | None = None,
                    run_config: dict[str, Any] | None = None, keep: int = 3,
                    protect: Iterable[int] = (), rng: dict[str, Any] | None = None) -> Path:
    """Write ``run_dir/checkpoints/step-<step>/`` crash-safely, publish it as ``latest`` and prune old ones.

    Args:
        run_dir: the run folder.
        step: training steps completed.
        model: its ``state_dict`` goes to model.safetensors; its classes and shapes to state.json.
        optimizer: tensor state to optim.safetensors, hyper-parameters and the rest to state.json.
        carry: the carried truncated-BPTT state (a state pytree) or None.
        trainer: JSON-serialisable trainer state (early stopping, elapsed time).
        run_config: JSON-serialisable run configuration.
        keep: how many of the newest checkpoints survive pruning.
        protect: steps whose checkpoints are never pruned (the best one).
        rng: the RNG states to save (default :func:`rng_state`, this process's); a multi-process trainer
            passes rank 0's with the other ranks' under ``"ranks"``.

    Returns:
        The published step folder.

    Book: 10.2.2 (the carried state of truncated BPTT is part of what resumes).
    """
    checkpoints = Path(run_dir) / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    name = _folder_name(step)
    blobs = {MODEL_FILE: safetensors.torch.save(_cpu_copies(model.state_dict()))}
    optim_tensors, optim_json = _optimizer_parts(optimizer)
    blobs[OPTIM_FILE] = safetensors.torch.save(_cpu_copies(optim_tensors))
    if carry is not None:
        blobs[CARRY_FILE] = safetensors.torch.save(_cpu_copies(state_to_flat(carry, CARRY_PREFIX)))
    state = {
        "format_version": FORMAT_VERSION,
        "step": step,
        "rng": rng_state() if rng is None else rng,
        "optimizer": optim_json,
        "trainer": trainer or {},
        "model_class": type(model).__name__,
        "module_classes": _module_classes(model),
        "parameters": _parameter_shapes(model),
        "files": {file: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for file, data in blobs.items()},
        "run_config": run_config,
    }
    blobs[STATE_FILE] = json.dumps(state, indent=1).encode()

    temporary = checkpoints / f".tmp-{name}-{os.getpid()}"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir()
    for file, data in blobs.items():
        _write_synced(temporary / file, data)
    fsync_folder(temporary)
    final = checkpoints / name
    displaced = checkpoints / f".old-{name}-{os.getpid()}"
    if final.exists():  # the same step saved again: move the old one aside, never delete before renaming
        os.rename(final, displaced)
    os.rename(temporary, final)
    fsync_folder(checkpoints)
    _publish(checkpoints, name)
    if displaced.exists():
        shutil.rmtree(displaced)
    _prune(checkpoints, keep, {step, *protect})
    return final


def _publish(checkpoints: Path, name: str) -> None:
    """Atomically point ``latest`` at ``name``: write a temporary file, fsync, replace, fsync the folder."""
    temporary = checkpoints / f"{LATEST}.tmp"
    _write_synced(temporary, (name + "\n").encode())
    os.replace(temporary, checkpoints / LATEST)
    fsync_folder(checkpoints)


def checkpoint_steps(run_dir: str | os.PathLike) -> list[int]:
    """Steps of the complete (renamed) checkpoint folders in ``run_dir/checkpoints``, ascending."""
    checkpoints = Path(run_dir) / CHECKPOINTS
    if not checkpoints.is_dir():
        return []
    found = (_STEP_FOLDER.match(p.name) for p in checkpoints.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def _prune(checkpoints: Path, keep: int, protect: set[int]) -> None:
    steps = checkpoint_steps(checkpoints.parent)
    survivors = set(steps[-keep:]) | protect
    for step in steps:
        if step not in survivors:
            shutil.rmtree(checkpoints / _folder_name(step))


def latest_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The step folder that ``run_dir/checkpoints/latest`` publishes.

    Raises:
        CheckpointError: ``latest`` is missing or malformed, or names a folder that does not exist.
    """
    pointer = Path(run_dir) / CHECKPOINTS / LATEST
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        raise CheckpointError(f"{pointer}: missing; no checkpoint has been published in this run") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{pointer}: unreadable ({_one_line(error)})") from None
    if not _STEP_FOLDER.match(name):
        raise CheckpointError(f"{pointer}: expected a folder name like 'step-00001234', got {name[:40]!r}")
    folder = pointer.parent / name
    if not folder.is_dir():
        raise CheckpointError(f"{pointer}: names {name}, which does not exist")
    return folder


def remove_unpublished(run_dir: str | os.PathLike) -> list[Path]:
    """Delete what a killed writer left behind: temporary folders and folders newer than ``latest``.

    Returns:
        The removed paths.
    """
    checkpoints = Path(run_dir) / CHECKPOINTS
    if not checkpoints.is_dir():
        return []
    published = int(_STEP_FOLDER.match(latest_checkpoint(run_dir).name).group(1))
    removed = []
    for path in checkpoints.iterdir():
        match = _STEP_FOLDER.match(path.name)
        stale = path.name.startswith((".tmp-", ".old-", f"{LATEST}.tmp")) or (match and int(match.group(1)) > published)
        if stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
    return removed


def _read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({_one_line(error)})") from None
    required = ("format_version", "step", "rng", "optimizer", "trainer", "model_class", "module_classes",
                "parameters", "files")
    if not isinstance(state, dict) or any(key not in state for key in required):
        missing = [key for key in required if not isinstance(state, dict) or key not in state]
        raise CheckpointError(f"{path}: expected a checkpoint description, missing keys {missing}")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version expected {FORMAT_VERSION}, got {state['format_version']!r}")
    return state


def _read_tensors(folder: Path, file: str, state: dict[str, Any]) -> dict[str, Tensor]:
    path = folder / file
    expected = state["files"].get(file)
    if expected is None:
        raise CheckpointError(f"{path}: not listed in {STATE_FILE}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    if len(data) != expected["bytes"]:
        raise CheckpointError(f"{path}: truncated or extended: expected {expected['bytes']} bytes, got {len(data)}")
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise CheckpointError(f"{path}: corrupt: SHA-256 differs from the one recorded in {STATE_FILE}")
    try:
        return safetensors.torch.load(data)
    except Exception as error:  # safetensors raises its own SafetensorError on a bad header
        raise CheckpointError(f"{path}: not a valid safetensors file ({_one_line(error)})") from None


def _check_model(folder: Path, state: dict[str, Any], model: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Raise unless the checkpoint was made by a model of the same classes, parameter names and shapes."""
    if state["model_class"] != type(model).__name__:
        raise CheckpointError(f"{folder}: model class differs: the model is {type(model).__name__}, "
                              f"the checkpoint has {state['model_class']}")
    ours, theirs = _module_classes(model), state["module_classes"]
    differing = [f"{name}: {theirs.get(name)} vs {cls}" for name, cls in ours.items() if theirs.get(name) != cls]
    if differing or set(theirs) - set(ours):
        detail = differing or [f"extra modules {sorted(set(theirs) - set(ours))}"]
        raise CheckpointError(f"{folder}: module classes differ (checkpoint vs model): {'; '.join(detail[:3])}")
    shapes = _parameter_shapes(model)
    saved = {name: list(t.shape) for name, t in tensors.items()}
    for recorded in (state["parameters"], saved):
        missing, unexpected = sorted(set(shapes) - set(recorded)), sorted(set(recorded) - set(shapes))
        if missing or unexpected:
            raise CheckpointError(f"{folder}: parameter names differ: missing {missing}, unexpected {unexpected}")
        wrong = [f"{n} {recorded[n]} vs {shapes[n]}" for n in shapes if list(recorded[n]) != shapes[n]]
        if wrong:
            raise CheckpointError(f"{folder}: parameter shapes differ (checkpoint vs model): {'; '.join(wrong[:3])}")


def _optimizer_state(folder: Path, state: dict[str, Any], optimizer: torch.optim.Optimizer,
                     tensors: dict[str, Tensor]) -> dict[str, Any]:
    """Rebuild ``optimizer.state_dict()`` from the JSON description and flat tensors, checked against it."""
    described = state["optimizer"]
    if described.get("class") != type(optimizer).__name__:
        raise CheckpointError(f"{folder}: optimizer class differs: the trainer uses {type(optimizer).__name__}, "
                              f"the checkpoint has {described.get('class')}")
    current = optimizer.state_dict()["param_groups"]
    groups = described["param_groups"]
    saved_sizes, current_sizes = [len(g["params"]) for g in groups], [len(g["params"]) for g in current]
    if saved_sizes != current_sizes:
        raise CheckpointError(f"{folder}: optimizer parameter groups differ: checkpoint has sizes {saved_sizes}, "
                              f"the optimizer {current_sizes}")
    groups = [{key: tuple(value) if isinstance(now.get(key), tuple) else value for key, value in group.items()}
              for group, now in zip(groups, current)]
    entries: dict[int, dict[str, Any]] = {}
    for param_id, values in described["state"].items():
        entries.setdefault(int(param_id), {}).update(values)
    for name, tensor in tensors.items():
        prefix, param_id, key = name.split(".", 2)
        entries.setdefault(int(param_id), {})[key] = tensor
    return {"state": entries, "param_groups": groups}


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> LoadedCheckpoint:
    """Check a step folder completely, then load it into ``model`` (and ``optimizer``).

    Nothing is unpickled: tensors come from safetensors, the rest from JSON. Every file's size and SHA-256
    are checked against state.json before anything is loaded, so a failed load leaves the model untouched.

    Args:
        path: a step folder (e.g. ``latest_checkpoint(run_dir)``).
        model: receives the saved ``state_dict``; its classes, parameter names and shapes must match.
        optimizer: receives the saved hyper-parameters and state when given.

    Returns:
        A :class:`LoadedCheckpoint` with the step, RNG states, trainer state, run config and carried state.

    Raises:
        CheckpointError: a file is missing, truncated or corrupt, or the checkpoint belongs to another model.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: missing checkpoint folder")
    state = _read_state(folder)
    model_tensors = _read_tensors(folder, MODEL_FILE, state)
    _check_model(folder, state, model, model_tensors)
    optimizer_state = None
    if optimizer is not None:
        optimizer_state = _optimizer_state(folder, state, optimizer, _read_tensors(folder, OPTIM_FILE, state))
    carry = _read_tensors(folder, CARRY_FILE, state) if CARRY_FILE in state["files"] else None
    model.load_state_dict(model_tensors)
    if optimizer_state is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{folder / OPTIM_FILE}: does not fit the optimizer ({_one_line(error)})") from None
    return LoadedCheckpoint(path=folder, step=int(state["step"]), rng=state["rng"], trainer=state["trainer"],
                            run_config=state.get("run_config"), carry=carry)
