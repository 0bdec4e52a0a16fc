"""Two processes under torchrun train what one process trains on the same global batches.

Book: 10.2.2 (the loss is a sum over sequences and steps, eqs. 10.12-10.14, so its gradient is the sum of
the shards' gradients). Two forked ranks (gloo on loopback through a file store, one thread each) run every
distributed run of :mod:`distributed_target`; this process runs the one-process runs. The same runs under a
real ``torchrun`` launch are the slow test at the end.
Float64 models: equality across processes is ``allclose``, not bitwise (sums are taken in another order).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from recnets.machine import one_torch_thread
from recnets.train.distributed import is_distributed, shard_batch, shard_bounds, world_size

from .distributed_target import SETTINGS, STEPS, rank_main, trainer
from .toy import DelayTask

TOLERANCE = dict(rtol=1e-9, atol=1e-12)


def _parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _assert_close(found: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    assert found.keys() == expected.keys(), what
    for name, tensor in found.items():
        assert tensor.dtype == torch.float64
        torch.testing.assert_close(tensor, expected[name], **TOLERANCE, msg=f"{what}: {name}")


def _files(run_dir: Path) -> set[str]:
    return {str(path.relative_to(run_dir)) for path in run_dir.rglob("*")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-process runs here, the two-process runs in two forked ranks, then one-process resumptions."""
    with one_torch_thread():  # (the suite's one-thread fixture is per test, set up after this one)
        return _runs(tmp_path_factory.mktemp("distributed"))


