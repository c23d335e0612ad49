"""Step 4 in Flax NNX: the notebook's training stack.

``run_model -> fit -> train_step / val_step -> loss_batch``, as in torch: the model and
its optimizer are objects, updated in place. What JAX adds is the compile boundary. Two
ways to cross it, side by side:

- ``train_batch``: one step under ``nnx.jit``, which takes the model and optimizer as they
  are, splits them into a graph and arrays on the way in and merges them on the way out.
  The simple way, and the one Flax's guides start with.
- ``train_step``: the whole epoch as one ``lax.scan``, the way Flax's performance guide
  recommends for small models: ``nnx.split`` once into a static graph definition and a
  pytree of arrays, a pure step under ``jax.jit`` that ``nnx.merge``-s them, and
  ``nnx.update`` once at the end. The same batches and arithmetic, without NNX's object
  bookkeeping on every step.

Randomness lives in the model: ``nnx.Dropout`` draws from the ``dropout`` stream of the
``nnx.Rngs`` it was built with, a counter among the model's state. The epoch's order is
drawn from an explicit key, as in the Linen port.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import optax
from flax import nnx
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
from nnx_impl.data import DataLoader

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


@dataclass
class History:
    """Per-epoch losses and wall-clock seconds, the same shape in every port."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False


def loss_batch(
    model: nnx.Module,
    loss_func: LossFunc,
    xb: jax.Array,
    yb: jax.Array,
    opt: nnx.Optimizer | None = None,
) -> tuple[jax.Array, int]:
    """Loss of one batch, and an optimiser step when ``opt`` is given: (loss, batch size).
    The step updates ``model`` (and ``opt``'s state) in place, as torch's does."""

    def loss_of(model: nnx.Module) -> jax.Array:
        return loss_func(model(xb), yb)

    if opt is None:
        return loss_of(model), len(xb)
    # allow_int: under tree mode (``nnx.set_graph_mode(False)``) grad sees the whole model,
    # dropout's integer RNG state too; graph mode differentiates the nnx.Params alone
    loss, grads = nnx.value_and_grad(loss_of, allow_int=True)(model)
    opt.update(model, grads)
    return loss, len(xb)


@nnx.jit(static_argnames="loss_func")
def train_batch(
    model: nnx.Module, opt: nnx.Optimizer, loss_func: LossFunc, xb: jax.Array, yb: jax.Array
) -> jax.Array:
    """One optimiser step on one batch, compiled by ``nnx.jit``: the model and optimizer
    go in and come out updated; returns the loss."""
    return loss_batch(model, loss_func, xb, yb, opt)[0]


def _weighted_mean(losses: list[jax.Array], sizes: list[jax.Array]) -> jax.Array:
    # The epoch loss weights each batch mean by its size, so a short last batch counts less.
    losses, sizes = jnp.concatenate(losses), jnp.concatenate(sizes)
    return jnp.sum(losses * sizes) / jnp.sum(sizes)


@functools.partial(jax.jit, static_argnames=("graphdef", "loss_func"))
def _epoch(graphdef, state, train_dl: DataLoader, loss_func: LossFunc, key: jax.Array):
    """A pure function of arrays: the epoch's steps as ``lax.scan``, each one merging the
    model and optimizer from ``state`` and splitting them again."""

    def batch_step(state, idx):  # one optimiser step; lax.scan loops it over the batches
        model, opt = nnx.merge(graphdef, state)
        loss, n = loss_batch(model, loss_func, *train_dl.batch(idx), opt)
        return nnx.state((model, opt)), (loss, n)

    losses, sizes = [], []
    for batches in train_dl.batches(key):  # the full batches, then the short last one
        state, (loss, n) = jax.lax.scan(batch_step, state, batches)
        losses.append(loss)
        sizes.append(n)
    return state, _weighted_mean(losses, sizes)


def train_step(
    model: nnx.Module,
    train_dl: DataLoader,
    loss_func: LossFunc,
    opt: nnx.Optimizer,
    key: jax.Array,
) -> float:
    """One epoch of optimisation over ``train_dl``, compiled whole; ``model`` and ``opt``
    are updated in place. Returns the size-weighted mean loss. ``key`` shuffles the epoch."""
    model.train()
    shuffle_key = jax.random.split(key)[0]  # the Linen port's order (it keys dropout with [1])
    graphdef, state = nnx.split((model, opt))  # the static graph, and its arrays
    state, loss = _epoch(graphdef, state, train_dl, loss_func, shuffle_key)
    nnx.update((model, opt), state)
    return loss


