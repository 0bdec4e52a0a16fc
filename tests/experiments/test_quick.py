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
    assert any(path.stat().st_size > 1000 for path in tmp_path.rglob("*.png")), "no plot written"
    assert summary["checks"], "a quick run must check at least one claim"
    failed = [claim for claim, held in summary["checks"].items() if not held]
    assert not failed, failed
    assert saved["checks"] == summary["checks"]
    report = (tmp_path / "report.md").read_text()
    assert report.startswith(f"# `{name}`") and all(row["what"] in report for row in saved["rows"])
