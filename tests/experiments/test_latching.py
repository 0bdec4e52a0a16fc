"""The latch ensemble trains each latch exactly as it would be trained alone; the convergence count."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.experiments.compare import model_for
from recnets.experiments.latching import LatchEnsembleTask, convergence_frequency, parallel_latches
from recnets.tasks.memory_tasks import LatchingConfig, LatchingTask
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_parallel_latches_follow_the_updates_of_single_latch_runs(optimizer, tmp_path):
    config = LatchingConfig(T=12, batch_size=8, eval_size=16, eval_batch_size=16)
    train = TrainConfig(steps=15, lr=0.05, optimizer=optimizer, momentum=0.5 if optimizer == "sgd" else 0.0,
                        eval_every=0, checkpoint_every=0, progress=False, device="cpu")
    seeds = [3, 7, 11]
    ensemble = LatchEnsembleTask(config, seeds)
    together = parallel_latches(ensemble)
    Trainer(together, ensemble, train, tmp_path / "together").fit()
    for n, seed in enumerate(seeds):
        task = LatchingTask(LatchingConfig(T=12, batch_size=8, eval_size=16, eval_batch_size=16, seed=seed))
        torch.manual_seed(seed)
        alone = model_for(task, "elman", 1)
        Trainer(alone, task, train, tmp_path / f"alone{seed}").fit()
        pairs = [(together.cell.U[n, n], alone.cell.U[0, 0]), (together.cell.W[n, n], alone.cell.W[0, 0]),
                 (together.cell.b[n], alone.cell.b[0]), (together.readout.V[n, n], alone.readout.V[0, 0]),
                 (together.readout.c[n], alone.readout.c[0])]
        mine, oracle = torch.stack([m for m, _ in pairs]).detach(), torch.stack([o for _, o in pairs]).detach()
        assert torch.allclose(mine, oracle, rtol=1e-4, atol=1e-6 * float(oracle.abs().max())), (seed, mine, oracle)
    off_diagonal = ~torch.eye(len(seeds), dtype=torch.bool)
    for matrix in (together.cell.U, together.cell.W, together.readout.V):
        assert torch.all(matrix[off_diagonal] == 0)


def test_convergence_frequency_counts_runs_at_or_under_the_threshold():
    p, error = convergence_frequency([0.0, 0.01, 0.02, 0.5], 0.01)
    assert p == 0.5 and math.isclose(error, math.sqrt(0.25 / 4))
    assert convergence_frequency([0.3], 0.01) == (0.0, 0.0)
    with pytest.raises(ValueError, match="^error_rates: expected"):
        convergence_frequency([], 0.01)
