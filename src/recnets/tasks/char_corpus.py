"""A character-level language model on a real corpus: by default the Python standard library's own source.

The corpus is a list of documents per split. Encoded, a split is one **stream**: each document's characters
followed by ``<eos>`` (id 0). Training reads B streams at evenly spaced offsets, T characters at a time,
so consecutive batches continue each row and the trainer carries the state across them (truncated BPTT);
evaluation reads the held-out stream the same way and scores every held-out character exactly once.

Book: 10.2 (an RNN as a model of P(y(1..τ)) by its conditionals, eq. 10.31; a character stream is the
running example of a sequence of symbols), 10.2.2 (truncated back-propagation through time on long streams).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import sysconfig
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.floors import COMPRESSORS, WittenBellNgram, compressor_bpc, unigram_bpc

__all__ = ["Documents", "stdlib_documents", "text_file_documents", "read_documents", "Vocabulary", "CharLMConfig", "CharLMTask",
           "SKIPPED_DIRECTORIES", "SPLITS"]

SPLITS = ("train", "valid", "test")
SAMPLINGS = ("streams", "windows")
# directory names never read from the standard library: test suites (with lib2to3's test data under
# lib2to3/tests), IDLE, installed third-party packages and bytecode caches
SKIPPED_DIRECTORIES = frozenset({"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"})
DEFAULT_FRACTIONS = (0.90, 0.05, 0.05)


@dataclass(frozen=True)
class Documents:
    """A corpus split three ways: the texts of each split, in order, with their names.

    Attributes:
        source: where the text came from (a path).
        train, valid, test: the documents' texts.
        names: split -> the documents' names (relative paths, or ``"file[a:b]"`` for a position split).
        undecodable: files skipped because they are not valid UTF-8.
    """

    source: str
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    names: dict[str, tuple[str, ...]]
    undecodable: int = 0

    def split(self, name: str) -> tuple[str, ...]:
        """The documents of split ``name`` ("train", "valid" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {name!r}")
        return getattr(self, name)


def _split_sizes(count: int, fractions: Sequence[float], what: str, argument: str) -> tuple[int, int, int]:
    """Sizes (train, valid, test) of ``count`` items: valid and test get round(count * fraction), at least one
    each, and train keeps the rest (at least one)."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions: expected three positive numbers summing to 1, got {tuple(fractions)}")
    valid = max(1, round(count * fractions[1]))
    test = max(1, round(count * fractions[2]))
    train = count - valid - test
    if train < 1:
        raise ValueError(f"{argument}: too short to split into train/valid/test: expected at least 3 {what}, "
                         f"got {count}")
    return train, valid, test


def _stdlib_root() -> Path:
    """The standard library's directory (the base Python's, also inside a virtual environment)."""
    return Path(sysconfig.get_paths()["stdlib"])


def _stdlib_files(root: Path) -> list[Path]:
    """Every ``*.py`` under ``root`` outside the skipped directories, sorted by relative path."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in SKIPPED_DIRECTORIES]
        found.extend(Path(directory, f) for f in files if f.endswith(".py"))
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _split_by_file(names: list[str], texts: list[str], source: str, seed: int, fractions: Sequence[float],
                   argument: str, undecodable: int = 0) -> Documents:
    """Files split by a seeded permutation: its first files go to valid, the next to test, the rest to train;
    every split keeps the files' sorted order."""
    _, valid_size, test_size = _split_sizes(len(names), fractions, "files", argument)
    order = np.random.default_rng(seed).permutation(len(names))  # (F,)
    chosen = {"valid": order[:valid_size], "test": order[valid_size:valid_size + test_size],
              "train": order[valid_size + test_size:]}
    chosen = {split: sorted(int(i) for i in indices) for split, indices in chosen.items()}
    return Documents(source, *(tuple(texts[i] for i in chosen[split]) for split in SPLITS),
                     names={split: tuple(names[i] for i in chosen[split]) for split in SPLITS},
                     undecodable=undecodable)


