"""More than one model, more than one call, more than one device: the lesson's functions
composed, not rewritten.

- **Ensembles.** ``jax.vmap`` over ``train_step`` and ``val_step`` trains K models in one
  compiled call, their states stacked on a leading axis and the data shared.
- **The stepwise loop.** ``train_step`` with its loop over batches in Python, one compiled
  call per batch: the same batches and arithmetic, kept to show (and measure) what
  compiling the whole epoch buys.
- **Data parallelism.** :func:`data_parallel` puts the train state and the datasets on a
  :class:`~jax.sharding.Mesh` (replicated: every device holds the parameters and the
  sequences) and wraps each loader so that every batch is split along its first axis, one
  slice per device. XLA's SPMD partitioner then runs each slice's forward and backward pass
  on its own device and all-reduces the gradients, so a step on B rows over D devices
  computes what one device computes on the same B rows (up to the order of float
  additions). Several hosts: call :func:`initialize` in every process first; the mesh then
  spans all hosts. Only single-host meshes are tested here (CPU:
  ``--xla_force_host_platform_device_count``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from dna_tutorial.errors import ConfigError
from jax_impl.data import DataLoader
from jax_impl.train import (
    LossFunc,
    TrainState,
    create_train_state,
    loss_batch,
    mse_loss,
    train_step,
    val_step,
)

# --- Ensembles -------------------------------------------------------------------------------


def create_ensemble(
    model: nn.Module,
    keys: jax.Array,
    xb: jax.Array,
    tx: optax.GradientTransformation | None = None,
    loss_func: LossFunc = mse_loss,
) -> tuple[TrainState, jax.Array]:
    """K train states stacked on a leading axis, member k initialised as ``run_model`` would
    initialise it from ``keys[k]``: (stacked state, stacked shuffle keys (K,))."""
    init_keys, shuffle_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    states = jax.vmap(lambda k: create_train_state(model, k, xb, tx, loss_func))(init_keys)
    return states, shuffle_keys


@jax.jit
def _ensemble_epoch(states, train_dl, val_dl, keys):
    def one(state, key):
        state, train_loss = train_step(state, train_dl, key)
        return state, (train_loss, val_step(state, val_dl))

    return jax.vmap(one)(states, keys)


def fit_ensemble(
    epochs: int,
    states: TrainState,
    train_dl: DataLoader,
    val_dl: DataLoader,
    keys: jax.Array,
    progress: bool = True,
) -> tuple[TrainState, jax.Array]:
    """Train K models in lock-step: (states, losses (epochs, 2, K) as train/val per member).

    Member k draws epoch e from ``fold_in(keys[k], e)``, as ``fit`` does. No early
    stopping: members would stop at different epochs, and a vmapped call advances all.
    """
    losses = []
    for epoch in tqdm(range(epochs), desc="jax ensemble", disable=not progress, leave=False):
        epoch_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, epoch)
        states, (train_loss, val_loss) = _ensemble_epoch(states, train_dl, val_dl, epoch_keys)
        losses.append(jnp.stack([train_loss, val_loss]))
    return states, jnp.stack(losses) if losses else jnp.zeros((0, 2, len(keys)))


# --- The stepwise loop -------------------------------------------------------------------------


@jax.jit
def _batches(train_dl: DataLoader, key: jax.Array) -> list[jax.Array]:
    return train_dl.batches(key)


@jax.jit
def _batch_step(state: TrainState, train_dl: DataLoader, idx: jax.Array, key: jax.Array):
    step_key = jax.random.fold_in(key, state.step)
    return loss_batch(state, *train_dl.batch(idx), step=True, key=step_key)


def train_step_stepwise(
    state: TrainState, train_dl: DataLoader, key: jax.Array
) -> tuple[TrainState, jax.Array]:
    """``train_step`` with the loop over batches in Python: one compiled call per batch.

    The same batches, keys and arithmetic as the compiled epoch."""
    shuffle_key, dropout_key = jax.random.split(key)
    losses, sizes = [], []
    for batches in _batches(train_dl, shuffle_key):
        for idx in batches:
            state, loss, n = _batch_step(state, train_dl, idx, dropout_key)
            losses.append(loss)
            sizes.append(n)
    return state, jnp.sum(jnp.stack(losses) * jnp.array(sizes)) / sum(sizes)


# --- Data parallelism --------------------------------------------------------------------------

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
        raise ConfigError(
            f"asked for {count} devices but JAX sees {len(devices)} ({devices[0].platform}); "
            "on CPU start with XLA_FLAGS="
            + host_device_flag(count)
            + " (the command line's --devices does this)"
        )
    return Mesh(np.array(devices[:count]), (DATA_AXIS,))


@struct.dataclass
class ShardedLoader:
    """A loader whose every batch is split along its first axis over a mesh's devices."""

    loader: DataLoader
    sharding: NamedSharding = struct.field(pytree_node=False)

    def batches(self, key: jax.Array | None = None):
        return self.loader.batches(key)

    def batch(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.lax.with_sharding_constraint(self.loader.batch(idx), self.sharding)


def data_parallel(
    state: TrainState, loaders: Sequence[DataLoader], mesh: Mesh
) -> tuple[TrainState, list[ShardedLoader]]:
    """``state`` and the loaders' datasets replicated on ``mesh``, each loader wrapped so
    that its batches split over the mesh's devices.

    Raises ``ConfigError`` unless every loader's batch size divides evenly among them.
    """
    for loader in loaders:
        if loader.batch_size % mesh.size:
            raise ConfigError(
                f"batch size {loader.batch_size} does not split evenly over {mesh.size} "
                f"devices; use a multiple of {mesh.size}"
            )
    replicated = NamedSharding(mesh, PartitionSpec())
    state, loaders = jax.device_put((state, list(loaders)), replicated)
    split = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return state, [ShardedLoader(loader, split) for loader in loaders]
