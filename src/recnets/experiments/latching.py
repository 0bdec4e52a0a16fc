"""``latching``: the one-unit latch of Bengio, Simard & Frasconi 1994: BPTT converges less often as T grows.

Book: 10.7 (the challenge of long-term dependencies). Paper: Bengio, Simard & Frasconi 1994, the minimal
information-latching problem: one tanh unit with a self-loop must keep the sign of its first L inputs
through T - L steps of Gaussian noise and output ±0.8 at the end. A unit that latches robustly sits in a
region where its derivative is below 1, so the gradient from the last step reaches the first L steps
shrunk by a factor per step: gradient descent finds the latch less and less often as T grows.

Many latches are trained at once: :func:`parallel_latches` puts N one-unit latches side by side in one
Elman cell whose U, W and readout V are diagonal, and :class:`LatchEnsembleTask` feeds latch n its own
seed's sequences. Their parameters are disjoint and the loss is the sum of the latches' own losses, so every
latch follows exactly the update it would receive trained alone (Adam and SGD act on each number
separately; no clipping couples them): a test checks this against single-latch runs of the same trainer.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from recnets.analysis.gradients import LagProfile, gradient_norm_by_lag, hidden_gradients, last_step_loss
from recnets.analysis.plots import plot_gradient_norms
from recnets.cells.registry import make_cell
from recnets.experiments.compare import model_for
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.nets.patterns import SequenceToOne
from recnets.tasks.base import Batch, Task
from recnets.tasks.generated import check_outputs
from recnets.tasks.memory_tasks import LatchingConfig, LatchingTask
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["NAME", "TITLE", "BOOK", "run", "LatchEnsembleTask", "parallel_latches", "convergence_frequency"]

NAME = "latching"
TITLE = "Information latching: how often BPTT trains a one-unit latch, against T (Bengio, Simard & Frasconi 1994)"
BOOK = "10.7"
PAPER = "Bengio, Simard & Frasconi 1994"


class LatchEnsembleTask(Task):
    """N information-latching tasks side by side, one per seed: latch n reads and is scored on column n.

    Args:
        config: the :class:`LatchingConfig` every latch shares (its ``seed`` is replaced by each of ``seeds``).
        seeds: one seed per latch (its training batches and held-out sets are ``LatchingTask``'s of that seed).

    Shapes:
        inputs (B, T, N); targets (B, N); outputs (B, N).
    """

    name = "latching-ensemble"

    def __init__(self, config: LatchingConfig, seeds: Sequence[int]) -> None:
        if not isinstance(config, LatchingConfig):
            raise TypeError(f"config: expected a LatchingConfig, got {type(config).__name__}")
        if len(seeds) < 1 or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds: expected at least one seed, all distinct, got {list(seeds)}")
        self.config, self.seeds, self.seed = config, list(seeds), seeds[0]
        self.tasks = [LatchingTask(dataclasses.replace(config, seed=seed)) for seed in seeds]

    @staticmethod
    def _side_by_side(batches: Sequence[Batch]) -> Batch:
        return Batch(torch.cat([b.inputs for b in batches], -1), torch.cat([b.targets for b in batches], -1))

    def train_batch(self, step: int) -> Batch:
        return self._side_by_side([task.train_batch(step) for task in self.tasks])

    def eval_batches(self, split: str) -> Iterator[Batch]:
        for group in zip(*(task.eval_batches(split) for task in self.tasks)):
            yield self._side_by_side(group)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Squared error summed over sequences and latches, and B: the trainer's mean over B is the sum of
        every latch's own mean squared error."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per sequence and latch")
        return (outputs - batch.targets.to(outputs.dtype)).square().sum(), batch.targets.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"mse_summed": Σ_n MSE_n}``, the latches' mean squared errors added up."""
        return {"mse_summed": total_loss / count}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B, N) bool: latch n's output has the sign of its target (``LatchingTask.correct``)."""
        check_outputs(outputs, tuple(batch.targets.shape), "one real output per sequence and latch")
        return torch.sign(outputs) == torch.sign(batch.targets.to(outputs.dtype))

    def baselines(self) -> dict[str, float]:
        """The constant 0 for every latch: ``constant_mse`` N · target²."""
        return {"constant_mse": len(self.seeds) * self.config.target ** 2}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(vars(self.config)), "seeds": self.seeds}


