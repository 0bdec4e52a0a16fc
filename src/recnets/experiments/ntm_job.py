"""The shared protocol of the neural Turing machine reproductions: an NTM and an LSTM on one bit-sequence task.

Book: 10.12 (explicit memory), 10.10.1 (the LSTM baseline).

Both contenders are output-every-step models (:class:`~recnets.nets.patterns.OutputEveryStep`) trained by the
recnets :class:`~recnets.train.loop.Trainer` on the same batches (same task seed, same torch seed before the
weights are drawn). What each reproduction reads off:

- the learning curve, cost in bits per sequence against sequences seen (the x and y of Graves et al.'s curves),
  from the trainer's ``metrics.jsonl``: a training record every ``log_every`` steps holds the mean summed
  cross-entropy per sequence in nats over those steps (the bit tasks count sequences), a validation record
  holds ``bits_per_sequence`` on the fixed validation set; sequences seen = step × batch size;
- the test cost and the fraction of sequences with every scored bit right, of the weights with the best
  validation cost (early stopping's choice);
- generalisation: the same scores on variants of the task (longer sequences, more repeats, more items);
- pictures: the NTM's memory access (:mod:`recnets.memory.pictures`) and any model's outputs against targets.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from recnets.analysis.plots import _figure, _save, plot_curves
from recnets.cells.registry import make_cell
from recnets.memory.ntm import NTMCell
from recnets.memory.pictures import plot_memory_access, plot_sequence, record_ntm
from recnets.nets.patterns import OutputEveryStep
from recnets.tasks.base import Batch
from recnets.tasks.ntm_tasks import BitSequenceTask
from recnets.train.checkpoint import load_checkpoint
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["Contender", "Fitted", "build_model", "fit", "score", "learning_curve", "first_below", "variant",
           "generalisation", "plot_learning_curves", "plot_generalisation", "first_sequence", "draw_pictures",
           "Comparison", "compare", "torch_threads", "optimiser_in_words", "KINDS"]

KINDS = ("ntm", "lstm")
LN2 = math.log(2)


@dataclass(frozen=True)
class Contender:
    """One model: a label for tables and plots, its kind, its width and the cell's keyword options.

    Attributes:
        label: e.g. ``"NTM"``.
        kind: ``"ntm"`` (an :class:`NTMCell` with an LSTM controller unless ``options`` say otherwise) or
            ``"lstm"`` (the registry's one-layer LSTM).
        size: the NTM's controller width H, or the LSTM's hidden units.
        options: keywords of the cell (``memory_rows``, ``memory_width``, ``read_heads``, ... for the NTM).
    """

    label: str
    kind: str
    size: int
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")


@dataclass
class Fitted:
    """A trained contender: the model, and its JSON-ready record (label, parameters, steps, seconds,
    stop reason, test scores, learning curve, run folder)."""

    contender: Contender
    model: nn.Module
    record: dict[str, Any]


def build_model(task: BitSequenceTask, contender: Contender) -> nn.Module:
    """The contender's cell with a readout to the task's bits: ``OutputEveryStep(cell, task.output_size)``."""
    if contender.kind == "ntm":
        cell = NTMCell(task.input_size, contender.size, **contender.options)
    else:
        cell = make_cell("lstm", task.input_size, contender.size, **contender.options)
    return OutputEveryStep(cell, task.output_size)


def score(model: nn.Module, task: BitSequenceTask, split: str = "test") -> dict[str, float]:
    """Bits per sequence and the fraction of sequences with every scored bit right, over one held-out split.

    Returns:
        ``{"bits_per_sequence", "perfect", "count", "memoryless_bits"}``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, perfect = 0.0, 0, 0
    with torch.no_grad():
        for batch in task.eval_batches(split):
            batch = batch.to(device)
            outputs, _ = model(batch.inputs, lengths=batch.lengths)  # (B, T, O) logits
            summed, sequences = task.loss(outputs, batch)
            total += float(summed)
            count += sequences
            perfect += int(task.correct(outputs, batch).sum())
    model.train(was_training)
    return {"bits_per_sequence": task.metrics(total, count)["bits_per_sequence"], "perfect": perfect / count,
            "count": count, "memoryless_bits": task.baselines()["memoryless_bits"]}


def learning_curve(records: list[dict[str, Any]], batch_size: int) -> dict[str, dict[str, list[float]]]:
    """The cost in bits per sequence against sequences seen, from the trainer's records.

    Args:
        records: ``metrics.jsonl``'s lines (``Trainer.logbook.records()``): "train" records with ``loss`` in
            nats per sequence (the mean over the steps since the previous record), "valid" records with
            ``bits_per_sequence``.
        batch_size: sequences per training step.

    Returns:
        ``{"train": {"sequences", "bits"}, "valid": {"sequences", "bits"}}``, sequences = step × batch size
        (for a training record: the sequences seen by the end of its window).
    """
    curve: dict[str, dict[str, list[float]]] = {split: {"sequences": [], "bits": []} for split in ("train", "valid")}
    for record in records:
        split = record.get("split")
        if split == "train" and record.get("loss") is not None:
            bits = record["loss"] / LN2
        elif split == "valid" and record.get("bits_per_sequence") is not None:
            bits = record["bits_per_sequence"]
        else:
            continue
        curve[split]["sequences"].append(record["step"] * batch_size)
        curve[split]["bits"].append(bits)
    return curve


def first_below(points: Mapping[str, list[float]], threshold: float) -> int | None:
    """The sequences seen at the first point of a curve (``{"sequences", "bits"}``) with cost below
    ``threshold``; None when it never got there."""
    for sequences, bits in zip(points["sequences"], points["bits"]):
        if bits < threshold:
            return int(sequences)
    return None


def fit(task: BitSequenceTask, contender: Contender, train: TrainConfig, run_dir: str | Path, *,
        threshold: float = 1.0, echo: Callable[[str], None] = print) -> Fitted:
    """Train one contender on ``task`` (torch seeded with ``train.seed`` before its weights are drawn), take
    back the weights of its best validation (early stopping's choice: a late blow-up of the training cost,
    which NTMs are prone to, does not decide the test) and score them on the test split.

    Args:
        threshold: the cost (bits per sequence) whose first crossing on the validation curve is recorded as
            ``sequences_below`` (None when never crossed).

    Returns:
        A :class:`Fitted`; its record's ``tested_step`` is the step whose weights were tested.

    Book: 7.8 (early stopping: the parameters of the best validation error), 10.12.
    """
    torch.manual_seed(train.seed)
    model = build_model(task, contender)
    started = time.monotonic()
    run_dir = Path(run_dir)
    trainer = Trainer(model, task, train, run_dir,
                      run_config={"contender": dataclasses.asdict(contender), "task": task.describe(),
                                  "train": dataclasses.asdict(train)})
    fitted = trainer.fit()
    seconds = time.monotonic() - started
    best = fitted["best"]["step"]
    if best is not None and best != fitted["step"]:  # the trainer keeps the best step's checkpoint
        load_checkpoint(run_dir / "checkpoints" / f"step-{best:08d}", trainer.model)
    test = score(trainer.model, task, "test")
    curve = learning_curve(trainer.logbook.records(), task.config.batch_size)
    record = {"label": contender.label, "kind": contender.kind, "size": contender.size,
              "options": dict(contender.options), "parameters": sum(p.numel() for p in model.parameters()),
              "steps": fitted["step"], "sequences": fitted["step"] * task.config.batch_size,
              "stop_reason": fitted["stop_reason"], "seconds": seconds,
              "tested_step": best if best is not None else fitted["step"], "test": test, "curve": curve,
              "threshold": threshold, "sequences_below": first_below(curve["valid"], threshold),
              "run_dir": str(trainer.run_dir)}
    echo(f"{contender.label}: {record['steps']} steps ({record['sequences']:,} sequences) in {seconds:.0f} s, "
         f"tested at step {record['tested_step']}: {test['bits_per_sequence']:.3g} bits/sequence, "
         f"{100 * test['perfect']:.1f}% perfect")
    return Fitted(contender, trainer.model, record)


def optimiser_in_words(train: TrainConfig) -> str:
    """The optimiser, learning rate, schedule and clipping of ``train`` in words, for a budget line."""
    name = {"adam": "Adam", "rmsprop": "RMSProp", "sgd": "SGD"}[train.optimizer]
    extras = [f"momentum {train.momentum:g}"] if train.optimizer != "adam" and train.momentum else []
    if train.schedule == "cosine":
        extras.append("cosine decay to 0")
    words = f"{name} lr {train.lr:g}" + (f" ({', '.join(extras)})" if extras else "")
    if train.clip_value:
        words += f", element-wise clip ±{train.clip_value:g}"
    if train.clip_norm:
        words += f", norm clip {train.clip_norm:g}"
    return words


def variant(task: BitSequenceTask, **changes: Any) -> BitSequenceTask:
    """The same task with some config fields changed, e.g. ``variant(copy, min_length=50, T=50)``."""
    return type(task)(dataclasses.replace(task.config, **changes))


def generalisation(model: nn.Module, tasks: Mapping[Any, BitSequenceTask]) -> dict[Any, dict[str, float]]:
    """:func:`score` on the test split of every task: ``{key: {"bits_per_sequence", "perfect", ...}}``."""
    return {key: score(model, task, "test") for key, task in tasks.items()}


def plot_learning_curves(fitted: list[Fitted], floor: float, path: str | Path, *, title: str = "") -> Path:
    """Training cost (a thin line, every record) and validation cost (dots) in bits per sequence against
    sequences seen, one colour per contender, on a log scale, with the memoryless floor dashed.

    Returns:
        The PNG's path (``.json`` beside it: ``{"curves": {label: {"train", "valid"}}, "floor"}``).
    """
    if not fitted:
        raise ValueError("fitted: expected at least one trained contender, got none")
    figure = _figure((6.5, 4.2))
    axes = figure.add_subplot()
    data: dict[str, Any] = {"curves": {}, "floor": floor}
    last = 0
    for index, item in enumerate(fitted):
        label, curve, colour = item.record["label"], item.record["curve"], f"C{index}"
        data["curves"][label] = curve
        for split, style in (("train", {"linewidth": 0.8, "alpha": 0.55}),
                             ("valid", {"marker": "o", "markersize": 3, "linewidth": 1.4})):
            points = [(x, y) for x, y in zip(curve[split]["sequences"], curve[split]["bits"])
                      if y is not None and math.isfinite(y) and y > 0]
            if points:
                axes.plot(*zip(*points), color=colour, label=f"{label} ({split})", **style)
                last = max(last, points[-1][0])
    axes.plot([0, last], [floor, floor], "k--", linewidth=0.9, label="memoryless floor")
    axes.set_yscale("log")
    axes.set_xlabel("sequences seen")
    axes.set_ylabel("cost (bits per sequence)")
    if title:
        axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return _save(figure, path, data)


def plot_generalisation(results: Mapping[str, Mapping[Any, Mapping[str, float]]], path: str | Path, *,
                        xlabel: str, title: str = "") -> Path:
    """Test cost in bits per sequence against a task setting (length, repeats, items) for every model, with
    the memoryless floor of each setting dashed.

    Args:
        results: ``{model label: {setting (a number): score}}`` (:func:`generalisation`'s output).
    """
    curves = {}
    floors: dict[float, float] = {}
    for label, scores in results.items():
        settings = sorted(scores)
        curves[label] = (settings, [scores[x]["bits_per_sequence"] for x in settings])
        floors.update({x: scores[x]["memoryless_bits"] for x in settings})
    xs = sorted(floors)
    return plot_curves(curves, path, title=title, xlabel=xlabel, ylabel="test cost (bits per sequence)", logy=True,
                       reference=("memoryless floor", xs, [floors[x] for x in xs]))


def first_sequence(task: BitSequenceTask, split: str = "test") -> Batch:
    """The first sequence of a held-out split, as a batch of one (B = 1, cut to its own length)."""
    batch = next(iter(task.eval_batches(split)))
    length = int(batch.lengths[0]) if batch.lengths is not None else batch.inputs.shape[1]
    return Batch(batch.inputs[:1, :length], batch.targets[:1, :length],
                 None if batch.lengths is None else batch.lengths[:1],
                 None if batch.mask is None else batch.mask[:1, :length])


def draw_pictures(fitted: list[Fitted], task: BitSequenceTask, folder: str | Path, stem: str, *,
                  what: str) -> list[Path]:
    """For the first test sequence of ``task``: every NTM's memory access (``{stem}-{label}-memory.png``) and
    every model's outputs against the targets (``{stem}-{label}-outputs.png``).

    Args:
        what: the sequence in words for the titles, e.g. ``"copy, length 20"``.

    Returns:
        The PNGs written.
    """
    batch = first_sequence(task)
    paths = []
    for item in fitted:
        label = item.record["label"]
        name = f"{stem}-{label.lower().replace(' ', '-')}"
        if isinstance(getattr(item.model, "cell", None), NTMCell):
            recording = record_ntm(item.model, batch)
            outputs = recording.outputs
            paths.append(plot_memory_access(recording, Path(folder) / f"{name}-memory.png",
                                            title=f"{label}: memory access, {what}"))
        else:
            with torch.no_grad():
                device = next(item.model.parameters()).device
                outputs, _ = item.model(batch.inputs.to(device), lengths=batch.lengths)
        paths.append(plot_sequence(batch, outputs.cpu(), Path(folder) / f"{name}-outputs.png",
                                   title=f"{label}: outputs against targets, {what}"))
    return paths


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the body with ``count`` intra-op CPU threads (None: leave torch's setting), then restore it.

    The NTM's step is hundreds of small tensor operations: a second thread buys nothing on a quiet machine,
    and on a shared one the threads of several processes spin against each other. Measured on the 2-core
    machine, an NTM copy training step (controller 100, memory 128 × 20, batch 32, lengths 1-20): quiet,
    0.30 s with one thread and 0.30 s with two; with other jobs running, 1.0 s with one and 24-42 s with two.
    """
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Comparison:
    """What :func:`compare` measured: the trained contenders, their scores on every family of variants
    (``{family: {label: {setting: score}}}``) and the training task's memoryless floor in bits per sequence."""

    fitted: list[Fitted]
    general: dict[str, dict[str, dict[Any, dict[str, float]]]]
    floor: float

    def by_label(self, label: str) -> Fitted:
        """The contender called ``label``."""
        for item in self.fitted:
            if item.record["label"] == label:
                return item
        raise ValueError(f"label: expected one of {[item.record['label'] for item in self.fitted]}, got {label!r}")


def compare(out_dir: str | Path, task: BitSequenceTask, contenders: tuple[Contender, ...], train: TrainConfig, *,
            families: Mapping[str, tuple[str, Mapping[Any, BitSequenceTask]]],
            pictured: Mapping[str, tuple[BitSequenceTask, str]], title: str, threshold: float = 1.0,
            threads: int | None = 1, echo: Callable[[str], None] = print) -> Comparison:
    """The whole protocol: train every contender (run folders ``out_dir/LABEL``), draw the learning curves
    (``plots/learning-curves.png``), score every model on every variant of every family
    (``plots/generalisation-FAMILY.png``, x = the variants' settings) and draw the pictures of each pictured
    task (``plots/STEM-LABEL-*.png``).

    Args:
        families: ``{name: (setting in words, {setting (a number): task})}``, e.g. ``{"length": ("sequence
            length L", {30: copy at 30, 50: ...})}``.
        pictured: ``{file stem: (task, what it is in words)}``; the first test sequence of each is drawn.
        title: the task in words, for the plots.
        threads: torch's intra-op CPU threads for the whole comparison (:func:`torch_threads`).
    """
    with torch_threads(threads):
        return _compare(Path(out_dir), task, contenders, train, families, pictured, title, threshold, echo)


def _compare(out_dir: Path, task: BitSequenceTask, contenders: tuple[Contender, ...], train: TrainConfig,
             families: Mapping[str, tuple[str, Mapping[Any, BitSequenceTask]]],
             pictured: Mapping[str, tuple[BitSequenceTask, str]], title: str, threshold: float,
             echo: Callable[[str], None]) -> Comparison:
    fitted = [fit(task, contender, train, out_dir / contender.label.replace(" ", "-"), threshold=threshold,
                  echo=echo) for contender in contenders]
    plots = out_dir / "plots"
    floor = task.baselines()["memoryless_bits"]
    plot_learning_curves(fitted, floor, plots / "learning-curves.png",
                         title=f"{title}: cost against sequences seen")
    general: dict[str, dict[str, dict[Any, dict[str, float]]]] = {}
    for family, (xlabel, variants) in families.items():
        general[family] = {item.record["label"]: generalisation(item.model, variants) for item in fitted}
        plot_generalisation(general[family], plots / f"generalisation-{family}.png", xlabel=xlabel,
                            title=f"{title}: generalisation")
        for label, scores in general[family].items():
            echo(f"{label}, {family}: " + ", ".join(
                f"{key}: {s['bits_per_sequence']:.3g} bits, {100 * s['perfect']:.0f}% perfect"
                for key, s in scores.items()))
    for stem, (pictured_task, what) in pictured.items():
        draw_pictures(fitted, pictured_task, plots, stem, what=what)
    return Comparison(fitted, general, floor)