def _runs(out: Path):
    single = {}
    for setting in SETTINGS:
        folder = out / setting
        full = trainer(setting, folder / "single-full")
        full.fit()
        single[setting] = full
        trainer(setting, folder / "w1-then-w2", STEPS // 2).fit()  # resumed by the two processes
    # Forked, as DataLoader workers are: the children reuse this process's imports (a fresh interpreter
    # spends seconds importing torch); each runs on one thread.
    torch.multiprocessing.start_processes(rank_main, args=(str(out), str(out / "store"), 2), nprocs=2,
                                          start_method="fork")
    resumed = {}
    for setting in SETTINGS:
        folder = out / setting
        shutil.copytree(folder / "ddp-half", folder / "w2-then-w1")
        resumed[setting] = trainer(setting, folder / "w2-then-w1")
        resumed[setting].fit(resume=True)
    return out, single, resumed


def _rank_parameters(out: Path, setting: str, name: str, rank: int) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(out / setting / "ranks" / f"{name}-rank{rank}.safetensors")


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_two_processes_end_at_the_parameters_of_one_process(runs, setting):
    out, single, _ = runs
    expected = _parameters(single[setting].model)
    for rank in (0, 1):
        _assert_close(_rank_parameters(out, setting, "ddp-full", rank), expected, f"{setting}, rank {rank}")
    ours, theirs = (out / setting / "ddp-full" / "metrics.jsonl", out / setting / "single-full" / "metrics.jsonl")
    ours, theirs = ([json.loads(line) for line in path.read_text().splitlines()] for path in (ours, theirs))
    assert [(r["step"], r["split"]) for r in ours] == [(r["step"], r["split"]) for r in theirs]
    for mine, reference in zip(ours, theirs):  # training losses (all-reduced) and sharded validation
        assert mine["loss"] == pytest.approx(reference["loss"], rel=1e-9), (mine, reference)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_the_ranks_agree_when_the_time_budget_is_spent(runs, setting):
    out, single, _ = runs
    ends = [json.loads((out / setting / f"ends-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ends[0] == ends[1]
    assert ends[0]["ddp-full"] == ends[0]["ddp-budget-unspent"] == [STEPS, "steps"]
    assert ends[0]["ddp-budget-spent"] == [1, "max_seconds"]  # every clock has run out after the first step
    expected = _parameters(single[setting].model)
    for rank in (0, 1):
        _assert_close(_rank_parameters(out, setting, "ddp-budget-unspent", rank), expected, f"{setting}, rank {rank}")


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_rank_0_alone_writes_the_same_files_as_one_process(runs, setting):
    out, _, _ = runs
    writes = [json.loads((out / f"writes-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert writes[0]["world_size"] == writes[1]["world_size"] == 2
    assert writes[0]["checkpoints"] > 0 and writes[0]["records"] > 0
    assert writes[1]["checkpoints"] == 0 and writes[1]["records"] == 0
    assert _files(out / setting / "ddp-full") == _files(out / setting / "single-full")
    if SETTINGS[setting][0].get("streaming"):  # the carried state of all 15 rows, gathered from both ranks
        latest = f"checkpoints/step-{STEPS:08d}/carry.safetensors"
        _assert_close(safetensors.torch.load_file(out / setting / "ddp-full" / latest),
                      safetensors.torch.load_file(out / setting / "single-full" / latest), f"{setting} carry")


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_run_resumed_with_another_world_size_continues_the_same_batches(runs, setting):
    out, single, resumed = runs
    expected = _parameters(single[setting].model)
    _assert_close(_parameters(resumed[setting].model), expected, f"{setting}: 2 processes, then 1")
    for rank in (0, 1):
        _assert_close(_rank_parameters(out, setting, "w1-then-w2", rank), expected, f"{setting}: 1, then 2")
    if SETTINGS[setting][0].get("streaming"):
        for mine, reference in zip(resumed[setting].carry, single[setting].carry):
            torch.testing.assert_close(mine, reference, **TOLERANCE)


def test_the_ragged_setting_tells_a_global_mean_from_a_mean_of_shard_means():
    batch = DelayTask(**SETTINGS["ragged"][0]).train_batch(0)
    shards = [shard_batch(batch, index, 2) for index in (0, 1)]
    rows = [len(shard.inputs) for shard in shards]
    means = [float(shard.lengths.sum()) / len(shard.inputs) for shard in shards]
    assert rows == [8, 7] and means[0] != means[1]
    assert torch.equal(torch.cat([shard.lengths for shard in shards]), batch.lengths)


def test_shard_bounds_cut_rows_like_tensor_split():
    for total in range(0, 12):
        for count in range(1, 5):
            pieces = torch.arange(total).tensor_split(count)
            for index, piece in enumerate(pieces):
                start, stop = shard_bounds(total, index, count)
                assert torch.equal(torch.arange(start, stop), piece)


def test_without_a_process_group_there_is_one_process():
    assert not is_distributed() and world_size() == 1
    batch = DelayTask(ragged=True).train_batch(0)
    assert shard_batch(batch) is batch


@pytest.mark.slow
def test_the_same_runs_under_torchrun(tmp_path):
    """torchrun --standalone --nproc_per_node 2: the launcher's environment variables and rendezvous."""
    import os
    import subprocess
    import sys

    for setting in SETTINGS:
        trainer(setting, tmp_path / setting / "single-full").fit()
        trainer(setting, tmp_path / setting / "w1-then-w2", STEPS // 2).fit()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    script = Path(__file__).with_name("distributed_target.py")
    launch = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script), str(tmp_path)], env=environment, capture_output=True, text=True, timeout=300)
    assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
    for setting in SETTINGS:
        expected = safetensors.torch.load_file(tmp_path / setting / "single-full" / "checkpoints" /
                                               f"step-{STEPS:08d}" / "model.safetensors")
        for name in ("ddp-full", "w1-then-w2"):
            for rank in (0, 1):
                _assert_close(_rank_parameters(tmp_path, setting, name, rank), expected, f"{setting} {name} {rank}")


def test_joining_without_torchruns_environment_is_a_one_line_error(monkeypatch):
    from recnets.tasks.base import Batch
    from recnets.train.distributed import init_distributed, launched_with_torchrun

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched_with_torchrun()
    with pytest.raises(ValueError, match=r"^RANK: expected the environment variable that torchrun sets"):
        init_distributed()
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"^RANK: expected 0 <= RANK < WORLD_SIZE = 2, got 2$"):
        init_distributed()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match=r"^WORLD_SIZE: expected an integer in the environment, got 'two'$"):
        init_distributed()
    with pytest.raises(ValueError, match=r"^batch: expected tensors with the batch as first dimension"):
        shard_batch(Batch(["(1 2)", "(3 4)"], torch.zeros(5)), 0, 2)