def stdlib_documents(seed: int = 0, *, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Documents:
    """The Python standard library's ``*.py`` files, split by file with a fixed seed.

    Files under a directory named test, tests, idlelib, site-packages, dist-packages or __pycache__ are
    skipped; files that are not valid UTF-8 are skipped and counted.

    Args:
        seed: the split's seed (the same seed gives the same split on the same Python).
        fractions: (train, valid, test), default 90/5/5 of the files.

    Returns:
        :class:`Documents` named by path relative to the standard library's directory.

    Book: 10.2 (a corpus of symbol sequences for a character-level model).
    """
    root = _stdlib_root()
    if not root.is_dir():
        raise ValueError(f"stdlib: expected the standard library directory, {root} is not one")
    names, texts, undecodable = [], [], 0
    for path in _stdlib_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            undecodable += 1
            continue
        names.append(path.relative_to(root).as_posix())
        texts.append(text)
    return _split_by_file(names, texts, str(root), seed, fractions, "stdlib", undecodable)


def _read_text_file(path: Path, argument: str) -> str:
    """A UTF-8 text file's content; one-line ValueErrors for empty or binary files."""
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{argument}: expected a non-empty text file, {path} is empty")
    if b"\x00" in data:
        raise ValueError(f"{argument}: expected a UTF-8 text file, {path} contains NUL bytes (binary)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{argument}: expected a UTF-8 text file, {path} is not valid UTF-8 "
                         f"(byte {error.start})") from None


def text_file_documents(path: str | os.PathLike, *, seed: int = 0,
                        fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Documents:
    """A user's UTF-8 text: one file split by contiguous position, or a directory's files split by file.

    Args:
        path: a text file (split 90/5/5 by position: train is the beginning, test the end) or a directory
            (its files, recursively, hidden ones skipped, split by file with ``seed``).
        seed: the file split's seed (directories only).
        fractions: (train, valid, test).

    Returns:
        :class:`Documents`.

    Raises:
        ValueError: naming ``data``, for a missing path, an empty file, a binary file (NUL bytes or invalid
            UTF-8), or a text too short to split.

    Book: 10.2.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data: expected an existing text file or directory, {str(path)!r} does not exist")
    if path.is_dir():
        files = _directory_files(path)
        names = [p.relative_to(path).as_posix() for p in files]
        texts = [_read_text_file(p, "data") for p in files]
        return _split_by_file(names, texts, str(path), seed, fractions, "data")
    text = _read_text_file(path, "data")
    train_size, valid_size, _ = _split_sizes(len(text), fractions, "characters", "data")
    cuts = (0, train_size, train_size + valid_size, len(text))
    pieces = [text[cuts[i]:cuts[i + 1]] for i in range(3)]
    names = {s: (f"{path.name}[{cuts[i]}:{cuts[i + 1]}]",) for i, s in enumerate(SPLITS)}
    return Documents(str(path), (pieces[0],), (pieces[1],), (pieces[2],), names)


def read_documents(path: str | os.PathLike) -> tuple[str, ...]:
    """A UTF-8 text file, or every file of a directory (hidden ones skipped), whole and unsplit: for scoring a
    trained model on new text. Raises the same one-line errors as :func:`text_file_documents`."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data: expected an existing text file or directory, {str(path)!r} does not exist")
    if not path.is_dir():
        return (_read_text_file(path, "data"),)
    return tuple(_read_text_file(p, "data") for p in _directory_files(path))


def _directory_files(path: Path) -> list[Path]:
    """A directory's files, recursively, hidden ones skipped, in a stable order; an error if there are none."""
    files = sorted((p for p in path.rglob("*") if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                   key=lambda p: p.relative_to(path).as_posix())
    if not files:
        raise ValueError(f"data: expected a directory with text files, {str(path)!r} has none")
    return files


class Vocabulary:
    """Characters <-> ids: 0 = ``<eos>`` (end of a document), 1 = ``<unk>``, then characters by code point.

    Args:
        characters: the vocabulary's characters (distinct, single characters), in id order from 2.

    Book: 10.2 (the output is a softmax over a finite set of symbols; the end symbol of 10.2.3 ends a
    sequence).
    """

    EOS, UNK = 0, 1
    SPECIALS = ("<eos>", "<unk>")

    def __init__(self, characters: Sequence[str]) -> None:
        characters = list(characters)
        for character in characters:
            if not isinstance(character, str) or len(character) != 1:
                raise ValueError(f"characters: expected single characters, got {character!r}")
        if len(set(characters)) != len(characters):
            raise ValueError("characters: expected distinct characters, got duplicates")
        self.characters: tuple[str, ...] = tuple(characters)
        self._index = {c: i + 2 for i, c in enumerate(self.characters)}
        codes = np.array([ord(c) for c in self.characters], dtype=np.int64)
        self._sorted = np.argsort(codes, kind="stable")  # positions in code-point order
        self._codes = codes[self._sorted]  # sorted code points

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, min_count: int = 1) -> "Vocabulary":
        """The characters occurring at least ``min_count`` times in ``texts``, ordered by code point."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count: expected an integer >= 1, got {min_count!r}")
        totals: dict[int, int] = {}
        for text in texts:
            codes, counts = np.unique(_code_points(text), return_counts=True)
            for code, count in zip(codes.tolist(), counts.tolist()):
                totals[code] = totals.get(code, 0) + count
        return cls([chr(code) for code in sorted(totals) if totals[code] >= min_count])

    def __len__(self) -> int:
        return len(self.characters) + 2

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.characters == other.characters

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} symbols)"

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``'s characters, ``<unk>`` (1) for characters outside the vocabulary: (len(text),) int64."""
        codes = _code_points(text)  # (N,)
        if not self.characters:
            return np.full(codes.size, self.UNK, dtype=np.int64)
        position = np.minimum(np.searchsorted(self._codes, codes), self._codes.size - 1)
        known = self._codes[position] == codes
        return np.where(known, self._sorted[position] + 2, self.UNK).astype(np.int64)

    def encode_prompt(self, text: str) -> list[int]:
        """Ids of a prompt, every character of which must be in the vocabulary.

        Raises:
            ValueError: naming the first unknown character and its code point.
        """
        for character in text:
            if character not in self._index:
                raise ValueError(f"prompt: character {character!r} (U+{ord(character):04X}) is not in the "
                                 f"vocabulary of {len(self)} symbols")
        return [self._index[c] for c in text]

    def decode(self, ids: Iterable[int], *, eos: str = "\n", unk: str = "\ufffd") -> str:
        """The text of ``ids``; ``<eos>`` is written as ``eos`` and ``<unk>`` as ``unk``."""
        table = (eos, unk) + self.characters
        pieces = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(table):
                raise ValueError(f"ids: expected ids in [0, {len(table)}), got {i}")
            pieces.append(table[i])
        return "".join(pieces)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (for checkpoints: no pickle)."""
        return {"format": "recnets.vocabulary", "version": 1, "specials": list(self.SPECIALS),
                "characters": "".join(self.characters)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> "Vocabulary":
        """The vocabulary described by :meth:`to_json`'s dictionary (or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != "recnets.vocabulary" or data.get("version") != 1:
            raise ValueError("vocabulary: expected a dictionary with format 'recnets.vocabulary' and version 1, "
                             f"got {str(data)[:80]!r}")
        if data.get("specials") != list(cls.SPECIALS):
            raise ValueError(f"vocabulary: expected specials {list(cls.SPECIALS)}, got {data.get('specials')!r}")
        return cls(list(data["characters"]))


def _code_points(text: str) -> np.ndarray:
    """(len(text),) int64 code points."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4").astype(np.int64)


def _stream(vocabulary: Vocabulary, documents: Sequence[str]) -> np.ndarray:
    """Each document's ids followed by ``<eos>``: (Σ (len(doc) + 1),) int64."""
    pieces = []
    for document in documents:
        pieces.append(vocabulary.encode(document))
        pieces.append(np.array([Vocabulary.EOS], dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class CharLMConfig:
    """Configuration of :class:`CharLMTask`.

    Attributes:
        data: a UTF-8 text file or directory; ``None`` for the standard library's source.
        seq_len: T, characters per training row (the truncated-BPTT window).
        batch_size: B, training rows (streams).
        eval_chars: cap on the held-out characters scored (rounded down to a multiple of the eval rows).
        eval_batch_size: rows of the held-out streams.
        split_seed: seed of the split by file.
        min_count: characters rarer than this in training become ``<unk>``.
        seed: seeds the training streams' starting offset.
        max_documents: keep only the first this many documents of each split (0 = all): quick runs.
        sampling: ``"streams"``: row b continues its own stream from batch to batch and the trainer carries
            the state (truncated BPTT over an unbounded past); ``"windows"``: every batch draws B windows at
            random positions (from the step's seed) and starts from the zero state: more varied batches,
            context limited to the window.
    """

    data: str | None = None
    seq_len: int = 128
    batch_size: int = 32
    eval_chars: int = 250_000
    eval_batch_size: int = 50
    split_seed: int = 0
    min_count: int = 1
    seed: int = 0
    max_documents: int = 0
    sampling: str = "streams"

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "eval_chars", "eval_batch_size", "min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling: expected one of {', '.join(SAMPLINGS)}, got {self.sampling!r}")
        if isinstance(self.max_documents, bool) or not isinstance(self.max_documents, int) or self.max_documents < 0:
            raise ValueError(f"max_documents: expected an integer >= 0 (0 = all), got {self.max_documents!r}")


@dataclass(frozen=True)
class _Corpus:
    """Everything derived from the documents: vocabulary, encoded streams, held-out texts."""

    documents: Documents
    vocabulary: Vocabulary
    streams: dict[str, np.ndarray]  # split -> (L,) int64
    texts: dict[str, str]  # split -> the stream as characters, <eos> written as NUL (aligned with streams)


class CharLMTask(Task):
    """Next-character prediction on a stream of documents, measured in bits per character.

    Training batch ``s`` (a pure function of the seed and ``s``): row b reads positions
    ``[offset_b + s T, offset_b + (s + 1) T + 1)`` of the training stream modulo its length L, where the
    B offsets are evenly spaced around the stream from a seeded start; inputs are the first T, targets the
    last T. Held-out batches: the first N held-out characters (N = eval_chars rounded down to a multiple of
    the rows, at most the split's length) cut into E contiguous rows scored chunk by chunk; the input before
    the first held-out character is ``<eos>`` ("start of a document"), so all N are scored exactly once.

    Args:
        config: :class:`CharLMConfig`.
        documents: the corpus, when already loaded (otherwise read from ``config.data`` on first use).
        vocabulary: a trained model's vocabulary (otherwise built from the training documents).

    Book: 10.2 (eq. 10.31: log P(y) = Σ_t log P(y(t) | y(1..t-1))), 10.2.2 (truncated BPTT on streams).
    """

    name = "char-lm"

    def __init__(self, config: CharLMConfig = CharLMConfig(), *, documents: Documents | None = None,
                 vocabulary: Vocabulary | None = None) -> None:
        self.config = config
        self.seed = config.seed
        self._documents = documents
        self._vocabulary = vocabulary
        self.streaming = config.sampling == "streams"
        self._baselines: dict[str, dict[str, float]] = {}

    @cached_property
    def corpus(self) -> _Corpus:
        """The loaded corpus (read on first use)."""
        documents = self._documents
        if documents is None:
            documents = (stdlib_documents(self.config.split_seed) if self.config.data is None
                         else text_file_documents(self.config.data, seed=self.config.split_seed))
            if self.config.max_documents:
                cap = self.config.max_documents
                documents = dataclasses.replace(
                    documents, train=documents.train[:cap], valid=documents.valid[:cap], test=documents.test[:cap],
                    names={split: names[:cap] for split, names in documents.names.items()})
        vocabulary = self._vocabulary or Vocabulary.from_texts(documents.train, min_count=self.config.min_count)
        streams = {s: _stream(vocabulary, documents.split(s)) for s in SPLITS}
        texts = {s: "".join(doc + "\x00" for doc in documents.split(s)) for s in SPLITS}
        return _Corpus(documents, vocabulary, streams, texts)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.corpus.vocabulary

    @property
    def vocab_size(self) -> int:
        """V, the model's input and output size."""
        return len(self.corpus.vocabulary)

    @cached_property
    def _offsets(self) -> np.ndarray:
        """(B,) evenly spaced starting positions of the training rows, rotated by a seeded start."""
        length = self.corpus.streams["train"].size
        start = int(torch.randint(length, (1,), generator=step_generator(self.seed, -1)))
        return (start + np.arange(self.config.batch_size, dtype=np.int64) * length // self.config.batch_size) % length

    def train_batch(self, step: int) -> Batch:
        """Training batch ``step``: ``inputs (B, T)``, ``targets (B, T)`` int64, the next T+1 characters of
        each row's stream (wrapping around at its end)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step: expected an integer >= 0, got {step!r}")
        stream = self.corpus.streams["train"]
        steps = self.config.seq_len
        if self.streaming:
            starts = self._offsets + step * steps  # (B,) each row continues its stream
        else:
            starts = torch.randint(stream.size, (self.config.batch_size,), generator=step_generator(self.seed, step))
            starts = starts.numpy()  # (B,) fresh random windows
        positions = (starts[:, None] + np.arange(steps + 1)) % stream.size  # (B, T+1)
        window = torch.from_numpy(stream[positions])  # (B, T+1) int64
        return Batch(window[:, :-1].contiguous(), window[:, 1:].contiguous())

    def _heldout_shape(self, split: str) -> tuple[int, int]:
        """(E rows, N scored characters) of ``split``: N = min(eval_chars, L) rounded down to a multiple of E."""
        if split not in ("valid", "test"):
            raise ValueError(f"split: expected 'valid' or 'test', got {split!r}")
        available = min(self.config.eval_chars, self.corpus.streams[split].size)
        rows = min(self.config.eval_batch_size, available)
        return rows, available // rows * rows

    def heldout_ids(self, split: str) -> np.ndarray:
        """The scored held-out ids of ``split``: the first N of its stream, (N,) int64."""
        _, count = self._heldout_shape(split)
        return self.corpus.streams[split][:count]

    def heldout_text(self, split: str) -> str:
        """The characters of :meth:`heldout_ids` as text (``<eos>`` written as NUL, one byte)."""
        _, count = self._heldout_shape(split)
        return self.corpus.texts[split][:count]

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """Consecutive chunks of the held-out rows: ``inputs``/``targets`` (E, T) int64; the last chunk is
        padded to T with ``lengths (E,)`` giving its real width. Carry the state from one to the next."""
        rows, _ = self._heldout_shape(split)
        targets = self.heldout_ids(split)  # (N,)
        inputs = np.concatenate([[Vocabulary.EOS], targets[:-1]])  # (N,) the character before each target
        row_length = targets.size // rows
        inputs_rows = torch.from_numpy(inputs.reshape(rows, row_length))  # (E, N/E)
        targets_rows = torch.from_numpy(targets.reshape(rows, row_length).copy())
        steps = self.config.seq_len
        for start in range(0, row_length, steps):
            width = min(steps, row_length - start)
            chunk_inputs = inputs_rows[:, start:start + width]  # (E, width)
            chunk_targets = targets_rows[:, start:start + width]
            if width == steps:
                yield Batch(chunk_inputs.contiguous(), chunk_targets.contiguous())
                continue
            pad = torch.zeros(rows, steps - width, dtype=torch.int64)
            yield Batch(torch.cat([chunk_inputs, pad], 1), torch.cat([chunk_targets, pad], 1),
                        torch.full((rows,), width, dtype=torch.int64))

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed NLL in nats of the batch's real characters, and their count. ``outputs (B, T, V)``."""
        return sequence_nll(outputs, batch.targets, batch.lengths)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": nats per character, "bpc": bits per character}``."""
        if count < 1:
            raise ValueError(f"count: expected at least one scored character, got {count}")
        nats = total_loss / count
        return {"loss": nats, "bpc": nats / float(np.log(2.0))}

    def baselines(self, split: str = "test") -> dict[str, float]:
        """Floors in bits per character on the scored characters of ``split`` (computed once, then cached).

        Returns:
            ``unigram`` (add-one), ``witten_bell_5gram`` (interpolated Witten-Bell, order 5), ``gzip``,
            ``bzip2``, ``xz`` (strongest settings, on the UTF-8 text with ``<eos>`` as one NUL byte).
        """
        if split not in self._baselines:
            heldout = self.heldout_ids(split)
            self._baselines[split] = {
                "unigram": unigram_bpc(self.corpus.streams["train"], heldout, self.vocab_size),
                "witten_bell_5gram": self._ngram.bits_per_symbol(heldout),  # fitted once, on first use
                **self.compressor_baselines(split)}
        return dict(self._baselines[split])

    def compressor_baselines(self, split: str = "test") -> dict[str, float]:
        """Only the compressors' bits per character on ``split``'s scored text (no training text needed)."""
        text = self.heldout_text(split)
        return {method: compressor_bpc(text, method) for method in COMPRESSORS}

    @cached_property
    def _ngram(self) -> WittenBellNgram:
        """The order-5 Witten-Bell model of the training stream (pads before its start are ``<eos>``)."""
        return WittenBellNgram(self.corpus.streams["train"], self.vocab_size, order=5, pad_id=Vocabulary.EOS)

    def describe(self) -> dict[str, Any]:
        """Source, Python version, file and character counts per split, sha256 of each split's text,
        vocabulary size and the number of held-out characters scored."""
        corpus = self.corpus
        documents = corpus.documents
        described: dict[str, Any] = {
            "name": self.name,
            "config": dataclasses.asdict(self.config),
            "source": "python-stdlib" if self.config.data is None and self._documents is None else documents.source,
            "path": documents.source,
            "files": {s: len(documents.split(s)) for s in SPLITS},
            "chars": {s: sum(len(d) for d in documents.split(s)) for s in SPLITS},
            "sha256": {s: hashlib.sha256(corpus.texts[s].encode("utf-8", errors="surrogatepass")).hexdigest()
                       for s in SPLITS},
            "undecodable_files": documents.undecodable,
            "vocab_size": self.vocab_size,
            "scored_chars": {s: int(self.heldout_ids(s).size) for s in ("valid", "test")},
        }
        if described["source"] == "python-stdlib":
            described["python"] = sys.version.split()[0]
        return described
