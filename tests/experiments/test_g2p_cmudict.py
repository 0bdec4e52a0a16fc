"""g2p-cmudict's floor and subset, against hand computations (the quick run itself is in test_quick.py)."""
from __future__ import annotations

from recnets.experiments.g2p_cmudict import floor_pronunciation, letter_floor, subset
from recnets.tasks.cmudict import load_cmudict
from recnets.tasks.sequence_errors import error_rates

DICTIONARY = """\
cat K AE1 T
cab K AE1 B
kit K IH1 T
city S IH1 T IY0
tack T AE1 K
ta T AA1
"""


def test_letter_floor_counts_equal_length_pairs_position_by_position():
    pairs = [(list("cat"), ["K", "AE", "T"]), (list("cab"), ["K", "AE", "B"]), (list("city"), ["S", "IH", "T", "IY"]),
             (list("tack"), ["T", "AE", "K"]), (list("ta"), ["T", "AA"])]
    mapping = letter_floor(pairs)
    # c: K, K, S (tack is skipped: 4 letters, 3 phonemes); a: AE, AE, AA; t: T, T, T; b: B; i: IH; y: IY
    assert mapping == {"a": "AE", "b": "B", "c": "K", "i": "IH", "t": "T", "y": "IY"}
    assert letter_floor([(list("ab"), ["P", "B"]), (list("ab"), ["B", "B"])])["a"] == "B"  # a tie: alphabetical
    assert floor_pronunciation(mapping, list("tic'k")) == ["T", "IH", "K"]  # unmapped letters are silent
    # scored like the model: 'tick' -> T IH K against T IH K is right; 'kat' -> AE T against K AE T is one edit
    rates = error_rates([floor_pronunciation(mapping, list(w)) for w in ("tick", "kat")],
                        [[["T", "IH", "K"]], [["K", "AE", "T"]]])
    assert (rates.wrong_items, rates.edits, rates.reference_tokens) == (1, 1, 6)


def test_subset_draws_from_each_split(tmp_path):
    path = tmp_path / "tiny.dict"
    path.write_text(DICTIONARY, encoding="utf-8")
    data = load_cmudict(path=path, valid_fraction=0.2, test_fraction=0.2)
    small = subset(data, (2, 1, 5))
    assert len(small.splits["train"]) == 2 and set(small.splits["train"]) <= set(data.splits["train"])
    assert small.splits["valid"] == data.splits["valid"] and small.splits["test"] == data.splits["test"]
    assert subset(data, (2, 1, 5)) == small  # seeded
    assert small.pronunciations is data.pronunciations


def test_overrides_are_checked_before_any_work(tmp_path):
    import pytest

    from recnets.experiments.g2p_cmudict import run, settings

    with pytest.raises(ValueError, match="overrides: expected keys among steps, lr, max_seconds, sizes, .*got 'stepz'"):
        run(tmp_path, quick=True, overrides={"stepz": 3})
    assert not any(tmp_path.iterdir())
    assert settings(quick=False, progress=False)["input_feeding"] is False  # the decoder's steps run at once
