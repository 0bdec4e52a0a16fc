"""Source-target pairs as a sequence-to-sequence task: the user's TSV files, CMUdict, generated string tasks.

Book: 10.4 (encoder-decoder sequence-to-sequence architectures: an input sequence read whole, an output
sequence of another length generated symbol by symbol and ended by an end symbol, 10.2.3).

**Vocabularies.** Every seq2seq vocabulary has the same four special ids (the shared convention):
``<pad>`` = 0, ``<bos>`` = 1 (the decoder's y(0)), ``<eos>`` = 2 (ends every target), ``<unk>`` = 3; then the
tokens. A data token spelled like a special (``<eos>`` in a whitespace-tokenised file) is an ordinary token
with its own id: only the vocabulary makes specials, never the text.

**Files.** :func:`read_pairs_tsv` reads ``source<TAB>target`` lines, tokenised into characters (``"char"``:
every character is a token, spaces included) or whitespace-separated words (``"space"``). Blank lines are
skipped; a line with no TAB, more than one TAB, an empty source or an empty target is a one-line error with
the file and line number, and so are a file with no pairs and bytes that are not UTF-8.

**Batches** (:class:`PairsTask`): ``inputs`` the source ids ``(B, S)`` padded with ``<pad>``, ``lengths`` the
source lengths ``(B,)``, ``targets`` the target ids followed by ``<eos>`` ``(B, T)`` padded with ``<pad>``,
``mask (B, T)`` True at the real target positions (the ``<eos>`` included). The decoder reads ``<bos>``
followed by ``targets[:, :-1]``.
"""
from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.splits import split_keys

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIALS", "TOKENIZERS", "SPLITS", "Pair", "Vocabulary", "PairVocabulary",
           "tokenize", "read_text_lines", "read_pairs_tsv", "file_sha256", "split_pairs", "PairsTask", "collate_pairs"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
TOKENIZERS = ("char", "space")
SPLITS = ("train", "valid", "test")
VOCABULARY_FORMAT = "recnets.vocabulary"
Pair = tuple[list[str], list[str]]


# ------------------------------------------------------------------------------------------ vocabularies


