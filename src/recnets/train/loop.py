"""The generic training loop: batches by step number, truncated BPTT, clipping, validation, checkpoints.

Book: 10.2.2 (the loss is the sum over time of per-step negative log-likelihoods, eqs. 10.12-10.14,
minimised by back-propagation through time; truncated, the gradient stops at chunk boundaries while the
state flows on), 10.11.1 (gradient clipping), 10.11.2 (the norm-preserving regulariser Ω, as an option).

Several processes (``torchrun``, see :mod:`recnets.train.distributed`): every rank builds the same global
batch ``task.train_batch(step)`` and trains on its contiguous shard of rows; the model is wrapped in
DistributedDataParallel, which averages the gradients over the W ranks during backward. Each rank scales its
summed loss by W / N, N the scored steps of the whole batch (an all-reduced count), so the average of the
ranks' gradients is the gradient of Σ losses / N: the loss of the global batch, however the tokens fall
between shards (averaging per-rank means would weight a short shard's tokens more). With ``"sum"``
reduction the scale is W / B for B sequences of the global batch. Clipping then sees the same all-reduced
gradient on every rank, so the ranks stay identical. Rank 0 alone writes the run folder (metrics.jsonl,
config.json, checkpoints, plots) and shows progress; validation is sharded by rows like training and its
sums all-reduced. Callbacks run on every rank with rank 0's records (so one that changes the model keeps
the ranks equal; one that writes files should do so only where ``is_main()``). The global batch does not
depend on the world size, so a run resumed with another number of processes goes on with the same batches.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from recnets.analysis.gradients import norm_preserving_penalty, recording_states
from recnets.core.cell import Cell
from recnets.core.state import detach_state, select_rows, state_from_flat, tree_map
from recnets.tasks.base import Batch, Task, step_generator
from recnets.train.checkpoint import (CARRY_PREFIX, LATEST, checkpoint_steps, latest_checkpoint, load_checkpoint,
                                      remove_unpublished, restore_rng_state, rng_state, save_checkpoint)
from recnets.train.clipping import clip_gradients_lazily
from recnets.train.config import TrainConfig, learning_rate
from recnets.train.distributed import (all_gather_objects, all_reduce_sum, barrier, broadcast_from_main, gather_rows,
                                       is_distributed, is_main, rank, seed_for_rank, shard_batch, shard_bounds,
                                       world_size)
from recnets.train.logbook import Logbook

__all__ = ["Trainer", "EarlyStopping", "evaluate_model", "resolve_device", "autocast_dtype", "build_optimizer",
           "tbptt_chunks"]


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` must be available.

    Raises:
        ValueError: ``"cuda"`` was asked for and torch sees no CUDA device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: expected an available device, got 'cuda' but torch.cuda.is_available() is False")
    return torch.device(name)


def autocast_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """The dtype that ``TrainConfig.autocast`` names on ``device``: None for "none", bfloat16, or float16.

    Raises:
        ValueError: "fp16" on a device other than CUDA (float16 needs a GradScaler, which runs on CUDA).
    """
    if name == "fp16" and device.type != "cuda":
        raise ValueError(f"autocast: expected 'none' or 'bf16' on device {device.type!r} (fp16 autocast needs CUDA "
                         f"and a GradScaler), got 'fp16'")
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def build_optimizer(parameters: Iterable[Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser that ``config.optimizer`` names, with its ``lr`` (and ``momentum`` for SGD and RMSProp)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr)
    if config.optimizer == "rmsprop":  # the NTM paper's: a decay of 0.95 in its running mean square
        return torch.optim.RMSprop(parameters, lr=config.lr, alpha=0.95, momentum=config.momentum)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum)


def tbptt_chunks(batch: Batch, steps: int) -> list[Batch]:
    """Cut an equal-length batch into consecutive chunks of ``steps`` time steps (the last may be shorter).

    Args:
        batch: inputs (B, T[, D]), targets (B, T[, O]) with a target at every step; lengths None or all T.
        steps: k, the truncation length; 0 returns ``[batch]``.

    Returns:
        ``ceil(T / k)`` batches of inputs (B, k[, D]) and targets (B, k[, O]), lengths None.

    Raises:
        ValueError: the batch is ragged, or its targets are not per step.

    Book: 10.2.2 (truncated back-propagation through time).
    """
    if steps == 0:
        return [batch]
    inputs, targets, lengths = batch.inputs, batch.targets, batch.lengths
    total = inputs.shape[1]
    if lengths is not None and bool((lengths != total).any()):
        raise ValueError(f"tbptt_steps: expected equal-length batches for truncated BPTT, got lengths from "
                         f"{int(lengths.min())} to {int(lengths.max())} with T={total}; use tbptt_steps=0 for "
                         f"ragged tasks")
    if targets.dim() < 2 or targets.shape[:2] != inputs.shape[:2]:
        raise ValueError(f"tbptt_steps: expected a target at every step, targets (B, T, ...) with (B, T) = "
                         f"{tuple(inputs.shape[:2])}, got targets of shape {tuple(targets.shape)}")
    mask = batch.mask
    return [Batch(inputs[:, start:start + steps], targets[:, start:start + steps], None,
                  None if mask is None else mask[:, start:start + steps])
            for start in range(0, total, steps)]


@dataclass
class EarlyStopping:
    """The best validation loss so far, where it was reached, and how many validations since.

    Book: 7.8 (early stopping), applied to the validation NLL of 10.2.2.
    """

    best_loss: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    bad_evals: int = 0

    def update(self, loss: float, step: int, metrics: dict[str, float]) -> bool:
        """Record one validation; returns whether it is a new best (strictly lower loss)."""
        if math.isfinite(loss) and (self.best_loss is None or loss < self.best_loss):
            self.best_loss, self.best_step, self.best_metrics, self.bad_evals = loss, step, dict(metrics), 0
            return True
        self.bad_evals += 1
        return False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state for the checkpoint."""
        return dataclasses.asdict(self)



