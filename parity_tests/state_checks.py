"""Parity of the layers with state, where the frameworks' defaults differ: BatchNorm's
statistics in train and eval mode, max-pooling, dropout in eval mode, AdamW's moments and
the learning-rate schedule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import nn

from dna_tutorial import registry
from dna_tutorial.schedule import SCHEDULES
from dna_tutorial.spec import ADAMW_LR
from jax_impl import data as jdata
from jax_impl import evaluate as jevaluate
from jax_impl import models as jmodels
from jax_impl import train as jtrain
from parity_tests.compare import Comparison, as_numpy, compare, compare_params
from parity_tests.model_checks import jax_targets, random_batch
from parity_tests.pairs import jax_state, model_pair, random_seqs, torch_loss
from parity_tests.registry import ModelCase
from parity_tests.tolerances import (
    EXACT,
    FORWARD,
    GRADIENT,
    ONE_STEP,
)
from reference_torch import evaluate as tevaluate
from reference_torch import models as tmodels
from reference_torch import train as ttrain


def check_batchnorm(device: torch.device) -> list[Comparison]:
    """torch's ``BatchNorm1d`` against the JAX port's ``BatchNorm`` (torch's conventions:
    the new batch weighs 0.1, the running variance is unbiased): train-mode outputs and
    running statistics over three batches, then eval-mode outputs."""
    rng = np.random.default_rng(7)
    batches = [rng.normal(2.0, 3.0, size=(16, 5, 11)).astype(np.float32) for _ in range(4)]
    bn = nn.BatchNorm1d(5).to(device)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, 5))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, 5))
    jbn = jmodels.BatchNorm()
    variables = {
        "params": {"scale": jnp.linspace(0.5, 1.5, 5), "bias": jnp.linspace(-1.0, 1.0, 5)},
        "batch_stats": {"mean": jnp.zeros(5), "var": jnp.ones(5)},
    }
    outs, jouts = [], []
    bn.train()
    for x in batches[:3]:
        with torch.no_grad():
            outs.append(as_numpy(bn(torch.from_numpy(x).to(device))))
        y, new = jbn.apply(variables, jnp.swapaxes(x, 1, 2), train=True, mutable="batch_stats")
        variables = {**variables, **new}
        jouts.append(np.swapaxes(np.asarray(y), 1, 2))
    bn.eval()
    with torch.no_grad():
        eval_out = as_numpy(bn(torch.from_numpy(batches[3]).to(device)))
    jeval = np.swapaxes(np.asarray(jbn.apply(variables, jnp.swapaxes(batches[3], 1, 2))), 1, 2)
    stats = variables["batch_stats"]
    return [
        compare(
            "BatchNorm, train-mode outputs (3 batches)", np.stack(outs), np.stack(jouts), FORWARD
        ),
        compare(
            "BatchNorm, running mean after 3 batches",
            as_numpy(bn.running_mean),
            stats["mean"],
            FORWARD,
        ),
        compare(
            "BatchNorm, running variance after 3 batches (unbiased)",
            as_numpy(bn.running_var),
            stats["var"],
            FORWARD,
        ),
        compare("BatchNorm, eval-mode outputs", eval_out, jeval, FORWARD),
    ]


def check_maxpool(device: torch.device) -> list[Comparison]:
    """``MaxPool1d`` (floor mode, no padding) against ``nn.max_pool(..., 'VALID')``."""
    x = np.random.default_rng(8).normal(size=(6, 5, 23)).astype(np.float32)
    out = as_numpy(nn.MaxPool1d(4)(torch.from_numpy(x).to(device)))
    jout = jmodels.nn.max_pool(jnp.swapaxes(x, 1, 2), (4,), strides=(4,), padding="VALID")
    return [
        compare(
            "max-pool 4 of 23 positions (floor)", out, np.swapaxes(np.asarray(jout), 1, 2), EXACT
        )
    ]


def _deep_case(**changes) -> ModelCase:
    example = dict(registry.get("deep").examples[0])
    example.update(changes)
    seq_len = example.pop("seq_len")
    return ModelCase("deep", seq_len, tuple(sorted(registry.hashable(example).items())))


def check_dropout(device: torch.device) -> list[Comparison]:
    """With dropout on (0.3 after blocks, 0.5 after dense layers), eval mode turns it off
    in both ports: equal outputs. (Train-mode masks come from two RNGs and cannot match;
    each port's tests check the fraction dropped and the 1/(1-p) scaling instead.)"""
    case = _deep_case(dropout=(0.3, 0.5))
    pair = model_pair(case, device)
    x = np.asarray(jdata.one_hot_seqs(random_seqs(64, case.seq_len, 9)))
    return [
        compare(
            f"{case.name} with dropout (0.3, 0.5), eval-mode outputs",
            tevaluate.predict(pair.torch_model, x, device),
            jevaluate.predict(pair.jax_model, pair.variables, x),
            FORWARD,
        )
    ]


def _moments(opt_state):
    adam = next(
        s
        for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda s: hasattr(s, "mu"))
        if hasattr(s, "mu")
    )
    return adam.mu, adam.nu


