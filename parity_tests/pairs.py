"""The same model in both ports: random inputs and the tutorial's targets for them, a
torch model with its default init and the JAX model holding the same weights (through
``jax_impl.convert``), and the JAX train state around them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import linen
from torch import nn

from dna_tutorial.recipe import score_classes
from dna_tutorial.sequences import decode_codes
from jax_impl import convert
from jax_impl import train as jtrain
from jax_impl.fast import VARIANTS
from parity_tests.compare import as_numpy
from parity_tests.registry import ModelCase
from reference_torch import data as tdata
from reference_torch import models as tmodels


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` uniformly random ACGT strings of ``length``."""
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    return decode_codes(codes)


def torch_loss(case: ModelCase) -> nn.Module:
    return nn.MSELoss() if case.task == "regress" else nn.CrossEntropyLoss()


def jax_loss(case: ModelCase):
    return jtrain.mse_loss if case.task == "regress" else jtrain.cross_entropy_loss


def targets(case: ModelCase, seqs: Sequence[str]) -> np.ndarray:
    """The tutorial's targets for ``seqs``: scores (N, 1) float32 or classes (N,) int64."""
    scores = tdata.score_seqs(seqs)["score"].to_numpy().copy()  # writable, for torch
    return scores[:, None] if case.task == "regress" else score_classes(scores)


@dataclass
class ModelPair:
    case: ModelCase
    torch_model: nn.Module
    jax_model: linen.Module
    variables: dict  # the torch model's initial weights, as Flax variables


def model_pair(
    case: ModelCase, device: torch.device, seed: int = 0, variant: str = "fast"
) -> ModelPair:
    """A torch model with its default init, and the JAX model (built by ``variant``'s
    ``build_model``) holding the same weights."""
    torch.manual_seed(seed)
    model = tmodels.build_model(case.name, case.seq_len, **case.kwargs).to(device)
    state = {k: as_numpy(v) for k, v in model.state_dict().items()}
    variables = convert.torch_to_flax(case.name, state, case.kwargs)
    jax_model = VARIANTS[variant].build_model(case.name, case.seq_len, **case.kwargs)
    return ModelPair(case, model, jax_model, jax.tree.map(jnp.asarray, variables))


def jax_state(pair: ModelPair, lr: float = 0.01) -> jtrain.TrainState:
    xb = jnp.zeros((1, pair.case.seq_len, 4))
    tx = optax.sgd(lr)
    state = jtrain.create_train_state(
        pair.jax_model, jax.random.key(0), xb, tx, jax_loss(pair.case)
    )
    return state.replace(params=pair.variables["params"], batch_stats=pair.variables["batch_stats"])
