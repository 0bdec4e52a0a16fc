"""The ``tagger`` job: a bidirectional RNN tags the user's own token sequences (``recnets train tagger``).

Book: 10.3 (bidirectional RNNs: the output at t reads h(t), which has seen x(1..t), and g(t), which has
seen x(t..τ), Fig. 10.11), 10.2 (design pattern 1: an output at every step).

The data file is CoNLL-style (:func:`recnets.tasks.conll.read_conll`): ``token<TAB>tag`` per line, a blank
line between sequences. The sequences are shuffled with ``data.split_seed`` and cut into train/valid/test by
``data.valid_fraction`` and ``data.test_fraction``. Tokens are embedded (D = ``model.embedding``), read by
``model.layers`` bidirectional layers of a registered cell (``model.cell``, H = ``model.hidden`` per
direction, the two directions concatenated), and a linear readout gives each step's tag logits. Tokens
outside the training vocabulary read as ``<unk>``; ``data.unknown_rate`` > 0 trains that embedding by reading
random training tokens as ``<unk>``.

The run folder holds ``config.json``, ``vocab.json`` (token and tag vocabularies, plain JSON), checkpoints
(safetensors), ``metrics.jsonl``, ``plots/loss.png`` and ``summary.json`` (held-out accuracy beside the
majority-tag floors); ``recnets eval RUN [--data FILE]`` re-scores the latest checkpoint and
:func:`tag_lines` tags new text, one whitespace-tokenised sequence per line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import torch

from recnets.cells.registry import CELLS
from recnets.config import config_to_dict
from recnets.experiments.run_folder import (check_no_checkpoints, check_resumed_model, is_job_run, positive_int,
                                            read_json_side_file, read_run_config)
from recnets.files import write_json
from recnets.nets.bidirectional import BidirectionalRNN, bidirectional_layers
from recnets.tasks.conll import (TaggingTask, TagVocabulary, TokenVocabulary, collate_tagged, majority_floors,
                                 read_conll, split_sequences)
from recnets.tasks.splits import check_fractions
from recnets.train.checkpoint import latest_checkpoint, load_checkpoint
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer, resolve_device

__all__ = ["JOB", "TaggerDataConfig", "TaggerModelConfig", "TaggerRunConfig", "build_model", "train_tagger",
           "evaluate_tagger", "eval_report", "is_tagger_run", "tag_lines", "Tagged"]

JOB = "tagger"
VOCAB_FILE, SUMMARY_FILE = "vocab.json", "summary.json"


@dataclass(frozen=True)
class TaggerDataConfig:
    """The user's tagged sequences (``data.*``): the file, the split, the batches, the unknown-token policy."""

    data: str = ""
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    batch_size: int = 32
    eval_batch_size: int = 256
    min_count: int = 1
    unknown_rate: float = 0.0

    def __post_init__(self) -> None:
        check_fractions({"valid": self.valid_fraction, "test": self.test_fraction}, prefix="data.")
        for name in ("batch_size", "eval_batch_size", "min_count"):
            positive_int(f"data.{name}", getattr(self, name))
        rate = self.unknown_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"data.unknown_rate: expected a probability in [0, 1), got {rate!r}")


@dataclass(frozen=True)
class TaggerModelConfig:
    """The network (``model.*``): a registered cell in both directions, token embedding width D, hidden
    width H per direction, and the number of stacked bidirectional layers."""

    cell: str = "lstm"
    embedding: int = 64
    hidden: int = 128
    layers: int = 1

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"model.cell: expected one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("embedding", "hidden", "layers"):
            positive_int(f"model.{name}", getattr(self, name))


def _default_train() -> TrainConfig:
    return TrainConfig(steps=2000, lr=3e-3, clip_norm=5.0, eval_every=200, checkpoint_every=500)


@dataclass(frozen=True)
class TaggerRunConfig:
    """Everything a tagger run needs: ``model.*``, ``data.*``, ``train.*`` (dotted keys on the CLI)."""

    model: TaggerModelConfig = field(default_factory=TaggerModelConfig)
    data: TaggerDataConfig = field(default_factory=TaggerDataConfig)
    train: TrainConfig = field(default_factory=_default_train)


