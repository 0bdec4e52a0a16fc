"""Tag every character of Python source with the type of the token it belongs to, as :mod:`tokenize` reads it.

A real tagging task that needs right context: the ``r`` of ``r"..."`` is part of a STRING, the ``r`` of
``r = 1`` a NAME, and only the next character tells them apart; so for the ``.`` of ``.5`` (NUMBER) and
of ``x.y`` (OP); and a window that starts inside a docstring shows that it is one only when the closing
quotes come.

**Labels** (one per character, :data:`LABELS`): the type of the token whose span (from ``tokenize``'s start
to end position) covers the character: ``NAME`` (identifiers and keywords), ``NUMBER``, ``STRING`` (prefix
and quotes included; a whole f-string, braces and expressions inside it too, as Python up to 3.11
tokenizes it, so the labels do not depend on the version), ``OP``, ``COMMENT``, ``NEWLINE`` (the line
break that ends a logical line), ``NL`` (any other line break: inside brackets, after a blank or comment-only
line). Every character no token covers is ``WHITESPACE``: spaces and tabs between tokens, indentation (the
INDENT token's span: its "token" is the change of level, which has no character of its own), form feeds and
line continuations (the backslash and its line break). DEDENT and ENDMARKER cover no character.

**Data.** The ``*.py`` files of the running interpreter's standard library (``sysconfig.get_paths()["stdlib"]``;
the directories test, tests, idlelib, site-packages, __pycache__ skipped, as for the character corpus), in
sorted order, visited in a seeded permutation; each goes to valid, then test, then train until each split
has its number of files. Files that are not UTF-8, do not tokenize (``TokenError``, ``SyntaxError``, an
``ERRORTOKEN``) or are longer than ``max_file_chars`` are skipped and recorded. Text is read with universal
newlines. Inputs are character ids (``Vocabulary`` of the training files: 0 = ``<eos>``, which also pads and
ends every window, 1 = ``<unk>``).

**Windows.** Training batch s (a pure function of the seed and s) holds B windows of ``window`` characters
starting at uniformly drawn positions of the training text, each kept inside its file (a file shorter than a
window is one shorter window: ragged lengths). Held-out splits are cut into consecutive windows, file by
file (the last of a file shorter), optionally ``eval_windows`` of them chosen evenly spaced. With
``eval_context`` c > 0 each held-out window is read with up to c characters of its file before and after it,
and only the window's own characters are scored (``Batch.mask``): no tagger is then at a window's edge, so
what a bidirectional tagger gains over a forward one is what the text to the right tells it.

Book: 10.3 (bidirectional RNNs for outputs that depend on the whole input), 10.2 (an output every step).
"""
from __future__ import annotations

import hashlib
import io
import sys
import tokenize
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.char_corpus import Vocabulary, _stdlib_files, _stdlib_root

__all__ = ["LABELS", "TokenTaggingConfig", "TokenTaggingData", "TokenTaggingTask", "character_labels",
           "load_token_tagging", "tagging_scores", "UntokenizableError"]

LABELS = ("WHITESPACE", "NEWLINE", "NL", "NAME", "NUMBER", "STRING", "OP", "COMMENT")
SPLITS = ("train", "valid", "test")
WHITESPACE = 0
_LABEL_OF = {tokenize.NEWLINE: 1, tokenize.NL: 2, tokenize.NAME: 3, tokenize.NUMBER: 4, tokenize.STRING: 5,
             tokenize.OP: 6, tokenize.COMMENT: 7}
_EMPTY = frozenset({tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER})
# Python 3.12 splits f-strings (3.14 t-strings too) into start, middle, end and the tokens of each expression
_STARTS = frozenset(getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n))
_ENDS = frozenset(getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n))


class UntokenizableError(ValueError):
    """The source does not tokenize cleanly (a ``TokenError``, a ``SyntaxError`` or an ``ERRORTOKEN``)."""


