"""Step 4 in JAX: the notebook's training stack as pure functions.

The same names as ``reference_torch.train`` (``loss_batch``, ``train_step``, ``val_step``,
``fit``, ``run_model``), but nothing is updated in place: every function takes the training
state and returns a new one. ``train_step`` is one jit-compiled SGD step; ``train_epoch``
runs a whole epoch as one compiled ``lax.scan`` over batches gathered on the device; and
``fit_epoch`` adds the shuffle and the validation pass, so an epoch is one call from Python.
``jax.vmap`` over ``fit_epoch`` trains an ensemble of K models in that same call.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding
from tqdm.auto import tqdm

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.spec import BATCH_SIZE, EPOCHS, LEARNING_RATE, PATIENCE
from jax_impl import distributed
from jax_impl.data import Batch, Dataset, batch_indices, gather_batch, shuffled_order

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def mse_loss(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example squared error, (B, 1) and (B, 1) -> (B,); its mean is ``nn.MSELoss``."""
    return jnp.mean((pred - y) ** 2, axis=-1)


def cross_entropy_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example cross-entropy, (B, C) logits and (B,) labels -> (B,)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


class TrainState(train_state.TrainState):
    """Flax's TrainState (step, params, optimiser and its state) plus the loss function:
    everything one step needs, passed in and returned."""

    loss_fn: LossFn = struct.field(pytree_node=False, default=mse_loss)


@dataclass
class History:
    """Per-epoch losses and wall-clock seconds, the same shape in both ports."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False


def create_train_state(
    model: nn.Module,
    key: jax.Array,
    seq_len: int,
    tx: optax.GradientTransformation | None = None,
    loss_fn: LossFn = mse_loss,
) -> TrainState:
    """Initialise ``model``'s parameters from ``key`` and pair them with an optimiser.

    ``tx`` defaults to the notebook's ``optax.sgd(0.01)``; any optax optimiser works.
    """
    tx = tx if tx is not None else optax.sgd(LEARNING_RATE)

    def create(key: jax.Array) -> TrainState:
        params = model.init(key, jnp.zeros((1, seq_len, 4)))["params"]  # shapes from one row
        state = TrainState.create(apply_fn=model.apply, params=params, tx=tx, loss_fn=loss_fn)
        # A strongly typed step: a weakly typed Python 0 would make the first epoch's
        # argument types differ from every later epoch's, and so cost a second compile.
        return state.replace(step=jnp.zeros((), jnp.int32))

    # Compiled for the same reason: the state then lives on the device exactly as every
    # jitted epoch's output does, so the first epoch's compilation is the only one.
    return jax.jit(create)(key)


def loss_batch(params, state: TrainState, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """Mean loss over a batch's real rows (``mask`` 1): (loss, number of real rows)."""
    pred = state.apply_fn({"params": params}, batch.x)
    n = batch.mask.sum()
    return jnp.sum(state.loss_fn(pred, batch.y) * batch.mask) / n, n


