"""``balanced-vs-chain``: a recursive net over a balanced tree on the sequence against a chain RNN, T = 16..1024.

Book: 10.6 (a recursive network over a balanced tree reads τ inputs through O(log τ) compositions instead of
τ), 10.7 (through a chain of τ tanh steps the gradient shrinks geometrically with τ).

Both models read the same batches of Bengio, Simard & Frasconi's information-latching task
(:class:`~recnets.tasks.memory_tasks.LatchingTask`): the class sits in the first L = 3 inputs, T - 3 steps of
Gaussian noise follow, and the output at the end must carry its sign. The chain is the Elman tanh RNN
h(t) = tanh(b + W h(t-1) + U x(t)) read at its last step; the tree model folds the binary recursive net
h = tanh(b + U x + W [h_left; h_right]) over the balanced binary tree whose leaves are the T inputs in order
(inner nodes have x = 0, :mod:`recnets.tasks.balanced_trees`) and reads its root. Same width H, same readout
o = c + V h, same seed, trainer and budget (counted in training sequences) at every T. Between x(1) and the
output lie T tanh compositions in the chain and ⌈log2 T⌉ + 1 in the tree (the leaf, then one per level).

Measured: test accuracy (the output's sign) at each T after training, and ‖∂L/∂x(1)‖, the gradient of each
sequence's squared error reaching its first input (mean over 256 test sequences, in float64: the chain's
falls below 1e-200 at T = 1024), at initialisation and after training. A model that fits its targets has
a small loss gradient everywhere (the residual o - y is small), so after training the output's own
sensitivity to the first input, ‖∂o/∂x(1)‖, is reported beside it.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from recnets.analysis.plots import plot_curves
from recnets.cells.elman import ElmanCell
from recnets.cells.recursive import RecursiveCell
from recnets.core.fold import fold
from recnets.core.tree_cell import TreeCell
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.machine import one_torch_thread
from recnets.nets.patterns import SequenceToOne
from recnets.nets.readout import Readout
from recnets.tasks.balanced_trees import balanced_height, sequence_tree
from recnets.tasks.base import Batch
from recnets.tasks.generated import success_rate
from recnets.tasks.memory_tasks import LatchingConfig, LatchingTask
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["NAME", "TITLE", "BOOK", "run", "settings", "BalancedTreeNet", "input_gradient_norms",
           "output_sensitivity_norms", "Settings"]

NAME = "balanced-vs-chain"
TITLE = "A recursive net over a balanced tree against a chain RNN: ⌈log2 T⌉ compositions instead of T"
BOOK = "10.6, 10.7"
TREE, CHAIN = "tree (recursive net)", "chain (tanh RNN)"


class BalancedTreeNet(nn.Module):
    """o = c + V h_root: a tree cell folded over the balanced binary tree of each sequence, read at the root.

    Args:
        cell: a binary :class:`~recnets.core.tree_cell.TreeCell` (D = the inputs' width).
        output_size: O.

    Shapes:
        ``model(inputs (B, T, D)) -> (o (B, O), None)``; the leaves take x(1..T) in order, inner nodes x = 0.
        The call matches the chain models' so that the shared trainer runs it (``state`` and ``targets`` are
        unused; every sequence of a batch has length T, so ``lengths`` must be None).

    Book: 10.6 (Fig. 10.14's recursive net, over the sequence's balanced tree).
    """

    def __init__(self, cell: TreeCell, output_size: int) -> None:
        super().__init__()
        self.cell = cell
        self.readout = Readout(cell.hidden_size, output_size)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        if lengths is not None:
            raise ValueError("lengths: expected None (every sequence is read through one tree of T leaves), got "
                             f"a tensor of shape {tuple(lengths.shape)}")
        if inputs.dim() != 3:
            raise ValueError(f"inputs: expected shape (B, T, D), got {tuple(inputs.shape)}")
        tree = sequence_tree(inputs.shape[0], inputs.shape[1])
        folded = fold(self.cell, tree.batch, tree.node_inputs(inputs))  # outputs (N, H)
        return self.readout(folded.outputs[tree.batch.roots.to(inputs.device)]), None  # (B, O)


def input_gradient_norms(model: nn.Module, batch: Batch) -> Tensor:
    """‖∂L_b/∂x_b(t)‖ for t = 1..T, the mean over the batch's sequences b, with L_b = ‖o_b - y_b‖².

    Taken on a float64 copy of ``model`` in eval mode (its own parameters are left as they are).

    Shapes:
        batch.inputs (B, T, D), batch.targets (B, O) -> (T,) float64.

    Book: 10.6, 10.7 (how much of the loss's gradient reaches the input t steps / levels away).
    """
    targets = batch.targets.double()
    return _mean_gradient_norms(model, batch.inputs, lambda outputs: (outputs - targets).square().sum())


def output_sensitivity_norms(model: nn.Module, inputs: Tensor) -> Tensor:
    """‖∂o_b/∂x_b(t)‖ for t = 1..T, the mean over the sequences b, for a model with one output (O = 1).

    Unlike the loss's gradient it does not vanish when the model fits its targets: how much the output
    still depends on each input, after training as at initialisation. On a float64 copy, as above.

    Shapes:
        inputs (B, T, D) -> (T,) float64.

    Book: 10.6, 10.7.
    """
    return _mean_gradient_norms(model, inputs, lambda outputs: outputs.sum())


def _mean_gradient_norms(model: nn.Module, inputs: Tensor, scalar_of: Callable[[Tensor], Tensor]) -> Tensor:
    """Mean over b of ‖∂s/∂x_b(t)‖ with s = scalar_of(outputs (B, O)) a sum over sequences, so that x_b only
    reaches its own term."""
    exact = copy.deepcopy(model).double().eval()
    xs = inputs.double().requires_grad_(True)  # (B, T, D)
    outputs, _ = exact(xs)  # (B, O)
    (grad,) = torch.autograd.grad(scalar_of(outputs), xs)  # (B, T, D)
    return grad.norm(dim=-1).mean(0)  # (T,)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run's sizes: sequence lengths ``Ts``, width H, the task's batches and the trainer."""

    Ts: tuple[int, ...]
    hidden: int
    task: LatchingConfig
    train: TrainConfig


def settings(quick: bool, progress: bool) -> Settings:
    """Full: T = 16, 32, ..., 1024; H = 32; at every T and for both models 300 steps of 32 sequences (9,600
    training sequences), Adam 1e-2 (cosine), clip 1; accuracy on 512 test sequences. Quick: T = 16, 64, H = 16,
    60 steps of 16 sequences."""
    if quick:
        task = LatchingConfig(T=16, batch_size=16, eval_size=256, eval_batch_size=256)
        train = TrainConfig(steps=60, lr=1e-2, clip_norm=1.0, eval_every=0, checkpoint_every=0, progress=progress,
                            device="cpu", log_every=20)
        return Settings((16, 64), 16, task, train)
    task = LatchingConfig(T=64, batch_size=32, eval_size=512, eval_batch_size=256)
    train = TrainConfig(steps=300, lr=1e-2, schedule="cosine", clip_norm=1.0, eval_every=100, checkpoint_every=0,
                        progress=progress, device="cpu", log_every=20)
    return Settings((16, 32, 64, 128, 256, 512, 1024), 32, task, train)


def _model(label: str, inputs: int, hidden: int) -> nn.Module:
    if label == TREE:
        return BalancedTreeNet(RecursiveCell(inputs, hidden), 1)
    return SequenceToOne(ElmanCell(inputs, hidden), 1)


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the tree model and the chain at every T; measure accuracy and ‖∂L/∂x(1)‖; plot; write the summary.

    Runs on one torch thread (:func:`recnets.machine.one_torch_thread`, which says why).
    """
    with one_torch_thread():
        return _run(Path(out_dir), quick=quick, progress=progress, echo=echo)


def _run(out_dir: Path, *, quick: bool, progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    chosen = settings(quick, progress)
    results: dict[str, dict[int, dict[str, Any]]] = {TREE: {}, CHAIN: {}}
    profiles: dict[str, Tensor] = {}  # at the largest T: ‖∂L/∂x(t)‖ against t
    for T in chosen.Ts:
        task = LatchingTask(dataclasses.replace(chosen.task, T=T))
        measured = next(task.eval_batches("test"))  # the measured sequences: the first test batch
        for label in (TREE, CHAIN):
            clock = time.monotonic()
            torch.manual_seed(chosen.train.seed)
            model = _model(label, measured.inputs.shape[-1], chosen.hidden)
            before = input_gradient_norms(model, measured)
            sensitivity_before = output_sensitivity_norms(model, measured.inputs)
            trainer = Trainer(model, task, chosen.train, out_dir / f"T{T}" / label.split(" ")[0],
                              run_config={"model": label, "hidden": chosen.hidden, "task": task.describe(),
                                          "train": dataclasses.asdict(chosen.train)})
            trainer.fit()
            after = input_gradient_norms(model, measured)
            sensitivity_after = output_sensitivity_norms(model, measured.inputs)
            success = success_rate(model, task, "test")
            results[label][T] = {
                "accuracy": 1.0 - success["error_rate"], "test_mse": trainer.evaluate("test")["mse"],
                "grad_x1_init": float(before[0]), "grad_x1_trained": float(after[0]),
                "grad_xT_init": float(before[-1]), "grad_xT_trained": float(after[-1]),
                "sensitivity_x1_init": float(sensitivity_before[0]),
                "sensitivity_x1_trained": float(sensitivity_after[0]),
                "parameters": sum(p.numel() for p in model.parameters()), "seconds": time.monotonic() - clock,
                "path_length": balanced_height(T) + 1 if label == TREE else T}
            if T == chosen.Ts[-1]:
                profiles[f"{label}, initialisation"], profiles[f"{label}, trained"] = before, after
            r = results[label][T]
            echo(f"T = {T}, {label}: accuracy {r['accuracy']:.3f}, ‖∂L/∂x(1)‖ {r['grad_x1_init']:.2e} at "
                 f"initialisation, {r['grad_x1_trained']:.2e} trained ({r['seconds']:.0f} s)")
    summary = _summarise(out_dir, chosen, results, profiles, quick, time.monotonic() - started)
    write_summary(out_dir, summary)
    return summary


def _summarise(out_dir: Path, chosen: Settings, results: dict[str, dict[int, dict[str, Any]]],
               profiles: dict[str, Tensor], quick: bool, wall: float) -> dict[str, Any]:
    Ts, largest, smallest = list(chosen.Ts), chosen.Ts[-1], chosen.Ts[0]
    paths = ", ".join(f"{T}: {balanced_height(T)}" for T in Ts)
    plots = out_dir / "plots"
    plot_curves({f"{label}, {when}": (Ts, [results[label][T][f"grad_x1_{key}"] for T in Ts])
                 for label in (TREE, CHAIN) for when, key in (("initialisation", "init"), ("trained", "trained"))},
                plots / "gradient_first_input.png", logx=True, logy=True, ylabel="‖∂L/∂x(1)‖",
                xlabel="T (the chain's path from x(1): T steps; the tree's: ⌈log2 T⌉ = "
                f"{balanced_height(smallest)} … {balanced_height(largest)} levels)",
                title="gradient reaching the first input")
    plot_curves({label: (Ts, [results[label][T]["accuracy"] for T in Ts]) for label in (TREE, CHAIN)},
                plots / "accuracy.png", logx=True, xlabel="T", ylabel="test accuracy",
                title=f"latching, {chosen.train.steps * chosen.task.batch_size:,} training sequences at every T",
                reference=("chance", Ts, [0.5] * len(Ts)))
    plot_curves({label: (list(range(1, largest + 1)), profile) for label, profile in profiles.items()},
                plots / "gradient_by_position.png", logy=True, xlabel="input position t", ylabel="‖∂L/∂x(t)‖",
                title=f"T = {largest}: gradient reaching each input")
    plot_curves({f"{label}, {when}": (Ts, [results[label][T][f"sensitivity_x1_{key}"] for T in Ts])
                 for label in (TREE, CHAIN) for when, key in (("initialisation", "init"), ("trained", "trained"))},
                plots / "output_sensitivity.png", logx=True, logy=True, xlabel="T", ylabel="‖∂o/∂x(1)‖",
                title="how much the output depends on the first input")

    def grad(label: str, T: int, key: str) -> float:
        return results[label][T][f"grad_x1_{key}"]

    rows = []
    for T in Ts:
        for label in (TREE, CHAIN):
            r = results[label][T]
            rows.append(Row(f"T = {T}, {label}: test accuracy", r["accuracy"]))
            rows.append(Row(f"T = {T}, {label}: ‖∂L/∂x(1)‖ at initialisation", r["grad_x1_init"]))
            rows.append(Row(f"T = {T}, {label}: ‖∂L/∂x(1)‖ after training", r["grad_x1_trained"]))
            rows.append(Row(f"T = {T}, {label}: ‖∂o/∂x(1)‖ after training", r["sensitivity_x1_trained"]))
    rows.append(Row("chance accuracy (the output's sign)", 0.5))
    checks = {
        "at every T, at initialisation, more gradient reaches x(1) through the tree than through the chain": all(
            grad(TREE, T, "init") > grad(CHAIN, T, "init") for T in Ts),
        f"at T = {largest}, at initialisation, the tree's ‖∂L/∂x(1)‖ exceeds the chain's by more than 10 "
        "orders of magnitude": grad(TREE, largest, "init") > 1e10 * grad(CHAIN, largest, "init"),
        f"from T = {smallest} to {largest}, the tree's ‖∂L/∂x(1)‖ at initialisation falls less than 1,000-fold "
        f"({balanced_height(largest) - balanced_height(smallest)} more levels), the chain's more than 10^10-fold "
        f"({largest - smallest} more steps)": (grad(TREE, smallest, "init") < 1e3 * grad(TREE, largest, "init")
                                               and grad(CHAIN, smallest, "init") > 1e10 * grad(CHAIN, largest, "init")),
        f"at T = {largest}, the tree's test accuracy beats the chain's":
            results[TREE][largest]["accuracy"] > results[CHAIN][largest]["accuracy"],
        f"at T = {largest}, the tree learns the task (test accuracy above 0.9, chance 0.5)":
            results[TREE][largest]["accuracy"] > 0.9,
    }
    if not quick:
        checks[f"at T = {largest}, after training, the tree's ‖∂L/∂x(1)‖ exceeds the chain's by more than 10 "
               "orders of magnitude"] = grad(TREE, largest, "trained") > 1e10 * grad(CHAIN, largest, "trained")
        checks[f"at T = {largest}, after training, the tree's output depends on x(1) (‖∂o/∂x(1)‖) more than 10 "
               "orders of magnitude more than the chain's"] = (
            results[TREE][largest]["sensitivity_x1_trained"] > 1e10 * results[CHAIN][largest]["sensitivity_x1_trained"])
        checks["the tree learns the task at every T (test accuracy above 0.9)"] = all(
            results[TREE][T]["accuracy"] > 0.9 for T in Ts)
    solved = [T for T in Ts if T > smallest and results[CHAIN][T]["accuracy"] > 0.9]
    task, train = chosen.task, chosen.train
    budget = (f"information latching (L = {task.latch_steps}, noise variance {task.noise_variance}) at T = "
              f"{', '.join(map(str, Ts))}; H = {chosen.hidden} for both models; at every T and for both models "
              f"{train.steps} steps of {task.batch_size} sequences ({train.steps * task.batch_size:,} training "
              f"sequences), Adam lr {train.lr} ({train.schedule}), clip {train.clip_norm}; accuracy on "
              f"{task.eval_size} test sequences; gradients on {task.eval_batch_size} test sequences in float64")
    return make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick, wall_seconds=wall, checks=checks,
        notes="No paper figure: the book's claim (10.6) is the reference: over a balanced tree the path from the "
              f"first input to the output is ⌈log2 T⌉ + 1 tanh compositions ({paths} levels above the leaves) "
              "instead of T. The tree's cell has twice the chain's recurrent weights (W is H × 2H, one block per "
              "child); both have width H. Inner nodes of the tree have no input (x = 0). A chain can solve the task "
              "by a robust latch, the bit kept in a basin of attraction (Bengio, Simard & Frasconi 1994; Book 10.7), "
              "while almost no gradient reaches x(1): read its accuracy beside its trained ‖∂L/∂x(1)‖"
              + (f" (here it solved T = {', '.join(map(str, solved))})" if solved else "") + ".",
        extra={"results": {label: {str(T): r for T, r in by_T.items()} for label, by_T in results.items()},
               "Ts": Ts, "tree_heights": {str(T): balanced_height(T) for T in Ts},
               "profiles_largest_T": {label: profile.tolist() for label, profile in profiles.items()}})