def _line_starts(source: str) -> list[int]:
    """The offset of each line's first character, lines ending at ``\\n`` (what ``StringIO.readline`` gives)."""
    starts, position = [0], source.find("\n")
    while position != -1:
        starts.append(position + 1)
        position = source.find("\n", position + 1)
    return starts


def character_labels(source: str) -> np.ndarray:
    """The :data:`LABELS` index of every character of ``source``: ``(len(source),)`` int64.

    Raises:
        UntokenizableError: ``tokenize`` fails on the source or emits an ``ERRORTOKEN``.

    Book: 10.3.
    """
    labels = np.full(len(source), WHITESPACE, dtype=np.int64)
    starts = _line_starts(source)

    def offset(position: tuple[int, int]) -> int:
        row, column = position
        return starts[row - 1] + column if row - 1 < len(starts) else len(source)

    depth, string_start = 0, 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = token.type
            if kind in _STARTS:
                if depth == 0:
                    string_start = offset(token.start)
                depth += 1
            elif kind in _ENDS:
                depth -= 1
                if depth == 0:  # the whole f-string, expressions included, is one STRING
                    labels[string_start:offset(token.end)] = _LABEL_OF[tokenize.STRING]
            elif depth > 0 or kind in _EMPTY:
                continue
            elif kind in _LABEL_OF:
                labels[offset(token.start):offset(token.end)] = _LABEL_OF[kind]
            elif kind == tokenize.ERRORTOKEN:
                raise UntokenizableError(f"source: ERRORTOKEN {token.string!r} at line {token.start[0]}")
            else:
                raise UntokenizableError(f"source: unexpected token type {tokenize.tok_name[kind]} at line "
                                         f"{token.start[0]}")
    except (tokenize.TokenError, SyntaxError) as error:
        raise UntokenizableError(f"source: does not tokenize: {error}") from None
    return labels