@jax.jit
def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimiser step on one batch: (new state, {"loss", "n"})."""
    (loss, n), grads = jax.value_and_grad(loss_batch, has_aux=True)(state.params, state, batch)
    return state.apply_gradients(grads=grads), {"loss": loss, "n": n}


@jax.jit
def eval_step(state: TrainState, batch: Batch) -> dict[str, jax.Array]:
    """The loss of one batch without a step: {"loss", "n"}."""
    loss, n = loss_batch(state.params, state, batch)
    return {"loss": loss, "n": n}


def _weighted_mean(metrics: dict[str, jax.Array]) -> jax.Array:
    # The epoch loss weights each batch mean by its size, so a short last batch counts less.
    return jnp.sum(metrics["loss"] * metrics["n"]) / jnp.sum(metrics["n"])


def _split(batch: Batch, sharding: NamedSharding | None) -> Batch:
    # Data parallelism (jax_impl.distributed): each device gets a slice of the batch.
    return batch if sharding is None else jax.lax.with_sharding_constraint(batch, sharding)


@functools.partial(jax.jit, static_argnames=("batch_size", "batch_sharding"))
def train_epoch(
    state: TrainState,
    data: Dataset,
    order: jax.Array,
    batch_size: int = BATCH_SIZE,
    batch_sharding: NamedSharding | None = None,
) -> tuple[TrainState, jax.Array]:
    """One epoch of SGD as a single compiled ``lax.scan`` over the batches of ``order``.

    Returns the new state and the size-weighted mean training loss. ``batch_sharding``
    splits every batch over several devices (see :mod:`jax_impl.distributed`).
    """
    idx, mask = batch_indices(order, batch_size)  # (num_batches, B) each

    def step(state, batch_rows):
        return train_step(state, _split(gather_batch(data, *batch_rows), batch_sharding))

    state, metrics = jax.lax.scan(step, state, (idx, mask))
    return state, _weighted_mean(metrics)


@functools.partial(jax.jit, static_argnames=("batch_size", "batch_sharding"))
def val_step(
    state: TrainState,
    data: Dataset,
    batch_size: int = BATCH_SIZE,
    batch_sharding: NamedSharding | None = None,
) -> jax.Array:
    """The size-weighted mean loss over ``data`` in order, as one compiled scan."""
    idx, mask = batch_indices(jnp.arange(len(data)), batch_size)

    def evaluate(rows):
        return eval_step(state, _split(gather_batch(data, *rows), batch_sharding))

    return _weighted_mean(jax.lax.map(evaluate, (idx, mask)))


@jax.jit
def _train_step_on_rows(state: TrainState, data: Dataset, idx: jax.Array, mask: jax.Array):
    return train_step(state, gather_batch(data, idx, mask))


def train_epoch_stepwise(
    state: TrainState, data: Dataset, order: jax.Array, batch_size: int = BATCH_SIZE
) -> tuple[TrainState, jax.Array]:
    """:func:`train_epoch` with the loop in Python: one compiled call per batch.

    The same batches and arithmetic; kept to show (and measure) what fusing the loop buys.
    """
    idx, mask = batch_indices(order, batch_size)
    losses, sizes = [], []
    for rows in zip(idx, mask):
        state, metrics = _train_step_on_rows(state, data, *rows)
        losses.append(metrics["loss"])
        sizes.append(metrics["n"])
    return state, _weighted_mean({"loss": jnp.stack(losses), "n": jnp.stack(sizes)})


def fit_epoch(
    state: TrainState,
    train: Dataset,
    val: Dataset,
    key: jax.Array,
    batch_size: int,
    batch_sharding: NamedSharding | None = None,
) -> tuple[TrainState, tuple[jax.Array, jax.Array]]:
    """Shuffle, train an epoch and validate: (new state, (train loss, val loss)).

    If either loss is not finite the input state is returned unchanged, so a diverging
    run never loses its last good parameters (the caller reports the error).
    """
    order = shuffled_order(key, len(train))
    new_state, train_loss = train_epoch(state, train, order, batch_size, batch_sharding)
    val_loss = val_step(new_state, val, batch_size, batch_sharding)
    ok = jnp.isfinite(train_loss) & jnp.isfinite(val_loss)
    state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
    return state, (train_loss, val_loss)


#: One compiled call per epoch. The state's buffers are donated: XLA may reuse them for
#: the new state instead of allocating a second copy.
fit_epoch_jit = jax.jit(
    fit_epoch, static_argnames=("batch_size", "batch_sharding"), donate_argnums=0
)


@functools.partial(jax.jit, static_argnames="batch_size", donate_argnums=0)
def fit_epoch_ensemble(
    states: TrainState, train: Dataset, val: Dataset, keys: jax.Array, batch_size: int
) -> tuple[TrainState, tuple[jax.Array, jax.Array]]:
    """:func:`fit_epoch` for K models at once: states stacked on a leading axis, one shuffle
    key each (K,), all sharing one copy of the data. Losses come back as (K,) arrays."""
    one_model = functools.partial(fit_epoch, batch_size=batch_size)
    return jax.vmap(one_model, in_axes=(0, None, None, 0))(states, train, val, keys)


def _commit_to_one_device(state: TrainState, train: Dataset, val: Dataset):
    # Arrays placed with jax.device_put are "committed" to their device, others are not,
    # and a jitted function compiles once per mix: committed data would make epoch 0's
    # outputs committed, so epoch 1 would compile again. Commit everything up front.
    devices = train.codes.devices()
    if len(devices) != 1:  # sharded over several devices: placement is the caller's
        return state, train, val
    return jax.device_put((state, train, val), next(iter(devices)))


def epoch_key(key: jax.Array, epoch: int) -> jax.Array:
    """The shuffle key of ``epoch``: a function of the run's key and the epoch number only,
    so a resumed run draws the same batches as an uninterrupted one."""
    return jax.random.fold_in(key, epoch)


def fit(
    epochs: int,
    state: TrainState,
    train: Dataset,
    val: Dataset,
    key: jax.Array,
    batch_size: int = BATCH_SIZE,
    patience: int = PATIENCE,
    progress: bool = True,
    verbose: bool = False,
    desc: str = "jax",
    history: History | None = None,
    on_epoch_end: Callable[[int, TrainState, History], None] | None = None,
    mesh: Mesh | None = None,
) -> tuple[TrainState, History]:
    """Train for ``epochs`` epochs with early stopping, one compiled call per epoch.

    Mirrors ``reference_torch.train.fit``: ``patience`` epochs without a new best
    validation loss stop training; ``verbose`` prints the notebook's epoch lines;
    ``history`` continues an earlier run; ``on_epoch_end(epoch, state, history)`` runs after
    each epoch. ``key`` is the shuffle key; epoch e shuffles with ``epoch_key(key, e)``.
    With a ``mesh`` (:func:`jax_impl.distributed.make_mesh`) training is data-parallel:
    the same batches, each split over the mesh's devices.

    Raises
    ------
    NonFiniteLossError
        If a loss is NaN or infinite; its ``last_good`` is the state before that epoch.
    """
    if epochs < 0 or patience < 1:
        raise ValueError(f"need epochs >= 0 and patience >= 1, got {epochs} and {patience}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    history = history or History()
    if history.stopped_early:  # a resumed run that had already stopped stays stopped
        return state, history
    best = min(history.val, default=math.inf)
    since_best = len(history.val) - 1 - history.val.index(best) if history.val else 0
    start = len(history.train)
    # Each epoch donates its input state's buffers to the next one; start from a copy so
    # the caller's state stays valid, as a pure function's argument should.
    state = jax.tree.map(jnp.copy, state)
    if mesh is None:
        sharding = None
        state, train, val = _commit_to_one_device(state, train, val)
    else:
        sharding = distributed.batch_sharding(mesh, batch_size)
        state, train, val = distributed.place((state, train, val), mesh)
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        tick = time.perf_counter()
        state, losses = fit_epoch_jit(
            state, train, val, epoch_key(key, epoch), batch_size, sharding
        )
        train_loss, val_loss = (float(v) for v in losses)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise NonFiniteLossError(
                f"epoch {epoch}: loss became non-finite (train {train_loss}, val {val_loss}); "
                "try a smaller learning rate. The last good state is kept.",
                last_good=state,  # fit_epoch handed back its input state unchanged
            )
        history.train.append(train_loss)
        history.val.append(val_loss)
        history.seconds.append(time.perf_counter() - tick)
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if verbose:
            tqdm.write(f"E{epoch} | train loss: {train_loss:.3f} | val loss: {val_loss:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, state, history)
        if val_loss < best:
            best, since_best = val_loss, 0
        else:
            since_best += 1
            if since_best >= patience:
                history.stopped_early = True
                break
    return state, history


def run_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init key, shuffle key) of a run: everything random in training comes from ``seed``."""
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    return init_key, shuffle_key


