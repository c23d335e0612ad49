"""The port the suite holds against PyTorch: Flax Linen (``jax``, in either of its
implementations) or Flax NNX (``nnx``), behind one set of operations.

Every operation takes the model case and its weights as Linen variables (``{"params":
..., "batch_stats": ...}``, what ``jax_impl.convert.torch_to_flax`` makes of torch's) and
returns NumPy arrays, or Linen variables for weights, so that one set of checks compares
either port with torch (and NNX with Linen, on the same weights). Each operation is what
the port's own lesson files do: ``predict`` is its ``evaluate.predict``, ``epoch`` its
``train.train_step``, ``ism`` its ``interpret.ism``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dna_tutorial.config import FAST, PORT_NAMES, TEXTBOOK
from jax_impl import data as jdata
from jax_impl import evaluate as jevaluate
from jax_impl import filters as jfilters
from jax_impl import interpret as jinterpret
from jax_impl import models as jmodels
from jax_impl import train as jtrain
from jax_impl.fast import VARIANTS
from nnx_impl import convert as nconvert
from nnx_impl import data as ndata
from nnx_impl import evaluate as nevaluate
from nnx_impl import filters as nfilters
from nnx_impl import interpret as ninterpret
from nnx_impl import models as nmodels
from nnx_impl import train as ntrain
from parity_tests.registry import ModelCase

Variables = dict


def jax_targets(case: ModelCase, y: np.ndarray) -> jax.Array:
    return jnp.asarray(y, jnp.float32 if case.task == "regress" else jnp.int32)


def _loss(case: ModelCase, losses: dict):
    return losses["regress" if case.task == "regress" else "classify"]


def _adam_moments(opt_state) -> tuple:
    adam = next(
        s
        for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda s: hasattr(s, "mu"))
        if hasattr(s, "mu")
    )
    return adam.mu, adam.nu


# --- Flax Linen ---------------------------------------------------------------------------


@jax.jit
def _linen_loss_and_grads(state: jtrain.TrainState, xb, yb):
    """The loss of a batch and its gradient, in training mode, without a step (compiled
    whole: op by op, the deeper CNN's gradient took hundreds of small compilations)."""

    def loss_of(params):
        pred, _ = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            xb,
            train=True,
            rngs={"dropout": jax.random.key(0)},
            mutable=["batch_stats"],
        )
        return state.loss_func(pred, yb)

    return jax.value_and_grad(loss_of)(state.params)


@jax.jit
def _linen_step(state: jtrain.TrainState, xb, yb, key=None):
    """One optimiser step, compiled as NNX's ``train_batch`` is (op by op, the same step
    differed from NNX's compiled one in the last ulp)."""
    return jtrain.loss_batch(state, xb, yb, step=True, key=key)[0]