@dataclass(frozen=True)
class TokenTaggingConfig:
    """What :class:`TokenTaggingTask` reads and how it batches.

    Attributes:
        window: T, characters per window.
        batch_size: B, training windows per batch.
        files: how many files go to (train, valid, test).
        max_file_chars: longer files are skipped (a few generated tables and data modules).
        eval_windows: cap on each held-out split's windows, evenly spaced (0 = all).
        eval_batch_size: windows per held-out batch.
        eval_context: characters of context read on each side of a held-out window and not scored (0 = none).
        seed: seeds the file selection and every training batch.
        root: a directory of ``*.py`` files to read instead of the standard library (tests).
    """

    window: int = 200
    batch_size: int = 32
    files: tuple[int, int, int] = (160, 20, 20)
    max_file_chars: int = 60_000
    eval_windows: int = 0
    eval_batch_size: int = 256
    eval_context: int = 0
    seed: int = 0
    root: str | None = None

    def __post_init__(self) -> None:
        for name in ("window", "batch_size", "max_file_chars", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        for name in ("eval_windows", "eval_context"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0 (0 = none), got {value!r}")
        if (not isinstance(self.files, tuple) or len(self.files) != 3
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.files)):
            raise ValueError(f"files: expected three integers >= 1 (train, valid, test), got {self.files!r}")


@dataclass(frozen=True)
class TokenTaggingData:
    """The selected files of each split with their per-character labels.

    Attributes:
        source: the directory read.
        python: the interpreter's version (its tokenizer and, for the standard library, its source).
        names, texts, labels: split -> the files' relative paths, texts and ``(len,)`` int64 labels.
        skipped: ``(relative path, reason)`` of every file visited and not used.
        sha256: of the used files' names and texts, in split order.
    """

    source: str
    python: str
    names: dict[str, tuple[str, ...]]
    texts: dict[str, tuple[str, ...]]
    labels: dict[str, tuple[np.ndarray, ...]]
    skipped: tuple[tuple[str, str], ...]
    sha256: str


def load_token_tagging(config: TokenTaggingConfig) -> TokenTaggingData:
    """Select, read and label the files of every split (see the module's docstring).

    Raises:
        ValueError: the directory does not exist, or has too few usable files for a non-empty split of each.

    Book: 10.3.
    """
    root = Path(config.root) if config.root is not None else _stdlib_root()
    if not root.is_dir():
        raise ValueError(f"root: expected a directory of *.py files, {str(root)!r} is not one")
    files = _stdlib_files(root)
    wanted = dict(zip(("valid", "test", "train"), (config.files[1], config.files[2], config.files[0])))
    chosen: dict[str, list[tuple[str, str, np.ndarray]]] = {split: [] for split in SPLITS}
    skipped: list[tuple[str, str]] = []
    for index in np.random.default_rng(config.seed).permutation(len(files)):
        split = next((s for s in wanted if len(chosen[s]) < wanted[s]), None)
        if split is None:
            break
        path = files[int(index)]
        name = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            skipped.append((name, "not UTF-8"))
            continue
        if len(text) > config.max_file_chars:
            skipped.append((name, f"{len(text):,} characters > max_file_chars"))
            continue
        if not text:
            skipped.append((name, "empty"))
            continue
        try:
            labels = character_labels(text)
        except UntokenizableError as error:
            skipped.append((name, str(error)))
            continue
        chosen[split].append((name, text, labels))
    empty = [split for split in SPLITS if not chosen[split]]
    if empty:
        raise ValueError(f"root: expected enough usable *.py files for every split, {str(root)!r} left "
                         f"{', '.join(empty)} empty ({len(files)} files, {len(skipped)} skipped)")
    for split in SPLITS:
        chosen[split].sort(key=lambda item: item[0])
    digest = hashlib.sha256()
    for split in SPLITS:
        for name, text, _ in chosen[split]:
            digest.update(name.encode() + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return TokenTaggingData(
        source=str(root), python=sys.version.split()[0],
        names={s: tuple(item[0] for item in chosen[s]) for s in SPLITS},
        texts={s: tuple(item[1] for item in chosen[s]) for s in SPLITS},
        labels={s: tuple(item[2] for item in chosen[s]) for s in SPLITS},
        skipped=tuple(skipped), sha256=digest.hexdigest())


@dataclass(frozen=True)
class _Split:
    """One split encoded: every file's ids and labels end to end, and where each file starts."""

    ids: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64
    starts: np.ndarray  # (F + 1,) int64: file f is [starts[f], starts[f + 1])


class TokenTaggingTask(Task):
    """Per-character token-type tagging of Python source, scored by cross-entropy per character.

    Args:
        config: :class:`TokenTaggingConfig`.
        data: the labelled files, when already loaded (otherwise read on first use).

    Shapes:
        inputs (B, T) int64 character ids (0 past each length); targets (B, T) int64 label indices;
        lengths (B,); outputs (B, T, len(LABELS)) logits; T = window (+ 2 eval_context for held-out batches,
        whose ``mask (B, T)`` marks the scored characters).

    Book: 10.3, 10.2.2 (the loss summed over steps).
    """

    name = "token-tagging"
    num_classes = len(LABELS)

    def __init__(self, config: TokenTaggingConfig = TokenTaggingConfig(), *, data: TokenTaggingData | None = None
                 ) -> None:
        if not isinstance(config, TokenTaggingConfig):
            raise TypeError(f"config: expected a TokenTaggingConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self._data = data

    @cached_property
    def data(self) -> TokenTaggingData:
        """The labelled files (read on first use)."""
        return self._data if self._data is not None else load_token_tagging(self.config)

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """The training files' characters; others read as ``<unk>``."""
        return Vocabulary.from_texts(self.data.texts["train"])

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    @cached_property
    def _splits(self) -> dict[str, _Split]:
        encoded = {}
        for split in SPLITS:
            texts, labels = self.data.texts[split], self.data.labels[split]
            starts = np.concatenate([[0], np.cumsum([len(t) for t in texts])]).astype(np.int64)
            encoded[split] = _Split(np.concatenate([self.vocabulary.encode(t) for t in texts]),
                                    np.concatenate(labels), starts)
        return encoded

    def _batch(self, split: _Split, starts: np.ndarray, lengths: np.ndarray, context: int = 0) -> Batch:
        """Windows ``[starts[b], starts[b] + lengths[b])`` of ``split`` padded with zeros, read with up to
        ``context`` characters of their file on each side (then ``mask`` marks the window itself)."""
        file = np.searchsorted(split.starts, starts, side="right") - 1  # (B,)
        first = np.maximum(split.starts[file], starts - context)  # (B,) where each row's reading begins
        last = np.minimum(split.starts[file + 1], starts + lengths + context)
        steps = self.config.window + 2 * context
        offsets = np.arange(steps)  # (T,)
        real = offsets[None, :] < (last - first)[:, None]  # (B, T)
        index = np.where(real, first[:, None] + offsets[None, :], 0)  # (B, T)
        ids = np.where(real, split.ids[index], 0)
        labels = np.where(real, split.labels[index], 0)
        mask = None
        if context:
            own = (starts - first)[:, None]  # (B, 1): where each window begins in what its row reads
            mask = torch.from_numpy((offsets[None, :] >= own) & (offsets[None, :] < own + lengths[:, None]))
        return Batch(torch.from_numpy(ids), torch.from_numpy(labels), torch.from_numpy((last - first).astype(np.int64)),
                     mask)

    def train_batch(self, step: int) -> Batch:
        """B windows at uniform positions of the training text, each moved back inside its file."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step: expected an integer >= 0, got {step!r}")
        split, steps = self._splits["train"], self.config.window
        drawn = torch.randint(int(split.starts[-1]), (self.config.batch_size,),
                              generator=step_generator(self.seed, step)).numpy()  # (B,)
        file = np.searchsorted(split.starts, drawn, side="right") - 1  # (B,)
        first, end = split.starts[file], split.starts[file + 1]
        starts = np.maximum(first, np.minimum(drawn, end - steps))
        return self._batch(split, starts, np.minimum(end - starts, steps))

    def windows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The held-out windows of ``split``: ``(starts, lengths)``, consecutive within each file, evenly
        thinned to ``eval_windows`` when that is set."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        encoded, steps = self._splits[split], self.config.window
        starts = np.concatenate([np.arange(a, b, steps) for a, b in zip(encoded.starts[:-1], encoded.starts[1:])])
        ends = encoded.starts[np.searchsorted(encoded.starts, starts, side="right")]
        lengths = np.minimum(ends - starts, steps)
        cap = self.config.eval_windows
        if cap and cap < starts.size:
            keep = np.unique(np.linspace(0, starts.size - 1, cap).round().astype(np.int64))
            starts, lengths = starts[keep], lengths[keep]
        return starts, lengths

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The fixed windows of ``split`` ("valid" or "test") in batches of ``eval_batch_size``."""
        starts, lengths = self.windows(split)
        rows = self.config.eval_batch_size
        for first in range(0, starts.size, rows):
            yield self._batch(self._splits[split], starts[first:first + rows], lengths[first:first + rows],
                              self.config.eval_context)

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) over the scored characters (the real ones, or ``batch.mask``'s), and
        their count."""
        expected = (*batch.targets.shape, self.num_classes)
        if tuple(outputs.shape) != expected:
            raise ValueError(f"outputs: expected shape {expected} (logits per character), got {tuple(outputs.shape)}")
        if batch.mask is None:
            return sequence_nll(outputs, batch.targets, batch.lengths)
        per_step = nn.functional.cross_entropy(outputs.transpose(1, 2), batch.targets, reduction="none")  # (B, T)
        return (per_step * batch.mask).sum(), int(batch.mask.sum())

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": nats per character}``."""
        return {"loss": total_loss / max(count, 1)}

    def label_counts(self, split: str) -> np.ndarray:
        """How many characters of each label ``split`` holds (all of train; the scored windows of a held-out
        split): ``(len(LABELS),)``."""
        labels = self._splits[split].labels
        if split != "train":  # the held-out windows (all, or the evenly spaced ones scored)
            starts, lengths = self.windows(split)
            labels = np.concatenate([labels[a:a + n] for a, n in zip(starts, lengths)])
        return np.bincount(labels, minlength=len(LABELS))

    def baselines(self, split: str = "test") -> dict[str, float]:
        """Floors on ``split``'s scored characters: always the training majority label (``majority_accuracy``,
        ``majority_macro_f1``) and the training label frequencies as the prediction (``prior_loss``, nats)."""
        train, counts = self.label_counts("train"), self.label_counts(split)
        prior = train / train.sum()
        majority = int(train.argmax())
        accuracy = counts[majority] / counts.sum()
        present = counts > 0
        f1 = np.zeros(len(LABELS))
        f1[majority] = 2 * counts[majority] / (counts[majority] + counts.sum())  # precision acc, recall 1
        with np.errstate(divide="ignore"):
            loss = float(-(counts * np.log(np.where(prior > 0, prior, 1e-12))).sum() / counts.sum())
        return {"majority_accuracy": float(accuracy), "majority_macro_f1": float(f1[present].mean()),
                "prior_loss": loss, "majority_label": LABELS[majority]}

    def describe(self) -> dict[str, Any]:
        data = self.data
        return {"name": self.name, "config": dict(vars(self.config)), "source": data.source, "python": data.python,
                "files": {s: len(data.names[s]) for s in SPLITS},
                "characters": {s: int(sum(len(t) for t in data.texts[s])) for s in SPLITS},
                "names": {s: list(data.names[s]) for s in SPLITS}, "skipped": [list(s) for s in data.skipped],
                "sha256": data.sha256, "labels": list(LABELS)}


def tagging_scores(model: nn.Module, task: TokenTaggingTask, split: str = "test") -> dict[str, Any]:
    """Per-character accuracy, macro-F1 and per-label F1 of ``model`` on ``split``'s windows.

    Macro-F1 is the mean F1 over the labels that occur in the split (a label never true and never predicted
    would have no F1). ``confusion[i][j]`` counts characters of label i predicted as j.

    Returns:
        ``{"accuracy", "macro_f1", "f1": {label: F1}, "count", "confusion", "by_position", "count_by_position"}``;
        ``by_position[t]`` is the accuracy at position t of the windows, over the ``count_by_position[t]``
        windows that long.

    Book: 10.3.
    """
    device = next(model.parameters()).device
    classes = len(LABELS)
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    steps = task.config.window
    right_at = torch.zeros(steps, dtype=torch.long)  # (T,): by position in the scored window
    real_at = torch.zeros(steps, dtype=torch.long)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in task.eval_batches(split):
            outputs, _ = model(batch.inputs.to(device), lengths=batch.lengths, state=None, targets=None)
            real = torch.arange(batch.targets.shape[1]).unsqueeze(0) < batch.lengths.unsqueeze(1)  # (B, T')
            scored = real if batch.mask is None else batch.mask  # (B, T')
            guess_all = outputs.argmax(-1).cpu()  # (B, T')
            position = scored.long().cumsum(1) - 1  # (B, T'): the position within the scored window
            hits = (guess_all == batch.targets) & scored
            right_at += torch.bincount(position[hits], minlength=steps)[:steps]
            real_at += torch.bincount(position[scored], minlength=steps)[:steps]
            truth, guess = batch.targets[scored], guess_all[scored]
            confusion += torch.bincount(truth * classes + guess, minlength=classes * classes).view(classes, classes)
    model.train(was_training)
    matrix = confusion.double()
    right = matrix.diag()
    true_counts, predicted = matrix.sum(1), matrix.sum(0)
    f1 = torch.where(true_counts + predicted > 0, 2 * right / (true_counts + predicted).clamp_min(1), 0.0)
    present = true_counts > 0
    return {"accuracy": float(right.sum() / matrix.sum()), "macro_f1": float(f1[present].mean()),
            "f1": {LABELS[i]: float(f1[i]) for i in range(classes) if present[i]}, "count": int(matrix.sum()),
            "confusion": confusion.tolist(),
            "by_position": (right_at.double() / real_at.clamp_min(1)).tolist(), "count_by_position": real_at.tolist()}
