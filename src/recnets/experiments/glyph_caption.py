"""``glyph-caption``: caption images of characters with their Unicode names, word by word, by an RNN conditioned
on the image's features as its initial state, as an extra input at every step, or both.

A small convolutional encoder turns each glyph image into a vector x; a GRU generator of the same size in
each mode emits the name ("LATIN SMALL LETTER A WITH GRAVE") word by word. The split is by code point, so
every test caption is new as a whole: a model must compose it from words learned on other characters
(script, case, letter name, diacritics). Scored on the held-out code points (every face) by exact match and
word accuracy, greedy and with a beam for the mode best on validation, against two floors: the best constant
caption and the caption of the nearest training image in pixels (which cannot match any test caption).

Book: 10.2.4 (Figs. 10.9 and 10.10: a fixed vector x conditions an RNN over sequences, as its initial state,
as an input at every step, or both). No paper figure: a task of ours on data every machine has.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from recnets.beam_search import beam_search  # noqa: E402
from recnets.decode import greedy_decode  # noqa: E402
from recnets.experiments.summary import Row, make_summary, write_summary  # noqa: E402
from recnets.machine import one_torch_thread  # noqa: E402
from recnets.nets.conditioned import CONDITIONS, ConditionedRNN, ImageEncoder, conditioned_rnn  # noqa: E402
from recnets.tasks.glyph_captions import EOS, GlyphCaptionConfig, GlyphCaptionTask, caption_scores  # noqa: E402
from recnets.train.config import TrainConfig  # noqa: E402
from recnets.train.loop import Trainer  # noqa: E402

__all__ = ["NAME", "TITLE", "BOOK", "run", "settings", "build_model", "caption_split"]

NAME = "glyph-caption"
TITLE = "captioning glyph images with their Unicode names: an RNN conditioned on the image as initial state, input, or both"
BOOK = "10.2.4"
# digits, Latin letters, Greek, Cyrillic, arrows, box drawing: names of several shapes, so a constant caption
# scores low and a few updates learn the script and the first words
QUICK_RANGES = ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x391, 0x3C9), (0x410, 0x44F), (0x2190, 0x21FF),
                (0x2500, 0x257F))


def settings(quick: bool, progress: bool) -> dict[str, Any]:
    """Full: every captionable code point of every installed DejaVu face (6,735 code points, 83,804 images of
    32×32 with the 22 faces of fonts-dejavu-core + extra), 5 % / 10 % of code points held out for valid /
    test; encoder channels 16, 32, 64 -> x of 128; word embeddings of 64; GRU of 128; 1,500 updates of 64
    images, Adam 3e-3 with a cosine decay, clip 1; beam 4 (measured: about 350 s of training per mode, 19 min in
    all, on the shared 2-core machine at a load average of 5; about 0.1 s per update when a core is free, so
    about 9-10 min). Quick: :data:`QUICK_RANGES` in DejaVu Sans and Sans
    Mono at 16×16, encoder channels 8, 16 -> x of 32, GRU of 64, 100 updates of 32 at 1e-2; beam 3."""
    if quick:
        data = GlyphCaptionConfig(image_size=16, faces=("DejaVuSans", "DejaVuSansMono"), ranges=QUICK_RANGES,
                                  valid_fraction=0.1, test_fraction=0.2, batch_size=32, eval_batch_size=256)
        return {"data": data, "channels": (8, 16), "context": 32, "embedding": 16, "hidden": 64, "cell": "gru",
                "beam_width": 3,
                "train": TrainConfig(steps=100, lr=1e-2, schedule="cosine", clip_norm=1.0, eval_every=0,
                                     checkpoint_every=0, log_every=10, progress=progress, device="cpu")}
    return {"data": GlyphCaptionConfig(), "channels": (16, 32, 64), "context": 128, "embedding": 64, "hidden": 128,
            "cell": "gru", "beam_width": 4,
            "train": TrainConfig(steps=1500, lr=3e-3, schedule="cosine", clip_norm=1.0, eval_every=0,
                                 checkpoint_every=0, log_every=25, progress=progress, device="cpu")}


def build_model(condition: str, vocab_size: int, setup: dict[str, Any]) -> ConditionedRNN:
    """The encoder and the conditioned generator of one mode (same sizes in every mode but the cell's input)."""
    encoder = ImageEncoder(setup["data"].image_size, setup["context"], channels=setup["channels"])
    return conditioned_rnn(setup["cell"], vocab_size, setup["context"], setup["hidden"],
                           embedding_size=setup["embedding"], condition=condition, encoder=encoder)


@torch.no_grad()
def caption_split(model: ConditionedRNN, task: GlyphCaptionTask, split: str, *, beam_width: int = 1
                  ) -> list[list[int]]:
    """Each image's predicted caption (word ids, no EOS): greedy for ``beam_width`` 1, else beam search."""
    was_training = model.training
    model.eval()
    longest = max(len(caption) for caption in task.data.captions) + 2
    predicted: list[list[int]] = []
    for batch in task.eval_batches(split):
        x = model.encode(batch.inputs)  # (B, C)
        if beam_width == 1:
            predicted += greedy_decode(model, context=x, max_length=longest, end_id=EOS).to_lists()
        else:
            predicted += beam_search(model, context=x, beam_width=beam_width, max_length=longest, end_id=EOS).best()
    model.train(was_training)
    return predicted


def _loss_curves(run_dirs: dict[str, Path]) -> dict[str, list[tuple[int, float]]]:
    curves = {}
    for condition, run_dir in run_dirs.items():
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        curves[condition] = [(r["step"], r["loss"]) for r in records if r.get("split") == "train"]
    return curves


def plot_curves(out_dir: Path, curves: dict[str, list[tuple[int, float]]], valid: dict[str, float]) -> Path:
    """Training NLL per word against updates for each mode, the final validation NLL as a dot."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for condition, points in curves.items():
        steps, losses = zip(*points)
        line, = axes.plot(steps, losses, label=f"{condition} (train)", linewidth=1)
        axes.plot([steps[-1]], [valid[condition]], "o", color=line.get_color(), label=f"{condition} (valid, end)")
    axes.set_xlabel("updates")
    axes.set_ylabel("NLL per word (nats)")
    axes.set_yscale("log")
    axes.set_title("glyph captioning: x as initial state, input, or both")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path = plots / "loss.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    (plots / "loss.json").write_text(json.dumps({"curves": curves, "valid": valid}, indent=2))
    return path


def plot_examples(out_dir: Path, task: GlyphCaptionTask, predicted: list[list[int]], label: str,
                  count: int = 16) -> Path:
    """A grid of test glyphs, each with its true and predicted caption (green when exact, red otherwise)."""
    test = task.data.indices("test")
    references = task.references("test")
    chosen = np.linspace(0, test.size - 1, count).round().astype(int)  # evenly through the test code points
    columns = 4
    figure, axes = plt.subplots(count // columns, columns, figsize=(13, 3.1 * count // columns))
    for axis, row in zip(axes.flat, chosen):
        index = test[row]
        axis.imshow(task.data.images[index], cmap="gray_r", vmin=0, vmax=255)
        axis.set_xticks([])
        axis.set_yticks([])
        code = task.data.code_points[task.data.code[index]]
        exact = predicted[row] == references[row]
        truth = " ".join(task.data.captions[task.data.code[index]])
        guess = " ".join(task.decode(predicted[row])) or "(empty)"
        axis.set_title(f"U+{code:04X} {task.data.faces[task.data.face[index]]}\ntrue: {_wrap(truth)}\n"
                       f"pred: {_wrap(guess)}", fontsize=7, color="green" if exact else "firebrick", loc="left")
    figure.suptitle(f"test glyphs (code points never seen in training), {label}", fontsize=10)
    figure.tight_layout()
    path = out_dir / "plots" / "examples.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _wrap(text: str, width: int = 34) -> str:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n      ".join(lines + [line])


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the conditioned RNN in the three modes on the same glyphs; caption the held-out code points."""
    with one_torch_thread():
        return _run(Path(out_dir), quick, progress, echo)


def _run(out_dir: Path, quick: bool, progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    setup = settings(quick, progress)
    task, train = GlyphCaptionTask(setup["data"]), setup["train"]
    rendered = time.monotonic()
    described = task.describe()
    echo(f"{len(described['faces'])} DejaVu faces, Unicode {described['unicode_version']}: "
         + ", ".join(f"{split} {described['code_points'][split]:,} code points / {described['images'][split]:,} images"
                     for split in ("train", "valid", "test"))
         + f"; {task.vocab_size:,} words; rendered in {time.monotonic() - rendered:.1f} s")
    floors = task.baselines("test")
    references = task.references("test")
    echo(f"floors (test): constant caption {' '.join(floors['constant_caption'])!r} word accuracy "
         f"{floors['constant']['word_accuracy']:.3f}; nearest training image {floors['nearest_neighbour']['word_accuracy']:.3f}; "
         f"captions made of training words {floors['known_words']:.3f}")
    results: dict[str, dict[str, Any]] = {}
    models: dict[str, ConditionedRNN] = {}
    run_dirs = {}
    for condition in CONDITIONS:
        begun = time.monotonic()
        torch.manual_seed(train.seed)
        model = build_model(condition, task.vocab_size, setup)
        run_dirs[condition] = out_dir / condition
        fitted = Trainer(model, task, train, run_dirs[condition],
                         run_config={"condition": condition, "setup": {k: str(v) for k, v in setup.items()},
                                     "task": described}).fit()
        trained = time.monotonic() - begun
        scores = caption_scores(caption_split(model, task, "test"), references)
        models[condition] = model
        results[condition] = {"valid_nll": fitted["best"]["loss"], "greedy": scores, "train_seconds": trained,
                              "weights": sum(p.numel() for p in model.parameters())}
        echo(f"{condition}: valid NLL {fitted['best']['loss']:.3f}/word; test greedy exact match "
             f"{scores['exact_match']:.3f}, word accuracy {scores['word_accuracy']:.3f}, WER "
             f"{scores['word_error_rate']:.3f} ({trained:.0f} s training)")
    best = min(CONDITIONS, key=lambda c: results[c]["valid_nll"])  # chosen on validation, not test
    width = setup["beam_width"]
    beamed = caption_split(models[best], task, "test", beam_width=width)
    results[best]["beam"] = caption_scores(beamed, references)
    echo(f"{best} with beam {width}: exact match {results[best]['beam']['exact_match']:.3f}, word accuracy "
         f"{results[best]['beam']['word_accuracy']:.3f}")
    plot_curves(out_dir, _loss_curves(run_dirs), {c: results[c]["valid_nll"] for c in CONDITIONS})
    plot_examples(out_dir, task, beamed, f"{best} conditioning, beam {width}")

    rows = []
    for condition in CONDITIONS:
        greedy = results[condition]["greedy"]
        rows.append(Row(f"x as {condition}: test exact match (greedy)", greedy["exact_match"]))
        rows.append(Row(f"x as {condition}: test word accuracy (greedy)", greedy["word_accuracy"]))
        rows.append(Row(f"x as {condition}: test word error rate (greedy)", greedy["word_error_rate"]))
    rows.append(Row(f"x as {best} (best on validation), beam {width}: test exact match",
                    results[best]["beam"]["exact_match"]))
    rows.append(Row(f"x as {best} (best on validation), beam {width}: test word accuracy",
                    results[best]["beam"]["word_accuracy"]))
    rows.append(Row(f"constant caption {' '.join(floors['constant_caption'])!r} (floor): word accuracy",
                    floors["constant"]["word_accuracy"]))
    rows.append(Row("nearest training image in pixels, same face (floor): word accuracy",
                    floors["nearest_neighbour"]["word_accuracy"]))
    rows.append(Row("test captions made only of training words (ceiling of exact match)", floors["known_words"]))
    checks = {f"x as {c} beats the constant-caption floor's word accuracy (greedy)":
              results[c]["greedy"]["word_accuracy"] > floors["constant"]["word_accuracy"] for c in CONDITIONS}
    if not quick:
        checks[f"x as {best} (best on validation) composes unseen captions: beam exact match > 0 (the "
               f"nearest-neighbour floor is 0 by construction)"] = results[best]["beam"]["exact_match"] > 0
        checks["x as an input at every step (input, both) gives a higher greedy exact match than x as the initial "
               "state only"] = min(results["input"]["greedy"]["exact_match"], results["both"]["greedy"]["exact_match"]
                                   ) > results["initial-state"]["greedy"]["exact_match"]
    data = setup["data"]
    budget = (f"{len(described['faces'])} DejaVu faces, {sum(described['code_points'].values()):,} code points "
              f"({described['code_points']['test']:,} / {described['images']['test']:,} test code points / images), "
              f"{data.image_size}×{data.image_size} images; encoder channels {setup['channels']} -> x of "
              f"{setup['context']}; word embeddings {setup['embedding']}; {setup['cell'].upper()} of "
              f"{setup['hidden']}; {train.steps:,} updates of {data.batch_size} images, Adam lr {train.lr} "
              f"({train.schedule}), clip {train.clip_norm}; teacher forcing; beam {width} for the mode best on "
              f"validation NLL")
    nearest = floors["nearest_neighbour"]["word_accuracy"]
    beaten = [c for c in CONDITIONS if results[c]["greedy"]["word_accuracy"] > nearest]
    notes = ("No paper figure: a task of ours. Captions are unicodedata.name split at spaces; the split is by code "
             "point, so no test caption was seen whole in training. Word accuracy = Σ_i [pred_i = ref_i] / "
             "max(|pred|, |ref|) per image, averaged over test images (every face of every test code point); "
             "word error rate = word edit distance / |ref|. Test words missing from the training vocabulary "
             "read as <unk>, which no model is trained to emit: the share of test captions without one bounds "
             f"exact match. The nearest training image in pixels scores a word accuracy of {nearest:.3f} by "
             f"retrieving a sibling's name; {'modes ' + ', '.join(beaten) + ' beat' if beaten else 'no mode beats'} "
             f"it greedily in this run, but it never produces an unseen caption, which the generators do. "
             f"The names depend on the Unicode version of Python's unicodedata ({described['unicode_version']}) "
             f"and the code points on the installed fonts (SHA-256 in each run's config.json).")
    summary = make_summary(name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
                           wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
                           extra={"results": results, "best": best, "floors": floors, "data": described})
    write_summary(out_dir, summary)
    return summary
