"""Tagged token sequences in the CoNLL style (``token<TAB>tag`` per line, a blank line between sequences) as a
tagging task: one output per input step.

Book: 10.2 (design pattern 1: an output at every time step, Fig. 10.3), 10.3 (a bidirectional RNN, so each
tag may depend on the tokens after it too).

**Format.** Every non-blank line is ``token<TAB>tag``: exactly one TAB, a non-empty token and a non-empty tag
(spaces inside a token are kept: the TAB separates). One or more blank (or whitespace-only) lines end a
sequence. A line with no TAB or more than one, an empty token or tag, bytes that are not UTF-8, or a file
with no sequence is a one-line error naming the file and the line.

**Vocabularies.** Tokens: ``<pad>`` 0, ``<unk>`` 1, then the training tokens (sorted); tags: the tags of
all splits, sorted, no specials (a tag outside them is an error: the model cannot emit it).
"""
from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.pairs import SPLITS, Vocabulary, read_text_lines
from recnets.tasks.splits import split_keys

__all__ = ["TaggedSequence", "read_conll", "format_conll", "TokenVocabulary", "TagVocabulary", "TaggingTask",
           "split_sequences", "collate_tagged", "majority_floors"]

TaggedSequence = tuple[list[str], list[str]]


def read_conll(path: str | os.PathLike) -> list[TaggedSequence]:
    """``(tokens, tags)`` of every sequence of a CoNLL-style file (see the module's docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file and line number: no TAB, more than one TAB, an empty token or
            tag; bytes that are not UTF-8; a file with no sequence.

    Book: 10.2.
    """
    path, lines, _ = read_text_lines(path, "a CoNLL file of 'token<TAB>tag' lines")
    sequences: list[TaggedSequence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() and "\t" not in line:
            if tokens:
                sequences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            got = "none" if len(fields) == 1 else f"{len(fields) - 1}"
            raise ValueError(f"{path}: line {number}: expected 'token<TAB>tag' with one TAB, got {got} in "
                             f"{line[:60]!r}")
        token, tag = fields[0], fields[1].strip()
        if not token.strip():
            raise ValueError(f"{path}: line {number}: expected a non-empty token before the TAB, got {line[:60]!r}")
        if not tag:
            raise ValueError(f"{path}: line {number}: expected a non-empty tag after the TAB, got {line[:60]!r}")
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sequences.append((tokens, tags))
    if not sequences:
        raise ValueError(f"{path}: expected at least one 'token<TAB>tag' sequence, got none (an empty file)")
    return sequences


def format_conll(sequences: Sequence[TaggedSequence]) -> str:
    """The CoNLL text of ``(tokens, tags)`` sequences: ``token<TAB>tag`` lines, a blank line after each."""
    return "".join("".join(f"{token}\t{tag}\n" for token, tag in zip(tokens, tags)) + "\n"
                   for tokens, tags in sequences)


def split_sequences(sequences: Sequence[TaggedSequence], *, valid_fraction: float = 0.1, test_fraction: float = 0.1,
                    seed: int = 0) -> dict[str, list[TaggedSequence]]:
    """A seeded split of whole sequences (:func:`~recnets.tasks.splits.split_keys`): their order shuffled with
    ``random.Random(seed)``, valid first (``round(valid_fraction n)``, at least 1), then test (likewise, but
    shrunk so that train keeps at least 1), then train (the rest), each in shuffled order.

    Raises:
        ValueError: fractions outside (0, 0.5) or fewer than 3 sequences.
    """
    positions = split_keys(sequences, {"valid": valid_fraction, "test": test_fraction}, seed, name="data",
                           items="sequences", when_no_train="shrink", prefix="data.")
    return {split: [sequences[i] for i in chosen] for split, chosen in positions.items()}


class TokenVocabulary(Vocabulary):
    """A tagger's input tokens: ``<pad>`` 0, ``<unk>`` 1, then the tokens.

    Book: 10.2.
    """

    SPECIALS = ("<pad>", "<unk>")
    PAD, UNK = 0, 1
    KIND = "tagger-tokens"


class TagVocabulary(Vocabulary):
    """A tagger's output tags, ids from 0, no specials: an unknown tag is an error, never ``<unk>``.

    Book: 10.2.
    """

    SPECIALS = ()
    KIND = "tags"

    def id_of(self, token: str) -> int:
        index = self.ids.get(token)
        if index is None:
            raise ValueError(f"tag: expected one of the run's tags {list(self.tokens)[:10]}, got {token!r}")
        return index

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.id_of(token) for token in tokens]


