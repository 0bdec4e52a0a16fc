"""The gradient-against-lag measurement of ``vanishing-gradients`` against the closed form of a linear unit."""
from __future__ import annotations

import pytest
import torch

from recnets.cells.registry import make_cell
from recnets.experiments.vanishing_gradients import lag_profile, relative_norm
from recnets.nets.patterns import SequenceToOne
from recnets.tasks.base import Batch


def test_a_unit_resting_at_zero_passes_the_gradient_back_by_w_per_step_measured_in_float64():
    # h(t) = tanh(w h(t-1)) with U = b = 0 stays at 0, where tanh' = 1: ∂L/∂h(τ - k) = w^k ∂L/∂h(τ), eq. 10.37
    model = SequenceToOne(make_cell("elman", 1, 1), 1)  # float32, as trained
    with torch.no_grad():
        model.cell.U.zero_(), model.cell.b.zero_(), model.cell.W.fill_(0.3)
        model.readout.V.fill_(2.0), model.readout.c.fill_(0.5)
    lengths = torch.tensor([120, 101])
    batch = Batch(torch.randn(2, 120, 1), torch.tensor([[1.0], [-1.0]]), lengths)
    profile = lag_profile(model, batch)
    assert relative_norm(profile, 100) == pytest.approx(0.3 ** 100, rel=1e-10)  # 5e-53: below float32's range
    assert profile.norms[0].item() == pytest.approx((abs(2.0 * (0.5 - 1.0)) + abs(2.0 * (0.5 + 1.0))) / 2, rel=1e-12)
    assert model.cell.W.dtype == torch.float32  # the model itself is left as it was
    with pytest.raises(ValueError, match="^lag: expected a lag that some sequence has"):
        relative_norm(profile, 120)
