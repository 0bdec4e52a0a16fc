"""Crash safety: a run killed with SIGKILL at random moments always leaves a loadable ``latest``, and
resuming continues exactly where an uninterrupted run would be."""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from recnets.train import Trainer, latest_checkpoint, load_checkpoint

from .kill_target import CONFIG, model_and_task

SCRIPT = Path(__file__).with_name("kill_target.py")


def _published_step(run_dir: Path) -> int:
    pointer = run_dir / "checkpoints" / "latest"
    return int(pointer.read_text().strip().split("-")[1]) if pointer.exists() else 0


def _wait_for_progress(process: subprocess.Popen, run_dir: Path, beyond: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _published_step(run_dir) <= beyond:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the training subprocess made no progress"
        time.sleep(0.01)


def test_sigkill_at_random_moments_leaves_a_resumable_run(tmp_path):
    run_dir = tmp_path / "run"
    moments = random.Random(0)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    published = 0
    for mode in ("fresh", "resume"):
        with subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), mode], env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
            try:
                _wait_for_progress(process, run_dir, published)
                time.sleep(moments.uniform(0.0, 0.2))
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait()
        folder = latest_checkpoint(run_dir)
        model, _ = model_and_task()
        loaded = load_checkpoint(folder, model, torch.optim.Adam(model.parameters()))
        assert loaded.step >= published and loaded.carry is not None
        published = loaded.step

    final_steps = published + 3
    config = dataclasses.replace(CONFIG, steps=final_steps)
    model, task = model_and_task()
    resumed = Trainer(model, task, config, run_dir)
    assert resumed.fit(resume=True)["step"] == final_steps
    train_steps = [r["step"] for r in resumed.logbook.records() if r["split"] == "train"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == final_steps

    model, task = model_and_task()
    whole = Trainer(model, task, dataclasses.replace(config, checkpoint_every=0), tmp_path / "whole")
    whole.fit()
    for (name, ours), theirs in zip(resumed.model.named_parameters(), whole.model.parameters()):
        assert torch.equal(ours, theirs), name