def parallel_latches(task: LatchEnsembleTask) -> SequenceToOne:
    """N one-unit latches as one network: an Elman cell with diagonal U (N, N), W (N, N) and readout V (N, N).

    Latch n gets the weights ``model_for(LatchingTask(seed n), "elman", 1)`` draws after
    ``torch.manual_seed(seed n)`` (h(t) = tanh(b + w h(t-1) + u x(t)), o = c + v h(τ)). The off-diagonal
    entries are zero and their gradients are masked to zero by hooks, so they stay zero under SGD and Adam.

    Shapes:
        inputs (B, T, N) -> outputs (B, N).

    Book: 10.7 (the one-unit latch of Bengio et al. 1994); 10.2, eq. 10.8.
    """
    count = len(task.seeds)
    singles = []
    for single_task in task.tasks:
        torch.manual_seed(single_task.seed)
        singles.append(model_for(single_task, "elman", 1))
    model = SequenceToOne(make_cell("elman", count, count), count)  # (B, T, N) -> (B, N)
    cell, readout = model.cell, model.readout
    diagonal = torch.eye(count)
    with torch.no_grad():
        for matrix in (cell.U, cell.W, readout.V):
            matrix.zero_()
        for n, single in enumerate(singles):
            cell.U[n, n], cell.W[n, n], cell.b[n] = single.cell.U[0, 0], single.cell.W[0, 0], single.cell.b[0]
            readout.V[n, n], readout.c[n] = single.readout.V[0, 0], single.readout.c[0]
    for matrix in (cell.U, cell.W, readout.V):
        matrix.register_hook(lambda grad: grad * diagonal.to(grad.device, grad.dtype))
    return model


def convergence_frequency(error_rates: Sequence[float], threshold: float) -> tuple[float, float]:
    """The fraction of runs whose test error rate is <= ``threshold``, and its binomial standard error.

    Returns:
        ``(p, sqrt(p (1 - p) / N))`` over the N runs.
    """
    if not error_rates:
        raise ValueError("error_rates: expected at least one run's error rate, got none")
    converged = sum(1 for rate in error_rates if rate <= threshold)
    p = converged / len(error_rates)
    return p, math.sqrt(p * (1 - p) / len(error_rates))


def sign_error_rates(model: nn.Module, task: LatchEnsembleTask) -> list[float]:
    """Each latch's share of wrong signs on its own test set: N floats."""
    model.eval()
    wrong = total = 0
    with torch.no_grad():
        for batch in task.eval_batches("test"):
            outputs, _ = model(batch.inputs, lengths=None, state=None, targets=None)  # (B, N)
            wrong = wrong + (~task.correct(outputs, batch)).sum(0)  # (N,)
            total += batch.inputs.shape[0]
    model.train()
    return (wrong / total).tolist()


def lag_profiles(model: nn.Module, task: LatchEnsembleTask,
                 groups: dict[str, list[int]]) -> dict[str, LagProfile]:
    """‖∂L_n/∂h_n(τ - k)‖ against the lag k, averaged over the test batch's sequences and each group's latches.

    The loss is summed over latches and they share no weights, so column n of ∂L/∂h is latch n's own
    gradient. Taken in float64 (a latch's gradient over a hundred steps may fall below float32's range).

    Book: 10.7, eqs. 10.36-10.39.
    """
    batch = next(task.eval_batches("test"))
    exact = _float64_copy(model)
    inputs, targets = batch.inputs.double(), batch.targets.double()
    gradients = hidden_gradients(exact, inputs, lambda outputs: last_step_loss(outputs, targets))
    profiles = {}
    for label, members in groups.items():
        if members:
            per_latch = gradients.grad_h[:, :, members].permute(2, 0, 1)  # (|group|, B, T)
            profiles[label] = gradient_norm_by_lag(per_latch.reshape(-1, per_latch.shape[-1], 1))
    return profiles


def _float64_copy(model: SequenceToOne) -> SequenceToOne:
    copy = SequenceToOne(make_cell("elman", model.cell.input_size, model.cell.hidden_size), model.readout.c.shape[0])
    copy.load_state_dict(model.state_dict())
    return copy.double()


def settings(quick: bool, progress: bool) -> tuple[list[int], int, LatchingConfig, TrainConfig]:
    """Full: T in 5..80, 50 seeds each, 1,000 steps of plain gradient descent (lr 0.5) on 32 sequences.
    Quick: T = 5 and 40, 8 seeds, 150 steps."""
    if quick:
        train = TrainConfig(steps=150, lr=0.5, optimizer="sgd", eval_every=0, checkpoint_every=0, progress=progress,
                            device="cpu")
        return [5, 40], 8, LatchingConfig(batch_size=32, eval_size=512, eval_batch_size=512), train
    train = TrainConfig(steps=1000, lr=0.5, optimizer="sgd", eval_every=0, checkpoint_every=0, progress=progress,
                        device="cpu")
    return [5, 10, 20, 40, 80], 50, LatchingConfig(batch_size=32, eval_size=1024, eval_batch_size=512), train


