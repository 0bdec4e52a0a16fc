"""Counting <unk> where it is reported: encoding keeps no state, and each side of a seq2seq task (and each
split of a tagging task) counts its own unknown tokens, checked against a manual count."""
from __future__ import annotations

from recnets.tasks.conll import TaggingTask
from recnets.tasks.pairs import UNK, PairsTask, PairVocabulary


def manual(rows, vocabulary):
    known = set(vocabulary.data_tokens())
    return sum(token not in known for row in rows for token in row)


def test_encode_is_stateless_and_count_unknown_matches_it():
    vocabulary = PairVocabulary(list("abc"))
    first = vocabulary.encode(list("axbyz<unk>"))
    assert first == vocabulary.encode(list("axbyz<unk>"))  # no state carried between calls
    assert vocabulary.count_unknown(list("axbyz<unk>")) == first.count(UNK) == 8


def test_pairs_task_counts_each_side_even_with_one_shared_vocabulary():
    splits = {"train": [(list("ab"), list("ba")), (list("c"), list("cc"))],
              "valid": [(list("ax"), list("yyb"))], "test": [(list("zz"), list("w"))]}
    for shared in (False, True):
        task = PairsTask(splits, shared=shared)
        for split, rows in task.pairs.items():
            assert task.unknown[split] == {"source": manual([s for s, _ in rows], task.source_vocabulary),
                                           "target": manual([t for _, t in rows], task.target_vocabulary)}
    assert PairsTask(splits, shared=True).unknown["valid"] == {"source": 1, "target": 2}


def test_tagging_task_counts_unknown_tokens_per_split():
    splits = {"train": [(["a", "b"], ["X", "Y"])], "valid": [(["a", "q"], ["X", "X"])],
              "test": [(["r", "s", "b"], ["Y", "Y", "X"])]}
    task = TaggingTask(splits)
    assert task.unknown == {"train": 0, "valid": 1, "test": 2}
    assert task.tokens.encode(["q", "a"]) == task.tokens.encode(["q", "a"]) == [task.tokens.UNK, 2]
