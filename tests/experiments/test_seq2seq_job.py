"""The ``seq2seq`` job on the user's own TSV file, in-process: string reversal is learned by the attention
encoder-decoder, a resumed run continues exactly, new sources are decoded from a file and from stdin with
unknown tokens counted, and every bad input ends in a one-line error before anything is written."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from conftest import one_line_error
from recnets import cli
from recnets.config import apply_overrides
from recnets.experiments.seq2seq_job import (Seq2SeqRunConfig, eval_report, evaluate_seq2seq, is_seq2seq_run,
                                             train_seq2seq, translate_lines)
from recnets.machine import one_torch_thread
from recnets.tasks.sequence_errors import edit_distance

QUIET = {"train.progress": False, "train.device": "cpu"}
TINY = {"model.embedding": 16, "model.hidden": 32, "data.batch_size": 32, "data.bucket": 2}
NO_ECHO = {"echo": lambda line: None}


def words(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("abcde") for _ in range(rng.randint(2, 5))) for _ in range(count)]


@pytest.fixture(scope="module")
def reversal_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "reverse.tsv"
    path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in dict.fromkeys(words(600, 0))), encoding="utf-8")
    return path


def config(path: Path, **overrides) -> Seq2SeqRunConfig:
    return apply_overrides(Seq2SeqRunConfig(), {"data.data": str(path), **TINY, **QUIET, **overrides})


@pytest.fixture(scope="module")
def trained(reversal_file, tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("runs") / "run"
    with one_torch_thread():  # a module fixture runs before conftest's per-test one-thread fixture
        summary = train_seq2seq(config(reversal_file, **{"train.steps": 120, "train.lr": 0.02, "train.eval_every": 0,
                                                         "train.checkpoint_every": 0}), run, **NO_ECHO)
    return run, summary


def test_learns_string_reversal(trained, reversal_file):
    run, summary = trained
    for name in ("config.json", "vocab.json", "metrics.jsonl", "summary.json", "plots/loss.png",
                 "plots/attention.png", "checkpoints/latest"):
        assert (run / name).exists(), name
    test = summary["test"]
    assert test["exact_match"] >= 0.8 and test["token_error_rate"] <= 0.1, test
    assert test["exact_match"] == pytest.approx(1 - test["word_error_rate"])
    assert test["nats_per_token"] < summary["floors"]["unigram_test_bits_per_token"] * 0.69315 / 3
    assert json.loads((run / "summary.json").read_text())["test"] == test
    vocab = json.loads((run / "vocab.json").read_text())
    assert vocab["source"]["tokens"] == list("abcde") and vocab["target"]["tokens"] == list("abcde")
    assert is_seq2seq_run(run) and not is_seq2seq_run(run.parent)

    result = evaluate_seq2seq(run)
    assert result["exact_match"] == test["exact_match"] and result["step"] == 120
    beam = evaluate_seq2seq(run, beam_width=3)
    assert beam["beam_width"] == 3 and beam["sources"] == test["sources"]
    report = eval_report(beam)
    assert "beam 3" in report and "token error rate" in report


def test_translate_scores_new_sources_and_counts_unknown_tokens(trained):
    run, _ = trained
    sources = words(40, 7)
    translated = translate_lines(run, sources + ["", "abzx"])
    right = sum(out == w[::-1] for out, w in zip(translated.outputs, sources))
    assert right >= 0.8 * len(sources), list(zip(sources, translated.outputs))
    edits = sum(edit_distance(out, w[::-1]) for out, w in zip(translated.outputs, sources))
    assert edits <= 0.1 * sum(map(len, sources))
    assert translated.outputs[40] == ""  # a blank line keeps the alignment
    assert translated.unknown == 2 and translated.tokens == sum(map(len, sources)) + 4
    beamed = translate_lines(run, sources, beam_width=4, length_penalty=0.5)
    assert sum(out == w[::-1] for out, w in zip(beamed.outputs, sources)) >= 0.8 * len(sources)
    capped = translate_lines(run, ["abcde"], max_length=2)
    assert len(capped.outputs[0]) <= 2


@pytest.mark.parametrize("options, needle", [
    ({"beam_width": 0}, r"^beam_width: expected an integer >= 1 \(--beam\), got 0$"),
    ({"max_length": 0}, r"^max_length: expected an integer >= 1 \(--max-length\) or None, got 0$"),
    ({"length_penalty": -1.0}, r"^length_penalty: expected a finite number >= 0"),
])
def test_translate_rejects_bad_decoding_arguments(trained, options, needle):
    with pytest.raises(ValueError, match=needle):
        translate_lines(trained[0], ["ab"], **options)


def test_space_tokens_are_joined_by_spaces(tmp_path):
    path = tmp_path / "words.tsv"
    names = ["one", "two", "three", "four", "five"]
    rng = random.Random(1)
    lines = {" ".join(rng.choice(names) for _ in range(rng.randint(1, 3))) for _ in range(200)}
    path.write_text("".join(f"{s}\t{' '.join(reversed(s.split()))}\n" for s in sorted(lines)), encoding="utf-8")
    run = tmp_path / "run"
    summary = train_seq2seq(config(path, **{"data.tokens": "space", "train.steps": 3, "train.eval_every": 0,
                                            "model.attention": "none", "model.input_feeding": False,
                                            "train.checkpoint_every": 0}), run, **NO_ECHO)
    assert summary["plots"]["attention"] is None and not (run / "plots" / "attention.png").exists()
    assert json.loads((run / "vocab.json").read_text())["source"]["tokens"] == sorted(names)
    out = translate_lines(run, ["one two", "one seven"])
    assert out.unknown == 1 and all(token in names + ["<unk>"] for line in out.outputs for token in line.split())


def test_resume_continues_exactly(reversal_file, tmp_path):
    tiny = {"train.eval_every": 5, "train.checkpoint_every": 5, "model.hidden": 8, "model.embedding": 4,
            "train.schedule": "constant"}  # a cosine schedule depends on train.steps, which the resume raises
    run, straight = tmp_path / "run", tmp_path / "straight"
    train_seq2seq(config(reversal_file, **tiny, **{"train.steps": 5}), run, **NO_ECHO)
    resumed = train_seq2seq(config(reversal_file, **tiny, **{"train.steps": 10}), run, resume=True, **NO_ECHO)
    direct = train_seq2seq(config(reversal_file, **tiny, **{"train.steps": 10}), straight, **NO_ECHO)
    assert resumed["train"]["step"] == direct["train"]["step"] == 10
    assert resumed["test"] == direct["test"]
    assert resumed["train"]["best"] == direct["train"]["best"]

    with pytest.raises(ValueError, match=r"^model: expected the run's own model config"):
        train_seq2seq(config(reversal_file, **{**tiny, "model.hidden": 7, "train.steps": 12}), run, resume=True,
                      **NO_ECHO)
    with pytest.raises(ValueError, match=r"^--run: expected a folder without checkpoints for a fresh run"):
        train_seq2seq(config(reversal_file, **tiny), run, **NO_ECHO)
    other = tmp_path / "other.tsv"
    other.write_text("ab\tba\nabc\tcba\nbc\tcb\nca\tac\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^data: expected the data the run .* was trained on"):
        train_seq2seq(config(other, **{**tiny, "train.steps": 12}), run, resume=True, **NO_ECHO)
    with pytest.raises(ValueError, match=r"^data: expected the data the run .* was trained on"):
        train_seq2seq(config(reversal_file, **{**tiny, "train.steps": 12, "data.split_seed": 3}), run, resume=True,
                      **NO_ECHO)


@pytest.mark.parametrize("text, needles", [
    ("ab\tba\nabc cba\n", ["line 2: expected 'source<TAB>target' with one TAB, got none"]),
    ("ab\tba\na\tb\tc\n", ["line 2: expected 'source<TAB>target' with one TAB, got 2"]),
    ("ab\tba\n\tcba\n", ["line 2: expected a non-empty source"]),
    ("ab\tba\n\nabc\t\n", ["line 3: expected a non-empty target"]),
    ("\n\n", ["expected at least one 'source<TAB>target' line"]),
    ("ab\tba\nab\tab\n", ["expected at least 3 distinct sources", "got 1"]),
])
def test_bad_files_fail_before_anything_is_written(text, needles, tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    with pytest.raises(ValueError) as error:
        train_seq2seq(config(path), run, **NO_ECHO)
    message = str(error.value)
    assert "\n" not in message and all(needle in message for needle in needles), message
    assert not run.exists()


def test_config_errors(reversal_file, tmp_path):
    with pytest.raises(ValueError, match="^--data: expected a file of 'source<TAB>target' lines"):
        train_seq2seq(Seq2SeqRunConfig(), "unused", **NO_ECHO)
    with pytest.raises(ValueError, match="^data.tokens: expected one of char, space, got 'bytes'"):
        apply_overrides(Seq2SeqRunConfig(), {"data.tokens": "bytes"})
    with pytest.raises(ValueError, match="^model.attention: expected none or one of"):
        apply_overrides(Seq2SeqRunConfig(), {"model.attention": "cosine"})
    with pytest.raises(ValueError, match="^feeding.mode: expected one of"):
        apply_overrides(Seq2SeqRunConfig(), {"model.feeding.mode": "sometimes"})
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="^model.input_feeding: expected False unless attention is"):
        train_seq2seq(config(reversal_file, **{"model.attention": "bahdanau"}), run, **NO_ECHO)
    assert not run.exists()
    with pytest.raises(ValueError, match="^run: expected a run folder with config.json"):
        evaluate_seq2seq(tmp_path / "nothing")


def test_scheduled_sampling_trains_through_the_job(reversal_file, tmp_path):
    run = tmp_path / "run"
    summary = train_seq2seq(config(reversal_file, **{"model.feeding.mode": "linear", "model.feeding.c": 0.1,
                                                     "model.feeding.epsilon": 0.5, "train.steps": 4,
                                                     "train.eval_every": 0, "train.checkpoint_every": 0}),
                            run, **NO_ECHO)
    assert json.loads((run / "config.json").read_text())["config"]["model"]["feeding"]["mode"] == "linear"
    assert summary["train"]["step"] == 4


def test_corrupt_checkpoint_and_changed_data(reversal_file, tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text(reversal_file.read_text(encoding="utf-8"), encoding="utf-8")
    run = tmp_path / "run"
    train_seq2seq(config(data, **{"train.steps": 2, "train.eval_every": 0, "train.checkpoint_every": 0}), run,
                  **NO_ECHO)
    with data.open("a", encoding="utf-8") as handle:
        handle.write("eeeee\teeeee\n")
    with pytest.raises(ValueError, match="^data: expected the file the run .* was trained on"):
        evaluate_seq2seq(run)
    every = evaluate_seq2seq(run, data=str(reversal_file))  # another file is scored whole, as it is now
    assert every["pairs"] == every["sources"] == len(reversal_file.read_text(encoding="utf-8").splitlines())
    weights = next((run / "checkpoints").glob("step-*/model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(ValueError) as error:
        translate_lines(run, ["ab"])
    assert "\n" not in str(error.value)


def test_command_line_train_eval_and_translate(reversal_file, trained, tmp_path, capsys, monkeypatch):
    run, _ = trained
    small = tmp_path / "small"
    tiny = ["--no-progress", "--model.hidden", "6", "--model.embedding", "4", "--train.steps", "2",
            "--train.device", "cpu", "--train.eval_every", "0"]
    assert cli.main(["train", "seq2seq", "--data", str(reversal_file), "--run", str(small), *tiny]) == 0
    assert "recnets translate" in capsys.readouterr().out
    assert cli.main(["eval", str(run), "--beam", "2"]) == 0
    assert "exact match" in capsys.readouterr().out
    lines = tmp_path / "lines.txt"
    lines.write_text("abc\n\nbdxq\n", encoding="utf-8")
    assert cli.main(["translate", str(run), str(lines)]) == 0
    captured = capsys.readouterr()
    assert captured.out.split("\n")[:2] == ["cba", ""] and len(captured.out.split("\n")) == 4
    assert "2 of 7 source tokens were outside the run's vocabulary" in captured.err
    monkeypatch.setattr("sys.stdin", io.StringIO("abcd\nee\n"))
    assert cli.main(["translate", str(run), "-", "--beam", "3"]) == 0
    assert capsys.readouterr().out == "dcba\nee\n"

    assert cli.main(["translate", str(run), str(lines), "--beam", "0"]) == 2
    one_line_error(capsys, "beam_width: expected an integer >= 1 (--beam), got 0")
    assert cli.main(["translate", str(run), str(lines), "--max-length", "0"]) == 2
    one_line_error(capsys, "max_length: expected an integer >= 1")
    assert cli.main(["translate", str(tmp_path), str(lines)]) == 2
    one_line_error(capsys, "run: expected a seq2seq run folder")
    assert cli.main(["translate", str(run), str(tmp_path / "none.txt")]) == 2
    one_line_error(capsys, "no such file")
    bad = tmp_path / "bad.tsv"
    bad.write_text("ab\tba\nabc\n", encoding="utf-8")
    assert cli.main(["train", "seq2seq", "--data", str(bad), "--run", str(tmp_path / "x"), *tiny]) == 2
    one_line_error(capsys, "line 2: expected 'source<TAB>target' with one TAB")
    assert not (tmp_path / "x").exists()
    assert cli.main(["eval", str(small.parent / "nothing"), "--beam", "2"]) == 2
    one_line_error(capsys, "--beam: expected it only for a seq2seq run")
