"""Edit distance and the error rates of generated sequences against one or more references (g2p scoring).

Book: 10.4 (sequence-to-sequence outputs are scored as sequences, not step by step: a generated sequence
may be longer or shorter than its reference).

Conventions (what the grapheme-to-phoneme literature reports, Yao & Zweig 2015, with the choices it leaves
open fixed here):

- **Word error rate**: the fraction of items whose hypothesis equals ANY of its references exactly.
- **Phoneme (token) error rate**: Σ_items d(h, r*) / Σ_items |r*|, with d the Levenshtein distance (insertions,
  deletions and substitutions each cost 1) and r* the item's CLOSEST reference: the one with the smallest
  d(h, r); among references at the same distance, the SHORTER one (the larger rate: a tie never flatters the
  model); among those, the first listed.
"""
from __future__ import annotations

from typing import Hashable, NamedTuple, Sequence

__all__ = ["edit_distance", "closest_reference", "word_error_rate", "phoneme_error_rate", "ErrorRates",
           "error_rates"]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The Levenshtein distance between token sequences ``a`` and ``b``: the fewest insertions, deletions and
    substitutions (each costing 1) that turn ``a`` into ``b``.

    Dynamic programming over one row at a time: O(|a|·|b|) time, O(|b|) memory.

    Book: 10.4.
    """
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a  # the row runs over the shorter sequence
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, token_a in enumerate(a, start=1):
        current = [i]
        for j, token_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1,  # delete token_a
                               current[j - 1] + 1,  # insert token_b
                               previous[j - 1] + (token_a != token_b)))  # substitute (or match)
        previous = current
    return previous[-1]


def _check(hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Sequence[Hashable]]]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"references: expected one list of references per hypothesis ({len(hypotheses)}), "
                         f"got {len(references)}")
    if not hypotheses:
        raise ValueError("hypotheses: expected at least one item, got none")
    for index, options in enumerate(references):
        if isinstance(options, str) or not isinstance(options, Sequence) or not options:
            raise ValueError(f"references[{index}]: expected a non-empty list of reference sequences, got "
                             f"{options!r:.80}")


def closest_reference(hypothesis: Sequence[Hashable], references: Sequence[Sequence[Hashable]]) -> tuple[int, int]:
    """``(index, distance)`` of the reference closest to ``hypothesis``: the smallest edit distance, then the
    shortest reference, then the first listed."""
    if not references:
        raise ValueError("references: expected at least one reference, got none")
    scored = [(edit_distance(hypothesis, reference), len(reference), index) for index, reference in
              enumerate(references)]
    distance, _, index = min(scored)
    return index, distance


class ErrorRates(NamedTuple):
    """Sequence-level scores of hypotheses against references.

    Attributes:
        word_error_rate: fraction of items matching none of their references.
        phoneme_error_rate: Σ d(h, r*) / Σ |r*| over the items (r* the closest reference).
        items: how many items; wrong_items: how many matched no reference.
        edits: Σ d(h, r*); reference_tokens: Σ |r*|.
    """

    word_error_rate: float
    phoneme_error_rate: float
    items: int
    wrong_items: int
    edits: int
    reference_tokens: int


def error_rates(hypotheses: Sequence[Sequence[Hashable]],
                references: Sequence[Sequence[Sequence[Hashable]]]) -> ErrorRates:
    """Word and phoneme error rates in one pass (see the module's conventions).

    Args:
        hypotheses: one token sequence per item.
        references: one non-empty list of reference token sequences per item.

    Raises:
        ValueError: different counts, no items, an item without references, or references of total length 0
            (the phoneme error rate is then undefined).

    Book: 10.4.
    """
    _check(hypotheses, references)
    wrong = edits = tokens = 0
    for hypothesis, options in zip(hypotheses, references):
        index, distance = closest_reference(list(hypothesis), options)
        wrong += distance != 0  # the closest reference is at distance 0 exactly when one matches
        edits += distance
        tokens += len(options[index])
    if tokens == 0:
        raise ValueError("references: expected closest references of positive total length, got only empty ones")
    return ErrorRates(wrong / len(hypotheses), edits / tokens, len(hypotheses), wrong, edits, tokens)


def word_error_rate(hypotheses: Sequence[Sequence[Hashable]],
                    references: Sequence[Sequence[Sequence[Hashable]]]) -> float:
    """The fraction of items whose hypothesis equals none of its references.

    Book: 10.4.
    """
    _check(hypotheses, references)
    wrong = sum(not any(list(h) == list(r) for r in options) for h, options in zip(hypotheses, references))
    return wrong / len(hypotheses)


def phoneme_error_rate(hypotheses: Sequence[Sequence[Hashable]],
                       references: Sequence[Sequence[Sequence[Hashable]]]) -> float:
    """Σ d(h, r*) / Σ |r*| with r* each item's closest reference (ties: the shorter, then the first).

    Book: 10.4.
    """
    return error_rates(hypotheses, references).phoneme_error_rate
