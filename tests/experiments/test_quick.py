"""Every experiment's --quick run, in-process: training must beat its trivial floor."""
from __future__ import annotations

import json
import os

import pytest

from recnets.experiments.registry import EXPERIMENTS
from recnets.tasks.series import MissingDataError


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_run_writes_a_summary_and_beats_the_trivial_floor(name, tmp_path):
    try:
        summary = EXPERIMENTS[name].run(tmp_path, quick=True, progress=False, echo=lambda _: None)
    except MissingDataError as missing:  # an optional data package (DATA.md): CI installs every extra
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name}: {missing}")
        pytest.skip(f"{name}: {missing}")
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["name"] == name and saved["quick"] is True
    assert any(path.stat().st_size > 1000 for path in tmp_path.rglob("*.png")), "no plot written"
    assert summary["checks"], "a quick run must check at least one claim"
    failed = [claim for claim, held in summary["checks"].items() if not held]
    assert not failed, failed
    assert saved["checks"] == summary["checks"]
    report = (tmp_path / "report.md").read_text()
    assert report.startswith(f"# `{name}`") and all(row["what"] in report for row in saved["rows"])
