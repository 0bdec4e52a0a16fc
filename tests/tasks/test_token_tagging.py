"""Token tagging: character labels against hand-labelled sources and tokenize's own spans; file selection
and splits; windows; the scores against a brute-force count."""
from __future__ import annotations

import io
from pathlib import Path
import tokenize

import numpy as np
import pytest
import torch
from torch import nn

from recnets.tasks.token_tagging import (LABELS, TokenTaggingConfig, TokenTaggingTask, UntokenizableError,
                                         character_labels, load_token_tagging, tagging_scores)

# one letter per label, for hand-labelled expectations
LETTER = dict(zip(LABELS, "_NLA9SOC"))  # WHITESPACE NEWLINE NL NAME NUMBER STRING OP COMMENT


def letters(source: str) -> str:
    return "".join(LETTER[LABELS[i]] for i in character_labels(source))


@pytest.mark.parametrize("source, expected", [
    ("x = 1e5  # c\n",
     "A_O_999__CCCN"),
    ("if (a,\n    b):\n    pass\n",
     "AA_OAOL____AOON____AAAAN"),
    ('s = r"q" + rb\'\\n\'\nr = .5\n',
     "A_O_SSSS_O_SSSSSSN" "A_O_99N"),
    ("t = x.y\n\n# note\n",
     "A_O_AOAN" "L" "CCCCCCL"),
    ('d = """a\n  b"""\n',
     "A_O_" + "S" * 11 + "N"),
    ("y = 1 + \\\n    2\n",
     "A_O_9_O___" "____9N"),
    ("\x0cz = 0", "_A_O_9"),  # form feed; no final line break: the NEWLINE at the end covers nothing
    ('f = f"a{b!r:>{w}}c"\n', "A_O_" + "S" * 15 + "N"),  # a whole f-string, whatever the Python version
])
def test_labels_of_hand_labelled_sources(source, expected):
    assert len(expected) == len(source)
    assert letters(source) == expected


def test_labels_agree_with_tokenize_on_real_source():
    """On this module's own tokenizer source: every token's characters carry its label, and every character
    outside a token is a space, a tab, a form feed, a line continuation or indentation."""
    source = Path(tokenize.__file__).read_text(encoding="utf-8")
    labels = character_labels(source)
    starts = [0] + [i + 1 for i, c in enumerate(source) if c == "\n"]
    covered = np.zeros(len(source), dtype=bool)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        name = tokenize.tok_name[token.type]
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1] if token.end[0] - 1 < len(starts) else len(source)
        if name in LABELS and name != "WHITESPACE":
            assert source[begin:end] == token.string
            assert set(labels[begin:end].tolist()) <= {LABELS.index(name)}, (name, token.start)
            covered[begin:end] = True
    outside = [source[i] for i in np.flatnonzero(~covered)]
    assert set(outside) <= {" ", "\t", "\x0c", "\\", "\n"}
    assert all(labels[i] == 0 for i in np.flatnonzero(~covered))
    for i in np.flatnonzero(~covered):
        if source[i] == "\\":
            assert source[i + 1] == "\n"  # a continuation, not a stray backslash


@pytest.mark.parametrize("source", ["x = '''never closed\n", "a = $b\n", "s = 'open\n"])
def test_untokenizable_sources_raise(source):
    with pytest.raises(UntokenizableError, match="source:"):
        character_labels(source)


def write_files(root, count: int) -> None:
    """``count`` small distinct modules, one that does not tokenize and one that is not UTF-8."""
    for i in range(count):
        (root / f"m{i:02d}.py").write_text(f"def f{i}(x):\n    return x * {i} + 0.5  # n{i}\n" * (i + 1))
    (root / "bad.py").write_text("x = '''open\n")
    (root / "latin.py").write_bytes(b"s = '\xe9'\n")
    (root / "tests").mkdir()
    (root / "tests" / "skipped.py").write_text("y = 1\n")


def test_files_split_disjointly_deterministically_and_skip_bad_ones(tmp_path):
    write_files(tmp_path, 12)
    config = TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), seed=3)
    data = load_token_tagging(config)
    sizes = {split: len(names) for split, names in data.names.items()}
    assert sizes == {"train": 6, "valid": 2, "test": 3}
    every = [name for names in data.names.values() for name in names]
    assert len(set(every)) == len(every)  # disjoint by file
    assert all(name.startswith("m") for name in every)  # the skipped directory and the bad files are out
    assert all(list(names) == sorted(names) for names in data.names.values())
    for split in data.names:
        for name, text, labels in zip(data.names[split], data.texts[split], data.labels[split]):
            assert text == (tmp_path / name).read_text() and np.array_equal(labels, character_labels(text))
    assert {reason.split(":")[0] for name, reason in data.skipped if name in ("bad.py", "latin.py")} <= {
        "source", "not UTF-8"}
    again = load_token_tagging(config)
    assert again.names == data.names and again.sha256 == data.sha256
    other = load_token_tagging(TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), seed=4))
    assert other.names != data.names
    with pytest.raises(ValueError, match="root: expected enough usable"):
        load_token_tagging(TokenTaggingConfig(files=(20, 2, 2), root=str(tmp_path / "tests")))


