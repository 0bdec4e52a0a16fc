"""The ``tagger`` job on the user's own CoNLL file, in-process: a tag that needs the next token is learned by
the bidirectional tagger, a resumed run continues exactly, new lines are tagged with unknown tokens counted,
and bad input ends in one-line errors before anything is written."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from recnets.config import apply_overrides
from recnets.experiments.tagger_job import (TaggerRunConfig, eval_report, evaluate_tagger, is_tagger_run, tag_lines,
                                            train_tagger)

QUIET = {"train.progress": False, "train.device": "cpu"}


def tag_of(token: str, following: str | None) -> str:
    """The tag is a function of the token and the NEXT one: a forward tagger cannot know it when it must."""
    if following is None:
        return "END"
    return "UP" if following > token else "DOWN"


def tagged_line(rng: random.Random) -> list[tuple[str, str]]:
    tokens = [rng.choice("abcdef") for _ in range(rng.randint(3, 8))]
    return [(t, tag_of(t, tokens[i + 1] if i + 1 < len(tokens) else None)) for i, t in enumerate(tokens)]


@pytest.fixture(scope="module")
def conll_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "updown.conll"
    path.write_text("".join("".join(f"{t}\t{g}\n" for t, g in tagged_line(rng)) + "\n" for _ in range(250)),
                    encoding="utf-8")
    return path


def config(path: Path, **overrides) -> TaggerRunConfig:
    values = {"data.data": str(path), "model.embedding": 8, "model.hidden": 16, **QUIET, **overrides}
    return apply_overrides(TaggerRunConfig(), values)


def test_learns_a_tag_that_needs_the_next_token(conll_file, tmp_path):
    run = tmp_path / "run"
    summary = train_tagger(config(conll_file, **{"train.steps": 60, "train.lr": 0.03, "train.eval_every": 0,
                                                 "train.checkpoint_every": 0}), run, echo=lambda line: None)
    for name in ("config.json", "vocab.json", "metrics.jsonl", "summary.json", "plots/loss.png", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert summary["test"]["accuracy"] >= 0.95, summary["test"]
    assert summary["test"]["accuracy"] > summary["floors"]["token_majority_accuracy"] + 0.3
    assert json.loads((run / "summary.json").read_text())["test"] == summary["test"]
    assert json.loads((run / "vocab.json").read_text())["tags"]["tokens"] == ["DOWN", "END", "UP"]
    assert is_tagger_run(run) and not is_tagger_run(tmp_path)

    result = evaluate_tagger(run)
    assert result["accuracy"] == summary["test"]["accuracy"] and result["step"] == 60
    everything = evaluate_tagger(run, data=str(conll_file))
    assert everything["sequences"] == 250 and everything["accuracy"] >= 0.95
    report = eval_report(everything)
    assert "tag accuracy" in report and "on 250 sequences" in report

    rng = random.Random(99)
    lines = [[t for t, _ in tagged_line(rng)] for _ in range(20)]
    tagged = tag_lines(run, [" ".join(tokens) for tokens in lines] + ["", "a zz b"])
    expected = [[tag_of(t, tokens[i + 1] if i + 1 < len(tokens) else None) for i, t in enumerate(tokens)]
                for tokens in lines]
    right = sum(g == e for got, want in zip(tagged.tags, expected) for g, e in zip(got, want))
    assert right >= 0.95 * sum(map(len, expected))
    assert tagged.tags[20] == [] and len(tagged.tags[21]) == 3  # a blank line keeps the alignment
    assert tagged.unknown == 1 and tagged.tokens[21] == ["a", "zz", "b"]


def test_resume_continues_exactly(conll_file, tmp_path):
    tiny = {"train.eval_every": 5, "train.checkpoint_every": 5, "model.hidden": 6, "model.embedding": 4}
    run, straight = tmp_path / "run", tmp_path / "straight"
    quiet = {"echo": lambda line: None}
    train_tagger(config(conll_file, **tiny, **{"train.steps": 5}), run, **quiet)
    resumed = train_tagger(config(conll_file, **tiny, **{"train.steps": 10}), run, resume=True, **quiet)
    direct = train_tagger(config(conll_file, **tiny, **{"train.steps": 10}), straight, **quiet)
    assert resumed["train"]["step"] == direct["train"]["step"] == 10
    assert resumed["test"] == direct["test"]
    assert resumed["train"]["best"] == direct["train"]["best"]

    with pytest.raises(ValueError, match=r"^model: expected the run's own model config"):
        train_tagger(config(conll_file, **{**tiny, "model.hidden": 7, "train.steps": 12}), run, resume=True, **quiet)
    with pytest.raises(ValueError, match=r"^--run: expected a folder without checkpoints for a fresh run"):
        train_tagger(config(conll_file, **tiny), run, **quiet)
    other = tmp_path / "other.conll"
    other.write_text("x\tA\n\ny\tB\n\nz\tA\n\nw\tB\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^data: expected the data the run .* was trained on"):
        train_tagger(config(other, **{**tiny, "train.steps": 12}), run, resume=True, **quiet)


@pytest.mark.parametrize("text, needles", [
    ("a\tX\n\nb X\n", ["line 3: expected 'token<TAB>tag' with one TAB, got none"]),
    ("a\tX\n\n\tX\n", ["line 3: expected a non-empty token"]),
    ("a\tX\nb\t\n", ["line 2: expected a non-empty tag"]),
    ("\n\n", ["expected at least one 'token<TAB>tag' sequence"]),
    ("a\tX\n\nb\tY\n", ["expected at least 3 sequences", "got 2"]),
])
def test_bad_files_fail_before_anything_is_written(text, needles, tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    with pytest.raises(ValueError) as error:
        train_tagger(config(path), run, echo=lambda line: None)
    message = str(error.value)
    assert "\n" not in message and all(needle in message for needle in needles), message
    assert not run.exists()


def test_config_errors():
    with pytest.raises(ValueError, match="^--data: expected a CoNLL file"):
        train_tagger(TaggerRunConfig(), "unused", echo=lambda line: None)
    with pytest.raises(ValueError, match="^model.cell: expected one of elman, lstm, gru"):
        apply_overrides(TaggerRunConfig(), {"model.cell": "rntn"})
    with pytest.raises(ValueError, match=r"^data.unknown_rate: expected a probability in \[0, 1\), got 1.0"):
        apply_overrides(TaggerRunConfig(), {"data.unknown_rate": "1"})
    with pytest.raises(ValueError, match="^run: expected a run folder with config.json"):
        evaluate_tagger("/nonexistent/run")


def test_command_line_train_eval_and_tag(conll_file, tmp_path, capsys, monkeypatch):
    import io

    from conftest import one_line_error
    from recnets import cli

    if "tagger" not in cli.JOBS:
        pytest.skip("the cli.py part of the tagger job is not applied yet")
    run = tmp_path / "run"
    tiny = ["--no-progress", "--model.hidden", "6", "--model.embedding", "4", "--train.steps", "3",
            "--train.device", "cpu"]
    assert cli.main(["train", "tagger", "--data", str(conll_file), "--run", str(run), *tiny]) == 0
    capsys.readouterr()
    assert cli.main(["eval", str(run)]) == 0
    assert "tag accuracy" in capsys.readouterr().out
    lines = tmp_path / "lines.txt"
    lines.write_text("a b c\n\nf qq\n", encoding="utf-8")
    assert cli.main(["tag", str(run), str(lines)]) == 0
    captured = capsys.readouterr()
    rows = captured.out.split("\n")
    assert [row.split("\t")[0] for row in rows] == ["a", "b", "c", "", "", "f", "qq", "", ""]
    assert "1 of 5 tokens were outside the run's vocabulary" in captured.err
    monkeypatch.setattr("sys.stdin", io.StringIO("a b\n"))
    assert cli.main(["tag", str(run)]) == 0
    assert capsys.readouterr().out.startswith("a\t")
    assert cli.main(["tag", str(tmp_path), str(lines)]) == 2
    one_line_error(capsys, "run: expected a tagger run folder")
    assert cli.main(["tag", str(run), str(tmp_path / "none.txt")]) == 2
    one_line_error(capsys, "no such file")
