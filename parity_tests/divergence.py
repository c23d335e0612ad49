"""The divergence curve: PyTorch and Flax Linen from the same weights through the same
batches, step by step, so that only rounding differs, in float32 and in float64.

After every step of the first epoch and after every epoch: the largest difference of any
parameter and the difference of the losses. In float64 both frameworks round 2**29 times
more finely; where float32's curve grows and float64's stays near its own rounding, the
growth is float32 rounding amplified by training (the ReLU-kink effect of
``training_checks.check_training_run``), not a difference of the two ports' arithmetic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import torch

from dna_tutorial import registry
from dna_tutorial.config import FAST, RunConfig
from dna_tutorial.metrics import r2_score
from jax_impl import convert as jconvert
from jax_impl import train as jtrain
from jax_impl.fast import VARIANTS
from parity_tests.compare import as_numpy
from parity_tests.seeds import jax_keys, model_options, target_of
from parity_tests.training_checks import epoch_order
from reference_torch import data as tdata
from reference_torch import models as tmodels
from reference_torch import train as ttrain

DTYPES = ("float32", "float64")


@dataclass
class Curve:
    """One model's divergence in one precision: per step of epoch 1, then per epoch."""

    model: str
    dtype: str
    step_params: list[float] = field(default_factory=list)  # max |Δ parameter| per step
    step_loss: list[float] = field(default_factory=list)  # |Δ batch loss| per step
    epoch_params: list[float] = field(default_factory=list)  # max |Δ parameter| per epoch
    epoch_train: list[float] = field(default_factory=list)  # |Δ train loss| per epoch
    epoch_val: list[float] = field(default_factory=list)  # |Δ val loss| per epoch
    final: dict[str, float] = field(default_factory=dict)  # the test metric in each port

    def as_dict(self) -> dict:
        return asdict(self)


def _max_diff(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def _xy(df: pd.DataFrame, target: str, dtype: str, task: str):
    ds = tdata.SeqDatasetOHE(df, target_col=target)
    x = ds.ohe_seqs.numpy().astype(dtype)
    y = ds.labels.numpy()
    return x, (y.astype(dtype) if task == "regress" else y)


def divergence(name: str, dtype: str, cfg: RunConfig, frames: tuple[pd.DataFrame, ...]) -> Curve:
    """Train ``name`` in torch and in Linen (``--jax-impl fast``) from torch's weights for
    ``cfg.seed``, both through the Linen port's batch order, in ``dtype``."""
    with jax.enable_x64(dtype == "float64"):
        return _divergence(name, dtype, cfg, frames)


def _divergence(name: str, dtype: str, cfg: RunConfig, frames) -> Curve:
    task = registry.get(name).task
    train_df, val_df, test_df = frames
    target = target_of(name)
    options = model_options(cfg)
    tdata.set_seed(cfg.seed)
    model = tmodels.build_model(name, 8, **options).to(getattr(torch, dtype))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    loss_func = ttrain.LOSSES[task]()

    def torch_variables():
        state = {k: as_numpy(v) for k, v in model.state_dict().items()}
        return jconvert.torch_to_flax(name, state, options)

    impl = VARIANTS[FAST]
    jmodel = impl.build_model(name, 8, **options)
    jax_dl = impl.build_dataloaders(train_df, val_df, target_col=target)[0]
    x, y = _xy(train_df, target, dtype, task)
    xv, yv = _xy(val_df, target, dtype, task)
    xt = _xy(test_df, target, dtype, task)[0]
    state = jtrain.create_train_state(
        jmodel, jax.random.key(0), jnp.asarray(x[:1]), optax.sgd(cfg.learning_rate),
        jtrain.LOSSES[task],
    )  # fmt: skip
    state = state.replace(params=jax.tree.map(jnp.asarray, torch_variables()["params"]))
    step = jax.jit(lambda s, xb, yb: jtrain.loss_batch(s, xb, yb, step=True)[:2])
    val_loss = jax.jit(lambda s, xb, yb: jtrain.loss_batch(s, xb, yb)[1])
    key = jax_keys(cfg.seed)[1]
    curve = Curve(name, dtype)
    for epoch in range(cfg.epochs):
        order = epoch_order(jax_dl, jax.random.fold_in(key, epoch))
        model.train()
        sums = np.zeros(2)
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            tloss, n = ttrain.loss_batch(
                model, loss_func, torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), opt
            )
            state, jloss = step(state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
            sums += np.array([tloss, float(jloss)]) * n
            if epoch == 0:
                curve.step_params.append(_max_diff(torch_variables()["params"], state.params))
                curve.step_loss.append(abs(tloss - float(jloss)))
        model.eval()
        with torch.no_grad():
            tval = float(loss_func(model(torch.from_numpy(xv)), torch.from_numpy(yv)))
        jval = float(val_loss(state, jnp.asarray(xv), jnp.asarray(yv)))
        curve.epoch_params.append(_max_diff(torch_variables()["params"], state.params))
        curve.epoch_train.append(abs(float(np.diff(sums)[0])) / len(order))
        curve.epoch_val.append(abs(tval - jval))
    with torch.no_grad():
        tout = model(torch.from_numpy(xt)).numpy()
    jout = np.asarray(jmodel.apply(state.variables, jnp.asarray(xt)))
    truth = test_df[target].to_numpy()
    if task == "regress":
        curve.final = {"torch": r2_score(truth, tout[:, 0]), "jax": r2_score(truth, jout[:, 0])}
    else:
        curve.final = {
            "torch": float(np.mean(tout.argmax(1) == truth)),
            "jax": float(np.mean(jout.argmax(1) == truth)),
        }
    return curve


def divergences(names, cfg: RunConfig, frames) -> list[Curve]:
    return [divergence(name, dtype, cfg, frames) for name in names for dtype in DTYPES]