class Vocabulary:
    """Tokens <-> ids: the class's ``SPECIALS`` first (ids 0, 1, ...), then the given tokens in order.

    Abstract: :class:`PairVocabulary` (seq2seq) and the tagger's token vocabulary (``tasks/conll.py``) fix
    the specials. Unknown tokens map to the ``UNK`` id; :meth:`count_unknown` counts them where a count is
    reported (encoding keeps no state).

    Args:
        tokens: the data tokens (distinct strings), in id order after the specials.

    Book: 10.2 (the output is a softmax over a finite set of symbols).
    """

    SPECIALS: tuple[str, ...] = ()
    UNK: int = -1
    KIND: str = ""

    def __init__(self, tokens: Iterable[str]) -> None:
        if type(self) is Vocabulary:
            raise TypeError("Vocabulary: expected a subclass with its SPECIALS (PairVocabulary), got the base")
        tokens = list(tokens)
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"tokens: expected non-empty strings, got {token!r}")
        self.tokens: tuple[str, ...] = tuple(self.SPECIALS) + tuple(tokens)
        self.ids = {token: index for index, token in enumerate(tokens, start=len(self.SPECIALS))}
        if len(self.ids) != len(tokens):
            duplicates = sorted(token for token, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"tokens: expected distinct tokens, got duplicates {duplicates[:5]}")

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[str]], *, min_count: int = 1, order: str = "sorted"):
        """The tokens of ``sequences`` seen at least ``min_count`` times, ``"sorted"`` (by code point) or in
        ``"first-seen"`` order; the rest read as unknown."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count: expected an integer >= 1, got {min_count!r}")
        if order not in ("sorted", "first-seen"):
            raise ValueError(f"order: expected 'sorted' or 'first-seen', got {order!r}")
        counts: Counter[str] = Counter()
        for sequence in sequences:
            counts.update(sequence)
        kept = [token for token in counts if counts[token] >= min_count]  # Counter keeps first-seen order
        return cls(sorted(kept) if order == "sorted" else kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.tokens == self.tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} symbols)"

    def data_tokens(self) -> list[str]:
        """The tokens after the specials, in id order."""
        return list(self.tokens[len(self.SPECIALS):])

    def id_of(self, token: str) -> int:
        """The id of ``token`` (``UNK`` when unknown)."""
        return self.ids.get(token, self.UNK)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """The ids of ``tokens``; unknown ones are ``UNK`` (count them with :meth:`count_unknown`)."""
        ids, unknown = self.ids, self.UNK
        return [ids.get(token, unknown) for token in tokens]  # a data token's id is never UNK's

    def count_unknown(self, tokens: Iterable[str]) -> int:
        """How many of ``tokens`` are not in the vocabulary: those :meth:`encode` reads as ``UNK``."""
        return sum(token not in self.ids for token in tokens)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``, specials (other than the unknown token) left out.

        Raises:
            ValueError: an id outside ``[0, len(self))``.
        """
        out = []
        for index in ids:
            index = int(index)
            if not 0 <= index < len(self.tokens):
                raise ValueError(f"ids: expected ids in [0, {len(self.tokens)}), got {index}")
            if index >= len(self.SPECIALS) or index == self.UNK:
                out.append(self.tokens[index])
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (never pickle): ``{"format", "kind", "specials", "tokens"}``."""
        return {"format": VOCABULARY_FORMAT, "kind": self.KIND, "specials": list(self.SPECIALS),
                "tokens": self.data_tokens()}

    @classmethod
    def from_json(cls, data: Any):
        """The vocabulary :meth:`to_json` wrote.

        Raises:
            ValueError: not such a JSON object, or another kind of vocabulary.
        """
        if not isinstance(data, dict) or data.get("format") != VOCABULARY_FORMAT:
            raise ValueError(f"vocabulary: expected a JSON object with format {VOCABULARY_FORMAT!r}, got "
                             f"{str(data)[:80]!r}")
        if data.get("kind") != cls.KIND or data.get("specials") != list(cls.SPECIALS):
            raise ValueError(f"vocabulary: expected a {cls.KIND!r} vocabulary with specials {list(cls.SPECIALS)}, "
                             f"got {data.get('kind')!r} with {data.get('specials')!r}")
        tokens = data.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(f"vocabulary: expected a list of tokens, got {type(tokens).__name__}")
        return cls(tokens)


class PairVocabulary(Vocabulary):
    """The seq2seq vocabulary: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the tokens.

    ``decode`` stops at the first ``<eos>`` and leaves out ``<pad>`` and ``<bos>``.

    Book: 10.2.3 (an end symbol ends a generated sequence), 10.4.
    """

    SPECIALS = SPECIALS
    PAD, BOS, EOS, UNK = PAD, BOS, EOS, UNK
    KIND = "pair"

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` up to (not including) the first ``<eos>``; ``<pad>``/``<bos>`` left out."""
        kept = []
        for index in ids:
            if int(index) == EOS:
                break
            kept.append(index)
        return super().decode(kept)


# --------------------------------------------------------------------------------------------- files


def tokenize(text: str, tokens: str) -> list[str]:
    """``text`` as ``"char"`` tokens (every character) or ``"space"`` tokens (whitespace-separated words)."""
    if tokens == "char":
        return list(text)
    if tokens == "space":
        return text.split()
    raise ValueError(f"tokens: expected one of {', '.join(TOKENIZERS)}, got {tokens!r}")


