"""The comparison protocol's model factory: the right pattern per task, cell options, one-line errors."""
from __future__ import annotations

import pytest
import torch

from recnets.cells.lstm import LSTMCell
from recnets.cells.skip_time import SkipTimeCell
from recnets.experiments.compare import model_for
from recnets.nets.patterns import OutputEveryStep, SequenceToOne
from recnets.tasks.long_term import make_task


def test_model_for_passes_cell_options_and_picks_the_pattern():
    adding = make_task("adding", T=20, eval_size=8)
    model = model_for(adding, "lstm", 6, forget_bias=3.0)
    assert isinstance(model, SequenceToOne) and isinstance(model.cell, LSTMCell)
    assert torch.all(model.cell.b_U[6:12] == 3.0)
    copy = make_task("copy-memory", T=20, eval_size=8)
    skip = model_for(copy, "skip-time", 5, delay=20)
    assert isinstance(skip, OutputEveryStep) and isinstance(skip.cell, SkipTimeCell) and skip.cell.delay == 20


def test_a_delay_longer_than_the_sequences_is_one_clear_error():
    task = make_task("adding", T=20, eval_size=8)
    with pytest.raises(ValueError, match=r"^delay: expected an integer <= T \(20\), got 21"):
        model_for(task, "skip-time", 5, delay=21)