def evaluate_model(model: nn.Module, task: Task, split: str = "valid", *,
                   device: torch.device | None = None, shard: bool = False) -> dict[str, float]:
    """Summed loss over ``task.eval_batches(split)`` (state carried across batches when streaming).

    The model is put in eval mode for the pass and restored after; no gradients are kept.

    Args:
        shard: under a process group, score only this rank's rows of each batch and all-reduce the sums
            (every rank must call it then); the result is the same on every rank.

    Returns:
        ``{"loss": per scored step, "count", "tokens_per_s", **task.metrics(total, count)}``.
    """
    device = device if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count, state, started = 0, None, time.monotonic()
    with torch.no_grad():
        for batch in task.eval_batches(split):
            if shard:
                batch = shard_batch(batch)
                if len(batch.inputs) == 0:  # fewer rows than ranks: this rank has none of this batch
                    continue
            batch = batch.to(device)
            outputs, final = model(batch.inputs, lengths=batch.lengths, state=state, targets=batch.targets)
            batch_total, batch_count = task.loss(outputs, batch)
            total += batch_total
            count += batch_count
            state = final if task.streaming else None
    model.train(was_training)
    if shard:
        total, count = all_reduce_sum(torch.stack([total, torch.full_like(total, count)])).tolist()
        count = int(count)
    summed = float(total.item()) if isinstance(total, Tensor) else total
    result = {"loss": summed / max(count, 1), "count": count,
              "tokens_per_s": count / max(time.monotonic() - started, 1e-9)}
    for name, value in task.metrics(summed, count).items():
        result.setdefault(name, value)
    return result


