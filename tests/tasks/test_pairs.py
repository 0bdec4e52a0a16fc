"""Source-target pairs: the vocabulary's specials and JSON, the TSV reader and its line-numbered errors, the
split by source, and the seq2seq batch convention, loss and floors against hand-built oracles."""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import pytest
import torch

from recnets.tasks.base import Batch, step_generator
from recnets.tasks.pairs import (BOS, EOS, PAD, UNK, PairsTask, PairVocabulary, Vocabulary, read_pairs_tsv,
                                 split_pairs, tokenize)


def one_line(error: pytest.ExceptionInfo, *needles: str) -> None:
    text = str(error.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


# ----------------------------------------------------------------------------------------- vocabulary


def test_vocabulary_specials_encode_decode_and_unknown_count():
    vocabulary = PairVocabulary.from_sequences([list("cab"), list("bad")])
    assert vocabulary.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>")
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert vocabulary.data_tokens() == ["a", "b", "c", "d"]  # sorted by default
    assert PairVocabulary.from_sequences([list("cab"), list("bad")], order="first-seen").data_tokens() == list("cabd")
    assert vocabulary.encode(list("dxbz")) == [7, UNK, 5, UNK]
    assert vocabulary.count_unknown("dxbz") == 2 and vocabulary.count_unknown("xyza") == 3
    assert vocabulary.encode(list("dxbz")) == [7, UNK, 5, UNK] and not hasattr(vocabulary, "unknown_count")  # stateless
    assert vocabulary.decode([BOS, 4, UNK, 6, EOS, 5, PAD]) == ["a", "<unk>", "c"]  # stops at <eos>
    assert vocabulary.decode(torch.tensor([5, 5, PAD, PAD])) == ["b", "b"]
    with pytest.raises(ValueError) as error:
        vocabulary.decode([9])
    one_line(error, "ids: expected ids in [0, 8), got 9")


def test_vocabulary_min_count_and_a_data_token_spelled_like_a_special():
    vocabulary = PairVocabulary.from_sequences([["<eos>", "x", "x"], ["y"]], min_count=2)
    assert vocabulary.data_tokens() == ["x"]
    vocabulary = PairVocabulary.from_sequences([["<eos>", "x"]])
    assert vocabulary.encode(["<eos>"]) == [4]  # an ordinary token: only the vocabulary makes specials
    with pytest.raises(ValueError) as error:
        PairVocabulary(["a", "b", "a"])
    one_line(error, "expected distinct tokens, got duplicates ['a']")
    with pytest.raises(TypeError):
        Vocabulary(["a"])


def test_vocabulary_json_round_trip_is_plain_json():
    vocabulary = PairVocabulary(["ph", "AA", "é"])
    text = json.dumps(vocabulary.to_json())
    again = PairVocabulary.from_json(json.loads(text))
    assert again == vocabulary and again.tokens == vocabulary.tokens
    for bad, needle in [({"tokens": []}, "expected a JSON object with format"),
                        ({**vocabulary.to_json(), "kind": "tags"}, "expected a 'pair' vocabulary"),
                        ({**vocabulary.to_json(), "tokens": "abc"}, "expected a list of tokens")]:
        with pytest.raises(ValueError) as error:
            PairVocabulary.from_json(bad)
        one_line(error, needle)


# --------------------------------------------------------------------------------------------- files


def write(tmp_path, data: bytes | str, name: str = "pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_read_pairs_char_and_space_tokens(tmp_path):
    path = write(tmp_path, "\ufeffcat\tK AE T\r\n\n  \nthe dog\tDH AH  D AO G\n")
    assert read_pairs_tsv(path, "space") == [(["cat"], ["K", "AE", "T"]),
                                             (["the", "dog"], ["DH", "AH", "D", "AO", "G"])]
    pairs = read_pairs_tsv(path, "char")
    assert pairs[0] == (list("cat"), list("K AE T"))  # spaces are characters too
    assert pairs[1][0] == list("the dog")
    assert tokenize("a  b", "space") == ["a", "b"] and tokenize("a b", "char") == ["a", " ", "b"]


@pytest.mark.parametrize("text, tokens, needles", [
    ("ab\tcd\nabcd\n", "char", ["line 2: expected 'source<TAB>target' with one TAB, got none"]),
    ("ab\tcd\n\nab\tc\td\n", "char", ["line 3: expected 'source<TAB>target' with one TAB, got 2"]),
    ("ab\tcd\n\tcd\n", "char", ["line 2: expected a non-empty source"]),
    ("ab\tcd\nab\t\n", "char", ["line 2: expected a non-empty target"]),
    ("ab\tcd\nab\t   \n", "space", ["line 2: expected a non-empty target"]),
    ("\t\n", "char", ["line 1: expected a non-empty source"]),
    ("", "char", ["expected at least one 'source<TAB>target' line, got an empty file"]),
    ("\n  \n\n", "space", ["got an empty file"]),
])
def test_malformed_files_are_one_line_errors_with_the_line(tmp_path, text, tokens, needles):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        read_pairs_tsv(path, tokens)
    one_line(error, str(path), *needles)


def test_undecodable_bytes_name_their_line(tmp_path):
    path = write(tmp_path, b"ab\tcd\nef\tg\xff\n")
    with pytest.raises(ValueError) as error:
        read_pairs_tsv(path)
    one_line(error, str(path), "line 2: expected UTF-8 text")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pairs_tsv(tmp_path / "missing.tsv")
    with pytest.raises(ValueError) as error:
        read_pairs_tsv(path, "word")
    one_line(error, "tokens: expected one of char, space, got 'word'")


# --------------------------------------------------------------------------------------------- split


def test_split_is_by_source_seeded_and_complete():
    pairs = [([f"w{i}"], [f"p{i}", "x"]) for i in range(100)] + [(["w7"], ["alt"]), (["w42"], ["alt"])]
    splits = split_pairs(pairs, valid_fraction=0.1, test_fraction=0.2, seed=3)
    assert splits == split_pairs(pairs, valid_fraction=0.1, test_fraction=0.2, seed=3)
    assert splits != split_pairs(pairs, valid_fraction=0.1, test_fraction=0.2, seed=4)
    sources = {split: {tuple(s) for s, _ in rows} for split, rows in splits.items()}
    assert (len(sources["valid"]), len(sources["test"]), len(sources["train"])) == (10, 20, 70)
    assert not (sources["train"] & sources["valid"]) and not (sources["train"] & sources["test"])
    assert not (sources["valid"] & sources["test"])
    assert sorted(map(str, sum(splits.values(), []))) == sorted(map(str, pairs))  # every pair once
    with pytest.raises(ValueError) as error:
        split_pairs(pairs[:2])
    one_line(error, "expected at least 3 distinct sources")
    with pytest.raises(ValueError) as error:
        split_pairs(pairs, valid_fraction=0.5)
    one_line(error, "valid_fraction: expected a fraction in (0, 0.5), got 0.5")


# ---------------------------------------------------------------------------------------------- task


def reversal_pairs(count: int, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(count):
        length = int(torch.randint(1, 7, (), generator=generator))
        source = [chr(ord("a") + int(i)) for i in torch.randint(0, 6, (length,), generator=generator)]
        pairs.append((source, source[::-1] + ["!"] * (length % 2)))
    return pairs


@pytest.fixture
def task() -> PairsTask:
    pairs = reversal_pairs(60)
    return PairsTask({"train": pairs[:40], "valid": pairs[40:50], "test": pairs[50:]}, batch_size=5,
                     eval_batch_size=4, seed=11)


def expected_batch(task: PairsTask, rows: list) -> Batch:
    """The seq2seq batch convention, written out row by row."""
    sources = [[task.source_vocabulary.ids.get(t, UNK) for t in s] for s, _ in rows]
    targets = [[task.target_vocabulary.ids.get(t, UNK) for t in g] + [EOS] for _, g in rows]
    S, T = max(map(len, sources)), max(map(len, targets))
    inputs = torch.tensor([s + [PAD] * (S - len(s)) for s in sources])
    padded = torch.tensor([g + [PAD] * (T - len(g)) for g in targets])
    mask = torch.tensor([[j < len(g) for j in range(T)] for g in targets])
    return Batch(inputs, padded, torch.tensor([len(s) for s in sources]), mask)


def assert_same_batch(actual: Batch, expected: Batch) -> None:
    for name in ("inputs", "targets", "lengths", "mask"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype and torch.equal(a, e), name


def test_eval_batches_follow_the_convention_in_split_order(task):
    batches = list(task.eval_batches("valid"))
    assert [len(b.inputs) for b in batches] == [4, 4, 2]
    rows = task.pairs["valid"]
    for index, batch in enumerate(batches):
        assert_same_batch(batch, expected_batch(task, rows[4 * index:4 * index + 4]))
        assert batch.inputs.dtype == torch.int64 and batch.mask.dtype == torch.bool
        for row in range(len(batch.inputs)):  # decoding gives the pair back
            source, target = rows[4 * index + row]
            assert task.source_vocabulary.decode(batch.inputs[row, :batch.lengths[row]]) == source
            assert task.target_vocabulary.decode(batch.targets[row]) == target


def test_train_batches_are_pure_in_seed_and_step(task):
    again = PairsTask(task.pairs, batch_size=5, seed=11)
    assert_same_batch(task.train_batch(7), again.train_batch(7))
    assert_same_batch(task.train_batch(7), task.train_batch(7))
    assert not torch.equal(task.train_batch(7).inputs, task.train_batch(8).inputs)
    drawn = torch.randint(40, (5,), generator=step_generator(11, 7))
    assert_same_batch(task.train_batch(7), expected_batch(task, [task.pairs["train"][i] for i in drawn.tolist()]))


def test_bucketing_cuts_padding_and_keeps_every_pair_equally_likely():
    pairs = reversal_pairs(20, seed=1)
    splits = {"train": pairs, "valid": pairs[:2], "test": pairs[:2]}
    plain = PairsTask(splits, batch_size=5, seed=0)
    bucketed = PairsTask(splits, batch_size=5, bucket=4, seed=0)

    def padding(task: PairsTask, steps: range) -> int:
        return sum(int((task.train_batch(s).inputs == PAD).sum()) for s in steps)

    assert padding(bucketed, range(100)) < 0.5 * padding(plain, range(100))
    counts: Counter[str] = Counter()
    steps = 1000
    for step in range(steps):
        batch = bucketed.train_batch(step)
        for row in range(5):
            counts[str(bucketed.source_vocabulary.decode(batch.inputs[row, :batch.lengths[row]]))] += 1
    per_source = Counter(str(s) for s, _ in pairs)  # a duplicated source is drawn as often as its copies
    for source, n in per_source.items():
        expected = steps * 5 * n / len(pairs)
        assert abs(counts[source] - expected) < 5 * math.sqrt(expected), (source, counts[source], expected)


def test_loss_is_the_masked_sum_of_per_token_negative_log_likelihoods(task):
    batch = next(task.eval_batches("test"))
    logits = torch.randn(*batch.targets.shape, task.target_vocab_size, dtype=torch.float64)
    total, count = task.loss(logits, batch)
    expected, n = 0.0, 0
    for b in range(batch.targets.shape[0]):
        for t in range(batch.targets.shape[1]):
            if batch.mask[b, t]:
                expected -= float(torch.log_softmax(logits[b, t], -1)[batch.targets[b, t]])
                n += 1
    assert count == n == int(batch.mask.sum())
    assert float(total) == pytest.approx(expected, abs=1e-10)
    metrics = task.metrics(float(total), count)
    assert metrics["bits_per_token"] == pytest.approx(expected / n / math.log(2))
    assert metrics["perplexity"] == pytest.approx(math.exp(expected / n))
    with pytest.raises(ValueError) as error:
        task.loss(logits[:, :-1], batch)
    one_line(error, "outputs: expected logits of shape")


def test_baselines_are_the_unigram_entropy_of_the_training_targets():
    pairs = [(["a"], ["x", "x"]), (["b"], ["y"]), (["c"], ["x"])]
    task = PairsTask({"train": pairs, "valid": pairs, "test": [(["d"], ["y", "y", "y"])]})
    # train targets with <eos>: x x <eos> y <eos> x <eos> -> x 3/7, y 1/7, <eos> 3/7
    p = [3 / 7, 1 / 7, 3 / 7]
    assert task.baselines()["unigram_entropy_bits"] == pytest.approx(-sum(q * math.log2(q) for q in p))
    # test: y y y <eos> under add-one smoothing over V = 6 symbols: y (1+1)/13, <eos> (3+1)/13
    expected = -(3 * math.log2(2 / 13) + math.log2(4 / 13)) / 4
    assert task.baselines()["unigram_test_bits_per_token"] == pytest.approx(expected)


def test_unknown_tokens_grouped_references_and_describe(tmp_path):
    path = write(tmp_path, "ab\tBA\nab\tB A\ncd\tDC\nef\tFE\ngh\tHG\nzz\tQQ\n")
    task = PairsTask.from_tsv(path, tokens="char", valid_fraction=0.2, test_fraction=0.2, split_seed=1)
    described = task.describe()
    assert described["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["tokens"] == "char" and sum(described["pairs"].values()) == 6
    assert sum(described["distinct_sources"].values()) == 5
    held_out = [s for split in ("valid", "test") for s, _ in task.pairs[split]]
    unseen = sum(task.source_vocabulary.count_unknown(s) for s in held_out)
    assert described["unknown_tokens"]["valid"]["source"] + described["unknown_tokens"]["test"]["source"] == unseen
    for split in ("train", "valid", "test"):
        for source, targets in task.grouped(split):
            assert targets == [t for s, t in task.pairs[split] if s == source]
    json.dumps(described)  # provenance is plain JSON


@pytest.mark.parametrize("kwargs, error_type, needle", [
    ({"splits": {"train": [], "valid": [], "test": []}}, ValueError, "splits['train']: expected at least one pair"),
    ({"splits": {"train": [(["a"], ["b"])]}}, ValueError, "missing ['valid', 'test']"),
    ({"splits": {"train": [(["a"], [])], "valid": [], "test": []}}, ValueError,
     "splits['train'][0]: expected a non-empty list of target tokens"),
    ({"splits": {"train": [("ab", ["b"])], "valid": [], "test": []}}, ValueError,
     "expected a non-empty list of source tokens"),
    ({"batch_size": 0}, ValueError, "batch_size: expected a positive integer, got 0"),
    ({"bucket": 1.5}, ValueError, "bucket: expected a positive integer, got 1.5"),
])
def test_bad_task_arguments(kwargs, error_type, needle):
    arguments = {"splits": {"train": [(["a"], ["b"])], "valid": [], "test": []}, **kwargs}
    with pytest.raises(error_type) as error:
        PairsTask(arguments.pop("splits"), **arguments)
    one_line(error, needle)
