"""NNX against Linen, on the same weights: the two Flax APIs over the same ``flax.linen``
and ``flax.nnx`` layers should compute the same numbers, so most rows are exact.

The Linen side is the textbook implementation (``nn.Conv``, ``jax.random.permutation``),
which is what the NNX port writes too; its ``fast`` variant reorders the arithmetic (and
is held to torch instead). Both sides compile what they compare: run op by op, Linen's
SGD step once differed from NNX's ``nnx.jit``-compiled one in the last ulp (1.5e-8),
and compiled the two are one program."""

from __future__ import annotations

import jax
import numpy as np
import torch

from dna_tutorial.config import TEXTBOOK
from jax_impl import convert
from parity_tests.compare import Comparison, compare
from parity_tests.model_checks import random_batch
from parity_tests.pairs import model_pair
from parity_tests.ports import NNX, Linen
from parity_tests.registry import ModelCase
from parity_tests.state_checks import BN_BIAS, BN_SCALE
from parity_tests.tolerances import EXACT, Tolerance
from parity_tests.training_checks import _jax_loaders, tutorial_data


def _compare_variables(
    quantity: str, case: ModelCase, linen_vars, nnx_vars, tol: Tolerance
) -> list[Comparison]:
    theirs = convert.flax_to_torch(case.name, nnx_vars, case.kwargs)
    return [
        compare(f"{quantity} {key}", value, theirs[key], tol)
        for key, value in convert.flax_to_torch(case.name, linen_vars, case.kwargs).items()
        if np.issubdtype(np.asarray(value).dtype, np.floating)
    ]


def check_nnx_against_linen(case: ModelCase, device: torch.device) -> list[Comparison]:
    """Forward outputs, the loss and its gradients, one SGD step, ISM and saliency."""
    linen, nnx = Linen(TEXTBOOK), NNX()
    variables = model_pair(case, device).variables
    x, y = random_batch(case)
    label = f"{case} (NNX vs Linen)"
    rows = [
        compare(
            f"{label} forward", linen.predict(case, variables, x), nnx.predict(case, variables, x),
            EXACT,
        )
    ]  # fmt: skip
    (loss, grads), (nloss, ngrads) = (
        port.loss_and_grads(case, variables, x, y) for port in (linen, nnx)
    )
    rows.append(compare(f"{label} loss", loss, nloss, EXACT))
    rows += _compare_variables(f"{label} gradient", case, grads, ngrads, EXACT)
    rows += _compare_variables(
        f"{label} one SGD step",
        case,
        linen.sgd_step(case, variables, x, y),
        nnx.sgd_step(case, variables, x, y),
        EXACT,
    )
    x32 = x[:32]
    for name in ("ism", "saliency"):
        rows.append(
            compare(
                f"{label} {'ISM' if name == 'ism' else name}",
                getattr(linen, name)(case, variables, x32),
                getattr(nnx, name)(case, variables, x32),
                EXACT,
            )
        )
    return rows


def check_nnx_epoch_against_linen(case: ModelCase, device: torch.device) -> list[Comparison]:
    """One epoch of SGD as each port's ``train_step`` runs it (both a ``lax.scan`` over the
    batches under one ``jax.jit``, NNX's through ``nnx.split``/``nnx.merge``): bit for bit."""
    linen, nnx = Linen(TEXTBOOK), NNX()
    variables = model_pair(case, device).variables
    frames, _ = tutorial_data()
    key = jax.random.key(0)
    (loss, after), (nloss, nafter) = (
        port.epoch(case, variables, _jax_loaders(case, frames, port)[0], key)
        for port in (linen, nnx)
    )
    label = f"{case} one epoch (NNX vs Linen)"
    return [
        compare(f"{label} train loss", loss, nloss, EXACT),
        *_compare_variables(f"{label},", case, after, nafter, EXACT),
    ]


def check_nnx_batchnorm_against_linen(device: torch.device) -> list[Comparison]:
    """The two ports' BatchNorm (torch's conventions in both): outputs and statistics."""
    rng = np.random.default_rng(7)
    batches = [rng.normal(2.0, 3.0, size=(16, 11, 5)).astype(np.float32) for _ in range(4)]
    (outs, stats, last), (nouts, nstats, nlast) = (
        port.batchnorm(BN_SCALE, BN_BIAS, batches[:3], batches[3])
        for port in (Linen(TEXTBOOK), NNX())
    )
    return [
        compare("BatchNorm (NNX vs Linen), train-mode outputs", outs, nouts, EXACT),
        compare("BatchNorm (NNX vs Linen), running statistics", stats, nstats, EXACT),
        compare("BatchNorm (NNX vs Linen), eval-mode outputs", last, nlast, EXACT),
    ]
