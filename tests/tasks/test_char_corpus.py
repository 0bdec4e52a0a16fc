"""The character corpus: splits, vocabulary, streaming batches, held-out coverage, floors and provenance."""
from __future__ import annotations

import hashlib
import json
import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from recnets.tasks import char_corpus
from recnets.tasks.base import Batch, sequence_nll
from recnets.tasks.char_corpus import (SKIPPED_DIRECTORIES, CharLMConfig, CharLMTask, Documents, Vocabulary,
                                       stdlib_documents, text_file_documents)
from recnets.tasks.floors import compressor_bpc, ngram_bpc, unigram_bpc

GOOD = [f"mod{i:02d}.py" for i in range(30)] + ["pkg/inner.py", "pkg/sub/deep.py", "lib2to3/fixer.py"]
SKIPPED = ["test/test_x.py", "pkg/tests/t.py", "idlelib/run.py", "site-packages/third.py",
           "dist-packages/other.py", "__pycache__/cached.py", "lib2to3/tests/data/bom.py"]


@pytest.fixture
def fake_stdlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small standard-library tree: readable modules, skipped directories, one non-UTF-8 file, non-.py files."""
    for index, name in enumerate(GOOD + SKIPPED):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\ndef f{index}(x):\n    return x * {index}  # é\n", encoding="utf-8")
    (tmp_path / "latin1.py").write_bytes(b"# caf\xe9\n")
    (tmp_path / "notes.txt").write_text("not python\n", encoding="utf-8")
    monkeypatch.setattr(char_corpus, "_stdlib_root", lambda: tmp_path)
    return tmp_path


def test_stdlib_split_deterministic_disjoint_and_skips(fake_stdlib: Path) -> None:
    documents = stdlib_documents(seed=3)
    again = stdlib_documents(seed=3)
    assert documents == again
    names = {split: set(documents.names[split]) for split in ("train", "valid", "test")}
    assert not names["train"] & names["valid"] and not names["train"] & names["test"]
    assert not names["valid"] & names["test"]
    assert names["train"] | names["valid"] | names["test"] == set(GOOD)
    assert documents.undecodable == 1
    assert (len(names["train"]), len(names["valid"]), len(names["test"])) == (29, 2, 2)  # 33 files: 5% of 33 rounds to 2
    for split in ("train", "valid", "test"):
        assert list(documents.names[split]) == sorted(documents.names[split])
        for name, text in zip(documents.names[split], documents.split(split)):
            assert text == (fake_stdlib / name).read_text(encoding="utf-8")
    other_seeds = {stdlib_documents(seed=s).names["valid"] for s in range(6)}
    assert len(other_seeds) > 1  # the seed chooses the split


def test_stdlib_fractions(fake_stdlib: Path) -> None:
    documents = stdlib_documents(seed=0, fractions=(0.6, 0.2, 0.2))
    assert [len(documents.split(s)) for s in ("train", "valid", "test")] == [19, 7, 7]
    with pytest.raises(ValueError, match="fractions"):
        stdlib_documents(fractions=(0.5, 0.5, 0.5))


def test_real_stdlib_file_listing() -> None:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = char_corpus._stdlib_files(root)
    assert len(files) > 300
    assert root / "os.py" in files
    for path in files:
        assert path.suffix == ".py"
        assert not SKIPPED_DIRECTORIES & set(path.relative_to(root).parts[:-1])


def test_text_file_split_by_position(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1000)) + "ü"
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    documents = text_file_documents(path)
    assert [len(documents.split(s)[0]) for s in ("train", "valid", "test")] == [901, 50, 50]
    assert "".join(documents.split(s)[0] for s in ("train", "valid", "test")) == text
    assert documents.names["valid"] == ("corpus.txt[901:951]",)


def test_text_directory_split_by_file(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"doc{i}.txt").write_text(f"document {i}\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("skip me", encoding="utf-8")
    documents = text_file_documents(tmp_path, seed=1)
    everything = sorted(documents.train + documents.valid + documents.test)
    assert everything == sorted(f"document {i}\n" for i in range(10))
    assert [len(documents.split(s)) for s in ("train", "valid", "test")] == [8, 1, 1]


def test_text_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data: .*does not exist"):
        text_file_documents(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="data: .*empty"):
        text_file_documents(tmp_path / "empty.txt")
    (tmp_path / "nul.bin").write_bytes(b"abc\x00def")
    with pytest.raises(ValueError, match="data: .*NUL"):
        text_file_documents(tmp_path / "nul.bin")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 " * 10)
    with pytest.raises(ValueError, match="data: .*not valid UTF-8"):
        text_file_documents(tmp_path / "latin1.txt")
    (tmp_path / "short.txt").write_text("ab", encoding="utf-8")
    with pytest.raises(ValueError, match="data: too short"):
        text_file_documents(tmp_path / "short.txt")
    with pytest.raises(ValueError) as info:
        text_file_documents(tmp_path / "short.txt")
    assert "\n" not in str(info.value)  # one line, for the CLI


def test_vocabulary_order_round_trip_and_errors() -> None:
    vocabulary = Vocabulary.from_texts(["banana", "cab\n", "ñ"], min_count=1)
    assert vocabulary.characters == ("\n", "a", "b", "c", "n", "ñ")
    assert len(vocabulary) == 8
    assert vocabulary.encode("cab").tolist() == [5, 3, 4]
    assert vocabulary.encode("cz").tolist() == [5, Vocabulary.UNK]
    assert vocabulary.decode(vocabulary.encode("banana\nñ")) == "banana\nñ"
    assert vocabulary.decode([Vocabulary.EOS, 3, Vocabulary.UNK], eos="|", unk="?") == "|a?"
    rare = Vocabulary.from_texts(["banana", "cab"], min_count=2)
    assert rare.characters == ("a", "b", "n")
    restored = Vocabulary.from_json(json.loads(json.dumps(vocabulary.to_json())))
    assert restored == vocabulary and Vocabulary.from_json(json.dumps(vocabulary.to_json())) == vocabulary
    shuffled = Vocabulary(["b", "a"])
    assert shuffled.encode("ab").tolist() == [3, 2]  # ids follow the given order
    assert vocabulary.encode_prompt("ban") == [4, 3, 6]
    with pytest.raises(ValueError, match=r"prompt: character 'z' \(U\+007A\)"):
        vocabulary.encode_prompt("baz")
    with pytest.raises(ValueError, match="ids"):
        vocabulary.decode([8])
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_texts(["a"], min_count=0)
    with pytest.raises(ValueError, match="vocabulary"):
        Vocabulary.from_json({"format": "pickle"})


def make_documents() -> Documents:
    train = tuple(f"def f{i}(x):\n    return x + {i}\n" for i in range(7))
    valid = tuple(f"class C{i}:\n    pass\n" for i in range(5))
    test = ("import os\n", "x = [1, 2, 3]  # list\n", "print('ok')\n")
    names = {s: tuple(f"{s}{i}.py" for i in range(len(d))) for s, d in (("train", train), ("valid", valid),
                                                                            ("test", test))}
    return Documents("memory", train, valid, test, names)


def make_task(**overrides) -> CharLMTask:
    config = CharLMConfig(**{"seq_len": 7, "batch_size": 3, "eval_batch_size": 4, "eval_chars": 1000,
                             "seed": 5, **overrides})
    return CharLMTask(config, documents=make_documents())


def test_train_batches_are_pure_and_continue_the_streams() -> None:
    task, other = make_task(), make_task()
    stream = task.corpus.streams["train"]
    length, steps = stream.size, 7
    late = other.train_batch(31)  # drawn first, in a fresh task: nothing before it matters
    batches = [task.train_batch(s) for s in range(40)]
    assert torch.equal(late.inputs, batches[31].inputs) and torch.equal(late.targets, batches[31].targets)
    assert batches[0].inputs.dtype == torch.int64 and batches[0].inputs.shape == (3, steps)
    inputs = torch.cat([b.inputs for b in batches], 1)  # (B, 40 T): each row one continuous reading
    targets = torch.cat([b.targets for b in batches], 1)
    offsets = task._offsets
    assert sorted(((offsets - offsets[0]) % length).tolist()) == [0, length // 3, 2 * length // 3]
    for row in range(3):
        positions = (offsets[row] + np.arange(40 * steps + 1)) % length  # wraps around the stream
        assert inputs[row].tolist() == stream[positions[:-1]].tolist()
        assert targets[row].tolist() == stream[positions[1:]].tolist()
    assert 40 * steps > length  # the test did cross the end of the stream
    assert not torch.equal(make_task(seed=6).train_batch(0).inputs, batches[0].inputs)


def test_stream_layout() -> None:
    task = make_task()
    vocabulary, documents = task.vocabulary, task.corpus.documents
    expected = []
    for text in documents.train:
        expected += vocabulary.encode(text).tolist() + [Vocabulary.EOS]
    assert task.corpus.streams["train"].tolist() == expected
    assert task.vocab_size == len(set("".join(documents.train))) + 2


@pytest.mark.parametrize("eval_chars", [1000, 50, 3])
def test_eval_batches_cover_the_capped_heldout_once(eval_chars: int) -> None:
    task = make_task(eval_chars=eval_chars)
    stream = task.corpus.streams["valid"]
    rows = min(4, eval_chars)
    count = min(eval_chars, stream.size) // rows * rows
    assert task.heldout_ids("valid").tolist() == stream[:count].tolist()
    per_row: list[list[int]] = [[] for _ in range(rows)]
    inputs_row: list[list[int]] = [[] for _ in range(rows)]
    batches = list(task.eval_batches("valid"))
    for index, batch in enumerate(batches):
        assert batch.inputs.shape == batch.targets.shape == (rows, 7)
        width = 7 if batch.lengths is None else int(batch.lengths[0])
        assert batch.lengths is None or index == len(batches) - 1
        for row in range(rows):
            per_row[row] += batch.targets[row, :width].tolist()
            inputs_row[row] += batch.inputs[row, :width].tolist()
    scored = [i for row in per_row for i in row]
    assert scored == stream[:count].tolist()  # every capped character exactly once, in order
    fed = [i for row in inputs_row for i in row]
    assert fed == [Vocabulary.EOS] + stream[:count - 1].tolist()  # each target's previous character
    assert sum(int(b.lengths.sum()) if b.lengths is not None else b.targets.numel() for b in batches) == count


def test_loss_and_metrics() -> None:
    task = make_task()
    batch = next(task.eval_batches("test"))
    uniform = torch.zeros(*batch.targets.shape, task.vocab_size)
    total, count = task.loss(uniform, batch)
    assert count == batch.targets.numel()
    assert abs(float(total) / count - math.log(task.vocab_size)) < 1e-6
    metrics = task.metrics(float(total), count)
    assert abs(metrics["bpc"] - math.log2(task.vocab_size)) < 1e-6
    assert metrics["loss"] == pytest.approx(metrics["bpc"] * math.log(2), rel=1e-12)
    logits = torch.randn(2, 5, task.vocab_size, dtype=torch.float64)
    targets = torch.randint(task.vocab_size, (2, 5))
    lengths = torch.tensor([5, 2])
    assert task.loss(logits, Batch(targets, targets, lengths)) == sequence_nll(logits, targets, lengths)


def test_baselines_match_the_floors_on_the_same_text() -> None:
    task = make_task(eval_chars=40)
    floors = task.baselines("valid")
    train, heldout = task.corpus.streams["train"], task.heldout_ids("valid")
    text = task.heldout_text("valid")
    assert len(text) == heldout.size == 40
    assert text.replace("\x00", "") == "".join(task.corpus.documents.valid)[:40 - text.count("\x00")]
    assert floors["unigram"] == unigram_bpc(train, heldout, task.vocab_size)
    assert floors["witten_bell_5gram"] == ngram_bpc(train, heldout, task.vocab_size, order=5)
    for method in ("gzip", "bzip2", "xz"):
        assert floors[method] == compressor_bpc(text, method)
    assert task.baselines("valid") == floors and task.baselines("valid") is not task.baselines("valid")
    assert set(task.baselines()) == set(floors)  # default split: test


def test_describe() -> None:
    task = make_task()
    described = task.describe()
    documents = make_documents()
    assert described["files"] == {"train": 7, "valid": 5, "test": 3}
    assert described["chars"]["test"] == sum(len(d) for d in documents.test)
    joined = "".join(d + "\x00" for d in documents.test).encode("utf-8")
    assert described["sha256"]["test"] == hashlib.sha256(joined).hexdigest()
    assert described["vocab_size"] == task.vocab_size
    json.dumps(described)


def test_config_and_argument_errors() -> None:
    with pytest.raises(ValueError, match="seq_len"):
        CharLMConfig(seq_len=0)
    with pytest.raises(ValueError, match="split"):
        list(make_task().eval_batches("train"))
    with pytest.raises(ValueError, match="step"):
        make_task().train_batch(-1)


def test_task_reads_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello world, " * 30, encoding="utf-8")
    task = CharLMTask(CharLMConfig(data=str(path), seq_len=5, batch_size=2, eval_batch_size=2))
    assert task.describe()["source"] == str(path)
    assert task.train_batch(0).inputs.shape == (2, 5)


def test_window_sampling_draws_fresh_random_windows_per_step():
    task = make_task(seq_len=8, batch_size=4, sampling="windows")
    assert task.streaming is False
    first, again, second = task.train_batch(3), task.train_batch(3), task.train_batch(4)
    assert torch.equal(first.inputs, again.inputs) and not torch.equal(first.inputs, second.inputs)
    stream = task.corpus.streams["train"]
    for row_inputs, row_targets in zip(first.inputs.numpy(), first.targets.numpy()):
        assert (row_inputs[1:] == row_targets[:-1]).all()
        starts = [i for i in range(stream.size) if (stream[(i + np.arange(8)) % stream.size] == row_inputs).all()]
        assert starts, "every window is a slice of the training stream"
    with pytest.raises(ValueError, match="sampling: expected one of streams, windows"):
        CharLMConfig(sampling="random")
