"""The clockwork-waveform experiment's weight count: the masked zeros of W are not counted."""
from __future__ import annotations

import pytest

from recnets.experiments.clockwork_waveform import Generator, build_model, trainable_weights


@pytest.mark.parametrize("modules, size", [(9, 3), (4, 2), (1, 5)])
def test_clockwork_weights_are_the_block_triangle_plus_input_bias_and_readout(modules, size):
    H = modules * size
    model = build_model(Generator("cw", "clockwork", H, "x", 1e-2, tuple(2 ** i for i in range(modules))))
    kept_blocks = modules * (modules + 1) // 2  # blocks on and above the diagonal
    expected = kept_blocks * size * size + H + H + (H + 1)  # W, U (H, 1), b, readout V (1, H) and c
    assert trainable_weights(model) == expected
    assert sum(p.numel() for p in model.parameters()) == H * H + H + H + H + 1


def test_other_cells_count_every_parameter():
    model = build_model(Generator("tanh", "elman", 21, "x", 1e-2))
    assert trainable_weights(model) == 21 * 21 + 21 + 21 + 22 == 505
