"""A training run for the SIGKILL test: checkpoints after every step until it is killed.

Usage: ``python kill_target.py RUN_DIR {fresh,resume}``. The settings live in :data:`CONFIG` and
:func:`model_and_task` so that the test can rebuild the same model and continue the run in-process.
"""
from __future__ import annotations

import os
import sys

import torch

from recnets.train import Trainer, TrainConfig

if __package__:  # imported by the test
    from .toy import DelayTask, make_model
else:  # run as a script in the subprocess
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from toy import DelayTask, make_model

CONFIG = TrainConfig(device="cpu", steps=100_000, lr=1e-2, tbptt_steps=4, eval_every=100_000, checkpoint_every=1,
                     keep_checkpoints=2, log_every=3, progress=False, seed=1)


def model_and_task():
    """The LSTM and the streaming delay task the run trains (a carried state in every checkpoint)."""
    return make_model(cell="lstm"), DelayTask(streaming=True, length=8)


if __name__ == "__main__":
    torch.set_num_threads(1)
    run_dir, mode = sys.argv[1], sys.argv[2]
    model, task = model_and_task()
    Trainer(model, task, CONFIG, run_dir).fit(resume=mode == "resume")
