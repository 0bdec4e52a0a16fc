"""Floors in bits per character: what a character-level RNN must beat to have learned anything.

Three kinds of floor, all scored on the same held-out characters as the RNN:

- a **unigram** model (add-one smoothing): no memory at all;
- a **fixed-order Markov model** (an n-gram with interpolated Witten-Bell smoothing): the chapter's contrast
  between a model that conditions on a fixed window of n-1 symbols and an RNN whose state can, in principle,
  summarise the whole past (Book: 10.1, eq. 10.5; 10.2.3);
- **general-purpose compressors** (gzip, bzip2, xz at their strongest settings): a code length is a
  log-likelihood, so a compressor's output size is a model's cross-entropy.

Everything is vectorised with numpy: an n-gram is one int64 number in base V, counted with ``np.unique`` and
looked up with ``np.searchsorted``. Fitting on ~11 M characters and scoring 250 k takes a few seconds.

Book: 10.2.3 (RNNs vs. fixed-order Markov models; the sequence's log-likelihood as a sum of log
conditionals).
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["unigram_bpc", "WittenBellNgram", "ngram_bpc", "compressor_bpc", "COMPRESSORS"]

COMPRESSORS = ("gzip", "bzip2", "xz")


def _as_ids(ids: np.ndarray | list[int], vocab_size: int, name: str) -> np.ndarray:
    """``ids`` as a 1-D int64 array with every id in ``[0, vocab_size)``."""
    array = np.asarray(ids)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: expected a 1-D array of integer ids, got shape {array.shape} dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (int(array.min()) < 0 or int(array.max()) >= vocab_size):
        raise ValueError(f"{name}: expected ids in [0, {vocab_size}), got values in "
                         f"[{int(array.min())}, {int(array.max())}]")
    return array


def unigram_bpc(train_ids: np.ndarray, heldout_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (bits per symbol) of an add-one smoothed unigram model on held-out ids.

    p(w) = (c(w) + 1) / (N + V), fitted on ``train_ids``; returns -(1/M) Σ_i log2 p(heldout_i).

    Args:
        train_ids: (N,) ids the counts come from.
        heldout_ids: (M,) ids scored; M >= 1.
        vocab_size: V, every id is in [0, V).

    Returns:
        Bits per symbol, a float.

    Book: 10.2 (the memoryless floor every sequence model is read against).
    """
    train = _as_ids(train_ids, vocab_size, "train_ids")
    heldout = _as_ids(heldout_ids, vocab_size, "heldout_ids")
    if heldout.size == 0:
        raise ValueError("heldout_ids: expected at least one id to score, got none")
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)  # (V,)
    log2_p = np.log2(counts + 1.0) - math.log2(train.size + vocab_size)  # (V,)
    return float(-log2_p[heldout].mean())


@dataclass(frozen=True)
class _Level:
    """Counts of one order m: every seen m-gram (sorted base-V keys) and its context's totals."""

    keys: np.ndarray  # (K,) int64, sorted: context * V + symbol
    counts: np.ndarray  # (K,) c(h, w)
    contexts: np.ndarray  # (C,) int64, sorted distinct contexts h (base-V keys of m-1 symbols)
    context_totals: np.ndarray  # (C,) c(h) = Σ_w c(h, w)
    context_types: np.ndarray  # (C,) N1+(h •) = #{w : c(h, w) > 0}


