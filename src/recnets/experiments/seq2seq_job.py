"""The ``seq2seq`` job: an encoder-decoder learns the user's own source -> target pairs (``recnets train seq2seq``).

Book: 10.4 (encoder-decoder sequence-to-sequence architectures, Fig. 10.12), 10.3 (a bidirectional encoder),
10.2.1 (teacher forcing and scheduled sampling), 10.2.3 (generation ended by an end symbol; beam search),
12.4.5.1 (attention).

The data file holds ``source<TAB>target`` lines (:func:`recnets.tasks.pairs.read_pairs_tsv`), tokenised into
characters (``data.tokens char``) or whitespace-separated words (``space``). The pairs are split BY SOURCE
(all targets of one source in one split) with ``data.split_seed`` into train/valid/test by
``data.valid_fraction`` and ``data.test_fraction``. The model is an
:class:`~recnets.nets.encoder_decoder.EncoderDecoder` built from ``model.*`` (cell, widths, layers, a
bidirectional encoder, attention ``none``/``bahdanau``/``dot``/``general``, input feeding, dropout, and
``model.feeding.*``: teacher forcing or scheduled sampling).

The run folder holds ``config.json``, ``vocab.json`` (the source and target vocabularies, plain JSON),
checkpoints (safetensors + JSON, never pickle), ``metrics.jsonl``, ``plots/loss.png``,
``plots/attention.png`` (with attention: α of a few held-out sources) and ``summary.json``: the test split's
token negative log-likelihood (teacher-forced) and, decoded greedily, the exact-match rate, the sequence
error rate (a source counts as right when its output equals ANY of its targets) and the token error rate
(edit distance to the closest target over that target's length; :mod:`recnets.tasks.sequence_errors`).
``recnets eval RUN [--data FILE] [--beam K]`` re-scores the latest checkpoint and ``recnets translate RUN
[FILE|-]`` (:func:`translate_lines`) decodes new sources, one per line.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import torch

from recnets.cells.registry import CELLS
from recnets.config import config_to_dict
from recnets.experiments.run_folder import (check_no_checkpoints, check_resumed_model, is_job_run, positive_int,
                                            read_json_side_file, read_run_config)
from recnets.files import write_json
from recnets.nets.attention import ATTENTIONS
from recnets.nets.encoder_decoder import EOS, EncoderDecoder
from recnets.tasks.pairs import (TOKENIZERS, PairsTask, PairVocabulary, collate_pairs, file_sha256, read_pairs_tsv,
                                 split_pairs, tokenize)
from recnets.tasks.sequence_errors import error_rates
from recnets.tasks.splits import check_fractions
from recnets.train.checkpoint import latest_checkpoint, load_checkpoint
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer, evaluate_model, resolve_device
from recnets.train.scheduled_sampling import FeedingConfig

__all__ = ["JOB", "Seq2SeqDataConfig", "Seq2SeqModelConfig", "Seq2SeqRunConfig", "build_model", "train_seq2seq",
           "evaluate_seq2seq", "eval_report", "is_seq2seq_run", "translate_ids", "translation_scores",
           "translate_lines", "Translated", "attention_examples"]

JOB = "seq2seq"
VOCAB_FILE, SUMMARY_FILE = "vocab.json", "summary.json"
JOINERS = {"char": "", "space": " "}  # how output tokens are written back as text


@dataclass(frozen=True)
class Seq2SeqDataConfig:
    """The user's pairs (``data.*``): the file, its tokens, the split by source, the batches."""

    data: str = ""
    tokens: str = "char"
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    batch_size: int = 32
    eval_batch_size: int = 256
    bucket: int = 4

    def __post_init__(self) -> None:
        if self.tokens not in TOKENIZERS:
            raise ValueError(f"data.tokens: expected one of {', '.join(TOKENIZERS)}, got {self.tokens!r}")
        check_fractions({"valid": self.valid_fraction, "test": self.test_fraction}, prefix="data.")
        for name in ("batch_size", "eval_batch_size", "bucket"):
            positive_int(f"data.{name}", getattr(self, name))


