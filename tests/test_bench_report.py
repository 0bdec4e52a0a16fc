"""benchmarks/report.py: the one table of every ratio against its anchor, on small synthetic JSON.

Every figure is checked against the value computed by hand from the synthetic numbers (ratios, rates, goals).
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("bench_report_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _write(folder: Path, name: str, results: list, argv: list | None = None) -> Path:
    path = folder / name
    path.write_text(json.dumps({"argv": argv or [], "results": results}))
    return path


RNN = [{"machine": {"threads": 1}, "timing": {"device": "cpu"}, "rows": [
    {"case": "dense", "cell": "lstm", "B": 32, "T": 100, "D": 128, "H": 256, "mode": "train", "threads": 1,
     "seconds": {"torch": 0.100, "fused": 0.104, "eager": 0.200}},
    {"case": "dense", "cell": "gru", "B": 32, "T": 100, "D": 128, "H": 256, "mode": "infer", "threads": 1,
     "seconds": {"torch": 0.100, "fused": 0.110, "eager": 0.150}},
    {"case": "ragged", "cell": "lstm", "B": 32, "T": 100, "D": 128, "H": 64, "mode": "train", "threads": 1,
     "distinct_lengths": 20, "seconds": {"torch_packed": 0.080, "torch_dense": 0.050, "fused": 0.040, "eager": 0.07}},
]}]
RNN_CUDA = [{"machine": {"threads": 1}, "timing": {"device": "cuda"}, "rows": [
    {"case": "dense", "cell": "lstm", "B": 256, "T": 100, "D": 128, "H": 1024, "mode": "train", "threads": 1,
     "seconds": {"torch": 0.010, "fused": 0.0107, "eager": 0.09}}]}]
CELLS = [{"threads": 2, "rows": [
    {"hidden": 256, "mode": "train", "cell": "book-lstm-peephole", "anchor": "nn.LSTM", "anchor_s": 0.2,
     "bptt_s": 0.24, "eager_s": 0.4},
    {"hidden": 256, "mode": "train", "cell": "gru", "anchor": "nn.GRU", "anchor_s": 0.2, "bptt_s": 0.16},
    {"hidden": 256, "mode": "infer", "cell": "leaky", "anchor": "nn.RNN", "anchor_s": 0.1, "bptt_s": 0.3}]}]
TREES = [{"threads": 1, "rows": [{"batch": 25, "fold_trees_per_s": 500.0, "one_at_a_time_trees_per_s": 20.0},
                                 {"batch": 100, "fold_trees_per_s": 300.0, "one_at_a_time_trees_per_s": 20.0}]}]
RESERVOIR = [{"threads": 1, "steps": {"train": 10000, "test": 1000, "washout": 100, "size": 1000},
              "fit": {"reservoirpy": 4.0, "ours": 1.0}, "predict": {"reservoirpy": 0.2, "ours": 0.25},
              "nrmse": {"reservoirpy": 0.01, "ours": 0.02},
              "nrmse_seeds": {"reservoirpy": [0.01, 0.03], "ours": [0.01, 0.02]},
              "batch": {"B": 64, "T": 1000, "fit": {"reservoirpy": 8.0, "ours": 2.0},
                        "predict": {"reservoirpy": 4.0, "ours": 2.0}}}]
NTM = [{"threads": 1, "rows": [
    {"batch": 1, "batched_sequences_per_s": 20.0, "per_sequence_sequences_per_s": 13.0},
    {"batch": 32, "batched_sequences_per_s": 110.0, "per_sequence_sequences_per_s": 11.0}]}]
DECODE = [{"threads": 1, "rows": [{"attention": "none", "batch": 16, "greedy_sentences_per_s": 360.0,
                                   "beam_sentences_per_s": 150.0, "beam_cost": 2.4}]}]
LONG = [{"sizes": {"B": 8, "D": 128, "H": 128, "V": 64, "device": "cpu", "repeats": 1},
         "rows": [{"method": m, "T": t, "peak_bytes": b, "seconds": 1.0, "loss": 1.0}
                  for m, t, b in (("checkpointed", 1024, 2 ** 20), ("checkpointed", 4096, 2 ** 21),
                                  ("checkpointed", 16384, 2 ** 22), ("plain", 1024, 2 ** 22),
                                  ("plain", 4096, 2 ** 24))],
         "ratios": [{"T": 4096, "segment": 64, "repeats": 5, "seconds": {"plain": 2.0, "checkpointed": 3.0}}]}]


@pytest.fixture()
def folder(tmp_path):
    _write(tmp_path, "rnn.json", RNN, ["--threads", "1"])
    _write(tmp_path, "rnn-cuda.json", RNN_CUDA, ["--device", "cuda"])
    _write(tmp_path, "cells.json", CELLS)
    _write(tmp_path, "trees.json", TREES)
    _write(tmp_path, "reservoir.json", RESERVOIR)
    _write(tmp_path, "ntm.json", NTM)
    _write(tmp_path, "decode.json", DECODE, ["--beam", "4"])
    _write(tmp_path, "long_sequences.json", LONG, ["--threads", "2"])
    (tmp_path / "notes.json").write_text("{}")  # not a benchmark's name: ignored in a folder
    return tmp_path


def _find(rows, benchmark, configuration):
    found = [row for row in rows if row.benchmark == benchmark and row.configuration == configuration]
    assert len(found) == 1, (benchmark, configuration, [r.configuration for r in rows if r.benchmark == benchmark])
    return found[0]


def test_every_benchmark_gives_its_ratios_against_its_anchor(report, folder):
    rows = report.collect([folder])
    assert [row.benchmark for row in rows][:4] == ["rnn"] * 3 + ["rnn (cuda)"]  # the scripts' order, then names

    lstm = _find(rows, "rnn", "lstm H=256 B=32 T=100 train, fused")
    assert (lstm.ours, lstm.anchor, lstm.unit, lstm.anchor_name) == pytest.approx((104.0, 100.0, "ms", "nn.LSTM"))
    assert lstm.ratio == pytest.approx(1.04) and lstm.met is True  # <= 1/0.95
    assert _find(rows, "rnn", "gru H=256 B=32 T=100 infer, fused").met is False  # 1.10 > 1.053
    ragged = _find(rows, "rnn", "lstm ragged (20 lengths) H=64 B=32 T=100 train, fused")
    assert ragged.ratio == pytest.approx(0.5) and ragged.anchor_name == "nn.LSTM packed"
    cuda = _find(rows, "rnn (cuda)", "lstm H=1024 B=256 T=100 train, fused")
    assert cuda.anchor_name == "cuDNN nn.LSTM" and cuda.ratio == pytest.approx(1.07) and cuda.met is False
    assert not any("eager" in row.configuration for row in rows)

    peephole = _find(rows, "cells", "book-lstm-peephole H=256 train, bptt")
    assert peephole.threads == "2" and peephole.ratio == pytest.approx(1.2) and peephole.met is True
    gru = _find(rows, "cells", "gru H=256 train, bptt")
    assert gru.ratio == pytest.approx(0.8) and gru.met is False  # 1.25x faster misses 1.3x (<= 0.769)
    assert _find(rows, "cells", "leaky H=256 infer, bptt").goal is None

    small, large = (_find(rows, "trees", f"Tree-LSTM training, {b} trees per batch") for b in (25, 100))
    assert (small.ratio, small.met, large.ratio, large.met) == (25.0, True, 15.0, False)
    assert small.unit == "trees/s"

    fit = _find(rows, "reservoir", "ESN fit N=1000, 10,000 steps")
    assert (fit.ours, fit.anchor, fit.unit) == (10000.0, 2500.0, "steps/s") and fit.ratio == 4.0 and fit.met
    predict = _find(rows, "reservoir", "ESN predict N=1000, 1,000 steps")
    assert predict.ours == pytest.approx(4000.0) and predict.goal is None
    nrmse = _find(rows, "reservoir", "ESN test NRMSE (mean over seeds)")
    assert nrmse.ratio == pytest.approx(0.015 / 0.02) and nrmse.met is True
    batch = _find(rows, "reservoir", "ESN 64 series x 1000 steps, fit")
    assert (batch.ours, batch.anchor) == (32000.0, 8000.0)

    assert _find(rows, "ntm", "NTM copy training, batch 1").goal is None
    assert _find(rows, "ntm", "NTM copy training, batch 32").ratio == pytest.approx(10.0)
    assert _find(rows, "ntm", "NTM copy training, batch 32").met is True

    beam = _find(rows, "decode", "beam 4, attention none, batch 16")
    assert beam.ratio == pytest.approx(150 / 360) and beam.goal is None

    memory = _find(rows, "long sequences", "char-LM T=4,096 peak memory beyond inputs")
    assert (memory.threads, memory.ours, memory.anchor, memory.ratio) == ("2", 2.0, 16.0, 0.125)
    assert _find(rows, "long sequences", "char-LM T=16,384 peak memory beyond inputs").anchor is None
    exponent = _find(rows, "long sequences", "peak memory ~ T^k: k over T=1,024..16,384")
    assert exponent.ours == pytest.approx(0.5) and exponent.anchor == pytest.approx(1.0) and exponent.met is True
    step = _find(rows, "long sequences", "char-LM T=4,096 training step (segment 64)")
    assert step.ratio == pytest.approx(1.5) and step.goal is None


def test_the_table_has_one_line_per_row_and_counts_the_goals(report, folder):
    rows = report.collect([folder], eager=True)
    assert _find(rows, "rnn", "lstm H=256 B=32 T=100 train, eager").ratio == pytest.approx(2.0)
    assert _find(rows, "cells", "book-lstm-peephole H=256 train, eager").ratio == pytest.approx(2.0)
    text = report.table(rows)
    lines = text.splitlines()
    assert lines[0] == "| benchmark | configuration | threads | ours | anchor | ratio (ours/anchor) | goal | met? |"
    assert len([line for line in lines if line.startswith("| ") and "---" not in line]) == len(rows) + 1
    assert "| trees | Tree-LSTM training, 25 trees per batch | 1 | 500 trees/s | 20.0 trees/s (one tree at a time) " \
           "| 25.00 | ratio ≥ 20 | yes |" in lines
    judged = [row.met for row in rows if row.met is not None]
    assert f"{sum(judged)} of {len(judged)} goals met" in lines[-1]
    assert all(isinstance(row.ratio, float) and math.isfinite(row.ratio) for row in rows if row.anchor)


def test_mistakes_are_one_line_errors(report, tmp_path):
    with pytest.raises(ValueError, match=r"^paths: expected JSON files or folders that exist, got"):
        report.collect([tmp_path / "missing.json"])
    with pytest.raises(ValueError, match=r"^path: expected a file named after a benchmark"):
        report.rows_of(_write(tmp_path, "mystery.json", TREES))
    (tmp_path / "trees.json").write_text("not json")
    with pytest.raises(ValueError, match=r"^path: expected a readable JSON file"):
        report.rows_of(tmp_path / "trees.json")
    with pytest.raises(ValueError, match=r"^path: expected the JSON of bench_ntm.py"):
        report.rows_of(_write(tmp_path, "ntm.json", TREES))


def test_main_prints_the_table_and_exits_on_an_empty_folder(report, folder, tmp_path, capsys):
    report.main([str(folder / "trees.json")])
    assert "| trees |" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="found none"):
        report.main([str(empty)])
