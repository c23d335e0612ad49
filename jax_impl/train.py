"""Step 4 in JAX: the notebook's training stack.

``run_model -> fit -> train_step / val_step -> loss_batch``: pure functions that take the
state (the model's variables, the optimiser's state) and return a new one, randomness
drawn from explicit keys, and each epoch's loop over batches compiled with ``lax.scan``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state
from tqdm.auto import tqdm

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.schedule import schedule_factor
from dna_tutorial.spec import (
    EPOCHS,
    LEARNING_RATE,
    PATIENCE,
    SCHEDULE,
    WARMUP_EPOCHS,
    WEIGHT_DECAY,
)
from jax_impl.data import DataLoader

LossFunc = Callable[[jax.Array, jax.Array], jax.Array]


def mse_loss(pred: jax.Array, yb: jax.Array) -> jax.Array:
    """Mean squared error of (B, 1) predictions and targets: torch's ``nn.MSELoss()``."""
    return jnp.mean((pred - yb) ** 2)


def cross_entropy_loss(logits: jax.Array, yb: jax.Array) -> jax.Array:
    """Mean cross-entropy of (B, C) logits and (B,) labels: ``nn.CrossEntropyLoss()``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()


def binary_cross_entropy_loss(logits: jax.Array, yb: jax.Array) -> jax.Array:
    """Mean binary cross-entropy of (B, K) logits and 0/1 labels: ``nn.BCEWithLogitsLoss()``."""
    return optax.sigmoid_binary_cross_entropy(logits, yb).mean()


#: The loss each task trains with: the notebook's MSE, footnote 2's cross-entropy, and
#: binary cross-entropy on logits for a multi-label task.
LOSSES = {
    "regress": mse_loss,
    "classify": cross_entropy_loss,
    "multilabel": binary_cross_entropy_loss,
}


class TrainState(train_state.TrainState):
    """What the reference keeps inside its model and optimiser objects, as one value:
    Flax's TrainState (step, params, optimiser and its state), the model's other variables
    (BatchNorm statistics, if it has any) and the loss."""

    batch_stats: Any
    loss_func: LossFunc = struct.field(pytree_node=False, default=mse_loss)

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}


@dataclass
class History:
    """Per-epoch losses and wall-clock seconds, the same shape in both ports."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False


def create_train_state(
    model: nn.Module, key: jax.Array, xb: jax.Array, opt=None, loss_func: LossFunc = mse_loss
) -> TrainState:
    """Initialise ``model`` from ``key`` (shapes from an example batch ``xb``) and pair it
    with an optimiser: the notebook's ``SGD(lr=0.01)`` unless ``opt`` is given."""
    variables = model.init(key, xb)
    return TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables.get("batch_stats", {}),
        tx=opt if opt is not None else optax.sgd(LEARNING_RATE),
        loss_func=loss_func,
    )


def loss_batch(
    state: TrainState,
    xb: jax.Array,
    yb: jax.Array,
    step: bool = False,
    key: jax.Array | None = None,
) -> tuple[TrainState, jax.Array, int]:
    """Loss of one batch, and an optimiser step when ``step``: (state, loss, batch size).

    ``key`` draws the batch's dropout masks, if the model has dropout."""

    def loss_of(params):
        variables = {"params": params, "batch_stats": state.batch_stats}
        rngs = None if key is None else {"dropout": key}
        pred, new = state.apply_fn(variables, xb, train=step, rngs=rngs, mutable="batch_stats")
        return state.loss_func(pred, yb), new["batch_stats"]

    if not step:
        return state, loss_of(state.params)[0], len(xb)
    (loss, batch_stats), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
    return state.apply_gradients(grads=grads, batch_stats=batch_stats), loss, len(xb)


def _weighted_mean(losses: list[jax.Array], sizes: list[jax.Array]) -> jax.Array:
    # The epoch loss weights each batch mean by its size, so a short last batch counts less.
    losses, sizes = jnp.concatenate(losses), jnp.concatenate(sizes)
    return jnp.sum(losses * sizes) / jnp.sum(sizes)


@jax.jit
def train_step(
    state: TrainState, train_dl: DataLoader, key: jax.Array
) -> tuple[TrainState, jax.Array]:
    """One epoch of optimisation over ``train_dl``; returns the new state and the
    size-weighted mean loss. ``key`` shuffles the epoch and keys each step's dropout."""
    shuffle_key, dropout_key = jax.random.split(key)

    def batch_step(state, idx):  # one optimiser step; lax.scan loops it over the batches
        step_key = jax.random.fold_in(dropout_key, state.step)
        state, loss, n = loss_batch(state, *train_dl.batch(idx), step=True, key=step_key)
        return state, (loss, n)

    losses, sizes = [], []
    for batches in train_dl.batches(shuffle_key):  # the full batches, then the short last one
        state, (loss, n) = jax.lax.scan(batch_step, state, batches)
        losses.append(loss)
        sizes.append(n)
    return state, _weighted_mean(losses, sizes)


