"""``vanishing-gradients``: ‖∂L/∂h(τ - k)‖ against the lag k for five recurrent cells on one long-lag task.

Book: 10.7 (gradients through many steps vanish, eqs. 10.36-10.39), 10.9.1 (skip connections through time:
a path of k/d steps instead of k), 10.9.2 (leaky units: a unit with time constant τ carries its gradient
through a factor near 1 - 1/τ per step), 10.10 (gated RNNs: the LSTM's cell and the GRU's update gate make
paths through time whose derivative neither vanishes nor explodes, once the gates learn to keep them open).

The tanh RNN, a leaky RNN, a skip-in-time RNN, a GRU and an LSTM of the same width H read the same adding-
problem batch; L is the squared error of the output at each sequence's last step, and ‖∂L/∂h(τ - k)‖ is
what reaches k steps back. Measured at initialisation and after a short training of each model, in float64
(over a hundred steps the norms span some twenty orders of magnitude).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from recnets.analysis.gradients import LagProfile, gradient_norm_by_lag, hidden_gradients, last_step_loss
from recnets.analysis.plots import plot_gradient_norms
from recnets.experiments.compare import Contender, model_for
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.tasks.arithmetic import AddingTask, ArithmeticConfig
from recnets.tasks.base import Batch
from recnets.tasks.generated import success_rate
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["NAME", "TITLE", "BOOK", "run", "lag_profile", "relative_norm"]

NAME = "vanishing-gradients"
TITLE = "How far back the gradient reaches: tanh RNN, leaky RNN, skip-in-time RNN, GRU and LSTM"
BOOK = "10.7, 10.9, 10.10"


def lag_profile(model: nn.Module, batch: Batch) -> LagProfile:
    """‖∂L/∂h(τ_b - k)‖ against k, averaged over the batch, with L the loss of each sequence's last step.

    Taken on a float64 copy of ``model`` (its own parameters are left as they are).

    Book: 10.7, eqs. 10.36-10.39.
    """
    exact = copy.deepcopy(model).double().eval()
    targets = batch.targets.double()
    gradients = hidden_gradients(exact, batch.inputs.double(),
                                 lambda outputs: last_step_loss(outputs, targets, batch.lengths), lengths=batch.lengths)
    return gradient_norm_by_lag(gradients.grad_h, batch.lengths)


def relative_norm(profile: LagProfile, lag: int) -> float:
    """‖∂L/∂h(τ - lag)‖ / ‖∂L/∂h(τ)‖ of a profile (the batch means of both norms).

    Raises:
        ValueError: no sequence of the batch is long enough to have ``lag``.
    """
    if not 0 <= lag < profile.lags.shape[0] or int(profile.counts[lag]) == 0:
        raise ValueError(f"lag: expected a lag that some sequence has (< {int((profile.counts > 0).sum())}), got {lag}")
    return float(profile.norms[lag].double() / profile.norms[0].double())


def settings(quick: bool, progress: bool) -> tuple[ArithmeticConfig, TrainConfig, list[Contender], list[int]]:
    """Full: adding at T = 120 (lengths 120..132), H = 32 for every model, 2,000 steps of 32 sequences, Adam 1e-3
    (cosine), clip 1; the LSTM starts from the chrono initialisation (T_max = 132), with which it learns the
    task (see ``lstm-adding``); ratios at lags 50 and 100. Quick: T = 20, H = 8, 10 steps; lags 5 and 15."""
    if quick:
        task = ArithmeticConfig(T=20, batch_size=32, eval_size=128, eval_batch_size=128)
        train = TrainConfig(steps=10, lr=3e-3, clip_norm=1.0, eval_every=0, checkpoint_every=0, progress=progress,
                            device="cpu")
        hidden, lags, delay = 8, [5, 15], 5
    else:
        task = ArithmeticConfig(T=120, batch_size=32, eval_size=512, eval_batch_size=256)
        train = TrainConfig(steps=2000, lr=1e-3, schedule="cosine", clip_norm=1.0, eval_every=500, checkpoint_every=0,
                            progress=progress, device="cpu")
        hidden, lags, delay = 32, [50, 100], 10
    lstm = Contender("LSTM", "lstm", hidden) if quick else Contender("LSTM (chrono init)", "lstm", hidden,
                                                                      {"chrono": task.T + task.T // 10})
    contenders = [Contender("tanh RNN", "elman", hidden), Contender("leaky RNN (τ 1..10)", "leaky", hidden),
                  Contender(f"skip-in-time RNN (d = {delay})", "skip-time", hidden, {"delay": delay}),
                  Contender("GRU", "gru", hidden), lstm]
    return task, train, contenders, lags


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every model's gradient profile at initialisation, train it briefly, measure again; plot both."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    task_config, train, contenders, lags = settings(quick, progress)
    task = AddingTask(task_config)
    batch = next(task.eval_batches("test"))  # the measured sequences: the first test batch
    profiles: dict[str, dict[str, LagProfile]] = {"initialisation": {}, "trained": {}}
    results = {}
    for contender in contenders:
        torch.manual_seed(train.seed)
        model = model_for(task, contender.cell, contender.hidden, **contender.options)
        profiles["initialisation"][contender.label] = lag_profile(model, batch)
        clock = time.monotonic()
        trainer = Trainer(model, task, train, out_dir / contender.label.split(" (")[0].replace(" ", "-"),
                          run_config={"contender": contender.__dict__, "task": task.describe(),
                                      "train": dataclasses.asdict(train)})
        trainer.fit()
        profiles["trained"][contender.label] = lag_profile(model, batch)
        test = trainer.evaluate("test")
        results[contender.label] = {
            "cell": contender.cell, "hidden": contender.hidden, "options": contender.options,
            "parameters": sum(p.numel() for p in model.parameters()), "seconds": time.monotonic() - clock,
            "test_mse": test["mse"], "success": success_rate(model, task, "test"),
            "relative_norm": {when: {str(k): relative_norm(profiles[when][contender.label], k) for k in lags}
                              for when in profiles}}
        echo(f"{contender.label}: ratio at lag {lags[-1]}: "
             + ", ".join(f"{when} {results[contender.label]['relative_norm'][when][str(lags[-1])]:.2e}"
                         for when in profiles) + f" ({time.monotonic() - clock:.0f} s)")
    for when, by_model in profiles.items():
        moment = "at initialisation" if when == "initialisation" else f"after {train.steps} training steps"
        plot_gradient_norms(by_model, out_dir / "plots" / f"gradient_norms_{when}.png",
                            title=f"adding, T = {task_config.T}, H = {contenders[0].hidden}: {moment}")
    far = str(lags[-1])
    rows = [Row(f"{when}, {contender.label}: ‖∂L/∂h(τ - {far})‖ / ‖∂L/∂h(τ)‖",
                results[contender.label]["relative_norm"][when][far]) for when in profiles for contender in contenders]
    for contender in contenders:
        rows.append(Row(f"after training, {contender.label} ({results[contender.label]['parameters']} weights): "
                        "test MSE", results[contender.label]["test_mse"]))
    rows.append(Row("best constant predictor: MSE (closed form)", task.baselines()["constant_mse"]))

    def ratio(when: str, label: str) -> float:
        return results[label]["relative_norm"][when][far]

    tanh, leaky, skip, gru, lstm = (c.label for c in contenders)
    checks = {f"at initialisation, the tanh RNN's gradient at lag {far} (relative to lag 0) is smaller than the "
              f"{name}'s": ratio("initialisation", tanh) < ratio("initialisation", label)
              for name, label in (("leaky RNN", leaky), ("skip-in-time RNN", skip), ("LSTM", lstm))}
    if not quick:
        checks.update({f"after training, the tanh RNN's gradient at lag {far} (relative to lag 0) is smaller than "
                       f"the {name}'s": ratio("trained", tanh) < ratio("trained", label)
                       for name, label in (("leaky RNN", leaky), ("skip-in-time RNN", skip), ("GRU", gru),
                                           ("LSTM", lstm))})
        checks["after training, the LSTM has learned the task: test MSE below half the constant predictor's"] = (
            results[lstm]["test_mse"] < 0.5 * task.baselines()["constant_mse"])
    budget = (f"adding problem, T = {task_config.T} (lengths T..T+T/10); every model H = {contenders[0].hidden}; "
              f"{train.steps} steps of {task_config.batch_size} sequences, Adam lr {train.lr} ({train.schedule}), clip "
              f"{train.clip_norm}; gradients of the last step's squared error on {batch.inputs.shape[0]} test "
              "sequences, in float64")
    summary = make_summary(
        name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
        wall_seconds=time.monotonic() - started, checks=checks,
        notes="No paper figure: the book's claims are qualitative. 10.7: through a tanh RNN the gradient "
              "shrinks geometrically with the lag; 10.9: leaky units and skips through time shorten or soften "
              "that path; 10.10: gates learn to keep a path open. The GRU starts with its update gate near 1/2, "
              "so at initialisation it forgets about as fast as the tanh RNN. The full run's LSTM starts from the "
              "chrono initialisation (forget gates open over 1..T_max steps, input gates mostly closed), the "
              "only model here that learns the task within the budget (compare each model's test MSE with the "
              "constant predictor's); a model that has not learned the long-lag structure need not open its "
              "paths: the two plots show how far training moved each profile.",
        extra={"results": results, "lags": lags,
               "profiles": {when: {label: profile.norms.double().tolist() for label, profile in by_model.items()}
                            for when, by_model in profiles.items()}})
    write_summary(out_dir, summary)
    return summary
