"""CoNLL-style tagged sequences: the reader and its line-numbered errors, a round trip through the writer, and
the tagging task's batches, loss, scores and floors against hand-built oracles."""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from recnets.tasks.base import step_generator
from recnets.tasks.conll import (TaggingTask, TagVocabulary, TokenVocabulary, format_conll, majority_floors,
                                 read_conll, split_sequences)


def one_line(error: pytest.ExceptionInfo, *needles: str) -> None:
    text = str(error.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


def write(tmp_path, data: bytes | str):
    path = tmp_path / "tags.conll"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_read_sequences_blank_lines_crlf_and_spaces_in_tokens(tmp_path):
    text = "\n\nThe\tDET\r\ncat\tNOUN\r\n\r\n\n  \nNew York\tPROPN\nsleeps\tVERB"  # no final newline
    assert read_conll(write(tmp_path, text)) == [(["The", "cat"], ["DET", "NOUN"]),
                                                 (["New York", "sleeps"], ["PROPN", "VERB"])]


@pytest.mark.parametrize("text, needles", [
    ("a\tX\nb X\n", ["line 2: expected 'token<TAB>tag' with one TAB, got none"]),
    ("a\tX\n\nb\tX\tY\n", ["line 3: expected 'token<TAB>tag' with one TAB, got 2"]),
    ("a\tX\n\tX\n", ["line 2: expected a non-empty token"]),
    ("a\tX\nb\t \n", ["line 2: expected a non-empty tag"]),
    ("", ["expected at least one 'token<TAB>tag' sequence, got none"]),
    ("\n \n\n", ["got none (an empty file)"]),
])
def test_malformed_files_are_one_line_errors_with_the_line(tmp_path, text, needles):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        read_conll(path)
    one_line(error, str(path), *needles)


def test_undecodable_bytes_and_missing_files(tmp_path):
    path = write(tmp_path, b"a\tX\n\nb\t\xc3X\n")
    with pytest.raises(ValueError) as error:
        read_conll(path)
    one_line(error, "line 3: expected UTF-8 text")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_conll(tmp_path / "none.conll")


_TOKEN = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\t\n\r\x85"),
                 min_size=1, max_size=5).filter(str.strip)
_TAG = st.text("ABCXYZ-", min_size=1, max_size=3)


@given(st.lists(st.lists(st.tuples(_TOKEN, _TAG), min_size=1, max_size=4), min_size=1, max_size=4))
def test_format_then_read_gives_the_sequences_back(tmp_path_factory, rows):
    sequences = [([t for t, _ in row], [g for _, g in row]) for row in rows]
    path = tmp_path_factory.mktemp("conll") / "round.conll"
    path.write_text(format_conll(sequences), encoding="utf-8")
    assert read_conll(path) == sequences


