"""The command line, in-process: train, sample, eval, resume; every user mistake is one line and exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import one_line_error
from recnets.cli import main

TINY = ["--no-progress", "--model.hidden", "24", "--model.embedding", "8", "--data.seq_len", "32",
        "--data.batch_size", "8", "--data.eval_chars", "400", "--data.eval_batch_size", "4",
        "--train.eval_every", "10", "--train.checkpoint_every", "10", "--train.lr", "0.01"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    lines = [f"def f{i % 37}(x):\n    return x + {i % 11}\n" for i in range(300)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "char-lm", "--data", str(corpus), "--run", str(run), "--train.steps", "20", *TINY]) == 0
    return run


def test_train_writes_the_run_folder(trained, capsys):
    for name in ("config.json", "metrics.jsonl", "summary.json", "vocab.json", "plots/loss.png", "checkpoints/latest"):
        assert (trained / name).exists(), name
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["train"]["step"] == 20
    assert set(summary["floors"]) == {"unigram", "witten_bell_5gram", "gzip", "bzip2", "xz"}
    assert summary["samples"] and all(text.startswith("def ") for text in summary["samples"])


def test_sample_and_eval(trained, corpus, capsys):
    assert main(["sample", str(trained), "--prompt", "def f", "--max-length", "15", "--num", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2 and "def f" in out
    assert main(["sample", str(trained), "--temperature", "0", "--max-length", "10"]) == 0
    assert main(["eval", str(trained)]) == 0
    assert "this RNN" in capsys.readouterr().out
    assert main(["eval", str(trained), "--data", str(corpus)]) == 0
    assert "gzip" in capsys.readouterr().out


def test_resume_continues_to_the_new_step_count(corpus, tmp_path):
    run = tmp_path / "resumed"
    assert main(["train", "char-lm", "--data", str(corpus), "--run", str(run), "--train.steps", "10", *TINY]) == 0
    assert main(["train", "char-lm", "--data", str(corpus), "--run", str(run), "--train.steps", "20", "--resume",
                 *TINY]) == 0
    assert json.loads((run / "summary.json").read_text())["train"]["step"] == 20


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "book-gru" in out and "char-lm" in out and "char-lm-stdlib" in out


@pytest.mark.parametrize("argv, needles", [
    (["train", "char-lm-xl"], ["job: expected one of char-lm", "'char-lm-xl'"]),
    (["train", "char-lm", "--model.hiden", "3"], ["did you mean model.hidden"]),
    (["train", "char-lm", "--model.hidden", "big"], ["model.hidden: expected an integer"]),
    (["train", "char-lm", "--model.cell", "transformer"], ["model.cell: expected one of"]),
    (["train", "char-lm", "--resume"], ["--resume: expected --run"]),
    (["reproduce", "nope"], ["experiment: expected one of"]),
    (["reproduce", "lstm-adding", "--set", "steps=3"], ["--set: expected no overrides for lstm-adding"]),
    (["reproduce", "g2p-cmudict", "--set", "steps"], ["--set: expected KEY=VALUE, got 'steps'"]),
    (["reproduce", "g2p-cmudict", "--set", "steps=3", "--publish"], ["--publish: expected the experiment's own"]),
])
def test_user_mistakes_are_one_line(argv, needles, capsys):
    assert main(argv) == 2
    one_line_error(capsys, *needles)


def test_reproduce_hands_overrides_to_the_experiment(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["reproduce", "g2p-cmudict", "--quick", "--out", str(out), "--set", "stepz=3"]) == 2
    one_line_error(capsys, "overrides: expected keys among steps", "got 'stepz'")  # g2p's own check: it arrived
    assert not out.exists()


def test_bad_data_files(tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\x00\x01\x02 abc" * 100)
    for path, needle in [(missing, "does not exist"), (empty, "is empty"), (binary, "binary")]:
        assert main(["train", "char-lm", "--data", str(path), "--run", str(tmp_path / "r"), *TINY]) == 2
        one_line_error(capsys, "data:", needle)
    assert not (tmp_path / "r").exists(), "a failed start must not leave a run folder behind"


def test_prompt_outside_the_vocabulary(trained, capsys):
    assert main(["sample", str(trained), "--prompt", "déf"]) == 2
    one_line_error(capsys, "prompt: character 'é'")


def test_not_a_run_and_corrupt_checkpoint(trained, tmp_path, capsys):
    assert main(["sample", str(tmp_path)]) == 2
    one_line_error(capsys, "run: expected a run folder with config.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in trained.iterdir():
        if item.is_file():
            (broken / item.name).write_bytes(item.read_bytes())
    checkpoints = broken / "checkpoints"
    checkpoints.mkdir()
    latest = (trained / "checkpoints" / "latest").read_text().strip()
    (checkpoints / "latest").write_text(latest + "\n")
    (checkpoints / latest).mkdir()
    for item in (trained / "checkpoints" / latest).iterdir():
        data = item.read_bytes()
        (checkpoints / latest / item.name).write_bytes(data[: len(data) // 2] if item.name == "model.safetensors" else data)
    assert main(["eval", str(broken)]) == 2
    one_line_error(capsys, "model.safetensors")


def test_checkpoint_of_another_model(trained, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for item in trained.iterdir():
        if item.is_file():
            (other / item.name).write_bytes(item.read_bytes())
    (other / "checkpoints").symlink_to(trained / "checkpoints")
    config = json.loads((other / "config.json").read_text())
    config["config"]["model"]["hidden"] = 48
    (other / "config.json").write_text(json.dumps(config))
    assert main(["sample", str(other)]) == 2
    one_line_error(capsys, "shape")


def test_diagnose_writes_plots_and_numbers(trained, tmp_path, capsys):
    out = tmp_path / "diagnostics"
    assert main(["diagnose", str(trained), "--out", str(out), "--batch-size", "2", "--steps", "12"]) == 0
    printed = capsys.readouterr().out
    assert "spectral radius" in printed and "||dL/dh(t)||" in printed
    for name in ("gradient_norms.png", "eigenvalues.png", "jacobian_singular_values.png", "diagnostics.json"):
        assert (out / name).stat().st_size > 100, name
    saved = json.loads((out / "diagnostics.json").read_text())
    assert saved["step"] == 20 and saved["cell"] == "LSTMCell"
    assert (out / "spectral_radius.png").stat().st_size > 100, "the tracked spectrum was not drawn"


def test_training_tracks_the_spectrum_of_W(trained):
    from recnets.analysis.spectrum import eigenvalues, read_spectrum_history, recurrent_blocks
    from recnets.experiments.char_lm import load_char_lm

    history = read_spectrum_history(trained / "spectrum.jsonl")
    assert [entry["step"] for entry in history][-1] == 20
    _, _, model, _ = load_char_lm(trained)
    final = history[-1]["spectral_radius"]
    for name, W in recurrent_blocks(model.cell).items():  # the last line is the trained model's own W
        assert abs(final[name] - float(eigenvalues(W.double()).abs().max())) < 1e-9, name
    assert (trained / "plots" / "spectral_radius.png").stat().st_size > 100


def test_diagnose_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path)]) == 2
    one_line_error(capsys, "run")


def test_diagnose_a_reproduction_model_folder(tmp_path, capsys):
    """A model trained by fit_contenders on a generated task is rebuilt from its config and diagnosed."""
    from recnets.experiments.compare import Contender, fit_contenders
    from recnets.tasks.long_term import make_task
    from recnets.train.config import TrainConfig

    task = make_task("adding", T=12, batch_size=8, eval_size=16, eval_batch_size=16)
    train = TrainConfig(steps=6, eval_every=3, checkpoint_every=0, progress=False, device="cpu")
    fit_contenders(tmp_path, task, [Contender("LSTM", "lstm", 5, {"chrono": 13})], train, echo=lambda _: None)
    out = tmp_path / "diagnosed"
    assert main(["diagnose", str(tmp_path / "LSTM"), "--out", str(out), "--batch-size", "3"]) == 0
    assert "LSTMCell" in capsys.readouterr().out
    saved = json.loads((out / "diagnostics.json").read_text())
    assert saved["step"] == 6 and saved["batch"]["sequences"] == 3
    assert (out / "spectral_radius.png").stat().st_size > 100  # tracked at steps 3 and 6 during training
    history = [json.loads(line) for line in (tmp_path / "LSTM" / "spectrum.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in history] == [3, 6]