class Trainer:
    """Fit a sequence model to a task: one loop for every model and task of the library.

    Each step draws ``task.train_batch(step)`` (a pure function of the step number, so a resumed run sees
    the batches it would have seen), runs the model, turns ``task.loss`` into the configured reduction,
    adds ``norm_preserving_weight`` · Ω when that is > 0, back-propagates, clips and updates. For ``task.streaming`` tasks the final state is carried, without
    its graph, from one batch to the next; with ``tbptt_steps`` every batch is cut into chunks with one
    update each. Scalars leave the device only every ``log_every`` steps. With ``config.autocast`` the forward
    and the loss run under ``torch.autocast`` (bf16; or fp16 on CUDA with a GradScaler: scaled backward,
    gradients unscaled before clipping, scaler state in the checkpoint); parameters, optimiser and validation
    stay in the parameters' dtype, and a carried state is kept in it.

    Args:
        model: ``model(inputs, *, lengths, state, targets) -> (outputs, final_state)`` with
            ``model.initial_state(batch_size, device=, dtype=)``; moved to ``config.device``.
        task: a :class:`recnets.tasks.base.Task`.
        config: a :class:`TrainConfig`.
        run_dir: the run folder (config.json, metrics.jsonl, checkpoints/, plots/).
        run_config: what to save as config.json and in every checkpoint (default: the train config, the
            task's description and the model's class).
        callbacks: objects with optional ``on_step(trainer, step, record)`` (after each training record:
            every ``log_every`` steps and before each checkpoint) and ``on_eval(trainer, step, metrics)``
            (after each validation, with its record) methods; either may call
            ``trainer.request_stop(reason)``. Under a process group they run on every rank with rank 0's
            records, and a stop that rank 0's callbacks request is what every rank does.

    Under a torch.distributed process group of W > 1 ranks (``torchrun``), each rank trains on its shard of
    every global batch through DistributedDataParallel (see the module's docstring); the model must be
    built identically on every rank (DDP also copies rank 0's parameters at the start), must use every
    parameter in each forward, and tasks must yield tensor batches (rows can be cut; not trees).
    Deviations under W > 1: torch's generator is seeded with ``seed_for_rank(seed, rank)``, so dropout
    draws differ per rank and change with W (not the batches); ``norm_preserving_weight`` must be 0 (Ω of
    a shard is not Ω of the batch).

    Attributes:
        step: training steps completed; step s is the update(s) made on ``task.train_batch(s - 1)``.
        carry: the carried state of a streaming task (None otherwise); under W > 1, this rank's rows of it
            (checkpoints hold the whole batch's).
        early_stopping: an :class:`EarlyStopping`.

    Book: 10.2.2 (eqs. 10.12-10.14, truncated BPTT), 10.11.1 (clipping), 10.11.2 (Ω).
    """

    def __init__(self, model: nn.Module, task: Task, config: TrainConfig, run_dir: str | os.PathLike, *,
                 run_config: dict[str, Any] | None = None, callbacks: Iterable[Any] = ()) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
        if config.norm_preserving_weight > 0 and not isinstance(getattr(model, "cell", None), Cell):
            raise ValueError(f"norm_preserving_weight: expected 0 for a model without a Cell as its 'cell' "
                             f"attribute ({type(model).__name__}), got {config.norm_preserving_weight}")
        if config.norm_preserving_weight > 0 and world_size() > 1:
            raise ValueError(f"norm_preserving_weight: expected 0 when training in {world_size()} processes (Ω of "
                             f"a shard is not Ω of the batch), got {config.norm_preserving_weight}")
        self.config = config
        self.device = resolve_device(config.device)
        if is_distributed() and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # cuda:LOCAL_RANK (init_distributed)
        self.model = model.to(self.device)
        self._autocast_dtype = autocast_dtype(config.autocast, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type) if config.autocast == "fp16" else None
        self.task = task
        self.run_dir = Path(run_dir)
        self.optimizer = build_optimizer(self.model.parameters(), config)
        self.callbacks = tuple(callbacks)
        self.run_config = run_config if run_config is not None else {
            "train": dataclasses.asdict(config), "task": task.describe(), "model": type(model).__name__}
        self.logbook = Logbook(self.run_dir)
        self.step = 0
        self.carry: Any = None
        self.early_stopping = EarlyStopping()
        self._elapsed_before = 0.0
        self._last_saved: int | None = None
        self._requested_stop: str | None = None
        self._rank, self._shards = 0, 1
        self._network: nn.Module = self.model  # what the training forward calls: the model, or DDP around it
        self._global_rows: int | None = None  # B of the global batch (gathers the carried state to save it)

    def request_stop(self, reason: str = "callback") -> None:
        """Ask the loop to stop after the current step (with a validation and a checkpoint)."""
        self._requested_stop = reason

    # ----------------------------------------------------------------------------------------------- fit
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``config.steps``, early stopping, the time budget or a callback's request.

        Args:
            resume: continue from the run folder's ``latest`` checkpoint (model, optimiser, RNG, early
                stopping, carried state; metrics.jsonl cut back to that step) instead of starting afresh.

        Returns:
            ``{"step", "stop_reason", "best": {"step", "loss", **metrics}, "seconds", "total_seconds",
            "run_dir"}``; ``stop_reason`` is "steps", "early_stopping", "max_seconds" or the callback's.

        Raises:
            ValueError: a non-finite training loss (names the step); a fresh start in a folder that
                already holds checkpoints; truncated BPTT on a ragged batch.
            CheckpointError: ``resume`` and the latest checkpoint is missing, corrupt or another model's.
        """
        started = time.monotonic()
        self._fit_started = started
        self._requested_stop = None
        self._rank, self._shards = rank(), world_size()
        if resume:
            self._restore()
        else:
            self._start_fresh()
        self._network = self._wrapped()
        config = self.config
        self.model.train()
        self._reset_window()
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        reason: str | None = None
        bar = tqdm(total=config.steps, initial=min(self.step, config.steps),
                   disable=not (config.progress and is_main()), unit="step", dynamic_ncols=True)
        try:
            while self.step < config.steps and reason is None:
                self._train_step(self.step)
                self.step += 1
                bar.update(1)
                reason = self._after_step(self.step, time.monotonic() - started, bar)
        finally:
            bar.close()
        if is_main():
            self.logbook.plot()
        barrier()
        best = self.early_stopping
        return {"step": self.step, "stop_reason": reason or "steps",
                "best": {"step": best.best_step, "loss": best.best_loss, **best.best_metrics},
                "seconds": time.monotonic() - started, "total_seconds": self._seconds(), "run_dir": str(self.run_dir)}

    def _after_step(self, step: int, seconds: float, bar: Any) -> str | None:
        """Log, validate and checkpoint as due after ``step``; returns why to stop, or None to go on."""
        config = self.config
        out_of_time = bool(config.max_seconds) and seconds >= config.max_seconds
        if config.max_seconds and self._shards > 1:  # every rank stops at the same step: when any clock has run out
            flag = torch.tensor([float(out_of_time)], device=self.device)
            out_of_time = bool(all_reduce_sum(flag).item() > 0)  # one small all-reduce, not a pickled broadcast
        reason = "max_seconds" if out_of_time else self._requested_stop
        if step % config.log_every == 0 or reason is not None or step >= config.steps:
            self._log_train(step, bar)  # callbacks may request a stop here
            reason = reason or self._requested_stop
        improved = False
        if (config.eval_every and step % config.eval_every == 0) or reason is not None or step >= config.steps:
            improved = self._validate(step, bar)
            if config.patience and self.early_stopping.bad_evals >= config.patience:
                reason = reason or "early_stopping"
            reason = reason or self._requested_stop
        due = config.checkpoint_every and step % config.checkpoint_every == 0
        if due or improved or reason is not None or step >= config.steps:
            self._save(step, bar)
        return reason

    def _seconds(self) -> float:
        return self._elapsed_before + time.monotonic() - self._fit_started

    def _start_fresh(self) -> None:
        if checkpoint_steps(self.run_dir) or (self.run_dir / "checkpoints" / LATEST).exists():
            raise ValueError(f"run_dir: expected a folder without checkpoints for a fresh run, got {self.run_dir} "
                             f"which holds some; use fit(resume=True) or another folder")
        barrier()  # every rank has looked before rank 0 writes
        torch.manual_seed(seed_for_rank(self.config.seed, self._rank))
        self.step, self.carry, self.early_stopping, self._elapsed_before = 0, None, EarlyStopping(), 0.0
        self._last_saved, self._global_rows = None, None
        if is_main():
            self.logbook.write_config(self.run_config)
            self.logbook.clear()
        barrier()

    def _restore(self) -> None:
        """Every rank reads the latest checkpoint; rank 0 alone tidies the folder and cuts the records back."""
        folder = latest_checkpoint(self.run_dir)
        if is_main():
            remove_unpublished(self.run_dir)
        loaded = load_checkpoint(folder, self.model, self.optimizer)
        self.step = self._last_saved = loaded.step
        self.early_stopping = EarlyStopping(**loaded.trainer.get("early_stopping", {}))
        self._elapsed_before = float(loaded.trainer.get("elapsed_seconds", 0.0))
        if self.scaler is not None and loaded.trainer.get("grad_scaler"):
            self.scaler.load_state_dict(loaded.trainer["grad_scaler"])  # else: a fresh scale (run saved without fp16)
        self.carry, self._global_rows = None, None
        if loaded.carry is not None:
            batch_size = next(iter(loaded.carry.values())).shape[0]  # the global batch's B
            dtype = next(self.model.parameters()).dtype
            template = self.model.initial_state(batch_size, device=self.device, dtype=dtype)
            start, stop = shard_bounds(batch_size, self._rank, self._shards)
            self.carry = select_rows(state_from_flat(template, loaded.carry, CARRY_PREFIX), stop, start)
            self._global_rows = batch_size
        if is_main():
            self.logbook.truncate(loaded.step)
        self._restore_rng(loaded.rng, loaded.step)
        barrier()

    def _restore_rng(self, saved: dict[str, Any], step: int) -> None:
        """Rank r takes back the generator state rank r saved; a rank the saved run did not have is seeded
        from ``(seed_for_rank(seed, r), step)``."""
        if self._rank == 0:
            restore_rng_state(saved)
            return
        others = saved.get("ranks", [])
        if self._rank - 1 < len(others):
            restore_rng_state(others[self._rank - 1])
        else:
            torch.manual_seed(step_generator(seed_for_rank(self.config.seed, self._rank), step).initial_seed())

    def _autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to ``config.autocast``'s dtype on this trainer's device, or a no-op for "none"."""
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def _state_in_parameter_dtype(self, state: Any) -> Any:
        """The carried state with its floating tensors in the parameters' dtype (autocast may leave them in
        bfloat16/float16), so that a carried and a checkpoint-restored state are the same tensors."""
        dtype = next(self.model.parameters()).dtype
        return tree_map(lambda leaf: leaf.to(dtype) if leaf.is_floating_point() else leaf, state)

    def _wrapped(self) -> nn.Module:
        """The model itself in one process; under W > 1 ranks, DistributedDataParallel around it (which
        copies rank 0's parameters to every rank and averages the gradients during backward)."""
        if self._shards == 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(self.model, device_ids=None)  # None: inputs stay where they are

    # ---------------------------------------------------------------------------------------- one step
    def _reduced(self, total: Tensor, count: int, batch_size: int) -> Tensor:
        """The optimised loss: mean per scored step, or per-sequence sum averaged over the batch (eq. 10.14)."""
        if self.config.loss_reduction == "mean":
            return total / max(count, 1)
        return total / batch_size

    def _reduced_shard(self, total: Tensor, global_count: Tensor, global_rows: int) -> Tensor:
        """This rank's share of the global batch's loss, scaled so that DDP's average of the W ranks'
        gradients is the gradient of the global loss: W · total / N (``"mean"``, N the scored steps of the
        whole batch) or W · total / B (``"sum"``, B its sequences)."""
        if self.config.loss_reduction == "mean":
            return total * (self._shards / global_count.clamp_min(1)).to(total.dtype)
        return total * (self._shards / global_rows)

    def _train_step(self, index: int) -> None:
        """Updates on ``task.train_batch(index)`` (this rank's shard of it): one, or one per truncated-BPTT chunk."""
        batch = self.task.train_batch(index)
        if self._shards > 1:
            self._global_rows = len(batch.inputs)
            if self._global_rows < self._shards:
                raise ValueError(f"batch_size: expected at least one sequence per process, got {self._global_rows} "
                                 f"for {self._shards} processes")
            batch = shard_batch(batch, self._rank, self._shards)
        chunks = tbptt_chunks(batch, self.config.tbptt_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, index)
        state = self.carry if self.task.streaming else None
        for chunk in chunks:
            chunk = chunk.to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            weight = self.config.norm_preserving_weight
            with self._autocast():
                with recording_states(self.model) if weight else contextlib.nullcontext() as records:
                    outputs, final = self._network(chunk.inputs, lengths=chunk.lengths, state=state,
                                                   targets=chunk.targets)
                total, count = self.task.loss(outputs, chunk)
            nonfinite = ~torch.isfinite(total.detach())
            if self._shards > 1:  # the whole batch's count, and whether any rank's loss is not finite
                summed = all_reduce_sum(torch.stack([torch.full((), count, dtype=torch.float64, device=total.device),
                                                     nonfinite.to(torch.float64)]))
                count, nonfinite = summed[0], summed[1] > 0  # count: a 0-d tensor, no wait for the device
                loss = self._reduced_shard(total, count, self._global_rows)
            else:
                loss = self._reduced(total, count, len(chunk.inputs))  # B: sequences or trees
            if weight:
                penalty = norm_preserving_penalty(loss, records, self.model.cell)  # Ω, Book 10.11.2
                self._window_penalty += penalty.detach()
                loss = loss + weight * penalty
            if self.scaler is None:
                loss.backward()
                norm = clip_gradients_lazily(self.model.parameters(), max_norm=self.config.clip_norm,
                                             max_value=self.config.clip_value)
                self.optimizer.step()
            else:  # fp16: scaled backward, true gradients for clipping, the step skipped on inf/NaN
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                norm = clip_gradients_lazily(self.model.parameters(), max_norm=self.config.clip_norm,
                                             max_value=self.config.clip_value)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                norm = torch.nan_to_num(norm, nan=0.0, posinf=0.0)  # a skipped step adds no norm to the record
            state = detach_state(final)  # truncated BPTT: the next chunk gets the values, not the graph
            if self._autocast_dtype is not None:
                state = self._state_in_parameter_dtype(state)
            total = total.detach()
            self._window_loss += total
            self._window_norm += norm
            self._window_count += count
            self._window_updates += 1
            first_bad = nonfinite & (self._bad_step < 0)
            self._bad_step = torch.where(first_bad, index + 1, self._bad_step)
        if self.task.streaming:
            self.carry = state

    def _reset_window(self) -> None:
        self._window_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        self._window_norm = torch.zeros((), dtype=torch.float64, device=self.device)
        self._window_penalty = torch.zeros((), dtype=torch.float64, device=self.device)
        self._window_count = 0
        self._window_updates = 0
        self._window_started = time.monotonic()

    def _raise_if_nonfinite(self) -> None:
        bad = int(self._bad_step.item())
        if bad >= 0:
            raise ValueError(f"loss: expected finite training losses, got a non-finite loss at step {bad}; "
                             f"try a lower lr (now {self.config.lr:g}) or gradient clipping (clip_norm)")

    def _log_train(self, step: int, bar: Any) -> None:
        """Write the training record of the steps since the last one (the only device sync of the loop)."""
        if not self._window_updates:
            return
        window_loss = all_reduce_sum(self._window_loss.clone()) if self._shards > 1 else self._window_loss
        count = torch.as_tensor(self._window_count, dtype=torch.float64, device=self.device)  # global under W > 1
        loss_sum, norm_sum, penalty_sum, bad, count = torch.stack(
            [window_loss, self._window_norm, self._window_penalty, self._bad_step.to(torch.float64), count]).tolist()
        if bad >= 0:
            self._raise_if_nonfinite()
        elapsed = max(time.monotonic() - self._window_started, 1e-9)
        record = {"step": step, "split": "train", "loss": loss_sum / max(count, 1),
                  "tokens_per_s": count / elapsed, "grad_norm": norm_sum / self._window_updates,
                  "seconds": self._seconds()}
        if self.config.norm_preserving_weight:
            record["norm_penalty"] = penalty_sum / self._window_updates  # Ω per update, before its weight
        record = broadcast_from_main(record)  # the same record on every rank: rank 0's clock
        if is_main():
            self.logbook.append(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}", tokens_per_s=f"{record['tokens_per_s']:.0f}")
        self._reset_window()
        for callback in self.callbacks:
            if hasattr(callback, "on_step"):
                callback.on_step(self, step, record)
        self._agree_on_stop()

    def _agree_on_stop(self) -> None:
        """Every rank takes rank 0's stop request (after the callbacks)."""
        if self._shards > 1:
            self._requested_stop = broadcast_from_main(self._requested_stop)

    # ---------------------------------------------------------------------------------------- validation
    def evaluate(self, split: str = "valid", *, shard: bool = False) -> dict[str, float]:
        """:func:`evaluate_model` on this trainer's model, task and device (``shard``: every rank scores its
        rows and the sums are all-reduced; every rank must call it then)."""
        return evaluate_model(self.model, self.task, split, device=self.device, shard=shard)

    def _validate(self, step: int, bar: Any) -> bool:
        """Validate, log, update early stopping, redraw the curves; returns whether this is a new best.

        Under W > 1 ranks each scores its rows of every validation batch and the sums are all-reduced;
        every rank then holds rank 0's record, so early stopping decides the same everywhere.
        """
        self._raise_if_nonfinite()
        result = self.evaluate("valid", shard=self._shards > 1)
        metrics = {k: v for k, v in result.items() if k not in ("loss", "count", "tokens_per_s")}
        record = {"step": step, "split": "valid", "loss": result["loss"], "tokens_per_s": result["tokens_per_s"],
                  "grad_norm": None, "seconds": self._seconds(), **metrics}
        record = broadcast_from_main(record)
        metrics = {k: record[k] for k in metrics}
        improved = self.early_stopping.update(record["loss"], step, metrics)
        if is_main():
            self.logbook.append(record)
            bar.set_postfix(valid_loss=f"{record['loss']:.4f}")
            self.logbook.plot()
        for callback in self.callbacks:
            if hasattr(callback, "on_eval"):
                callback.on_eval(self, step, record)
        self._agree_on_stop()
        return improved

    # ---------------------------------------------------------------------------------------- checkpoints
    def _save(self, step: int, bar: Any) -> None:
        """Checkpoint ``step`` (once), writing the pending training record first."""
        if step == self._last_saved:
            return
        self._raise_if_nonfinite()
        if self._window_updates:
            self._log_train(step, bar)
        best = self.early_stopping.best_step
        trainer_state = {"early_stopping": self.early_stopping.to_dict(), "elapsed_seconds": self._seconds(),
                         "train_config": dataclasses.asdict(self.config)}
        if self.scaler is not None:  # floats and ints: JSON in state.json
            trainer_state["grad_scaler"] = self.scaler.state_dict()
        carry = self.carry if self.task.streaming else None
        rng = None
        if self._shards > 1:  # rank 0 writes what every rank holds: the whole carried state, each rank's RNG
            carry = gather_rows(carry, self._global_rows) if carry is not None else None
            states = all_gather_objects(rng_state())
            rng = {**states[0], "ranks": states[1:]}
        if is_main():
            save_checkpoint(self.run_dir, step, model=self.model, optimizer=self.optimizer, carry=carry,
                            trainer=trainer_state, run_config=self.run_config, keep=self.config.keep_checkpoints,
                            protect=() if best is None else (best,), rng=rng)
        barrier()  # the checkpoint is published before any rank goes on (or reads it)
        self._last_saved = step