class WittenBellNgram:
    """An order-n Markov model over ids with interpolated Witten-Bell smoothing.

    p_m(w | h) = (c(h, w) + N1+(h •) p_{m-1}(w | h')) / (c(h) + N1+(h •)) when c(h) > 0, else p_{m-1}(w | h'),
    where h holds the m-1 symbols before w, h' drops the oldest of them, c(h) = Σ_w c(h, w) and N1+(h •) is
    the number of distinct symbols seen after h. The recursion starts at the uniform p_0(w) = 1/V, so every
    id in [0, V) has non-zero probability. Symbols before the start of a sequence are ``pad_id`` (for a
    character stream: the end-of-document symbol, i.e. "start of a document").

    Args:
        train_ids: (N,) the training stream.
        vocab_size: V.
        order: n >= 1 (1 is the interpolated unigram); V**n must fit in int64.
        pad_id: the symbol assumed before the first id of every stream.

    Book: 10.2.3 (a fixed-order Markov model: its context is n-1 symbols, the RNN's is the whole past).
    Deviations: none from interpolated Witten-Bell as Chen & Goodman (1998) define it; the lowest order
    interpolates with the uniform distribution over all V ids.
    """

    def __init__(self, train_ids: np.ndarray, vocab_size: int, *, order: int = 5, pad_id: int = 0) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order: expected an integer >= 1, got {order!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size: expected an integer >= 1, got {vocab_size!r}")
        if vocab_size ** order >= 2 ** 63:
            raise ValueError(f"order: V**order must fit in int64, got V = {vocab_size} and order = {order}")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id: expected an id in [0, {vocab_size}), got {pad_id}")
        train = _as_ids(train_ids, vocab_size, "train_ids")
        if train.size == 0:
            raise ValueError("train_ids: expected at least one id, got none")
        self.vocab_size, self.order, self.pad_id = vocab_size, order, pad_id
        keys = self._keys_by_order(train)  # order m -> (N,) m-gram keys ending at each position
        self.levels = [self._count(keys[m]) for m in range(1, order + 1)]

    def _keys_by_order(self, ids: np.ndarray) -> list[np.ndarray]:
        """``keys[m][i]``: base-V key of the m symbols ending at ``ids[i]`` (pads before the start), m = 0..n."""
        padded = np.concatenate([np.full(self.order - 1, self.pad_id, dtype=np.int64), ids])  # (n-1+N,)
        start = self.order - 1
        keys = [np.zeros(ids.size, dtype=np.int64)]
        for m in range(1, self.order + 1):
            oldest = padded[start - m + 1: start - m + 1 + ids.size]  # (N,) the symbol m-1 places back
            keys.append(oldest * self.vocab_size ** (m - 1) + keys[-1])
        return keys

    def _count(self, keys: np.ndarray) -> _Level:
        unique, counts = np.unique(keys, return_counts=True)  # (K,) sorted
        context_of = unique // self.vocab_size  # (K,) non-decreasing
        contexts, first, types = np.unique(context_of, return_index=True, return_counts=True)  # (C,)
        totals = np.add.reduceat(counts, first)  # (C,)
        return _Level(unique, counts, contexts, totals, types)

    @staticmethod
    def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """``values`` at each query's position in ``sorted_keys``, 0 where the query is absent."""
        position = np.searchsorted(sorted_keys, queries)  # (M,)
        position = np.minimum(position, sorted_keys.size - 1)
        found = sorted_keys[position] == queries
        return np.where(found, values[position], 0)

    def probabilities(self, ids: np.ndarray) -> np.ndarray:
        """p(ids[i] | the n-1 ids before it) for every position of a stream (pads before its start).

        Shapes:
            ids (M,) -> (M,) float64.
        """
        ids = _as_ids(ids, self.vocab_size, "ids")
        keys = self._keys_by_order(ids)
        probability = np.full(ids.size, 1.0 / self.vocab_size)  # p_0, (M,)
        for m, level in enumerate(self.levels, start=1):
            context = keys[m] // self.vocab_size  # (M,) the m-1 symbols before each position
            total = self._lookup(level.contexts, level.context_totals, context).astype(np.float64)
            types = self._lookup(level.contexts, level.context_types, context).astype(np.float64)
            joint = self._lookup(level.keys, level.counts, keys[m]).astype(np.float64)  # c(h, w)
            seen = total > 0
            smoothed = (joint + types * probability) / np.where(seen, total + types, 1.0)
            probability = np.where(seen, smoothed, probability)
        return probability

    def distribution(self, context: list[int] | np.ndarray) -> np.ndarray:
        """p(w | context) for every w: (V,) float64 summing to 1; only the last n-1 ids of ``context`` count."""
        history = list(_as_ids(np.asarray(context, dtype=np.int64), self.vocab_size, "context"))
        history = ([self.pad_id] * (self.order - 1) + history)[len(history):] if self.order > 1 else []
        candidates = np.arange(self.vocab_size, dtype=np.int64)
        probability = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for m, level in enumerate(self.levels, start=1):
            recent = history[len(history) - (m - 1):] if m > 1 else []
            key = 0
            for symbol in recent:
                key = key * self.vocab_size + int(symbol)
            query = np.array([key], dtype=np.int64)
            total = float(self._lookup(level.contexts, level.context_totals, query)[0])
            if total == 0:
                continue
            types = float(self._lookup(level.contexts, level.context_types, query)[0])
            joint = self._lookup(level.keys, level.counts, key * self.vocab_size + candidates).astype(np.float64)
            probability = (joint + types * probability) / (total + types)
        return probability

    def bits_per_symbol(self, ids: np.ndarray) -> float:
        """Cross-entropy -(1/M) Σ_i log2 p(ids[i] | context) of a held-out stream (M >= 1)."""
        probability = self.probabilities(ids)
        if probability.size == 0:
            raise ValueError("ids: expected at least one id to score, got none")
        return float(-np.log2(probability).mean())


def ngram_bpc(train_ids: np.ndarray, heldout_ids: np.ndarray, vocab_size: int, *, order: int = 5,
              pad_id: int = 0) -> float:
    """Bits per symbol of an order-n interpolated Witten-Bell model fitted on ``train_ids``.

    Args:
        train_ids: (N,); heldout_ids: (M,); vocab_size: V; order: n; pad_id: the symbol before a stream.

    Returns:
        -(1/M) Σ_i log2 p(heldout_i | heldout_{i-n+1..i-1}).

    Book: 10.2 (the fixed-order Markov floor).
    """
    return WittenBellNgram(train_ids, vocab_size, order=order, pad_id=pad_id).bits_per_symbol(heldout_ids)


def compressor_bpc(text: str, method: str) -> float:
    """Bits of ``text`` (UTF-8) compressed at the strongest setting, per character.

    Args:
        text: the held-out characters (non-empty).
        method: ``"gzip"`` (level 9), ``"bzip2"`` (level 9) or ``"xz"`` (preset 9 | extreme).

    Returns:
        8 * len(compressed bytes) / len(text). Container headers are included, as a file would carry them.

    Book: 10.2.3 (a code length is a negative log-likelihood: a compressor is a sequence model).
    """
    if method not in COMPRESSORS:
        raise ValueError(f"method: expected one of {COMPRESSORS}, got {method!r}")
    if not isinstance(text, str) or not text:
        raise ValueError(f"text: expected a non-empty string, got {type(text).__name__} of length "
                         f"{len(text) if isinstance(text, str) else 'n/a'}")
    data = text.encode("utf-8")
    if method == "gzip":
        compressed = gzip.compress(data, compresslevel=9, mtime=0)
    elif method == "bzip2":
        compressed = bz2.compress(data, compresslevel=9)
    else:
        compressed = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    return 8.0 * len(compressed) / len(text)
