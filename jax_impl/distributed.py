"""Data-parallel training with ``jax.sharding``: the same fused epoch on many devices.

Nothing in the training code changes. :func:`place` puts the train state and the
datasets on a :class:`~jax.sharding.Mesh` (replicated: every device holds the parameters
and the int8-coded sequences, 1 byte per base) and returns the sharding that
``jax_impl.train.train_epoch`` applies to each batch: split along its first axis, one
slice per device. XLA's SPMD partitioner then runs each slice's forward and backward pass
on its own device and all-reduces the gradients, so a step on B rows over D devices
computes what one device computes on the same B rows (up to the order of float
additions).

Several hosts: call :func:`initialize` in every process first; ``jax.devices()`` then
spans all hosts and the mesh below covers them. Each process must load the same data.
Only single-host meshes are tested here (CPU: ``--xla_force_host_platform_device_count``).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: The mesh axis that batches are split along.
DATA_AXIS = "data"


def host_device_flag(count: int) -> str:
    """The ``XLA_FLAGS`` entry that gives the CPU backend ``count`` virtual devices.

    It only works if set before JAX initialises its backends (before the first
    computation), which is why the command line sets it, not this module.
    """
    return f"--xla_force_host_platform_device_count={count}"


def initialize() -> None:
    """Join a multi-process JAX run (one process per host, or per GPU).

    Uses JAX's own environment detection (SLURM, cloud TPU, ...) or, when launched by
    ``torchrun``, its variables: coordinator ``MASTER_ADDR:MASTER_PORT+1``, ``WORLD_SIZE``
    processes, this one ``RANK``. A no-op when the environment describes one process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if "MASTER_ADDR" in os.environ and world > 1:
        port = int(os.environ.get("MASTER_PORT", "29500")) + 1
        jax.distributed.initialize(
            f"{os.environ['MASTER_ADDR']}:{port}", world, int(os.environ["RANK"])
        )
    elif world > 1 or "JAX_COORDINATOR_ADDRESS" in os.environ:
        jax.distributed.initialize()


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A one-axis mesh over the first ``num_devices`` devices (default: all of them)."""
    devices = jax.devices()
    count = len(devices) if num_devices is None else num_devices
    if not 1 <= count <= len(devices):
        raise ValueError(
            f"asked for {count} devices but JAX sees {len(devices)} ({devices[0].platform}); "
            "on CPU start with XLA_FLAGS="
            + host_device_flag(count)
            + " (the command line's --devices does this)"
        )
    return Mesh(np.array(devices[:count]), (DATA_AXIS,))


def place(tree, mesh: Mesh):
    """``tree`` (a train state, a dataset, ...) replicated on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def batch_sharding(mesh: Mesh, batch_size: int) -> NamedSharding:
    """How each batch is split: along its first axis, over the mesh's devices.

    Raises ``ValueError`` unless ``batch_size`` divides evenly among the devices.
    """
    if batch_size % mesh.size:
        raise ValueError(
            f"batch size {batch_size} does not split evenly over {mesh.size} devices; "
            f"use a multiple of {mesh.size}"
        )
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))