class TaggingTask(Task):
    """Per-token tagging of CoNLL-style sequences, scored by cross-entropy per token.

    Args:
        splits: ``{"train", "valid", "test"}`` -> ``(tokens, tags)`` sequences.
        tokens: the token vocabulary (default: the training split's tokens seen ``min_count`` times).
        tags: the tag vocabulary (default: every tag of every split, sorted: the classes the model may emit).
        batch_size: B training sequences drawn uniformly per batch; eval_batch_size: of held-out batches.
        unknown_rate: each training token is read as ``<unk>`` with this probability (drawn from the batch's
            generator), so that the ``<unk>`` embedding is trained for the unseen tokens of new text.
        seed: seeds every training batch (:func:`~recnets.tasks.base.step_generator`).

    Shapes:
        inputs (B, T) int64 token ids padded with ``<pad>``; targets (B, T) int64 tag ids (0 past each
        length, not scored); lengths (B,); outputs (B, T, number of tags) logits.

    Book: 10.2 (Fig. 10.3), 10.3; 10.2.2 (the loss summed over steps).
    """

    def __init__(self, splits: Mapping[str, Sequence[TaggedSequence]], *, tokens: TokenVocabulary | None = None,
                 tags: TagVocabulary | None = None, min_count: int = 1, batch_size: int = 32,
                 eval_batch_size: int = 256, unknown_rate: float = 0.0, seed: int = 0, name: str = "tagging",
                 source: dict[str, Any] | None = None) -> None:
        missing = [split for split in SPLITS if split not in splits]
        if missing:
            raise ValueError(f"splits: expected {', '.join(SPLITS)}, got {sorted(splits)} (missing {missing})")
        if not splits["train"]:
            raise ValueError("splits['train']: expected at least one sequence, got none")
        for split in SPLITS:
            for index, item in enumerate(splits[split]):
                if not (isinstance(item, tuple) and len(item) == 2 and len(item[0]) == len(item[1]) and item[0]):
                    raise ValueError(f"splits[{split!r}][{index}]: expected a (tokens, tags) pair of equal "
                                     f"non-zero lengths, got {item!r:.80}")
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        if isinstance(unknown_rate, bool) or not isinstance(unknown_rate, (int, float)) or not 0 <= unknown_rate < 1:
            raise ValueError(f"unknown_rate: expected a probability in [0, 1), got {unknown_rate!r}")
        self.sequences = {split: list(splits[split]) for split in SPLITS}
        train = self.sequences["train"]
        self.tokens = tokens or TokenVocabulary.from_sequences((t for t, _ in train), min_count=min_count)
        self.tags = tags or TagVocabulary.from_sequences(g for split in SPLITS for _, g in self.sequences[split])
        self.batch_size, self.eval_batch_size, self.unknown_rate = batch_size, eval_batch_size, float(unknown_rate)
        self.seed, self.name, self.source = seed, name, dict(source or {})
        self.unknown: dict[str, int] = {split: sum(self.tokens.count_unknown(t) for t, _ in self.sequences[split])
                                        for split in SPLITS}
        self._encoded: dict[str, list[tuple[list[int], list[int]]]] = {
            split: [(self.tokens.encode(t), self.tags.encode(g)) for t, g in self.sequences[split]] for split in SPLITS}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def num_tags(self) -> int:
        return len(self.tags)

    def split_size(self, split: str) -> int:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        return len(self.sequences[split])

    def batch_of(self, split: str, indices: Sequence[int]) -> Batch:
        """The batch of ``split``'s sequences at ``indices``."""
        chosen = [self._encoded[split][i] for i in indices]
        return collate_tagged([ids for ids, _ in chosen], [tags for _, tags in chosen])

    def train_batch(self, step: int) -> Batch:
        generator = step_generator(self.seed, step)
        indices = torch.randint(self.split_size("train"), (self.batch_size,), generator=generator).tolist()
        batch = self.batch_of("train", indices)
        if self.unknown_rate > 0:
            drop = torch.rand(batch.inputs.shape, generator=generator) < self.unknown_rate  # (B, T)
            inputs = torch.where(drop & (batch.inputs != TokenVocabulary.PAD), TokenVocabulary.UNK, batch.inputs)
            batch = Batch(inputs, batch.targets, batch.lengths)
        return batch

    def eval_batches(self, split: str) -> Iterator[Batch]:
        size = self.split_size(split)
        for start in range(0, size, self.eval_batch_size):
            yield self.batch_of(split, range(start, min(start + self.eval_batch_size, size)))

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) of the tags over the real steps, and their count.

        Book: 10.2.2, eqs. 10.12-10.14.
        """
        return sequence_nll(outputs, batch.targets.to(outputs.device), batch.lengths)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        nats = total_loss / max(count, 1)
        return {"nats_per_token": nats, "bits_per_token": nats / math.log(2)}

    def scores(self, outputs: Tensor, batch: Batch) -> tuple[int, int, int]:
        """``(right tags, scored tokens, sequences with every tag right)`` of ``outputs (B, T, O)`` on ``batch``."""
        targets = batch.targets.to(outputs.device)
        real = torch.arange(targets.shape[1], device=outputs.device).unsqueeze(0) < batch.lengths.to(
            outputs.device).unsqueeze(1)  # (B, T)
        right = (outputs.argmax(-1) == targets) & real  # (B, T)
        whole = (right | ~real).all(1)  # (B,)
        return int(right.sum()), int(real.sum()), int(whole.sum())

    def baselines(self, split: str = "test") -> dict[str, Any]:
        """Accuracy floors on ``split`` from the training split (:func:`majority_floors`)."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        return majority_floors(self.sequences["train"], self.sequences[split])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.source,
                "sequences": {split: len(self.sequences[split]) for split in SPLITS},
                "tokens": {split: sum(len(t) for t, _ in self.sequences[split]) for split in SPLITS},
                "vocabulary": self.vocab_size, "tags": self.tags.data_tokens(), "unknown_tokens": self.unknown}


