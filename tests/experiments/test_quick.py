"""Every experiment's --quick run, in-process: training must beat its trivial floor."""
from __future__ import annotations

import json

import pytest

from recnets.experiments.registry import EXPERIMENTS


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_run_writes_a_summary_and_beats_the_trivial_floor(name, tmp_path):
    summary = EXPERIMENTS[name].run(tmp_path, quick=True, progress=False, echo=lambda _: None)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["name"] == name and saved["quick"] is True
    assert (tmp_path / "plots" / "loss.png").stat().st_size > 1000
    rows = {row["what"]: row["ours"] for row in summary["rows"]}
    if name == "char-lm-stdlib":
        ours = next(value for what, value in rows.items() if "(ours)" in what)
        unigram = next(value for what, value in rows.items() if what.startswith("unigram"))
        assert ours < unigram - 0.5, f"held-out bpc {ours:.3f} does not beat the unigram floor {unigram:.3f}"
