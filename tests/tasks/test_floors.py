"""Floors: Witten-Bell against a brute-force dictionary model, the unigram's closed form, compressors by hand."""
from __future__ import annotations

import bz2
import gzip
import lzma
import math
import time
from collections import Counter, defaultdict

import numpy as np
import pytest

from recnets.tasks.floors import WittenBellNgram, compressor_bpc, ngram_bpc, unigram_bpc

TRAIN_TEXT = "abracadabra, cadabra! a bad cab; abba dabba. "
HELDOUT_TEXT = "a cab abracadabra dab? zebra"


def ids_of(text: str, alphabet: str) -> list[int]:
    return [alphabet.index(c) + 1 for c in text]  # 0 is the pad / end symbol


ALPHABET = "".join(sorted(set(TRAIN_TEXT + HELDOUT_TEXT)))
V = len(ALPHABET) + 2  # pad/eos, the characters, one never-seen id


class BruteWittenBell:
    """Interpolated Witten-Bell written the long way: dictionaries of Counters, one conditional at a time."""

    def __init__(self, train: list[int], order: int, pad: int) -> None:
        self.order, self.pad = order, pad
        self.followers: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        padded = [pad] * (order - 1) + train
        for i in range(order - 1, len(padded)):
            for m in range(1, order + 1):
                self.followers[tuple(padded[i - m + 1:i])][padded[i]] += 1

    def probability(self, symbol: int, history: list[int]) -> float:
        history = ([self.pad] * (self.order - 1) + history)[-(self.order - 1):] if self.order > 1 else []
        probability = 1.0 / V
        for m in range(1, self.order + 1):
            context = tuple(history[len(history) - (m - 1):]) if m > 1 else ()
            seen = self.followers.get(context)
            if not seen:
                continue
            total, types = sum(seen.values()), len(seen)
            probability = (seen[symbol] + types * probability) / (total + types)
        return probability


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_witten_bell_equals_brute_force(order: int) -> None:
    train, heldout = ids_of(TRAIN_TEXT, ALPHABET), ids_of(HELDOUT_TEXT, ALPHABET)
    model = WittenBellNgram(np.array(train), V, order=order, pad_id=0)
    brute = BruteWittenBell(train, order, pad=0)
    expected = np.array([brute.probability(w, heldout[:i]) for i, w in enumerate(heldout)])
    np.testing.assert_allclose(model.probabilities(np.array(heldout)), expected, rtol=0, atol=1e-12)
    bits = -np.log2(expected).mean()
    assert abs(model.bits_per_symbol(np.array(heldout)) - bits) < 1e-12
    assert abs(ngram_bpc(np.array(train), np.array(heldout), V, order=order) - bits) < 1e-12


@pytest.mark.parametrize("order", [1, 3, 4])
def test_witten_bell_distributions_sum_to_one(order: int) -> None:
    train = ids_of(TRAIN_TEXT, ALPHABET)
    model = WittenBellNgram(np.array(train), V, order=order, pad_id=0)
    brute = BruteWittenBell(train, order, pad=0)
    contexts = [[], ids_of("ab", ALPHABET), ids_of("cadab", ALPHABET), ids_of("zz", ALPHABET), [V - 1, 3]]
    for context in contexts:
        distribution = model.distribution(context)
        assert distribution.shape == (V,)
        assert abs(distribution.sum() - 1.0) < 1e-12
        assert (distribution > 0).all()
        expected = [brute.probability(w, list(context)) for w in range(V)]
        np.testing.assert_allclose(distribution, expected, rtol=0, atol=1e-12)


def test_higher_order_helps_on_repetitive_text() -> None:
    text = "the cat sat on the mat. " * 40
    alphabet = "".join(sorted(set(text)))
    ids = np.array(ids_of(text, alphabet))
    bits = [ngram_bpc(ids[:800], ids[800:], len(alphabet) + 1, order=n) for n in (1, 2, 4)]
    assert bits[0] > bits[1] > bits[2]


def test_unigram_closed_form() -> None:
    train, heldout, vocab = np.array([0, 1, 1, 2, 2, 2]), np.array([2, 3, 1]), 5
    counts = [1, 2, 3, 0, 0]
    expected = -np.mean([math.log2((counts[w] + 1) / (6 + vocab)) for w in heldout])
    assert abs(unigram_bpc(train, heldout, vocab) - expected) < 1e-12


@pytest.mark.parametrize("method", ["gzip", "bzip2", "xz"])
def test_compressor_bpc_equals_manual(method: str) -> None:
    text = "déjà vu: naïve café — " * 50 + "end"
    data = text.encode("utf-8")
    manual = {"gzip": lambda: gzip.compress(data, compresslevel=9, mtime=0),
              "bzip2": lambda: bz2.compress(data, 9),
              "xz": lambda: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)}[method]()
    assert compressor_bpc(text, method) == 8 * len(manual) / len(text)


def test_floor_errors() -> None:
    with pytest.raises(ValueError, match="method"):
        compressor_bpc("abc", "zip")
    with pytest.raises(ValueError, match="text"):
        compressor_bpc("", "gzip")
    with pytest.raises(ValueError, match="order"):
        WittenBellNgram(np.array([1, 2]), 3, order=0)
    with pytest.raises(ValueError, match="train_ids"):
        WittenBellNgram(np.array([1, 5]), 3)
    with pytest.raises(ValueError, match="heldout_ids"):
        unigram_bpc(np.array([1]), np.array([], dtype=np.int64), 3)
    with pytest.raises(ValueError, match="int64"):
        WittenBellNgram(np.array([1]), 10**4, order=5)


@pytest.mark.slow
def test_witten_bell_speed_at_corpus_scale() -> None:
    rng = np.random.default_rng(0)
    # a skewed 200-symbol stream of 11 M ids: many distinct 5-grams, as in real text or worse
    train = np.minimum(rng.zipf(1.3, size=11_000_000), 199).astype(np.int64)
    heldout = np.minimum(rng.zipf(1.3, size=250_000), 199).astype(np.int64)
    clock = time.perf_counter()
    bits = ngram_bpc(train, heldout, 200, order=5)
    assert time.perf_counter() - clock < 30
    assert 0 < bits < math.log2(200)
