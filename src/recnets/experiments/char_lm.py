"""The main job: a character-level language model, trained on the standard library's source by default.

Book: 10.2 (an RNN with an output every step, Fig. 10.3; the model of P(y) by its conditionals, eq. 10.31),
10.2.2 (truncated BPTT over a stream), 10.2.3 (sampling, ending at an end symbol), 10.10.1 (LSTM).

``recnets train char-lm`` trains, evaluates held-out bits per character against floors it also prints
(the unigram entropy, a smoothed 5-gram Markov model, gzip/bzip2/xz), and prints samples.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from recnets.analysis.spectrum import spectrum_trackers
from recnets.cells.registry import cell_names, make_cell
from recnets.config import config_to_dict
from recnets.decode import sample
from recnets.experiments.run_folder import read_run_config
from recnets.files import write_json
from recnets.nets.patterns import OutputEveryStep
from recnets.tasks.char_corpus import CharLMConfig, CharLMTask, Documents, Vocabulary, read_documents
from recnets.train.checkpoint import latest_checkpoint, load_checkpoint
from recnets.train.config import TrainConfig
from recnets.train.distributed import is_main, world_size
from recnets.train.loop import Trainer, evaluate_model, resolve_device

__all__ = ["CharLMModelConfig", "CharLMRunConfig", "DEMO_OVERRIDES", "build_model", "train_char_lm",
           "load_char_lm", "generate", "evaluate_text", "FLOOR_LABELS"]

JOB = "char-lm"
VOCAB_FILE = "vocab.json"
SUMMARY_FILE = "summary.json"
FLOOR_LABELS = {
    "unigram": "unigram entropy (add-one, fitted on train)",
    "witten_bell_5gram": "5-gram Markov model (Witten-Bell, fitted on train)",
    "gzip": "gzip -9 on the held-out text",
    "bzip2": "bzip2 -9 on the held-out text",
    "xz": "xz -9e on the held-out text",
}


@dataclass(frozen=True)
class CharLMModelConfig:
    """The network: token embedding (D), a registered cell with H units, readout over the vocabulary.

    Attributes:
        cell: a name from ``recnets list`` (``lstm``, ``gru``, ``elman``, ``book-lstm``, ...).
        embedding: D, the embedding width (the cell's input size).
        hidden: H.
    """

    cell: str = "lstm"
    embedding: int = 64
    hidden: int = 256

    def __post_init__(self) -> None:
        if self.cell not in cell_names():
            raise ValueError(f"model.cell: expected one of {', '.join(cell_names())}, got {self.cell!r}")
        for name in ("embedding", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}: expected a positive integer, got {value!r}")


def _default_train() -> TrainConfig:
    return TrainConfig(steps=3000, lr=3e-3, clip_norm=1.0, eval_every=500, checkpoint_every=500)


@dataclass(frozen=True)
class CharLMRunConfig:
    """Everything a char-LM run needs: ``model.*``, ``data.*``, ``train.*`` (dotted keys on the CLI)."""

    model: CharLMModelConfig = field(default_factory=CharLMModelConfig)
    data: CharLMConfig = field(default_factory=CharLMConfig)
    train: TrainConfig = field(default_factory=_default_train)


# `make demo`: about two minutes of training on 2 CPU cores, then the held-out bpc, the floors and samples.
# Chosen by a grid over width, window, learning rate, schedule and sampling, each at the number of steps
# that fits two minutes on the 2-core CPU: a small LSTM (H=128, 60k characters/s there) that sees ~7M
# characters beats a 256-unit one that sees 2.5M; 3,400 steps reached 1.885 and 1.905 bpc over two seeds.
# max_seconds caps a slower machine (the cosine schedule then stops before its end).
DEMO_OVERRIDES: dict[str, Any] = {
    "model.hidden": 128,
    "data.seq_len": 64,
    "train.steps": 3400,
    "train.lr": 1.2e-2,
    "train.schedule": "cosine",
    "train.warmup_steps": 20,
    "train.max_seconds": 170,
    "train.eval_every": 0,
    "train.checkpoint_every": 500,
}


def build_model(config: CharLMModelConfig, vocab_size: int) -> OutputEveryStep:
    """Embedding (V -> D), the configured cell (D -> H), readout (H -> V)."""
    return OutputEveryStep(make_cell(config.cell, config.embedding, config.hidden), vocab_size,
                           vocab_size=vocab_size)


def train_char_lm(config: CharLMRunConfig, run_dir: str | os.PathLike, *, resume: bool = False,
                  samples: int = 3, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume), then evaluate held-out bpc on the test split beside the floors, and sample.

    Returns:
        The summary also written to ``run_dir/summary.json``: training result, test metrics, floors,
        samples, data provenance.
    """
    run_dir = Path(run_dir)
    task = CharLMTask(config.data)
    corpus = task.corpus  # read (and check) the data before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        saved = _read_run_config(run_dir)
        if config_to_dict(saved.model) != config_to_dict(config.model):
            raise ValueError(f"model: expected the run's own model config {config_to_dict(saved.model)} to resume "
                             f"{run_dir}, got {config_to_dict(config.model)}")
    echo(f"data: {task.describe()['source']} - {corpus.streams['train'].size:,} training characters, "
         f"vocabulary {task.vocab_size}")
    if is_main():  # under torchrun, rank 0 writes the run folder
        write_json(run_dir / VOCAB_FILE, task.vocabulary.to_json())
    torch.manual_seed(config.train.seed)  # the initial weights depend on the seed alone, not on what ran before
    model = build_model(config.model, task.vocab_size)
    parameters = sum(p.numel() for p in model.parameters())
    echo(f"model: {config.model.cell} H={config.model.hidden} D={config.model.embedding}, {parameters:,} parameters")
    trainer = Trainer(model, task, config.train, run_dir, callbacks=spectrum_trackers(model) if is_main() else (),
                      run_config={"job": JOB, "config": config_to_dict(config), "data": task.describe()})
    result = trainer.fit(resume=resume)
    echo(f"trained {result['step']} steps in {result['total_seconds']:.0f} s ({result['stop_reason']})")
    test = trainer.evaluate("test", shard=world_size() > 1)  # every rank scores its rows
    floors = task.baselines("test")
    texts = []
    if samples:
        generator = torch.Generator().manual_seed(config.train.seed)
        prompt = "def "
        ids = sample(model, task.vocabulary.encode_prompt(prompt), max_length=300, temperature=0.7,
                     end_id=Vocabulary.EOS, num_samples=samples, generator=generator)
        texts = [prompt + task.vocabulary.decode(row) for row in ids]
    summary = {"job": JOB, "run_dir": str(run_dir), "train": result, "test": test, "floors": floors,
               "samples": texts, "parameters": parameters, "data": task.describe(),
               "config": config_to_dict(config)}
    if is_main():
        write_json(run_dir / SUMMARY_FILE, summary)
    for index, text in enumerate(texts):
        echo(f"\n--- sample {index + 1} (temperature 0.7, prompt {prompt!r}) ---\n{text}")
    echo("")
    echo(report_table(test["bpc"], floors, scored=test["count"]))
    return summary


def report_table(bpc: float, floors: dict[str, float], *, scored: int) -> str:
    """Held-out bits per character of the model beside its floors, best first."""
    rows = [("this RNN", bpc)] + [(FLOOR_LABELS.get(name, name), value) for name, value in floors.items()]
    width = max(len(label) for label, _ in rows)
    lines = [f"held-out bits per character on {scored:,} test characters (lower is better):"]
    lines += [f"  {label:<{width}}  {value:6.3f}" for label, value in sorted(rows, key=lambda row: row[1])]
    return "\n".join(lines)


def _read_run_config(run_dir: Path) -> CharLMRunConfig:
    return read_run_config(run_dir, JOB, CharLMRunConfig)


def load_char_lm(run_dir: str | os.PathLike, *, device: str = "cpu") -> tuple[CharLMRunConfig, Vocabulary,
                                                                                OutputEveryStep, int]:
    """The run's config, vocabulary and model with the latest checkpoint's weights, and that step."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run: expected a run folder, got {run_dir} which does not exist")
    config = _read_run_config(run_dir)
    vocab_path = run_dir / VOCAB_FILE
    try:
        vocabulary = Vocabulary.from_json(vocab_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"run: cannot read the vocabulary {vocab_path} ({error})") from None
    model = build_model(config.model, len(vocabulary))
    loaded = load_checkpoint(latest_checkpoint(run_dir), model)
    return config, vocabulary, model.to(resolve_device(device)).eval(), loaded.step


def generate(run_dir: str | os.PathLike, *, prompt: str = "", max_length: int = 300, temperature: float = 0.8,
             top_k: int | None = None, num_samples: int = 1, seed: int = 0, device: str = "cpu") -> list[str]:
    """Samples from a trained run: the prompt followed by each generated continuation."""
    _, vocabulary, model, _ = load_char_lm(run_dir, device=device)
    ids = sample(model, vocabulary.encode_prompt(prompt), max_length=max_length, temperature=temperature,
                 top_k=top_k, end_id=Vocabulary.EOS, num_samples=num_samples,
                 generator=torch.Generator().manual_seed(seed))
    return [prompt + vocabulary.decode(row) for row in ids]


def evaluate_text(run_dir: str | os.PathLike, *, data: str | None = None, split: str = "test",
                  device: str = "cpu") -> dict[str, Any]:
    """Held-out bits per character of a trained run on its own split, or on a UTF-8 text file or folder.

    For ``data``, the whole text is scored (characters outside the run's vocabulary as ``<unk>``) and the
    compressors' bpc on the same text is given beside it.
    """
    config, vocabulary, model, step = load_char_lm(run_dir, device=device)
    if data is None:
        task = CharLMTask(config.data, vocabulary=vocabulary)
        floors = task.baselines(split)
    else:
        texts = read_documents(data)
        documents = Documents(source=str(data), train=(), valid=(), test=texts,
                              names={"train": (), "valid": (), "test": tuple(f"doc{i}" for i in range(len(texts)))})
        total = sum(len(text) + 1 for text in texts)
        task = CharLMTask(CharLMConfig(data=str(data), seq_len=config.data.seq_len, eval_chars=total,
                                       eval_batch_size=config.data.eval_batch_size),
                          documents=documents, vocabulary=vocabulary)
        floors = task.compressor_baselines("test")
        split = "test"
    started = time.monotonic()
    metrics = evaluate_model(model, task, split, device=resolve_device(device))
    return {"run": str(run_dir), "step": step, "data": data or f"the run's {split} split", "bpc": metrics["bpc"],
            "count": metrics["count"], "floors": floors, "seconds": time.monotonic() - started}

