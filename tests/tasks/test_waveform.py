"""The sum-of-sines generation task: the waveform written out, its mean-predictor floor in closed form."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recnets.tasks import SumOfSinesTask, WaveformConfig


def test_waveform_is_the_sum_of_sines_written_out():
    task = SumOfSinesTask()
    phases = task.phases.numpy()
    assert ((phases >= 0) & (phases < 2 * math.pi)).all()
    t = np.arange(1, 321, dtype=np.float64)
    expected = (0.4 * np.sin(2 * np.pi * t / 160 + phases[0]) + 0.3 * np.sin(2 * np.pi * t / 64 + phases[1])
                + 0.2 * np.sin(2 * np.pi * t / 32 + phases[2]) + 0.1 * np.sin(2 * np.pi * t / 10 + phases[3]))
    assert np.abs(task.waveform.numpy() - expected).max() < 1e-12
    batch = task.train_batch(5)
    assert torch.equal(batch.inputs, torch.zeros(1, 320, 1))
    assert torch.equal(batch.targets[0, :, 0], task.waveform.float())
    assert not torch.equal(SumOfSinesTask(WaveformConfig(seed=1)).waveform, task.waveform)


def test_mean_predictor_floor_is_half_the_summed_squared_amplitudes_on_whole_cycles():
    task = SumOfSinesTask(WaveformConfig(batch_size=3))
    floors = task.baselines()
    assert abs(floors["mean_mse"] - (0.4**2 + 0.3**2 + 0.2**2 + 0.1**2) / 2) < 1e-12
    assert abs(floors["constant"]) < 1e-12
    batch = task.train_batch(0)
    total, count = task.loss(torch.full((3, 320, 1), floors["constant"], dtype=torch.float64), batch)
    assert count == 960 and abs(task.metrics(float(total), count)["mse"] - floors["mean_mse"]) < 1e-7


def test_floor_on_partial_cycles_is_the_sample_variance():
    task = SumOfSinesTask(WaveformConfig(T=50, periods=(37.0, 7.5), amplitudes=(1.0, 0.5)))
    values = task.waveform.numpy()
    assert abs(task.baselines()["mean_mse"] - values.var()) < 1e-12
    assert abs(task.baselines()["constant"] - values.mean()) < 1e-12


@pytest.mark.parametrize("fields, message", [
    (dict(periods=(10.0, -1.0), amplitudes=(1.0, 1.0)), "^periods: expected positive numbers"),
    (dict(periods=(10.0,), amplitudes=(1.0, 1.0)), r"^amplitudes: expected 1 \(one per period\), got 2$"),
    (dict(periods=()), "^periods: expected a non-empty tuple of finite numbers, got \\(\\)$"),
    (dict(amplitudes=(1.0, float("nan"), 1.0, 1.0)), "^amplitudes: expected a non-empty tuple"),
])
def test_bad_waveform_configs_are_one_clear_line(fields, message):
    with pytest.raises(ValueError, match=message):
        WaveformConfig(**fields)