class Linen:
    """The Linen port, its models built by ``variant`` (``fast`` or ``textbook``)."""

    name = "jax"
    data: ModuleType = jdata

    def __init__(self, variant: str = FAST):
        self.variant = variant
        self.title = PORT_NAMES["jax"] + ("" if variant == FAST else f" ({variant})")

    def model(self, case: ModelCase):
        return VARIANTS[self.variant].build_model(case.name, case.seq_len, **case.kwargs)

    def state(self, case: ModelCase, variables: Variables, tx=None) -> jtrain.TrainState:
        """A train state holding ``variables``, SGD(0.01) unless ``tx`` is given."""
        tx = tx or optax.sgd(0.01)
        xb = jnp.zeros((1, case.seq_len, 4))
        state = jtrain.create_train_state(
            self.model(case), jax.random.key(0), xb, tx, _loss(case, jtrain.LOSSES)
        )
        return state.replace(params=variables["params"], batch_stats=variables["batch_stats"])

    def build_dataloaders(self, *args, **kwargs):
        return VARIANTS[self.variant].build_dataloaders(*args, **kwargs)

    def predict(self, case: ModelCase, variables: Variables, x: np.ndarray) -> np.ndarray:
        return jevaluate.predict(self.model(case), variables, x)

    def predict_seqs(self, case: ModelCase, variables: Variables, seqs: Sequence[str]):
        return VARIANTS[self.variant].predict_seqs(self.model(case), variables, seqs)

    def loss_and_grads(self, case: ModelCase, variables: Variables, x, y) -> tuple:
        """(loss, gradients as Linen variables) of one batch in training mode."""
        loss, grads = _linen_loss_and_grads(
            self.state(case, variables), jnp.asarray(x), jax_targets(case, y)
        )
        return loss, {"params": grads, "batch_stats": variables["batch_stats"]}

    def sgd_step(self, case: ModelCase, variables: Variables, x, y) -> Variables:
        state = self.state(case, variables)
        state = _linen_step(state, jnp.asarray(x), jax_targets(case, y), jax.random.key(0))
        return state.variables

    def ism(self, case, variables, x):
        return jinterpret.ism(self.model(case), variables, jnp.asarray(x))

    def saliency(self, case, variables, x):
        return jinterpret.saliency(self.model(case), variables, jnp.asarray(x))

    def grad_times_input(self, case, variables, x):
        return jinterpret.grad_times_input(self.model(case), variables, jnp.asarray(x))

    simplex_correction = staticmethod(jinterpret.simplex_correction)

    def conv_activations(self, case, variables, x) -> np.ndarray:
        """(N, P, F)."""
        return np.asarray(jfilters.conv_activations(self.model(case), variables, jnp.asarray(x)))

    def filter_counts(self, case, variables, seqs, thresh: float) -> np.ndarray:
        return jfilters.get_filter_activations(seqs, self.model(case), variables, thresh)

    def filter_weights(self, case, variables) -> np.ndarray:
        return jfilters.filter_weights(variables)

    def batchnorm(self, scale, bias, train_batches, eval_batch) -> tuple:
        """The port's BatchNorm on channels-last batches: (train-mode outputs, running
        (mean, var) after them, eval-mode output)."""
        bn = jmodels.BatchNorm()
        variables = {
            "params": {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)},
            "batch_stats": {"mean": jnp.zeros(len(scale)), "var": jnp.ones(len(scale))},
        }
        outs = []
        for x in train_batches:
            y, new = bn.apply(variables, jnp.asarray(x), train=True, mutable="batch_stats")
            variables = {**variables, **new}
            outs.append(np.asarray(y))
        stats = variables["batch_stats"]
        last = np.asarray(bn.apply(variables, jnp.asarray(eval_batch)))
        return outs, (stats["mean"], stats["var"]), last

    def max_pool(self, x, window: int) -> np.ndarray:
        return np.asarray(jmodels.nn.max_pool(x, (window,), strides=(window,), padding="VALID"))

    def adamw_steps(self, case, variables, batches, lr, epochs, steps_per_epoch) -> tuple:
        """AdamW as the run builds it, one step per (x, y) in train mode: (variables,
        first moments, second moments), the moments as Linen params."""
        tx = jtrain.make_optimizer("adamw", lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
        state = self.state(case, variables, tx)
        for x, y in batches:
            state = _linen_step(state, jnp.asarray(x), jax_targets(case, y))
        return (state.variables, *_adam_moments(state.opt_state))

    learning_rate = staticmethod(jtrain.learning_rate)

    def epoch(self, case, variables, train_dl, key) -> tuple:
        """One epoch of SGD(0.01) as ``train_step`` runs it: (loss, variables)."""
        state, loss = jtrain.train_step(self.state(case, variables), train_dl, key)
        return loss, state.variables

    def fit(self, case, variables, train_dl, val_dl, key, epochs: int) -> tuple:
        """``fit`` with SGD(0.01): (history, variables)."""
        state, history = jtrain.fit(
            epochs, self.state(case, variables), train_dl, val_dl, key, progress=False
        )
        return history, state.variables


# --- Flax NNX -----------------------------------------------------------------------------


@nnx.jit(static_argnames="loss_func")
def _nnx_loss_and_grads(model: nnx.Module, loss_func, xb, yb):
    return nnx.value_and_grad(lambda m: loss_func(m(xb), yb))(model)


class NNX:
    """The NNX port: each operation builds the model and loads the weights into it."""

    name = "nnx"
    data: ModuleType = ndata
    title = PORT_NAMES["nnx"]
    variant = TEXTBOOK

    def model(self, case: ModelCase, variables: Variables) -> nnx.Module:
        model = nmodels.build_model(case.name, case.seq_len, **case.kwargs)
        return nconvert.from_linen(model, variables)

    def build_dataloaders(self, *args, **kwargs):
        return ndata.build_dataloaders(*args, **kwargs)

    def predict(self, case, variables, x) -> np.ndarray:
        return nevaluate.predict(self.model(case, variables), x)

    def predict_seqs(self, case, variables, seqs):
        return nevaluate.predict_seqs(self.model(case, variables), seqs)

    def loss_and_grads(self, case, variables, x, y) -> tuple:
        model = self.model(case, variables)
        model.train()
        loss, grads = _nnx_loss_and_grads(
            model, _loss(case, ntrain.LOSSES), jnp.asarray(x), jax_targets(case, y)
        )
        return loss, {**nconvert.linen_variables(grads), "batch_stats": variables["batch_stats"]}

    def sgd_step(self, case, variables, x, y) -> Variables:
        model = self.model(case, variables)
        opt = ntrain.make_optimizer(model, "sgd", 0.01)
        model.train()
        ntrain.train_batch(
            model, opt, _loss(case, ntrain.LOSSES), jnp.asarray(x), jax_targets(case, y)
        )
        return nconvert.to_linen(model)

    def ism(self, case, variables, x):
        return ninterpret.ism(self.model(case, variables), jnp.asarray(x))

    def saliency(self, case, variables, x):
        return ninterpret.saliency(self.model(case, variables), jnp.asarray(x))

    def grad_times_input(self, case, variables, x):
        return ninterpret.grad_times_input(self.model(case, variables), jnp.asarray(x))

    simplex_correction = staticmethod(ninterpret.simplex_correction)

    def conv_activations(self, case, variables, x) -> np.ndarray:
        return np.asarray(nfilters.conv_activations(self.model(case, variables), jnp.asarray(x)))

    def filter_counts(self, case, variables, seqs, thresh: float) -> np.ndarray:
        return nfilters.get_filter_activations(seqs, self.model(case, variables), thresh)

    def filter_weights(self, case, variables) -> np.ndarray:
        return nfilters.filter_weights(self.model(case, variables))

    def batchnorm(self, scale, bias, train_batches, eval_batch) -> tuple:
        bn = nmodels.BatchNorm(len(scale))
        bn.scale[...], bn.bias[...] = jnp.asarray(scale), jnp.asarray(bias)
        bn.train()
        outs = [np.asarray(bn(jnp.asarray(x))) for x in train_batches]
        stats = (bn.mean[...], bn.var[...])
        bn.eval()
        return outs, stats, np.asarray(bn(jnp.asarray(eval_batch)))

    def max_pool(self, x, window: int) -> np.ndarray:
        return np.asarray(nnx.max_pool(x, (window,), strides=(window,), padding="VALID"))

    def adamw_steps(self, case, variables, batches, lr, epochs, steps_per_epoch) -> tuple:
        model = self.model(case, variables)
        opt = ntrain.make_optimizer(
            model, "adamw", lr, epochs=epochs, steps_per_epoch=steps_per_epoch
        )
        model.train()
        for x, y in batches:
            ntrain.train_batch(
                model, opt, _loss(case, ntrain.LOSSES), jnp.asarray(x), jax_targets(case, y)
            )
        mu, nu = (nnx.to_pure_dict(m) for m in _adam_moments(opt.opt_state))
        return nconvert.to_linen(model), *(nconvert.linen_params(m) for m in (mu, nu))

    learning_rate = staticmethod(ntrain.learning_rate)

    def epoch(self, case, variables, train_dl, key) -> tuple:
        model = self.model(case, variables)
        opt = ntrain.make_optimizer(model, "sgd", 0.01)
        loss = ntrain.train_step(model, train_dl, _loss(case, ntrain.LOSSES), opt, key)
        return loss, nconvert.to_linen(model)

    def fit(self, case, variables, train_dl, val_dl, key, epochs: int) -> tuple:
        model = self.model(case, variables)
        opt = ntrain.make_optimizer(model, "sgd", 0.01)
        loss_func = _loss(case, ntrain.LOSSES)
        history = ntrain.fit(epochs, model, loss_func, opt, train_dl, val_dl, key, progress=False)
        return history, nconvert.to_linen(model)


Port = Linen | NNX


def port(name: str, variant: str = FAST) -> Port:
    """The port ``name`` ("jax" or "nnx"); ``variant`` chooses the Linen port's models."""
    if name == "nnx":
        return NNX()
    if name == "jax":
        return Linen(variant)
    raise ValueError(f"no Flax port {name!r}: jax or nnx")