def plot_frequency(out_dir: Path, lengths: list[int], frequencies: list[tuple[float, float]], title: str) -> Path:
    """Convergence frequency against T (log x) with binomial standard errors: ``plots/convergence.png`` + JSON."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.errorbar(lengths, [p for p, _ in frequencies], yerr=[e for _, e in frequencies], marker="o", capsize=3)
    axes.set_xscale("log")
    axes.set_xticks(lengths, [str(T) for T in lengths])
    axes.set_ylim(-0.05, 1.05)
    axes.set_xlabel("sequence length T")
    axes.set_ylabel("fraction of runs converged")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.92)
    path = plots / "convergence.png"
    figure.savefig(path)
    (plots / "convergence.json").write_text(json.dumps(
        {"T": lengths, "frequency": [p for p, _ in frequencies], "standard_error": [e for _, e in frequencies]},
        indent=1) + "\n")
    return path


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train N latches at each T, count those under 1% test sign errors, plot the frequency and the gradients."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    lengths, count, task_config, train = settings(quick, progress)
    threshold = 0.01
    seeds = list(range(count))
    rows, frequencies, everything = [], [], {}
    for T in lengths:
        task = LatchEnsembleTask(dataclasses.replace(task_config, T=T), seeds)
        model = parallel_latches(task)
        initial = lag_profiles(model, task, {"at initialisation": seeds})
        fitted = Trainer(model, task, train, out_dir / f"T{T}", run_config={"task": task.describe(),
                                                                             "train": dataclasses.asdict(train)}).fit()
        errors = sign_error_rates(model, task)
        frequency = convergence_frequency(errors, threshold)
        frequencies.append(frequency)
        converged = [n for n, rate in zip(seeds, errors) if rate <= threshold]
        failed = [n for n in seeds if n not in converged]
        profiles = {**initial, **lag_profiles(model, task, {f"trained, converged ({len(converged)})": converged,
                                                            f"trained, not converged ({len(failed)})": failed})}
        plot_gradient_norms(profiles, out_dir / "plots" / f"gradient_norms_T{T}.png",
                            title=f"one-unit latch, T = {T}: ‖∂L/∂h(τ - k)‖ over {count} latches")
        weights = {"w": model.cell.W.detach().diagonal().tolist(), "u": model.cell.U.detach().diagonal().tolist()}
        everything[T] = {"error_rates": errors, "converged": converged, "seconds": fitted["seconds"], **weights,
                         "gradient_ratio_at_T_minus_L": {label: _ratio(p, T - task_config.latch_steps)
                                                         for label, p in profiles.items()}}
        echo(f"T = {T}: {len(converged)} of {count} latches converged ({fitted['seconds']:.0f} s)")
        rows.append(Row(f"T = {T}: runs converged (test sign errors <= {threshold:.0%})", frequency[0],
                        unit=f"fraction of {count}", paper="falls as T grows" if T == lengths[-1] else None,
                        source=PAPER if T == lengths[-1] else None))
    plot_frequency(out_dir, lengths, frequencies, f"one-unit latch trained by BPTT ({count} seeds per T)")
    shown = max([T for T in lengths if everything[T]["converged"]] or lengths)  # the longest T that has a latch
    for label, ratio in everything[shown]["gradient_ratio_at_T_minus_L"].items():
        rows.append(Row(f"T = {shown}, {label}: ‖∂L/∂h(L)‖ / ‖∂L/∂h(T)‖", ratio))
    checks = {f"more runs converge at T = {lengths[0]} than at T = {lengths[-1]}":
              frequencies[0][0] > frequencies[-1][0],
              f"at T = {lengths[0]} most runs converge": frequencies[0][0] > 0.5}
    if not quick:
        checks["the convergence frequency never rises by more than two standard errors as T doubles"] = all(
            later[0] <= earlier[0] + 2 * math.hypot(earlier[1], later[1])
            for earlier, later in zip(frequencies, frequencies[1:]))
    budget = (f"T in {lengths}, latch L = {task_config.latch_steps} steps, noise variance "
              f"{task_config.noise_variance}; {count} seeds per T, each {train.steps} steps of "
              f"{task_config.batch_size} sequences, plain gradient descent lr {train.lr}, no clipping; test set "
              f"{task_config.eval_size} sequences per seed, converged when <= {threshold:.0%} have the wrong sign")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks,
        notes="The paper's claim is qualitative here (no figure of it in PAPERS.md): the frequency of "
              "convergence of gradient descent on the latch falls as T grows. Deviations: the paper trained "
              "the first L inputs themselves and the self-loop; ours is an Elman unit with a learned input weight, "
              "bias and linear readout (the inputs fixed at ±1), trained by plain minibatch gradient descent. "
              "Each T's gradient plot shows ‖∂L/∂h(τ - k)‖ at initialisation and, after training, separately "
              "for the latches that converged and those that did not: a converged latch is saturated, its "
              "gradient vanishes fastest (the paper's argument: robust latching implies vanishing gradients).",
        extra={"results": {str(T): value for T, value in everything.items()}})
    write_summary(out_dir, summary)
    return summary


def _ratio(profile: LagProfile, lag: int) -> float | None:
    """‖∂L/∂h(τ - lag)‖ / ‖∂L/∂h(τ)‖ of a profile (None: the lag out of range, or a zero norm at lag 0)."""
    norms = profile.norms.double()
    if lag >= norms.shape[0] or float(norms[0]) == 0.0:
        return None
    return float(norms[lag] / norms[0])