@jax.jit
def val_step(state: TrainState, val_dl: DataLoader) -> jax.Array:
    """The size-weighted mean loss over ``val_dl``, without gradients."""

    def batch_loss(idx):
        _, loss, n = loss_batch(state, *val_dl.batch(idx))
        return loss, n

    losses, sizes = [], []
    for batches in val_dl.batches():
        loss, n = jax.lax.map(batch_loss, batches)
        losses.append(loss)
        sizes.append(n)
    return _weighted_mean(losses, sizes)


def fit(
    epochs: int,
    state: TrainState,
    train_dl: DataLoader,
    val_dl: DataLoader,
    key: jax.Array,
    patience: int = PATIENCE,
    progress: bool = True,
    verbose: bool = False,
    desc: str = "jax",
    history: History | None = None,
    on_epoch_end: Callable[[int, TrainState, History], None] | None = None,
) -> tuple[TrainState, History]:
    """Train for ``epochs`` epochs, stopping early after ``patience`` epochs without a new
    best validation loss. Prints the notebook's ``E{epoch} | train loss | val loss`` lines
    when ``verbose``; shows a progress bar when ``progress``.

    ``history`` continues an earlier run (its epochs count towards ``epochs``);
    ``on_epoch_end(epoch, state, history)`` runs after each epoch, e.g. to save a checkpoint.
    Epoch e draws from ``fold_in(key, e)``, so a resumed run draws what it would have.

    Raises
    ------
    NonFiniteLossError
        If a train or validation loss is NaN or infinite. Its ``last_good`` is the state
        of the last epoch with finite losses: nothing was changed in place, nothing undone.
    """
    if epochs < 0 or patience < 1:
        raise ValueError(f"need epochs >= 0 and patience >= 1, got {epochs} and {patience}")
    history = history or History()
    if history.stopped_early:  # a resumed run that had already stopped stays stopped
        return state, history
    best = min(history.val, default=math.inf)
    since_best = len(history.val) - 1 - history.val.index(best) if history.val else 0
    start = len(history.train)
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        tick = time.perf_counter()
        new_state, train_loss = train_step(state, train_dl, jax.random.fold_in(key, epoch))
        val_loss = val_step(new_state, val_dl)
        train_loss, val_loss = float(train_loss), float(val_loss)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise NonFiniteLossError(
                f"epoch {epoch}: loss became non-finite (train {train_loss}, val {val_loss}); "
                "try a smaller learning rate. The last good state is kept.",
                last_good=state,
            )
        state = new_state
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


def run_model(
    train_dl: DataLoader,
    val_dl: DataLoader,
    model: nn.Module,
    key: jax.Array,
    lr: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    loss_func: LossFunc | None = None,
    opt: optax.GradientTransformation | None = None,
    **fit_kwargs,
) -> tuple[TrainState, History]:
    """The notebook's entry point: SGD(lr) and MSE unless given, then :func:`fit`.

    ``key`` (from ``set_seed``) splits into the initialisation key and the shuffle key."""
    init_key, shuffle_key = jax.random.split(key)
    xb, _ = train_dl.batch(jnp.arange(1))  # one row: the shapes to initialise
    state = create_train_state(model, init_key, xb, opt or optax.sgd(lr), loss_func or mse_loss)
    return fit(epochs, state, train_dl, val_dl, shuffle_key, **fit_kwargs)


def learning_rate(
    peak: float, schedule: str, warmup_epochs: int, epochs: int, steps_per_epoch: int
) -> optax.Schedule:
    """The deeper CNN's rate as a function of optax's step count: the schedule of epoch
    ``step // steps_per_epoch``, as torch steps its scheduler once per epoch."""

    def rate(step):
        epoch = step // steps_per_epoch
        return peak * schedule_factor(epoch, schedule, warmup_epochs, epochs, jnp)

    return rate


def make_optimizer(
    kind: str = "sgd",
    lr: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    warmup_epochs: int = WARMUP_EPOCHS,
    epochs: int = EPOCHS,
    schedule: str = SCHEDULE,
    steps_per_epoch: int = 1,
) -> optax.GradientTransformation:
    """The optimizer a model trains with: the notebook's ``optax.sgd(lr)``, or
    (``kind="adamw"``) the deeper CNN's AdamW with a warm-up and a cosine (or constant)
    schedule of its peak rate ``lr``. The schedule's position is the step count optax keeps
    in the optimizer's state (``len(train_dl)`` steps an epoch), so it is saved and
    restored with the rest of the state."""
    if kind == "sgd":
        return optax.sgd(lr)
    rate = learning_rate(lr, schedule, warmup_epochs, epochs, steps_per_epoch)
    return optax.adamw(rate, weight_decay=weight_decay)
