"""The trainer's configuration: one frozen dataclass with explicit fields and checked values.

Book: 10.2.2 (the loss summed over time, eqs. 10.12-10.14; truncated back-propagation through time),
10.11.1 (clipping gradients), 10.11.2 (the regulariser that preserves the gradient's norm).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TrainConfig", "learning_rate", "OPTIMIZERS", "LOSS_REDUCTIONS", "SCHEDULES", "DEVICES", "AUTOCASTS"]

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LOSS_REDUCTIONS = ("mean", "sum")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")
AUTOCASTS = ("none", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, clipping, truncation, evaluation, checkpoints, budget.

    The batch size is not here: the task owns its batches.

    Args:
        steps: number of training batches (``task.train_batch(0..steps-1)``); with ``tbptt_steps`` one
            batch gives several updates.
        lr: learning rate (> 0).
        optimizer: ``"adam"``, ``"sgd"`` or ``"rmsprop"`` (Graves et al. 2014 trained the NTM with RMSProp,
            momentum 0.9).
        momentum: SGD or RMSProp momentum in [0, 1); ignored by Adam.
        schedule: ``"constant"`` learning rate, or ``"cosine"``: decays from ``lr`` to 0 over ``steps``
            (a pure function of the step, so a resumed run follows the same curve).
        warmup_steps: raise the learning rate linearly from 0 over this many first steps (0 = none).
        clip_norm: rescale the gradient when its global L2 norm exceeds this (0 = off).
        clip_value: clip every gradient element to [-clip_value, clip_value] (0 = off).
        norm_preserving_weight: weight of Pascanu et al.'s regulariser Ω added to the loss (0 = off, the
            fused kernels stay in use); > 0 runs the eager loop and needs a model with a ``cell`` whose state
            has an ``h`` (see :func:`recnets.analysis.gradients.norm_preserving_penalty`); training records
            then hold ``norm_penalty``, the mean Ω per update before its weight.
        loss_reduction: ``"mean"``: the mean negative log-likelihood per scored step; ``"sum"``: each
            sequence's sum of per-step losses (eq. 10.14), averaged over the batch.
        tbptt_steps: 0 = full back-propagation through time; k > 0 cuts each equal-length batch into
            chunks of k steps, one update per chunk, the state carried across chunks without its graph.
        eval_every: validate every this many steps (0 = only at the end).
        patience: stop after this many validations without a new best validation loss (0 = never).
        checkpoint_every: save a checkpoint every this many steps (0 = only at the end and at new bests).
        keep_checkpoints: how many of the newest checkpoints to keep (the best is kept besides).
        seed: seeds torch's generator at the start of a fresh run (the task seeds its own batches).
        log_every: write a training record (and synchronise with the device) every this many steps.
        max_seconds: wall-clock budget of one ``fit`` call (0 = unlimited); the run stops cleanly with a
            validation and a checkpoint.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        autocast: mixed precision of the training forward and loss: ``"none"`` (the default: float32
            throughout, unchanged), ``"bf16"`` (``torch.autocast`` to bfloat16, CPU or CUDA; no loss scaling:
            bfloat16 has float32's exponent range) or ``"fp16"`` (float16, CUDA only, with a
            ``torch.amp.GradScaler`` whose state is checkpointed; gradients are unscaled before clipping).
            Parameters, optimiser state and validation stay in the parameters' dtype.
        progress: show a tqdm progress bar.

    Book: 10.2.2 (eqs. 10.12-10.14; truncated BPTT), 10.11.1 (clipping), 10.11.2 (Ω).
    """

    steps: int = 1000
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    clip_norm: float = 0.0
    clip_value: float = 0.0
    norm_preserving_weight: float = 0.0
    loss_reduction: str = "mean"
    tbptt_steps: int = 0
    eval_every: int = 100
    patience: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    seed: int = 0
    log_every: int = 10
    max_seconds: float = 0.0
    device: str = "auto"
    autocast: str = "none"
    progress: bool = True

    def __post_init__(self) -> None:
        _check_int("steps", self.steps, minimum=1)
        _check_real("lr", self.lr, "a finite number > 0", lambda v: v > 0)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_real("momentum", self.momentum, "a number in [0, 1)", lambda v: 0 <= v < 1)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_int("warmup_steps", self.warmup_steps, minimum=0)
        _check_real("clip_norm", self.clip_norm, "a finite number >= 0 (0 = off)", lambda v: v >= 0)
        _check_real("clip_value", self.clip_value, "a finite number >= 0 (0 = off)", lambda v: v >= 0)
        _check_real("norm_preserving_weight", self.norm_preserving_weight, "a finite number >= 0 (0 = off)",
                    lambda v: v >= 0)
        _check_choice("loss_reduction", self.loss_reduction, LOSS_REDUCTIONS)
        _check_int("tbptt_steps", self.tbptt_steps, minimum=0)
        _check_int("eval_every", self.eval_every, minimum=0)
        _check_int("patience", self.patience, minimum=0)
        _check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        _check_int("keep_checkpoints", self.keep_checkpoints, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("log_every", self.log_every, minimum=1)
        _check_real("max_seconds", self.max_seconds, "a finite number >= 0 (0 = unlimited)", lambda v: v >= 0)
        _check_choice("device", self.device, DEVICES)
        _check_choice("autocast", self.autocast, AUTOCASTS)
        if self.autocast == "fp16" and self.device == "cpu":
            raise ValueError("autocast: expected 'none' or 'bf16' with device 'cpu' (fp16 autocast needs CUDA and "
                             "a GradScaler), got 'fp16'")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress: expected a bool, got {self.progress!r}")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_real(name: str, value: object, expected: str, accept) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not accept(value):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of training step ``step`` (0-based) under ``config.schedule`` and warm-up."""
    factor = 1.0
    if config.schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * min(step, config.steps) / config.steps))
    if config.warmup_steps and step < config.warmup_steps:
        factor *= (step + 1) / config.warmup_steps
    return config.lr * factor
