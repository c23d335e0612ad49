"""The same model in every port: random inputs and the tutorial's targets for them, a
torch model with its default init and the same weights as Flax variables (through
``jax_impl.convert``), which each port in ``parity_tests.ports`` loads into its model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import nn

from dna_tutorial.recipe import score_classes
from dna_tutorial.sequences import decode_codes
from jax_impl import convert
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


def targets(case: ModelCase, seqs: Sequence[str]) -> np.ndarray:
    """The tutorial's targets for ``seqs``: scores (N, 1) float32 or classes (N,) int64."""
    scores = tdata.score_seqs(seqs)["score"].to_numpy().copy()  # writable, for torch
    return scores[:, None] if case.task == "regress" else score_classes(scores)


@dataclass
class ModelPair:
    case: ModelCase
    torch_model: nn.Module
    variables: dict  # the torch model's initial weights, as Flax variables


def model_pair(case: ModelCase, device: torch.device, seed: int = 0) -> ModelPair:
    """A torch model with its default init, and the same weights as Flax variables."""
    torch.manual_seed(seed)
    model = tmodels.build_model(case.name, case.seq_len, **case.kwargs).to(device)
    state = {k: as_numpy(v) for k, v in model.state_dict().items()}
    variables = convert.torch_to_flax(case.name, state, case.kwargs)
    return ModelPair(case, model, jax.tree.map(jnp.asarray, variables))