def run_model(
    train: Dataset,
    val: Dataset,
    model: nn.Module,
    seed: int,
    lr: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    loss_fn: LossFn = mse_loss,
    tx: optax.GradientTransformation | None = None,
    batch_size: int = BATCH_SIZE,
    **fit_kwargs,
) -> tuple[TrainState, History]:
    """The notebook's entry point: init from ``seed``, SGD(lr) unless ``tx`` is given, fit."""
    init_key, shuffle_key = run_keys(seed)
    state = create_train_state(model, init_key, train.codes.shape[1], tx or optax.sgd(lr), loss_fn)
    return fit(epochs, state, train, val, shuffle_key, batch_size, **fit_kwargs)


def create_ensemble(
    model: nn.Module,
    seeds: list[int],
    seq_len: int,
    tx: optax.GradientTransformation | None = None,
    loss_fn: LossFn = mse_loss,
) -> tuple[TrainState, jax.Array]:
    """K train states stacked on a leading axis, member k initialised as seed ``seeds[k]``
    would be by :func:`run_model`: (stacked state, stacked shuffle keys (K,))."""
    keys = jnp.stack([jnp.stack(run_keys(s)) for s in seeds])  # (K, 2)
    tx = tx if tx is not None else optax.sgd(LEARNING_RATE)
    states = jax.vmap(lambda k: create_train_state(model, k, seq_len, tx, loss_fn))(keys[:, 0])
    return states, keys[:, 1]


def fit_ensemble(
    epochs: int,
    states: TrainState,
    train: Dataset,
    val: Dataset,
    shuffle_keys: jax.Array,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
) -> tuple[TrainState, jax.Array]:
    """Train K models in lock-step: (states, losses (epochs, 2, K) as train/val per member).

    No early stopping: members would stop at different epochs, and a vmapped call
    advances all of them together.
    """
    losses = []
    for epoch in tqdm(range(epochs), desc="jax ensemble", disable=not progress, leave=False):
        keys = jax.vmap(epoch_key, in_axes=(0, None))(shuffle_keys, epoch)
        states, (train_loss, val_loss) = fit_epoch_ensemble(states, train, val, keys, batch_size)
        losses.append(jnp.stack([train_loss, val_loss]))
    return states, jnp.stack(losses) if losses else jnp.zeros((0, 2, len(shuffle_keys)))