@dataclass(frozen=True)
class Seq2SeqModelConfig:
    """The network (``model.*``): :class:`~recnets.nets.encoder_decoder.EncoderDecoder`'s arguments.

    ``attention`` is ``none`` (the encoder's final state only), ``bahdanau``, ``dot`` or ``general``;
    ``input_feeding`` goes with dot/general; ``feeding.*`` chooses teacher forcing or scheduled sampling.
    """

    cell: str = "lstm"
    embedding: int = 64
    hidden: int = 128
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True
    attention: str | None = "general"
    attention_size: int | None = None
    input_feeding: bool = True
    context_every_step: bool = False
    dropout: float = 0.0
    feeding: FeedingConfig = field(default_factory=FeedingConfig)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"model.cell: expected one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.attention is not None and self.attention not in ATTENTIONS:
            raise ValueError(f"model.attention: expected none or one of {', '.join(ATTENTIONS)}, got "
                             f"{self.attention!r}")
        for name in ("embedding", "hidden", "encoder_layers", "decoder_layers"):
            positive_int(f"model.{name}", getattr(self, name))
        if self.attention_size is not None:
            positive_int("model.attention_size", self.attention_size)


def _default_train() -> TrainConfig:
    return TrainConfig(steps=2000, lr=2e-3, schedule="cosine", clip_norm=5.0, eval_every=200, checkpoint_every=500)


@dataclass(frozen=True)
class Seq2SeqRunConfig:
    """Everything a seq2seq run needs: ``model.*``, ``data.*``, ``train.*`` (dotted keys on the CLI)."""

    model: Seq2SeqModelConfig = field(default_factory=Seq2SeqModelConfig)
    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    train: TrainConfig = field(default_factory=_default_train)


def build_model(config: Seq2SeqModelConfig, source_vocab_size: int, target_vocab_size: int) -> EncoderDecoder:
    """The encoder-decoder that ``config`` describes (its argument checks raise one-line ValueErrors prefixed
    ``model``).

    Book: 10.4, Fig. 10.12; 12.4.5.1.
    """
    options = config_to_dict(config)
    options["feeding"] = config.feeding
    try:
        return EncoderDecoder(source_vocab_size, target_vocab_size, **options)
    except ValueError as error:
        raise ValueError(f"model.{error}") from None


# --------------------------------------------------------------------------------------------- decoding