def read_text_lines(path: str | os.PathLike, what: str) -> tuple[Path, list[str], bytes]:
    """The lines of a UTF-8 file (a BOM dropped, ``\\r\\n`` read as ``\\n``) and its bytes.

    Raises:
        FileNotFoundError: no such file.
        ValueError: bytes that are not UTF-8 (with the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: expected {what}, got {path} (no such file)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}: line {line}: expected UTF-8 text, got undecodable bytes ({error.reason})") from None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start another
    return path, [line.removesuffix("\r") for line in lines], raw


def read_pairs_tsv(path: str | os.PathLike, tokens: str = "char") -> list[Pair]:
    """``(source tokens, target tokens)`` of every non-blank ``source<TAB>target`` line of ``path``.

    Args:
        path: a UTF-8 text file.
        tokens: ``"char"`` (every character, spaces included, is a token) or ``"space"`` (words).

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file and line number: no TAB, more than one TAB, an empty source or
            target (after tokenising); bytes that are not UTF-8; no pair at all.

    Book: 10.4.
    """
    if tokens not in TOKENIZERS:
        raise ValueError(f"tokens: expected one of {', '.join(TOKENIZERS)}, got {tokens!r}")
    path, lines, _ = read_text_lines(path, "a file of 'source<TAB>target' lines")
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() and "\t" not in line:
            continue
        tabs = line.count("\t")
        if tabs != 1:
            got = "none" if tabs == 0 else f"{tabs}"
            raise ValueError(f"{path}: line {number}: expected 'source<TAB>target' with one TAB, got {got} in "
                             f"{line[:60]!r}")
        source_text, target_text = line.split("\t")
        source, target = tokenize(source_text, tokens), tokenize(target_text, tokens)
        for side, found in (("source", source), ("target", target)):
            if not found:
                raise ValueError(f"{path}: line {number}: expected a non-empty {side}, got {line[:60]!r}")
        pairs.append((source, target))
    if not pairs:
        raise ValueError(f"{path}: expected at least one 'source<TAB>target' line, got an empty file")
    return pairs


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------- splits


def split_pairs(pairs: Sequence[Pair], *, valid_fraction: float = 0.05, test_fraction: float = 0.05,
                seed: int = 0) -> dict[str, list[Pair]]:
    """A seeded train/valid/test split BY SOURCE: all pairs with the same source go to one split.

    The distinct sources, in first-seen order, are split by :func:`~recnets.tasks.splits.split_keys`
    (shuffled with ``random.Random(seed)``; the first ``round(valid_fraction * n)`` (at least 1) go to valid,
    the next ``round(test_fraction * n)`` (at least 1) to test, the rest to train). Within a split pairs keep
    their order in ``pairs``.

    Raises:
        ValueError: fractions outside (0, 0.5), fewer than 3 distinct sources, or none left for train.
    """
    sources = list(dict.fromkeys(tuple(source) for source, _ in pairs))
    held = split_keys(sources, {"valid": valid_fraction, "test": test_fraction}, seed, name="pairs",
                      items="distinct sources")
    split_of = {sources[index]: split for split in ("valid", "test") for index in held[split]}
    splits: dict[str, list[Pair]] = {split: [] for split in SPLITS}
    for source, target in pairs:
        splits[split_of.get(tuple(source), "train")].append((list(source), list(target)))
    return splits


# ----------------------------------------------------------------------------------------------- task


def _check_pair(where: str, pair: object) -> None:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise TypeError(f"{where}: expected a (source tokens, target tokens) pair, got {pair!r:.80}")
    for side, tokens in zip(("source", "target"), pair):
        if not isinstance(tokens, (list, tuple)) or not tokens:
            raise ValueError(f"{where}: expected a non-empty list of {side} tokens, got {tokens!r:.80}")


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


class PairsTask(Task):
    """Sequence-to-sequence learning on ``(source tokens, target tokens)`` pairs, scored per target token.

    Args:
        splits: ``{"train", "valid", "test"}`` -> pairs (see :func:`split_pairs`, or your own lists).
        source_vocabulary, target_vocabulary: default: built from the training pairs (sorted tokens);
            ``shared=True`` builds one vocabulary of both sides for both.
        batch_size: B of training batches; eval_batch_size: of held-out batches.
        bucket: 1 = training batches of B uniformly drawn pairs; k > 1: draw k·B pairs, sort them by
            (source length, target length), cut them into k runs of B and keep one run chosen uniformly
            (every pair still has the same chance to be in the batch; padding drops).
        seed: seeds every training batch through :func:`step_generator`.
        name: for ``describe``; source: provenance (a dict) for ``describe``.

    Shapes:
        inputs (B, S) int64 source ids padded with ``<pad>``; lengths (B,) int64 source lengths;
        targets (B, T) int64 target ids then ``<eos>``, padded with ``<pad>``; mask (B, T) bool;
        outputs (B, T, V) logits over the target vocabulary.

    Book: 10.4; 10.2.2 (the loss is the sum of per-step negative log-likelihoods).
    """

    def __init__(self, splits: Mapping[str, Sequence[Pair]], *, source_vocabulary: PairVocabulary | None = None,
                 target_vocabulary: PairVocabulary | None = None, shared: bool = False, batch_size: int = 32,
                 eval_batch_size: int = 256, bucket: int = 1, seed: int = 0, name: str = "pairs",
                 source: dict[str, Any] | None = None) -> None:
        missing = [split for split in SPLITS if split not in splits]
        if missing:
            raise ValueError(f"splits: expected {', '.join(SPLITS)}, got {sorted(splits)} (missing {missing})")
        if not splits["train"]:
            raise ValueError("splits['train']: expected at least one pair, got none")
        for split in SPLITS:
            for index, pair in enumerate(splits[split]):
                _check_pair(f"splits[{split!r}][{index}]", pair)
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size), ("bucket", bucket)):
            _positive(key, value)
        for key, vocabulary in (("source_vocabulary", source_vocabulary), ("target_vocabulary", target_vocabulary)):
            if vocabulary is not None and not isinstance(vocabulary, PairVocabulary):
                raise TypeError(f"{key}: expected a PairVocabulary or None, got {type(vocabulary).__name__}")
        self.pairs = {split: [(list(s), list(t)) for s, t in splits[split]] for split in SPLITS}
        train = self.pairs["train"]
        if shared and source_vocabulary is None and target_vocabulary is None:
            source_vocabulary = target_vocabulary = PairVocabulary.from_sequences(
                [s for s, _ in train] + [t for _, t in train])
        self.source_vocabulary = source_vocabulary or PairVocabulary.from_sequences(s for s, _ in train)
        self.target_vocabulary = target_vocabulary or PairVocabulary.from_sequences(t for _, t in train)
        self.batch_size, self.eval_batch_size, self.bucket = batch_size, eval_batch_size, bucket
        self.seed, self.name = seed, name
        self.source = dict(source or {})
        self.unknown = {split: self._count_unknown(split) for split in SPLITS}
        self._encoded: dict[str, tuple[list[list[int]], list[list[int]]]] = {}
        for split in SPLITS:
            sources = [self.source_vocabulary.encode(s) for s, _ in self.pairs[split]]
            targets = [self.target_vocabulary.encode(t) + [EOS] for _, t in self.pairs[split]]
            self._encoded[split] = (sources, targets)

    def _count_unknown(self, split: str) -> dict[str, int]:
        """How many source and target tokens of ``split``'s pairs read as ``<unk>``."""
        pairs = self.pairs[split]
        return {"source": sum(self.source_vocabulary.count_unknown(s) for s, _ in pairs),
                "target": sum(self.target_vocabulary.count_unknown(t) for _, t in pairs)}

    # ------------------------------------------------------------------------------------------ sizes
    @property
    def source_vocab_size(self) -> int:
        return len(self.source_vocabulary)

    @property
    def target_vocab_size(self) -> int:
        return len(self.target_vocabulary)

    def split_size(self, split: str) -> int:
        self._check_split(split)
        return len(self.pairs[split])

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")

    def grouped(self, split: str) -> list[tuple[list[str], list[list[str]]]]:
        """``(source, every target of that source)`` for the distinct sources of ``split``, in first-seen
        order: the references of a "matches any reference" score (word error rate)."""
        self._check_split(split)
        groups: dict[tuple[str, ...], list[list[str]]] = {}
        for source, target in self.pairs[split]:
            groups.setdefault(tuple(source), []).append(target)
        return [(list(source), targets) for source, targets in groups.items()]

    # ---------------------------------------------------------------------------------------- batches
    def batch_of(self, split: str, indices: Sequence[int]) -> Batch:
        """The batch of ``split``'s pairs at ``indices`` (see the class's shapes)."""
        sources, targets = self._encoded[split]
        return collate_pairs([sources[i] for i in indices], [targets[i] for i in indices])

    def train_batch(self, step: int) -> Batch:
        generator = step_generator(self.seed, step)
        size = len(self.pairs["train"])
        drawn = torch.randint(size, (self.bucket * self.batch_size,), generator=generator).tolist()
        if self.bucket > 1:
            sources, targets = self._encoded["train"]
            drawn.sort(key=lambda i: (len(sources[i]), len(targets[i])))
            run = int(torch.randint(self.bucket, (), generator=generator))
            drawn = drawn[run * self.batch_size:(run + 1) * self.batch_size]
        return self.batch_of("train", drawn)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """Consecutive batches of ``split`` in its own order (deterministic)."""
        size = self.split_size(split)
        for start in range(0, size, self.eval_batch_size):
            yield self.batch_of(split, range(start, min(start + self.eval_batch_size, size)))

    # ------------------------------------------------------------------------------------- loss, floors
    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) of the target ids over ``batch.mask``, and the count of scored tokens.

        Book: 10.2.2, eqs. 10.12-10.14 (summed over the output steps); 10.4.
        """
        return sequence_nll(outputs, batch.targets, None, mask=batch.mask)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        nats = total_loss / max(count, 1)
        return {"nats_per_token": nats, "bits_per_token": nats / math.log(2),
                "perplexity": math.exp(min(nats, 700.0))}

    def baselines(self) -> dict[str, float]:
        """Floors in bits per target token (``<eos>`` included): the entropy of the training targets' unigram
        distribution, and the test targets' cross-entropy under it (add-one smoothed over the vocabulary)."""
        vocab = self.target_vocab_size
        counts = torch.zeros(vocab, dtype=torch.float64)
        for target in self._encoded["train"][1]:
            counts += torch.bincount(torch.tensor(target), minlength=vocab).double()
        p = counts / counts.sum()
        entropy = float(-(p[p > 0] * p[p > 0].log2()).sum())
        smoothed = (counts + 1) / (counts.sum() + vocab)
        test = torch.zeros(vocab, dtype=torch.float64)
        for target in self._encoded["test"][1]:
            test += torch.bincount(torch.tensor(target), minlength=vocab).double()
        cross = float(-(test * smoothed.log2()).sum() / test.sum().clamp_min(1))
        return {"unigram_entropy_bits": entropy, "unigram_test_bits_per_token": cross}

    def describe(self) -> dict[str, Any]:
        def lengths(split: str, side: int) -> dict[str, float]:
            sizes = [len(pair[side]) for pair in self.pairs[split]] or [0]
            return {"mean": sum(sizes) / len(sizes), "max": max(sizes)}
        return {"name": self.name, **self.source,
                "pairs": {split: len(self.pairs[split]) for split in SPLITS},
                "distinct_sources": {split: len(self.grouped(split)) for split in SPLITS},
                "source_vocabulary": self.source_vocab_size, "target_vocabulary": self.target_vocab_size,
                "source_length": {split: lengths(split, 0) for split in SPLITS},
                "target_length": {split: lengths(split, 1) for split in SPLITS},
                "unknown_tokens": self.unknown}

    @classmethod
    def from_tsv(cls, path: str | os.PathLike, *, tokens: str = "char", valid_fraction: float = 0.05,
                 test_fraction: float = 0.05, split_seed: int = 0, **options: Any) -> "PairsTask":
        """The pairs of a TSV file (:func:`read_pairs_tsv`) split by source (:func:`split_pairs`); the file's
        path, SHA-256 and tokenisation go into ``describe()``."""
        pairs = read_pairs_tsv(path, tokens)
        splits = split_pairs(pairs, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=split_seed)
        source = {"file": str(path), "sha256": file_sha256(path), "tokens": tokens, "split_seed": split_seed}
        options.setdefault("name", f"pairs from {path}")
        return cls(splits, source=source, **options)


def collate_pairs(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> Batch:
    """Pad encoded sources and targets (targets already ending with ``<eos>``) into a seq2seq Batch.

    Shapes:
        inputs (B, S), lengths (B,), targets (B, T), mask (B, T); S and T the longest in the batch.
    """
    if len(sources) != len(targets) or not sources:
        raise ValueError(f"sources, targets: expected the same positive count, got {len(sources)} and {len(targets)}")
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)  # (B,)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)  # (B,)
    inputs = torch.full((len(sources), int(lengths.max())), PAD, dtype=torch.long)  # (B, S)
    padded = torch.full((len(targets), int(target_lengths.max())), PAD, dtype=torch.long)  # (B, T)
    for row, (source, target) in enumerate(zip(sources, targets)):
        inputs[row, :len(source)] = torch.tensor(source, dtype=torch.long)
        padded[row, :len(target)] = torch.tensor(target, dtype=torch.long)
    mask = torch.arange(padded.shape[1]).unsqueeze(0) < target_lengths.unsqueeze(1)  # (B, T)
    return Batch(inputs, padded, lengths, mask)