def test_split_is_seeded_and_disjoint():
    sequences = [([f"w{i}"], ["T"]) for i in range(50)]
    splits = split_sequences(sequences, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert splits == split_sequences(sequences, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [35, 5, 10]
    assert sorted(sum(splits.values(), [])) == sorted(sequences)
    assert [len(rows) for rows in split_sequences(sequences[:3]).values()] == [1, 1, 1]
    with pytest.raises(ValueError) as error:
        split_sequences(sequences[:2])
    one_line(error, "expected at least 3 sequences")


SEQUENCES = [(["the", "cat", "sat"], ["D", "N", "V"]), (["a", "dog"], ["D", "N"]),
             (["the", "dog", "ran", "far"], ["D", "N", "V", "ADV"]), (["cats", "sat"], ["N", "V"]),
             (["the", "run"], ["D", "N"])]


@pytest.fixture
def task() -> TaggingTask:
    return TaggingTask({"train": SEQUENCES[:3], "valid": SEQUENCES[3:4], "test": SEQUENCES[3:]}, batch_size=4,
                       eval_batch_size=2, seed=3)


def test_vocabularies_and_batches(task):
    assert task.tokens.tokens == ("<pad>", "<unk>", "a", "cat", "dog", "far", "ran", "sat", "the")
    assert task.tags.tokens == ("ADV", "D", "N", "V")
    batch = next(task.eval_batches("test"))
    unk = TokenVocabulary.UNK
    assert torch.equal(batch.inputs, torch.tensor([[unk, 7], [8, unk]]))  # "cats" and "run" are unseen
    assert torch.equal(batch.targets, torch.tensor([[2, 3], [1, 2]]))
    assert torch.equal(batch.lengths, torch.tensor([2, 2]))
    assert task.unknown == {"train": 0, "valid": 1, "test": 2}
    train = task.train_batch(4)
    drawn = torch.randint(3, (4,), generator=step_generator(3, 4)).tolist()
    for row, index in enumerate(drawn):
        tokens, tags = SEQUENCES[index]
        assert train.lengths[row] == len(tokens)
        assert task.tokens.decode(train.inputs[row, :len(tokens)]) == tokens
        assert [task.tags.tokens[int(i)] for i in train.targets[row, :len(tokens)]] == tags
        assert (train.inputs[row, len(tokens):] == TokenVocabulary.PAD).all()


def test_unknown_rate_is_pure_in_the_step_and_never_touches_padding():
    rows = [(["w"] * n, ["T"] * n) for n in range(1, 9)]
    task = TaggingTask({"train": rows, "valid": rows, "test": rows}, batch_size=64, unknown_rate=0.3, seed=1)
    batch = task.train_batch(2)
    assert torch.equal(batch.inputs, task.train_batch(2).inputs)
    real = torch.arange(batch.inputs.shape[1]) < batch.lengths.unsqueeze(1)
    unknown = (batch.inputs == TokenVocabulary.UNK)
    assert not (unknown & ~real).any() and (batch.inputs[~real] == 0).all()
    assert 0.2 < float(unknown[real].double().mean()) < 0.4


def test_loss_and_scores_against_a_loop(task):
    batch = next(task.eval_batches("train"))
    logits = torch.randn(*batch.inputs.shape, task.num_tags, dtype=torch.float64)
    total, count = task.loss(logits, batch)
    expected, right, n, whole = 0.0, 0, 0, 0
    for b in range(len(batch.inputs)):
        all_right = True
        for t in range(int(batch.lengths[b])):
            expected -= float(torch.log_softmax(logits[b, t], -1)[batch.targets[b, t]])
            hit = int(logits[b, t].argmax()) == int(batch.targets[b, t])
            right, n, all_right = right + hit, n + 1, all_right and hit
        whole += all_right
    assert count == n and float(total) == pytest.approx(expected, abs=1e-10)
    assert task.scores(logits, batch) == (right, n, whole)
    perfect = torch.nn.functional.one_hot(batch.targets, task.num_tags).double() * 10
    assert task.scores(perfect, batch) == (n, n, len(batch.inputs))


def test_floors_by_hand(task):
    # train tags: D D D N N N V V ADV -> majority "D" (tie with N broken by name); per token: the->D, cat->N,
    # sat->V, a->D, dog->N, ran->V, far->ADV. Test: cats/N sat/V the/D run/N -> majority right 1 of 4;
    # per-token: cats unseen -> D (wrong), sat V (right), the D (right), run unseen -> D (wrong): 2 of 4
    floors = task.baselines("test")
    assert floors == {"majority_tag": "D", "majority_accuracy": 0.25, "token_majority_accuracy": 0.5}
    assert majority_floors(SEQUENCES[:3], SEQUENCES[3:]) == floors


def test_tag_vocabulary_json_and_errors(task):
    again = TagVocabulary.from_json(json.loads(json.dumps(task.tags.to_json())))
    assert again == task.tags
    with pytest.raises(ValueError) as error:
        TokenVocabulary.from_json(task.tags.to_json())
    one_line(error, "expected a 'tagger-tokens' vocabulary")
    with pytest.raises(ValueError) as error:
        TaggingTask({"train": SEQUENCES, "valid": [], "test": [(["x"], ["NEW"])]}, tags=task.tags)
    one_line(error, "tag: expected one of the run's tags", "'NEW'")
    with pytest.raises(ValueError) as error:
        TaggingTask({"train": [(["a", "b"], ["X"])], "valid": [], "test": []})
    one_line(error, "splits['train'][0]: expected a (tokens, tags) pair of equal non-zero lengths")
    with pytest.raises(ValueError) as error:
        TaggingTask({"train": SEQUENCES, "valid": [], "test": []}, unknown_rate=1.0)
    one_line(error, "unknown_rate: expected a probability in [0, 1), got 1.0")
