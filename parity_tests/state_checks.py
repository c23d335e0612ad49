"""Parity of the layers with state, where the frameworks' defaults differ: BatchNorm's
statistics in train and eval mode, max-pooling, dropout in eval mode, AdamW's moments and
the learning-rate schedule."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import torch
from torch import nn

from dna_tutorial import registry
from dna_tutorial.schedule import SCHEDULES
from dna_tutorial.spec import ADAMW_LR
from jax_impl import data as jdata
from parity_tests.compare import Comparison, as_numpy, compare, compare_params
from parity_tests.model_checks import LINEN, random_batch
from parity_tests.pairs import model_pair, random_seqs, torch_loss
from parity_tests.ports import Port
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

#: The BatchNorm checks' scale and bias (5 channels), away from the 1 and 0 of the init.
BN_SCALE = np.linspace(0.5, 1.5, 5, dtype=np.float32)
BN_BIAS = np.linspace(-1.0, 1.0, 5, dtype=np.float32)


def check_batchnorm(device: torch.device, port: Port = LINEN) -> list[Comparison]:
    """torch's ``BatchNorm1d`` against the port's ``BatchNorm`` (torch's conventions: the
    new batch weighs 0.1, the running variance is unbiased): train-mode outputs and
    running statistics over three batches, then eval-mode outputs."""
    rng = np.random.default_rng(7)
    batches = [rng.normal(2.0, 3.0, size=(16, 5, 11)).astype(np.float32) for _ in range(4)]
    scale, bias = BN_SCALE, BN_BIAS
    bn = nn.BatchNorm1d(5).to(device)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(scale))
        bn.bias.copy_(torch.from_numpy(bias))
    outs = []
    bn.train()
    for x in batches[:3]:
        with torch.no_grad():
            outs.append(as_numpy(bn(torch.from_numpy(x).to(device))))
    bn.eval()
    with torch.no_grad():
        eval_out = as_numpy(bn(torch.from_numpy(batches[3]).to(device)))
    last = [np.swapaxes(x, 1, 2) for x in batches]  # the Flax ports are channels-last
    jouts, (mean, var), jeval = port.batchnorm(scale, bias, last[:3], last[3])
    return [
        compare(
            "BatchNorm, train-mode outputs (3 batches)",
            np.stack(outs),
            np.swapaxes(np.stack(jouts), 2, 3),
            FORWARD,
        ),
        compare(
            "BatchNorm, running mean after 3 batches", as_numpy(bn.running_mean), mean, FORWARD
        ),
        compare(
            "BatchNorm, running variance after 3 batches (unbiased)",
            as_numpy(bn.running_var),
            var,
            FORWARD,
        ),
        compare("BatchNorm, eval-mode outputs", eval_out, np.swapaxes(jeval, 1, 2), FORWARD),
    ]


def check_maxpool(device: torch.device, port: Port = LINEN) -> list[Comparison]:
    """``MaxPool1d`` (floor mode, no padding) against ``max_pool(..., 'VALID')``."""
    x = np.random.default_rng(8).normal(size=(6, 5, 23)).astype(np.float32)
    out = as_numpy(nn.MaxPool1d(4)(torch.from_numpy(x).to(device)))
    jout = port.max_pool(jnp.swapaxes(x, 1, 2), 4)
    return [compare("max-pool 4 of 23 positions (floor)", out, np.swapaxes(jout, 1, 2), EXACT)]


def _deep_case(**changes) -> ModelCase:
    example = dict(registry.get("deep").examples[0])
    example.update(changes)
    seq_len = example.pop("seq_len")
    return ModelCase("deep", seq_len, tuple(sorted(registry.hashable(example).items())))


def check_dropout(device: torch.device, port: Port = LINEN) -> list[Comparison]:
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
            port.predict(case, pair.variables, x),
            FORWARD,
        )
    ]


def check_adamw(device: torch.device, steps: int = 5, port: Port = LINEN) -> list[Comparison]:
    """AdamW as each port's run builds it (torch's default weight decay 1e-2 in both),
    ``steps`` steps on the deeper CNN in train mode: parameters, BatchNorm statistics and
    both moments. Decay placement: torch scales the weights by 1 - lr*wd before its step,
    optax adds wd*w to the update before scaling by lr; the same arithmetic."""
    case = _deep_case()
    pair = model_pair(case, device)
    opt, _ = ttrain.make_optimizer(pair.torch_model, "adamw", ADAMW_LR, epochs=3)
    batches = [random_batch(case, n=32, seed=20 + step) for step in range(steps)]
    pair.torch_model.train()
    for x, y in batches:
        ttrain.loss_batch(
            pair.torch_model,
            torch_loss(case),
            torch.from_numpy(x).to(device),
            torch.from_numpy(y).to(device),
            opt,
        )
    variables, mu, nu = port.adamw_steps(case, pair.variables, batches, ADAMW_LR, 3, 100)
    names = dict(pair.torch_model.named_parameters())
    stats = variables["batch_stats"]
    moment = {
        "first": {k: opt.state[p]["exp_avg"] for k, p in names.items()},
        "second": {k: opt.state[p]["exp_avg_sq"] for k, p in names.items()},
    }
    rows = compare_params(
        f"{case.name} after {steps} AdamW steps,",
        case,
        pair.torch_model.state_dict(),
        variables,
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


def check_schedule(device: torch.device, epochs: int = 12, port: Port = LINEN) -> list[Comparison]:
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
        rate = port.learning_rate(ADAMW_LR, schedule, 2, epochs, spe)
        jrates = [float(rate(e * spe + spe - 1)) for e in range(epochs)]  # any step of epoch e
        label = f"AdamW learning rate per epoch (warm-up 2, {schedule}, {epochs} epochs)"
        rows.append(compare(label, rates, jrates, FORWARD))
    return rows


STATE_CHECKS = (check_batchnorm, check_maxpool, check_dropout, check_adamw, check_schedule)
