"""Data-parallel training with ``DistributedDataParallel``, one process per device.

Launched by ``torchrun``, each of W processes holds a replica of the model and trains on
1/W of every global batch of B rows: a ``DistributedSampler`` deals each epoch's shuffled
order out to the ranks (rank r takes positions r, r + W, r + 2W, ...), each rank's
``DataLoader`` cuts its share into batches of B / W rows, and DDP averages the gradients
across ranks during ``backward()``, so every replica takes the SGD step that one process
would take on the whole batch. Backends: gloo on CPU, nccl on GPU.

    torchrun --standalone --nproc_per_node=2 -m dna_tutorial.cli run --framework torch --distributed
"""

from __future__ import annotations

import os
import socket
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dna_tutorial.errors import DeviceUnavailableError


def setup(device: str = "cpu") -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes: (rank, world size).

    Raises
    ------
    DeviceUnavailableError
        When not launched by ``torchrun`` (no ``RANK`` / ``WORLD_SIZE`` in the environment).
    """
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise DeviceUnavailableError(
            "--distributed runs under torchrun, e.g. 'torchrun --standalone --nproc_per_node=2 "
            "-m dna_tutorial.cli run --framework torch --distributed'"
        )
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    """Wait for every rank, then leave the process group. A rank that exits while the
    group's threads still run is killed by the C++ runtime ("terminate called without an
    active exception"), which under load can happen while rank 0 is still writing."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True in a single-process run, and in rank 0 of a distributed one."""
    return not dist.is_initialized() or dist.get_rank() == 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def distributed_loader(
    dataset: Dataset, batch_size: int, seed: int
) -> tuple[DataLoader, DistributedSampler]:
    """This rank's share of each epoch, in batches of ``batch_size / world size`` rows.

    ``batch_size`` is the global batch. Call ``sampler.set_epoch(e)`` before epoch e, so
    that every epoch is shuffled anew (with ``seed + e``, identically on all ranks).
    """
    world = world_size()
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} does not split over {world} processes")
    sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=batch_size // world, sampler=sampler), sampler


def wrap(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """``model`` as a DDP replica (its parameters broadcast from rank 0)."""
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def mean_over_ranks(value: float, device: torch.device) -> float:
    """The mean of a number across ranks (each rank sees the same number of rows, as the
    sampler pads the last share, so this is the size-weighted mean over all rows)."""
    if not dist.is_initialized():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


def torchrun(nproc: int) -> list[str]:
    """``torchrun`` for ``nproc`` local processes with a rendezvous port of its own, so
    that runs in parallel (pytest-xdist) never meet on the default one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--nnodes=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}",
    ]
