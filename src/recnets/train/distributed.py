"""Several processes training one model: a torch.distributed process group as ``torchrun`` starts it.

Book: 10.2.2. The training loss is a sum over sequences and time steps (eqs. 10.12-10.14), so a batch can
be cut by rows across processes: each process back-propagates through its own rows, and the sum of the
parts' gradients is the gradient of the whole. This module holds the process-group plumbing; the trainer
(:mod:`recnets.train.loop`) uses it to shard batches and normalise the loss.

``torchrun`` starts one process per rank and gives each its place in environment variables: ``RANK``
(0..WORLD_SIZE-1, over all machines), ``WORLD_SIZE``, ``LOCAL_RANK`` (the rank on this machine, which picks
the GPU) and ``MASTER_ADDR``/``MASTER_PORT`` (where rank 0's store listens). :func:`init_distributed` reads
them; :func:`distributed_session` wraps a program so that it joins the group when launched by torchrun and
always leaves it (``destroy_process_group``), errors included. Every helper works without a group too,
as the single process of a world of one.

Backends: gloo for CPU tensors; on a machine with CUDA, NCCL for CUDA tensors beside gloo for CPU ones
(``"cpu:gloo,cuda:nccl"``), each rank on ``cuda:LOCAL_RANK``.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import Tensor

from recnets.core.state import tree_map
from recnets.tasks.base import Batch

__all__ = [
    "launched_with_torchrun",
    "init_distributed",
    "shutdown",
    "distributed_session",
    "is_distributed",
    "rank",
    "world_size",
    "local_rank",
    "is_main",
    "barrier",
    "all_reduce_sum",
    "all_reduce_min",
    "broadcast_from_main",
    "all_gather_objects",
    "shard_bounds",
    "shard_batch",
    "gather_rows",
    "seed_for_rank",
]

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
RANK_SEED_STRIDE = 1_000_003


def launched_with_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (``RANK`` and ``WORLD_SIZE`` are set)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _environment_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ValueError(f"{name}: expected the environment variable that torchrun sets, got none "
                             f"(launch with `torchrun --nproc_per_node N -m recnets ...`)")
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: expected an integer in the environment, got {value!r}") from None


def init_distributed(*, backend: str | None = None, init_method: str = "env://",
                     timeout_s: float = 1800.0) -> torch.device:
    """Join the process group described by torchrun's environment variables; returns this rank's device.

    Args:
        backend: None picks ``"gloo"`` without CUDA and ``"cpu:gloo,cuda:nccl"`` with it; or any name
            ``torch.distributed.init_process_group`` accepts.
        init_method: ``"env://"`` (``MASTER_ADDR``/``MASTER_PORT``, what torchrun sets) or another URL such
            as ``"file:///path/store"`` (tests).
        timeout_s: how long a collective may wait for the other ranks.

    Returns:
        ``cuda:LOCAL_RANK`` (made the current CUDA device) when CUDA is available, else ``cpu``.

    Raises:
        ValueError: ``RANK``/``WORLD_SIZE`` missing or not integers, a rank outside ``[0, WORLD_SIZE)``, a
            ``LOCAL_RANK`` without a matching GPU, or a group already initialised.
    """
    if dist.is_initialized():
        raise ValueError("init_distributed: expected no process group yet, got one already initialised")
    rank_ = _environment_int("RANK")
    world = _environment_int("WORLD_SIZE")
    local = _environment_int("LOCAL_RANK", default=rank_)
    if world < 1 or not 0 <= rank_ < world:
        raise ValueError(f"RANK: expected 0 <= RANK < WORLD_SIZE = {world}, got {rank_}")
    device = torch.device("cpu")
    if torch.cuda.is_available():
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK: expected one of the {torch.cuda.device_count()} visible GPUs, got {local}; "
                             f"use at most that many --nproc_per_node")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if backend is None:
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method=init_method, rank=rank_, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s),
                            device_id=device if device.type == "cuda" else None)
    return device


def shutdown() -> None:
    """Leave the process group (``destroy_process_group``) if one is initialised; otherwise nothing."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_session(**options: Any) -> Iterator[bool]:
    """Join torchrun's process group for the ``with`` block and leave it afterwards, errors included.

    Outside torchrun (no ``RANK``/``WORLD_SIZE``), or with a group already initialised by the caller, it does
    nothing. Yields whether this call started a group. ``options`` go to :func:`init_distributed`.
    """
    started = launched_with_torchrun() and not (dist.is_available() and dist.is_initialized())
    if started:
        init_distributed(**options)
    try:
        yield started
    finally:
        if started:
            shutdown()


