"""The runs of the multi-process test, as one rank of a process group executes them.

Usage: ``torchrun --standalone --nproc_per_node 2 distributed_target.py OUT_DIR``, or :func:`rank_main` in
processes forked by ``torch.multiprocessing`` (the fast test: no second import of torch). For every setting of
:data:`SETTINGS` each rank trains ``OUT_DIR/SETTING/ddp-full`` (all steps), ``OUT_DIR/SETTING/ddp-half``
(the first half) and resumes ``OUT_DIR/SETTING/w1-then-w2`` (a half run the test made in one process), then
writes its parameters and how many files it wrote under ``OUT_DIR/SETTING/ranks/``. The settings live here
so that the test builds the same models and tasks in its own process.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import safetensors.torch
import torch

from recnets.train import Trainer, TrainConfig

if __package__:  # imported by the test
    from .toy import DelayTask, make_model
else:  # run by torchrun as a script
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from toy import DelayTask, make_model

STEPS = 8
SETTINGS = {
    # variable lengths, 15 rows cut 8 / 7: a mean of per-rank means would differ from the global mean
    "ragged": (dict(ragged=True, batch_size=15, length=8), "lstm",
               dict(optimizer="adam", lr=1e-2, clip_norm=0.1)),  # norms 0.12-0.21: clipped
    # a carried state cut by rows, truncated BPTT, per-sequence sums
    "streaming": (dict(streaming=True, batch_size=15, length=8), "elman",
                  dict(optimizer="sgd", lr=0.1, momentum=0.9, clip_value=0.05, tbptt_steps=3, loss_reduction="sum")),
}


def config(setting: str, steps: int = STEPS, **options) -> TrainConfig:
    """The train config of ``setting``: validation at the end, a checkpoint every 4 steps; ``options`` more."""
    return TrainConfig(device="cpu", steps=steps, eval_every=0, checkpoint_every=4, log_every=2, progress=False,
                       seed=3, **SETTINGS[setting][2], **options)


def trainer(setting: str, run_dir: Path, steps: int = STEPS, **options) -> Trainer:
    """A fresh float64 model and task of ``setting`` in a trainer for ``run_dir``."""
    task_options, cell, _ = SETTINGS[setting]
    model = make_model(cell=cell, dtype=torch.float64, seed=1)
    return Trainer(model, DelayTask(**task_options), config(setting, steps, **options), run_dir)


def _run_all(out: Path) -> None:
    from recnets.train import distributed, loop, logbook

    rank = distributed.rank()
    writes = {"checkpoints": 0, "records": 0}
    save, append = loop.save_checkpoint, logbook.Logbook.append

    def counted_save(*args, **kwargs):
        writes["checkpoints"] += 1
        return save(*args, **kwargs)

    def counted_append(self, record):
        writes["records"] += 1
        return append(self, record)

    loop.save_checkpoint, logbook.Logbook.append = counted_save, counted_append
    for setting in SETTINGS:
        folder = out / setting
        runs = {"ddp-full": trainer(setting, folder / "ddp-full"),
                "ddp-half": trainer(setting, folder / "ddp-half", STEPS // 2),
                # a time budget: the ranks agree at every step whether it is spent (never / at once)
                "ddp-budget-unspent": trainer(setting, folder / "ddp-budget-unspent", max_seconds=1e6),
                "ddp-budget-spent": trainer(setting, folder / "ddp-budget-spent", max_seconds=1e-9)}
        ends = {name: run.fit() for name, run in runs.items()}
        (folder / f"ends-rank{rank}.json").write_text(json.dumps(
            {name: [end["step"], end["stop_reason"]] for name, end in ends.items()}))
        resumed = trainer(setting, folder / "w1-then-w2")
        resumed.fit(resume=True)
        runs["w1-then-w2"] = resumed
        ranks = folder / "ranks"
        ranks.mkdir(exist_ok=True)
        for name, run in runs.items():
            parameters = {key: p.detach().contiguous() for key, p in run.model.named_parameters()}
            safetensors.torch.save_file(parameters, ranks / f"{name}-rank{rank}.safetensors")
    (out / f"writes-rank{rank}.json").write_text(json.dumps({**writes, "world_size": distributed.world_size()}))


def rank_main(index: int, out: str, store: str, world: int) -> None:
    """Rank ``index`` of ``world``: joins the group through torchrun's environment variables and a file
    store (no port to find), then runs every setting."""
    from recnets.train.distributed import distributed_session

    torch.set_num_threads(1)
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(world))
    with distributed_session(init_method=f"file://{store}", timeout_s=60.0):
        _run_all(Path(out))


if __name__ == "__main__":
    torch.set_num_threads(1)
    from recnets.train.distributed import distributed_session

    with distributed_session():
        _run_all(Path(sys.argv[1]))