def check_adamw(device: torch.device, steps: int = 5) -> list[Comparison]:
    """AdamW as each port's run builds it (torch's default weight decay 1e-2 in both),
    ``steps`` steps on the deeper CNN in train mode: parameters, BatchNorm statistics and
    both moments. Decay placement: torch scales the weights by 1 - lr*wd before its step,
    optax adds wd*w to the update before scaling by lr; the same arithmetic."""
    case = _deep_case()
    pair = model_pair(case, device)
    opt, _ = ttrain.make_optimizer(pair.torch_model, "adamw", ADAMW_LR, epochs=3)
    tx = jtrain.make_optimizer("adamw", ADAMW_LR, epochs=3, steps_per_epoch=100)
    state = jax_state(pair).replace(tx=tx, opt_state=tx.init(pair.variables["params"]))
    pair.torch_model.train()
    for step in range(steps):
        x, y = random_batch(case, n=32, seed=20 + step)
        ttrain.loss_batch(
            pair.torch_model,
            torch_loss(case),
            torch.from_numpy(x).to(device),
            torch.from_numpy(y).to(device),
            opt,
        )
        state, _, _ = jtrain.loss_batch(state, jnp.asarray(x), jax_targets(case, y), step=True)
    names = dict(pair.torch_model.named_parameters())
    mu, nu = _moments(state.opt_state)
    stats = state.variables["batch_stats"]
    moment = {
        "first": {k: opt.state[p]["exp_avg"] for k, p in names.items()},
        "second": {k: opt.state[p]["exp_avg_sq"] for k, p in names.items()},
    }
    rows = compare_params(
        f"{case.name} after {steps} AdamW steps,",
        case,
        pair.torch_model.state_dict(),
        state.variables,
        ONE_STEP,
    )
    for which, tree in (("first", mu), ("second", nu)):
        rows += compare_params(
            f"{case.name} AdamW {which} moment after {steps} steps,",
            case,
            moment[which],
            {"params": tree, "batch_stats": stats},
            GRADIENT,
        )
    return rows


def check_schedule(device: torch.device, epochs: int = 12) -> list[Comparison]:
    """The learning rate of every epoch: torch's ``LambdaLR`` stepped once per epoch
    against optax's schedule at the first step of each epoch, for each schedule (warm-up
    2 epochs, then cosine or constant)."""
    rows = []
    for schedule in SCHEDULES:
        how = {"warmup_epochs": 2, "epochs": epochs, "schedule": schedule}
        model = tmodels.build_model("deep", 8).to(device)
        opt, scheduler = ttrain.make_optimizer(model, "adamw", ADAMW_LR, **how)
        rates = []
        for _ in range(epochs):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        spe = 328  # the tutorial's steps per epoch
        rate = jtrain.learning_rate(ADAMW_LR, schedule, 2, epochs, spe)
        jrates = [float(rate(e * spe + spe - 1)) for e in range(epochs)]  # any step of epoch e
        label = f"AdamW learning rate per epoch (warm-up 2, {schedule}, {epochs} epochs)"
        rows.append(compare(label, rates, jrates, FORWARD))
    return rows


STATE_CHECKS = (check_batchnorm, check_maxpool, check_dropout, check_adamw, check_schedule)