@nnx.jit(static_argnames="loss_func")
def _val_loss(model: nnx.Module, val_dl: DataLoader, loss_func: LossFunc) -> jax.Array:
    def batch_loss(idx):
        return loss_batch(model, loss_func, *val_dl.batch(idx))

    losses, sizes = [], []
    for batches in val_dl.batches():
        loss, n = jax.lax.map(batch_loss, batches)
        losses.append(loss)
        sizes.append(n)
    return _weighted_mean(losses, sizes)


def val_step(model: nnx.Module, val_dl: DataLoader, loss_func: LossFunc) -> float:
    """The size-weighted mean loss over ``val_dl``, in evaluation mode, without gradients."""
    model.eval()
    return _val_loss(model, val_dl, loss_func)


def fit(
    epochs: int,
    model: nnx.Module,
    loss_func: LossFunc,
    opt: nnx.Optimizer,
    train_dl: DataLoader,
    val_dl: DataLoader,
    key: jax.Array,
    patience: int = PATIENCE,
    progress: bool = True,
    verbose: bool = False,
    desc: str = "nnx",
    history: History | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Train for ``epochs`` epochs, stopping early after ``patience`` epochs without a new
    best validation loss. Prints the notebook's ``E{epoch} | train loss | val loss`` lines
    when ``verbose``; shows a progress bar when ``progress``.

    ``history`` continues an earlier run (its epochs count towards ``epochs``);
    ``on_epoch_end(epoch, history)`` runs after each epoch, e.g. to save a checkpoint.
    Epoch e is shuffled with ``fold_in(key, e)``, so a resumed run draws what it would have.

    Raises
    ------
    NonFiniteLossError
        If a train or validation loss is NaN or infinite. The epoch's update is undone so
        that the model holds the weights of the last epoch with finite losses.
    """
    if epochs < 0 or patience < 1:
        raise ValueError(f"need epochs >= 0 and patience >= 1, got {epochs} and {patience}")
    history = history or History()
    if history.stopped_early:  # a resumed run that had already stopped stays stopped
        return history
    best = min(history.val, default=math.inf)
    since_best = len(history.val) - 1 - history.val.index(best) if history.val else 0
    start = len(history.train)
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        tick = time.perf_counter()
        last_good = nnx.clone(nnx.state((model, opt)))
        epoch_key = jax.random.fold_in(key, epoch)
        train_loss = float(train_step(model, train_dl, loss_func, opt, epoch_key))
        val_loss = float(val_step(model, val_dl, loss_func))
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            nnx.update((model, opt), last_good)
            raise NonFiniteLossError(
                f"epoch {epoch}: loss became non-finite (train {train_loss}, val {val_loss}); "
                "try a smaller learning rate. The model keeps the last good epoch's weights."
            )
        history.train.append(train_loss)
        history.val.append(val_loss)
        history.seconds.append(time.perf_counter() - tick)
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if verbose:
            tqdm.write(f"E{epoch} | train loss: {train_loss:.3f} | val loss: {val_loss:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if val_loss < best:
            best, since_best = val_loss, 0
        else:
            since_best += 1
            if since_best >= patience:
                history.stopped_early = True
                break
    return history


def run_model(
    train_dl: DataLoader,
    val_dl: DataLoader,
    model: nnx.Module,
    key: jax.Array,
    lr: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    loss_func: LossFunc | None = None,
    opt: nnx.Optimizer | None = None,
    **fit_kwargs,
) -> History:
    """The notebook's entry point: SGD(lr) and MSE unless given, then :func:`fit`.
    ``key`` (from ``set_seed``) shuffles the epochs; the model drew its weights already."""
    opt = opt or make_optimizer(model, "sgd", lr)
    loss_func = loss_func or mse_loss
    return fit(epochs, model, loss_func, opt, train_dl, val_dl, key, **fit_kwargs)


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
    model: nnx.Module,
    kind: str = "sgd",
    lr: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    warmup_epochs: int = WARMUP_EPOCHS,
    epochs: int = EPOCHS,
    schedule: str = SCHEDULE,
    steps_per_epoch: int = 1,
) -> nnx.Optimizer:
    """The optimizer a model trains with, holding the model's parameters' optax state: the
    notebook's SGD(lr), or (``kind="adamw"``) the deeper CNN's AdamW with a warm-up and a
    cosine (or constant) schedule of its peak rate ``lr`` (``len(train_dl)`` steps an
    epoch)."""
    if kind == "sgd":
        tx = optax.sgd(lr)
    else:
        rate = learning_rate(lr, schedule, warmup_epochs, epochs, steps_per_epoch)
        tx = optax.adamw(rate, weight_decay=weight_decay)
    return nnx.Optimizer(model, tx, wrt=nnx.Param)