def is_distributed() -> bool:
    """Whether a process group is initialised (of any size)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group (0 without a group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes in the group (1 without a group)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """The rank on this machine (``LOCAL_RANK``; the rank without it; 0 without a group)."""
    return _environment_int("LOCAL_RANK", default=rank()) if is_distributed() else 0


def is_main() -> bool:
    """Whether this is rank 0, the process that writes files and prints (True without a group)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here (nothing without a group)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over the ranks, in place on every rank; returns it (unchanged without a group)."""
    if is_distributed() and world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_min(tensor: Tensor) -> Tensor:
    """Element-wise minimum of ``tensor`` over the ranks, in place; returns it."""
    if is_distributed() and world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return tensor


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` (any picklable object) on every rank; ``value`` itself without a group."""
    if not (is_distributed() and world_size() > 1):
        return value
    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank; ``[value]`` without a group."""
    if not (is_distributed() and world_size() > 1):
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def shard_bounds(total: int, index: int, count: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of shard ``index`` when ``total`` rows are cut into ``count`` contiguous shards.

    The first ``total % count`` shards get one row more (as ``torch.tensor_split``).
    """
    base, extra = divmod(total, count)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def shard_batch(batch: Batch, index: int | None = None, count: int | None = None) -> Batch:
    """Rows of ``batch`` that rank ``index`` of ``count`` trains on (this process's rank and world by default).

    Args:
        batch: inputs (B, ...) a tensor, targets (B, ...), lengths (B,) or None, mask (B, T) or None.
        index, count: the shard and the number of shards.

    Returns:
        The same batch cut to rows ``shard_bounds(B, index, count)``; the batch itself when ``count`` is 1.

    Raises:
        ValueError: inputs or targets are not tensors with B rows (e.g. a batch of trees, whose targets are
            per node): such a batch cannot be cut by rows.
    """
    index = rank() if index is None else index
    count = world_size() if count is None else count
    if count == 1:
        return batch
    inputs, targets = batch.inputs, batch.targets
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor) or targets.dim() == 0 \
            or targets.shape[0] != inputs.shape[0]:
        kind = type(inputs).__name__ if not isinstance(inputs, Tensor) else f"targets {tuple(targets.shape)}"
        raise ValueError(f"batch: expected tensors with the batch as first dimension to shard across {count} "
                         f"processes, got inputs {kind}; train this task in one process")
    start, stop = shard_bounds(inputs.shape[0], index, count)

    def rows(tensor: Tensor | None) -> Tensor | None:
        return None if tensor is None else tensor[start:stop]

    return Batch(inputs[start:stop], targets[start:stop], rows(batch.lengths), rows(batch.mask))


def gather_rows(state: Any, total: int) -> Any:
    """The whole batch's state from every rank's rows of it (each rank holds its ``shard_bounds`` rows).

    Every leaf (b, ...) becomes (total, ...) on every rank; the rows are put in place in a zero tensor and
    summed over the ranks, which is exact. Without a group (or a world of one) the state is returned as it is.
    """
    if not (is_distributed() and world_size() > 1):
        return state
    start, stop = shard_bounds(total, rank(), world_size())

    def gather(leaf: Tensor) -> Tensor:
        dtype = torch.uint8 if leaf.dtype == torch.bool else leaf.dtype
        whole = torch.zeros((total, *leaf.shape[1:]), dtype=dtype, device=leaf.device)
        whole[start:stop] = leaf.detach().to(dtype)
        all_reduce_sum(whole)
        return whole.to(leaf.dtype)

    return tree_map(gather, state)


def seed_for_rank(seed: int, rank_: int) -> int:
    """The seed of torch's generator on rank ``rank_``: ``seed`` itself on rank 0, ``seed + 1,000,003 · rank``
    on the others (so that dropout draws differ between shards)."""
    return seed + RANK_SEED_STRIDE * rank_