def _check_decoding(beam_width: object, max_length: object, length_penalty: object) -> None:
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width: expected an integer >= 1 (--beam), got {beam_width!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length: expected an integer >= 1 (--max-length) or None, got {max_length!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or not (
            math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty: expected a finite number >= 0 (--length-penalty), got {length_penalty!r}")


def translate_ids(model: EncoderDecoder, sources: Sequence[Sequence[int]], *, beam_width: int = 1,
                  max_length: int | None = None, length_penalty: float = 0.0, batch_size: int = 256) -> list[list[int]]:
    """The output ids (``<eos>`` left out) of every encoded source, decoded greedily or by beam search.

    Sources are sorted by length and cut into batches of ``batch_size`` (little padding); the outputs come
    back in the order of ``sources``. ``max_length`` None: 2 S + 10 with S the longest source of each batch.

    Book: 10.2.3, 10.4.
    """
    _check_decoding(beam_width, max_length, length_penalty)
    positive_int("batch_size", batch_size)
    if any(len(source) == 0 for source in sources):
        raise ValueError("sources: expected non-empty id lists, got an empty one")
    device = next(model.parameters()).device
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    outputs: list[list[int]] = [[] for _ in sources]
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        batch = collate_pairs([sources[i] for i in chosen], [[EOS]] * len(chosen))
        decoded = model.translate(batch.inputs.to(device), batch.lengths, beam_width=beam_width,
                                  max_length=max_length, length_penalty=length_penalty)
        for index, ids in zip(chosen, decoded):
            outputs[index] = [int(i) for i in ids]
    return outputs


def translation_scores(model: EncoderDecoder, task: PairsTask, split: str, *, beam_width: int = 1,
                       max_length: int | None = None, length_penalty: float = 0.0) -> dict[str, Any]:
    """Decode every distinct source of ``split`` and score it against ALL its targets.

    Returns:
        ``{"word_error_rate"`` (no target matched), ``"exact_match"`` (1 - that), ``"token_error_rate"``
        (Σ edit distance to the closest target / Σ its length), ``"sources"``, ``"wrong"``, ``"edits"``,
        ``"reference_tokens"``, ``"hypotheses"`` (token lists, in ``task.grouped(split)``'s order)``}``.

    Book: 10.4.
    """
    groups = task.grouped(split)
    encoded = [task.source_vocabulary.encode(source) for source, _ in groups]
    ids = translate_ids(model, encoded, beam_width=beam_width, max_length=max_length, length_penalty=length_penalty,
                        batch_size=task.eval_batch_size)
    hypotheses = [task.target_vocabulary.decode(row) for row in ids]
    rates = error_rates(hypotheses, [targets for _, targets in groups])
    return {"word_error_rate": rates.word_error_rate, "exact_match": 1.0 - rates.word_error_rate,
            "token_error_rate": rates.phoneme_error_rate, "sources": rates.items, "wrong": rates.wrong_items,
            "edits": rates.edits, "reference_tokens": rates.reference_tokens, "hypotheses": hypotheses}


def attention_examples(model: EncoderDecoder, task: PairsTask, split: str, count: int = 4) -> list[Any]:
    """:class:`~recnets.analysis.attention_maps.AttentionExample` of the first ``count`` distinct sources of
    ``split``: α at each greedy output step (the ``<eos>`` step included) over the source tokens."""
    from recnets.analysis.attention_maps import AttentionExample

    groups = task.grouped(split)[:count]
    device = next(model.parameters()).device
    encoded = [task.source_vocabulary.encode(source) for source, _ in groups]
    outputs = translate_ids(model, encoded)
    batch = collate_pairs(encoded, [[EOS]] * len(encoded))
    weights = model.attention_map(batch.inputs.to(device), batch.lengths, [ids + [EOS] for ids in outputs])  # (B, T, S)
    examples = []
    for row, ((source, targets), ids) in enumerate(zip(groups, outputs)):
        output = task.target_vocabulary.decode(ids) + ["<eos>"]
        mark = "right" if output[:-1] in targets else "wrong"
        shown = " ".join(source)
        examples.append(AttentionExample(weights[row, :len(output), :len(source)].cpu(), source, output,
                                         f"{shown if len(shown) <= 40 else shown[:37] + '...'} ({mark})"))
    return examples


# --------------------------------------------------------------------------------------------- training


def _task(config: Seq2SeqRunConfig, splits: dict[str, list], source_vocabulary: PairVocabulary | None = None,
          target_vocabulary: PairVocabulary | None = None, source: dict[str, Any] | None = None) -> PairsTask:
    data = config.data
    return PairsTask(splits, source_vocabulary=source_vocabulary, target_vocabulary=target_vocabulary,
                     batch_size=data.batch_size, eval_batch_size=data.eval_batch_size, bucket=data.bucket,
                     seed=config.train.seed, name=f"pairs from {data.data}", source=source)


def _own_splits(config: Seq2SeqRunConfig) -> dict[str, list]:
    data = config.data
    return split_pairs(read_pairs_tsv(data.data, data.tokens), valid_fraction=data.valid_fraction,
                       test_fraction=data.test_fraction, seed=data.split_seed)


def _vocabulary_json(task: PairsTask, sha256: str) -> dict[str, Any]:
    return {"source": task.source_vocabulary.to_json(), "target": task.target_vocabulary.to_json(),
            "data_sha256": sha256}


def _plot_attention(model: EncoderDecoder, task: PairsTask, run_dir: Path) -> str | None:
    if model.decoder.attention is None or not task.pairs["test"]:
        return None
    from recnets.analysis.attention_maps import plot_attention_maps

    path = plot_attention_maps(attention_examples(model, task, "test"), run_dir / "plots" / "attention.png",
                               title=f"attention of {run_dir.name} on test sources")
    return str(path)


def train_seq2seq(config: Seq2SeqRunConfig, run_dir: str | os.PathLike, *, resume: bool = False,
                  echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Read and split the pairs, train (or resume), then score the test split (token NLL, greedy error rates).

    Raises:
        ValueError: no ``--data``; a bad file (line number); a model config the encoder-decoder rejects; a
            fresh run in a folder with checkpoints; a resume whose model config, data file or vocabularies
            differ from the run's. Nothing is written before these checks pass.

    Book: 10.4.
    """
    if not config.data.data:
        raise ValueError("--data: expected a file of 'source<TAB>target' lines, got none")
    run_dir = Path(run_dir)
    splits = _own_splits(config)  # read and check before anything is written
    sha256 = file_sha256(config.data.data)
    task = _task(config, splits, source={"file": config.data.data, "sha256": sha256, "tokens": config.data.tokens})
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, task.source_vocab_size, task.target_vocab_size)
    vocabulary = _vocabulary_json(task, sha256)
    if resume:
        saved = _read_run(run_dir)
        check_resumed_model(saved.model, config.model, run_dir)
        if config_to_dict(saved.data) != config_to_dict(config.data) or _read_vocabulary_json(run_dir) != vocabulary:
            raise ValueError(f"data: expected the data the run {run_dir} was trained on (its file, split, tokens and "
                             f"vocab.json), got {config.data.data} with other contents or settings")
    else:
        check_no_checkpoints(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / VOCAB_FILE, vocabulary)
    count = sum(len(rows) for rows in splits.values())
    echo(f"data: {count:,} pairs from {config.data.data} ({task.split_size('train'):,} train, "
         f"{task.split_size('valid'):,} valid, {task.split_size('test'):,} test; {config.data.tokens} tokens), "
         f"vocabularies {task.source_vocab_size:,} source, {task.target_vocab_size:,} target")
    trainer = Trainer(model, task, config.train, run_dir,
                      run_config={"job": JOB, "config": config_to_dict(config), "data": task.describe()})
    result = trainer.fit(resume=resume)
    echo(f"trained {result['step']} steps in {result['total_seconds']:.0f} s ({result['stop_reason']})")
    test = _scores(model, task, "test", beam_width=1)
    attention_png = _plot_attention(model, task, run_dir)
    summary = {"job": JOB, "run_dir": str(run_dir), "train": result, "test": test, "floors": task.baselines(),
               "plots": {"loss": str(run_dir / "plots" / "loss.png"), "attention": attention_png},
               "config": config_to_dict(config)}
    write_json(run_dir / SUMMARY_FILE, summary)
    echo(eval_report({"run": str(run_dir), "step": result["step"], "data": "the run's test split", **test}))
    return summary


def _scores(model: EncoderDecoder, task: PairsTask, split: str, *, beam_width: int) -> dict[str, Any]:
    """Teacher-forced NLL per target token and the decoded error rates of ``split`` (a few examples kept)."""
    nll = evaluate_model(model, task, split)
    decoded = translation_scores(model, task, split, beam_width=beam_width)
    hypotheses = decoded.pop("hypotheses")
    examples = [{"source": source, "output": output, "targets": targets}
                for (source, targets), output in list(zip(task.grouped(split), hypotheses))[:5]]
    return {"nats_per_token": nll["nats_per_token"], "bits_per_token": nll["bits_per_token"],
            "target_tokens": nll["count"], **decoded, "beam_width": beam_width, "pairs": task.split_size(split),
            "unknown_tokens": dict(task.unknown[split]), "examples": examples}


# --------------------------------------------------------------------------------------------- runs


def is_seq2seq_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir/config.json`` names a ``seq2seq`` run (False for anything unreadable)."""
    return is_job_run(run_dir, JOB)


def _read_run(run_dir: Path) -> Seq2SeqRunConfig:
    return read_run_config(run_dir, JOB, Seq2SeqRunConfig, hint=" (recnets train seq2seq)")


def _read_vocabulary_json(run_dir: Path) -> dict[str, Any]:
    return read_json_side_file(run_dir, VOCAB_FILE, "vocabulary")


class _Loaded(NamedTuple):
    config: Seq2SeqRunConfig
    source: PairVocabulary
    target: PairVocabulary
    sha256: str
    model: EncoderDecoder
    step: int


def _load(run_dir: Path, device: str) -> _Loaded:
    """The run's config, vocabularies and model at its latest checkpoint (on ``device``, eval mode)."""
    config = _read_run(run_dir)
    saved = _read_vocabulary_json(run_dir)
    try:
        source, target = PairVocabulary.from_json(saved["source"]), PairVocabulary.from_json(saved["target"])
        sha256 = str(saved["data_sha256"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"run: cannot read the vocabulary {run_dir / VOCAB_FILE} ({error!r})") from None
    model = build_model(config.model, len(source), len(target))
    step = load_checkpoint(latest_checkpoint(run_dir), model).step
    model = model.to(resolve_device(device)).eval()
    return _Loaded(config, source, target, sha256, model, step)


def evaluate_seq2seq(run_dir: str | os.PathLike, *, data: str | None = None, split: str = "test",
                     device: str = "cpu", beam_width: int = 1) -> dict[str, Any]:
    """Scores of a trained run's latest checkpoint on its own split, or on every pair of ``data`` (a TSV file
    tokenised as the run's; tokens outside the run's vocabularies read as ``<unk>`` and are counted).

    Raises:
        ValueError: not a seq2seq run; its data file changed since training (for its own split); a bad file;
            ``beam_width`` < 1.

    Book: 10.4.
    """
    _check_decoding(beam_width, None, 0.0)
    run_dir = Path(run_dir)
    loaded = _load(run_dir, device)
    config = loaded.config
    if data is None:
        if split not in ("valid", "test"):
            raise ValueError(f"split: expected valid or test, got {split!r}")
        if file_sha256(config.data.data) != loaded.sha256:
            raise ValueError(f"data: expected the file the run {run_dir} was trained on, got {config.data.data} "
                             f"whose contents changed since (score it with --data instead)")
        splits = _own_splits(config)
    else:
        pairs = read_pairs_tsv(data, config.data.tokens)
        splits, split = {"train": pairs, "valid": pairs, "test": pairs}, "test"
    task = _task(config, splits, source_vocabulary=loaded.source, target_vocabulary=loaded.target)
    scores = _scores(loaded.model, task, split, beam_width=beam_width)
    return {"run": str(run_dir), "step": loaded.step, "data": data or f"the run's {split} split", **scores}


def eval_report(result: dict[str, Any]) -> str:
    """The lines of a seq2seq run's evaluation."""
    unknown = result.get("unknown_tokens", {"source": 0, "target": 0})
    decoding = "greedy" if result.get("beam_width", 1) == 1 else f"beam {result['beam_width']}"
    return "\n".join([
        f"run {result['run']} at step {result['step']}, scored on {result['data']}:",
        f"  token NLL            {result['nats_per_token']:.4f} nats ({result['bits_per_token']:.4f} bits) per "
        f"target token, teacher-forced, on {result['target_tokens']:,} tokens",
        f"  exact match          {result['exact_match']:.4f} ({decoding}; a source is right when its output "
        f"equals any of its targets)",
        f"  sequence error rate  {result['word_error_rate']:.4f} on {result['sources']:,} distinct sources",
        f"  token error rate     {result['token_error_rate']:.4f} (edit distance to the closest target / its "
        f"length; {result['reference_tokens']:,} tokens)",
        f"  unknown tokens read as <unk>: {unknown['source']:,} source, {unknown['target']:,} target"])


# --------------------------------------------------------------------------------------------- translate


class Translated(NamedTuple):
    """What :func:`translate_lines` returns.

    Attributes:
        outputs: one output text per input line (tokens joined by "" for char tokens, " " for space tokens;
            "" for a blank line).
        unknown: how many source tokens were outside the run's vocabulary (read as ``<unk>``).
        tokens: how many source tokens were read.
    """

    outputs: list[str]
    unknown: int
    tokens: int = 0


def translate_lines(run_dir: str | os.PathLike, lines: Iterable[str], *, beam_width: int = 1,
                    max_length: int | None = None, length_penalty: float = 0.0, device: str = "cpu",
                    batch_size: int = 256) -> Translated:
    """Decode new sources with a trained run: each line is one source, tokenised as the run's data was.

    Args:
        run_dir: a ``recnets train seq2seq`` run folder (its latest checkpoint is used).
        lines: the sources (a line that gives no tokens, e.g. blank, gets an empty output).
        beam_width: 1 = greedy; K > 1 beam search. max_length: the most output tokens (None: 2 S + 10).
        length_penalty: α of the beam's score log P / n^α.

    Raises:
        ValueError: ``beam_width`` or ``max_length`` < 1, a negative ``length_penalty`` (checked before the run
            is read), or not a seq2seq run / a corrupt checkpoint.

    Book: 10.2.3, 10.4.
    """
    _check_decoding(beam_width, max_length, length_penalty)
    positive_int("batch_size", batch_size)
    loaded = _load(Path(run_dir), device)
    tokens = loaded.config.data.tokens
    read = [tokenize(line, tokens) for line in lines]
    rows = [index for index, source in enumerate(read) if source]
    encoded = [loaded.source.encode(read[index]) for index in rows]
    outputs = [""] * len(read)
    if rows:
        decoded = translate_ids(loaded.model, encoded, beam_width=beam_width, max_length=max_length,
                                length_penalty=length_penalty, batch_size=batch_size)
        for index, ids in zip(rows, decoded):
            outputs[index] = JOINERS[tokens].join(loaded.target.decode(ids))
    return Translated(outputs, sum(map(loaded.source.count_unknown, read)), sum(map(len, read)))