def majority_floors(train: Sequence[TaggedSequence], sequences: Sequence[TaggedSequence]) -> dict[str, Any]:
    """Accuracy on ``sequences`` of two taggers read off ``train``: always the most frequent tag, and each
    token's most frequent tag (the most frequent tag overall for tokens unseen in ``train``); ties go to the
    tag first in sorted order.

    Book: 10.2 (a floor for any tagger: it uses no context at all).
    """
    counts = Counter(tag for _, tags in train for tag in tags)
    if not counts:
        raise ValueError("train: expected at least one tagged token, got none")
    majority = min(counts, key=lambda tag: (-counts[tag], tag))
    by_token: dict[str, Counter[str]] = {}
    for tokens, tags in train:
        for token, tag in zip(tokens, tags):
            by_token.setdefault(token, Counter())[tag] += 1
    best = {token: min(c, key=lambda tag: (-c[tag], tag)) for token, c in by_token.items()}
    total = right_majority = right_token = 0
    for tokens, tags in sequences:
        for token, tag in zip(tokens, tags):
            total += 1
            right_majority += tag == majority
            right_token += tag == best.get(token, majority)
    return {"majority_tag": majority, "majority_accuracy": right_majority / max(total, 1),
            "token_majority_accuracy": right_token / max(total, 1)}


def collate_tagged(ids: Sequence[Sequence[int]], tags: Sequence[Sequence[int]] | None = None) -> Batch:
    """Pad token ids (and tag ids; zeros when None) into a Batch: inputs (B, T), targets (B, T), lengths (B,)."""
    if not ids or any(len(row) == 0 for row in ids):
        raise ValueError("ids: expected at least one non-empty sequence, got an empty one")
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)  # (B,)
    inputs = torch.full((len(ids), int(lengths.max())), TokenVocabulary.PAD, dtype=torch.long)  # (B, T)
    targets = torch.zeros_like(inputs)  # (B, T)
    for row, sequence in enumerate(ids):
        inputs[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        if tags is not None:
            targets[row, :len(sequence)] = torch.tensor(tags[row], dtype=torch.long)
    return Batch(inputs, targets, lengths)