def build_model(config: TaggerModelConfig, vocab_size: int, num_tags: int) -> BidirectionalRNN:
    """Embedding (V -> D), ``layers`` bidirectional layers of the cell (H per direction), readout -> tags.

    Book: 10.3, Fig. 10.11.
    """
    layers = bidirectional_layers(config.cell, config.embedding, config.hidden, layers=config.layers)
    return BidirectionalRNN(layers, num_tags, vocab_size=vocab_size)


def _task(config: TaggerRunConfig, splits: dict[str, list], tokens: TokenVocabulary | None = None,
          tags: TagVocabulary | None = None, source: dict[str, Any] | None = None) -> TaggingTask:
    data = config.data
    return TaggingTask(splits, tokens=tokens, tags=tags, min_count=data.min_count, batch_size=data.batch_size,
                       eval_batch_size=data.eval_batch_size, unknown_rate=data.unknown_rate, seed=config.train.seed,
                       name=f"tagged sequences from {data.data}", source=source)


def _scores(model: BidirectionalRNN, task: TaggingTask, split: str, device: torch.device) -> dict[str, Any]:
    """Tag accuracy and whole-sequence accuracy on ``split``, in one pass."""
    right = tokens = whole = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in task.eval_batches(split):
            batch = batch.to(device)
            outputs, _ = model(batch.inputs, lengths=batch.lengths)  # (B, T, O)
            r, n, w = task.scores(outputs, batch)
            right, tokens, whole = right + r, tokens + n, whole + w
    model.train(was_training)
    sequences = task.split_size(split)
    return {"accuracy": right / max(tokens, 1), "sequence_accuracy": whole / max(sequences, 1), "tokens": tokens,
            "sequences": sequences, "unknown_tokens": task.unknown[split]}


def _vocabulary_json(task: TaggingTask) -> dict[str, Any]:
    return {"tokens": task.tokens.to_json(), "tags": task.tags.to_json()}