def test_windows_are_slices_of_their_files(tmp_path):
    write_files(tmp_path, 12)
    task = TokenTaggingTask(TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), window=40, batch_size=8,
                                               eval_batch_size=5))
    data, vocabulary = task.data, task.vocabulary
    train_text = "".join(data.texts["train"])
    train_labels = np.concatenate(data.labels["train"])
    batch = task.train_batch(7)
    assert torch.equal(batch.inputs, task.train_batch(7).inputs)
    for ids, labels, length in zip(batch.inputs, batch.targets, batch.lengths.tolist()):
        text = vocabulary.decode(ids[:length].tolist())
        assert any(text in t for t in data.texts["train"])  # inside one file
        start = train_text.find(text)
        assert np.array_equal(labels[:length].numpy(), train_labels[start:start + length])
        assert int(ids[length:].abs().sum()) == 0
    held_out = "".join(data.texts["test"])
    pieces = [ids[:n] for b in task.eval_batches("test") for ids, n in zip(b.inputs, b.lengths.tolist())]
    assert np.array_equal(torch.cat(pieces).numpy(), vocabulary.encode(held_out))  # each character once, in order
    assert len(pieces) == sum(-(-len(text) // 40) for text in data.texts["test"])  # windows never span two files
    assert sum(task.label_counts("test")) == len(held_out)


class LookupTagger(nn.Module):
    """A fake model: logits from a fixed table of character id -> label."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)

    def forward(self, inputs, *, lengths=None, state=None, targets=None):
        return self.table[inputs], None


def test_scores_against_a_brute_force_count(tmp_path):
    write_files(tmp_path, 12)
    task = TokenTaggingTask(TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), window=17, eval_batch_size=4))
    model = LookupTagger(torch.randn(task.vocab_size, len(LABELS)))
    scores = tagging_scores(model, task, "test")
    text, truth = "".join(task.data.texts["test"]), np.concatenate(task.data.labels["test"])
    guess = model.table.detach().argmax(-1)[torch.from_numpy(task.vocabulary.encode(text))].numpy()
    assert scores["count"] == len(text)
    assert scores["accuracy"] == pytest.approx(float(np.mean(guess == truth)), abs=1e-12)
    f1s = []
    for label in range(len(LABELS)):
        if not (truth == label).any():
            continue
        tp = np.sum((guess == label) & (truth == label))
        precision = tp / max(np.sum(guess == label), 1)
        recall = tp / np.sum(truth == label)
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
        assert scores["f1"][LABELS[label]] == pytest.approx(f1, abs=1e-12)
        f1s.append(f1)
    assert scores["macro_f1"] == pytest.approx(float(np.mean(f1s)), abs=1e-12)
    starts = np.cumsum([0] + [len(t) for t in task.data.texts["test"]])
    position = np.concatenate([np.arange(b - a) % 17 for a, b in zip(starts[:-1], starts[1:])])  # in its window
    for t in (0, 16):
        at = position == t
        assert scores["by_position"][t] == pytest.approx(float(np.mean(guess[at] == truth[at])), abs=1e-12)
        assert scores["count_by_position"][t] == int(at.sum())
    floors = task.baselines("test")
    majority = LABELS.index(floors["majority_label"])
    assert floors["majority_accuracy"] == pytest.approx(float(np.mean(truth == majority)), abs=1e-12)
    assert majority == int(np.bincount(np.concatenate(task.data.labels["train"])).argmax())


@pytest.mark.parametrize("field, value", [("window", 0), ("files", (1, 0, 1)), ("eval_windows", -1)])
def test_bad_configs(field, value):
    with pytest.raises(ValueError, match=f"{field}: expected"):
        TokenTaggingConfig(**{field: value})


def test_held_out_windows_read_context_and_score_only_themselves(tmp_path):
    write_files(tmp_path, 12)
    plain = TokenTaggingTask(TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), window=40, eval_batch_size=5))
    config = TokenTaggingConfig(files=(6, 2, 3), root=str(tmp_path), window=40, eval_batch_size=5, eval_context=7)
    task = TokenTaggingTask(config, data=plain.data)
    encoded = task.vocabulary.encode("".join(task.data.texts["test"]))
    starts = np.cumsum([0] + [len(t) for t in task.data.texts["test"]])
    scored, begin = [], 0
    for batch in task.eval_batches("test"):
        assert batch.inputs.shape[1] == 40 + 2 * 7 and batch.mask.shape == batch.inputs.shape
        for ids, mask, length in zip(batch.inputs, batch.mask, batch.lengths.tolist()):
            window = ids[mask].numpy()
            at = begin  # the window's first character in the split
            file = np.searchsorted(starts, at, side="right") - 1
            first, last = max(starts[file], at - 7), min(starts[file + 1], at + window.size + 7)
            assert np.array_equal(ids[:length].numpy(), encoded[first:last])  # the window and its context
            assert int(mask[length:].sum()) == 0 and int(ids[length:].abs().sum()) == 0
            scored.append(window)
            begin += window.size
    assert np.array_equal(np.concatenate(scored), encoded)  # every character scored exactly once
    model = LookupTagger(torch.randn(task.vocab_size, len(LABELS)))  # reads no context: scores unchanged
    with_context, without = tagging_scores(model, task, "test"), tagging_scores(model, plain, "test")
    assert with_context == without
    with torch.no_grad():
        losses = [[task_.loss(model(b.inputs)[0], b) for b in task_.eval_batches("test")] for task_ in (task, plain)]
    totals = [(float(sum(total for total, _ in pairs)), sum(count for _, count in pairs)) for pairs in losses]
    assert totals[0][0] == pytest.approx(totals[1][0], rel=1e-6) and totals[0][1] == totals[1][1] == len(encoded)
