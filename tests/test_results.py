"""docs/results.md is generated from results/*.json, never typed by hand."""
from __future__ import annotations

from pathlib import Path

from recnets.experiments.summary import Row, make_summary
from recnets.results import load_summaries, pending_experiments, render_results

ROOT = Path(__file__).resolve().parents[1]


def test_committed_results_page_matches_the_committed_summaries():
    summaries = load_summaries(ROOT / "results")
    assert summaries, "results/ holds no summaries"
    expected = render_results(summaries, pending_experiments(summaries))
    assert (ROOT / "docs" / "results.md").read_text(encoding="utf-8") == expected, "run `make results`"


def test_every_summary_is_a_full_run_of_a_registered_experiment():
    from recnets.experiments.registry import EXPERIMENTS

    for summary in load_summaries(ROOT / "results"):
        assert summary["name"] in EXPERIMENTS and not summary["quick"], summary["name"]


def test_pending_experiments_are_listed_with_their_command():
    text = render_results([], [("lstm-adding", "LSTM solves adding")])
    assert "## Not yet reproduced" in text and "`recnets reproduce lstm-adding --publish`" in text


def test_render_puts_ours_beside_the_paper_with_status():
    summary = make_summary(name="toy", title="a toy", book="10.2", budget="none",
                           rows=[Row("ours vs paper", 0.5, unit="bpc", paper=0.25, source="Someone 2000", status="V"),
                                 Row("floor", 1.0, unit="bpc")], quick=False, wall_seconds=1.0)
    summary["checks"] = {"ours beats the floor": True, "ours beats the paper": False}
    text = render_results([summary])
    assert "- held: ours beats the floor" in text and "- FAILED: ours beats the paper" in text
    assert "| ours vs paper | 0.5 bpc | 0.25 | Someone 2000 | V |" in text
    assert "| floor | 1 bpc | — | — | — |" in text


def test_a_further_runs_file_is_rendered_after_its_summary(tmp_path):
    import json

    summary = make_summary(name="toy", title="a toy", book="10.2", budget="none", rows=[Row("floor", 1.0)],
                           quick=False, wall_seconds=1.0)
    (tmp_path / "toy.json").write_text(json.dumps(summary))
    (tmp_path / "toy.further.md").write_text("- `recnets reproduce toy --set steps=9`: floor 0.5\n")
    text = render_results(load_summaries(tmp_path))
    assert text.rstrip().endswith("figures from its run folder's summary):\n\n- `recnets reproduce toy --set steps=9`: floor 0.5")
    assert "further" not in render_results([summary])