def train_tagger(config: TaggerRunConfig, run_dir: str | os.PathLike, *, resume: bool = False,
                 echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Read and split the sequences, train (or resume), then score the test split beside the floors."""
    if not config.data.data:
        raise ValueError("--data: expected a CoNLL file of 'token<TAB>tag' lines (a blank line between "
                         "sequences), got none")
    run_dir = Path(run_dir)
    splits = _own_splits(config)  # read and check before anything is written
    count = sum(len(rows) for rows in splits.values())
    task = _task(config, splits, source={"file": config.data.data})
    vocabulary = _vocabulary_json(task)
    if resume:
        saved = _read_run(run_dir)
        check_resumed_model(saved.model, config.model, run_dir)
        if _read_vocabulary_json(run_dir) != vocabulary:
            raise ValueError(f"data: expected the data the run {run_dir} was trained on (its vocab.json), got "
                             f"{config.data.data} whose tokens or tags differ")
    else:
        check_no_checkpoints(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / VOCAB_FILE, vocabulary)
    echo(f"data: {count:,} sequences from {config.data.data} ({task.split_size('train'):,} train, "
         f"{task.split_size('valid'):,} valid, {task.split_size('test'):,} test), {task.num_tags} tags, "
         f"vocabulary {task.vocab_size:,}")
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, task.vocab_size, task.num_tags)
    trainer = Trainer(model, task, config.train, run_dir,
                      run_config={"job": JOB, "config": config_to_dict(config), "data": task.describe()})
    result = trainer.fit(resume=resume)
    echo(f"trained {result['step']} steps in {result['total_seconds']:.0f} s ({result['stop_reason']})")
    test = _scores(model, task, "test", trainer.device)
    floors = task.baselines("test")
    summary = {"job": JOB, "run_dir": str(run_dir), "train": result, "test": test, "floors": floors,
               "tags": task.tags.data_tokens(), "config": config_to_dict(config)}
    write_json(run_dir / SUMMARY_FILE, summary)
    echo(eval_report({"run": str(run_dir), "step": result["step"], "data": "the run's test split", **test,
                      **floors}))
    return summary


def is_tagger_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir/config.json`` names a ``tagger`` run (False for anything unreadable)."""
    return is_job_run(run_dir, JOB)


def _read_run(run_dir: Path) -> TaggerRunConfig:
    return read_run_config(run_dir, JOB, TaggerRunConfig)


def _read_vocabulary_json(run_dir: Path) -> dict[str, Any]:
    return read_json_side_file(run_dir, VOCAB_FILE, "vocabulary")


def _load(run_dir: Path, device: str) -> tuple[TaggerRunConfig, TokenVocabulary, TagVocabulary, BidirectionalRNN, int]:
    """The run's config, vocabularies and model at its latest checkpoint (on ``device``), and that step."""
    config = _read_run(run_dir)
    saved = _read_vocabulary_json(run_dir)
    try:
        tokens, tags = TokenVocabulary.from_json(saved["tokens"]), TagVocabulary.from_json(saved["tags"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"run: cannot read the vocabulary {run_dir / VOCAB_FILE} ({error!r})") from None
    model = build_model(config.model, len(tokens), len(tags))
    step = load_checkpoint(latest_checkpoint(run_dir), model).step
    return config, tokens, tags, model.to(resolve_device(device)), step


def _own_splits(config: TaggerRunConfig) -> dict[str, list]:
    return split_sequences(read_conll(config.data.data), valid_fraction=config.data.valid_fraction,
                           test_fraction=config.data.test_fraction, seed=config.data.split_seed)


def evaluate_tagger(run_dir: str | os.PathLike, *, data: str | None = None, split: str = "test",
                    device: str = "cpu") -> dict[str, Any]:
    """Accuracy of a trained run's latest checkpoint on its own split, or on every sequence of ``data``
    (tokens outside the run's vocabulary read as ``<unk>`` and are counted; an unknown tag is an error)."""
    run_dir = Path(run_dir)
    config, tokens, tags, model, step = _load(run_dir, device)
    own = _own_splits(config)  # the floors come from the run's own training split
    if data is None:
        splits = own
    else:
        sequences = read_conll(data)
        splits, split = {"train": sequences, "valid": sequences, "test": sequences}, "test"
    task = _task(config, splits, tokens=tokens, tags=tags)
    scores = _scores(model, task, split, next(model.parameters()).device)
    floors = majority_floors(own["train"], task.sequences[split])
    return {"run": str(run_dir), "step": step, "data": data or f"the run's {split} split", **scores, **floors}


def eval_report(result: dict[str, Any]) -> str:
    """Accuracy lines of a tagger run's evaluation."""
    unknown = result.get("unknown_tokens", 0)
    return "\n".join([
        f"run {result['run']} at step {result['step']}, scored on {result['data']}:",
        f"  tag accuracy       {result['accuracy']:.4f} on {result['tokens']:,} tokens "
        f"({unknown:,} outside the vocabulary, read as <unk>)",
        f"  sequence accuracy  {result['sequence_accuracy']:.4f} on {result['sequences']:,} sequences",
        f"  floors: always {result['majority_tag']!r} {result['majority_accuracy']:.4f}; each token's most "
        f"frequent training tag {result['token_majority_accuracy']:.4f}"])


class Tagged(NamedTuple):
    """What :func:`tag_lines` returns.

    Attributes:
        tags: one list of tags per input line (empty for a blank line).
        tokens: the tokens read, one list per line.
        unknown: how many tokens were outside the run's vocabulary (read as ``<unk>``).
    """

    tags: list[list[str]]
    tokens: list[list[str]]
    unknown: int


def tag_lines(run_dir: str | os.PathLike, lines: Iterable[str], *, device: str = "cpu",
              batch_size: int = 256) -> Tagged:
    """Tag new text with a trained run: each line is one sequence of whitespace-separated tokens.

    Tokens outside the run's vocabulary read as ``<unk>`` and are counted in ``Tagged.unknown``; a blank line
    gets no tags (the output stays aligned with the input lines).

    Book: 10.3.
    """
    positive_int("batch_size", batch_size)
    _, tokens, tags, model, _ = _load(Path(run_dir), device)
    device_of = next(model.parameters()).device
    read = [line.split() for line in lines]
    tagged: list[list[str]] = [[] for _ in read]
    rows = [index for index, words in enumerate(read) if words]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chosen = rows[start:start + batch_size]
            batch = collate_tagged([tokens.encode(read[i]) for i in chosen]).to(device_of)
            outputs, _ = model(batch.inputs, lengths=batch.lengths)  # (B, T, O)
            guesses = outputs.argmax(-1).cpu()  # (B, T)
            for row, index in enumerate(chosen):
                tagged[index] = [tags.tokens[int(i)] for i in guesses[row, :len(read[index])]]
    return Tagged(tagged, read, sum(map(tokens.count_unknown, read)))
