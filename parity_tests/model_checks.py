"""Parity of one model in both ports, from the same weights: forward outputs, loss and
gradients, one SGD step, attribution (ISM, saliency) and the filters' activation PWMs."""

from __future__ import annotations

import numpy as np
import torch

from jax_impl import data as jdata
from parity_tests.compare import Comparison, as_numpy, compare, compare_params
from parity_tests.pairs import model_pair, random_seqs, targets, torch_loss
from parity_tests.ports import Linen, Port
from parity_tests.registry import ModelCase
from parity_tests.tolerances import (
    EXACT,
    FORWARD,
    GRADIENT,
    LOSS,
    ONE_STEP,
)
from reference_torch import data as tdata
from reference_torch import evaluate as tevaluate
from reference_torch import filters as tfilters
from reference_torch import interpret as tinterpret
from reference_torch import train as ttrain

LINEN = Linen()


def check_forward(case: ModelCase, device: torch.device, port: Port = LINEN) -> list[Comparison]:
    """Outputs for random real-valued inputs and for one-hot sequences."""
    pair = model_pair(case, device)
    rng = np.random.default_rng(3)
    inputs = {
        "random inputs": rng.normal(size=(64, case.seq_len, 4)).astype(np.float32),
        "one-hot inputs": np.asarray(jdata.one_hot_seqs(random_seqs(256, case.seq_len, 4))),
    }
    rows = []
    for label, x in inputs.items():
        ours = tevaluate.predict(pair.torch_model, x, device)
        theirs = port.predict(case, pair.variables, x)
        rows.append(compare(f"{case} forward, {label}", ours, theirs, FORWARD))
    return rows


def random_batch(case: ModelCase, n: int = 96, seed: int = 5):
    seqs = random_seqs(n, case.seq_len, seed)
    x = tdata.one_hot_seqs(seqs)
    return x, targets(case, seqs)


def check_loss_and_gradients(
    case: ModelCase, device: torch.device, port: Port = LINEN
) -> list[Comparison]:
    """The loss of one batch and its gradient w.r.t. every parameter."""
    pair = model_pair(case, device)
    x, y = random_batch(case)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    pair.torch_model.train()
    loss = torch_loss(case)(pair.torch_model(xt), yt)
    loss.backward()
    grads = {k: p.grad for k, p in pair.torch_model.named_parameters()}
    jloss, jgrads = port.loss_and_grads(case, pair.variables, x, y)
    kind = "MSE" if case.task == "regress" else "cross-entropy"
    return [
        compare(f"{case} {kind} loss", as_numpy(loss), jloss, LOSS),
        *compare_params(f"{case} gradient", case, grads, jgrads, GRADIENT),
    ]


def check_sgd_step(case: ModelCase, device: torch.device, port: Port = LINEN) -> list[Comparison]:
    """Parameters after one SGD step (lr 0.01) on the same batch."""
    pair = model_pair(case, device)
    x, y = random_batch(case)
    opt = torch.optim.SGD(pair.torch_model.parameters(), lr=0.01)
    pair.torch_model.train()
    ttrain.loss_batch(
        pair.torch_model,
        torch_loss(case),
        torch.from_numpy(x).to(device),
        torch.from_numpy(y).to(device),
        opt=opt,
    )
    stepped = port.sgd_step(case, pair.variables, x, y)
    return compare_params(
        f"{case} one SGD step", case, pair.torch_model.state_dict(), stepped, ONE_STEP
    )


def check_attribution(
    case: ModelCase, device: torch.device, port: Port = LINEN
) -> list[Comparison]:
    """ISM, saliency, gradient x input and the simplex-corrected saliency of the first
    output, for one-hot sequences: ISM subtracts outputs (forward tolerance), the others
    are input gradients (gradient tolerance)."""
    pair = model_pair(case, device)
    x, _ = random_batch(case, n=32)
    grads = tinterpret.saliency(pair.torch_model, x, device=device)
    jgrads = port.saliency(case, pair.variables, x)
    return [
        compare(
            f"{case} ISM",
            tinterpret.ism(pair.torch_model, x, device=device),
            port.ism(case, pair.variables, x),
            FORWARD,
        ),
        compare(f"{case} saliency", grads, jgrads, GRADIENT),
        compare(
            f"{case} gradient x input",
            tinterpret.grad_times_input(pair.torch_model, x, device=device),
            port.grad_times_input(case, pair.variables, x),
            GRADIENT,
        ),
        compare(
            f"{case} saliency, simplex-corrected",
            tinterpret.simplex_correction(grads),
            port.simplex_correction(jgrads),
            GRADIENT,
        ),
    ]


def _threshold_between(a: np.ndarray, b: np.ndarray, quantile: float) -> float:
    """An activation threshold near ``quantile`` of ``a`` (low enough that a good share of
    positions fire with random weights) that lies midway between two activation values.

    One-hot inputs give each filter only a few distinct activations, each taken by many
    positions; a threshold equal to one of them would turn a 1-ulp difference between the
    ports into whole windows counted by one and not the other."""
    values = np.unique(np.concatenate([a.ravel(), b.ravel()]))
    i = min(np.searchsorted(values, np.quantile(a, quantile)), len(values) - 2)
    gaps = np.diff(values[i:])
    j = i + int(np.argmax(gaps > 1e-4 * max(1.0, abs(values[i]))))  # a gap wider than rounding
    return float((values[j] + values[j + 1]) / 2)


def check_filters(case: ModelCase, device: torch.device, port: Port = LINEN) -> list[Comparison]:
    """First-layer weights, conv activations and activation PWM counts."""
    if not case.has_filters:
        return []
    pair = model_pair(case, device)
    seqs = random_seqs(500, case.seq_len, seed=6)
    x = tdata.one_hot_seqs(seqs)
    with torch.no_grad():
        acts = tfilters.conv_activations(pair.torch_model, torch.from_numpy(x).to(device))
    jacts = port.conv_activations(case, pair.variables, x)
    thresh = _threshold_between(as_numpy(acts), jacts, 0.8)
    counts = tfilters.get_filter_activations(seqs, pair.torch_model, thresh, device)
    jcounts = port.filter_counts(case, pair.variables, seqs, thresh)
    return [
        compare(
            f"{case} filter weights",
            tfilters.filter_weights(pair.torch_model),
            port.filter_weights(case, pair.variables),
            EXACT,
        ),
        compare(f"{case} conv activations", as_numpy(acts), np.swapaxes(jacts, 1, 2), FORWARD),
        compare(f"{case} PWM counts ({int(counts.sum()):,} letters)", counts, jcounts, EXACT),
    ]


MODEL_CHECKS = (
    check_forward,
    check_loss_and_gradients,
    check_sgd_step,
    check_attribution,
    check_filters,
)
