"""Step 7 in JAX: what the first-layer filters learned.

Two views, as in the notebook: the raw filter weights, and activation-based position
weight matrices (PWMs). For the PWMs, run the conv layer over many sequences; wherever
filter f's output (before the ReLU) exceeds ``act_thresh`` at position p, add the one-hot
subsequence ``seq[p : p + k]`` to filter f's letter counts. The counts become information
content for the logos in :mod:`dna_tutorial.plots`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dna_tutorial.spec import ACT_THRESH
from jax_impl.data import one_hot_encode


def filter_weights(params) -> np.ndarray:
    """First-layer filter weights as the notebook shows them: float32 (F, 4, k).

    Works for the Conv1d kernel (k, 4, F) and the Conv2d kernel (4, k, 1, F).
    """
    kernel = np.asarray(params["conv"]["kernel"])
    if kernel.ndim == 4:  # Conv2d: (4, k, 1, F)
        return kernel[:, :, 0].transpose(2, 0, 1)
    return kernel.transpose(2, 1, 0)


@functools.partial(jax.jit, static_argnames="model")
def conv_activations(model: nn.Module, params, x: jax.Array) -> jax.Array:
    """First-layer conv output before the ReLU, for one-hot ``x`` (N, L, 4): (N, P, F)."""
    return model.apply({"params": params}, x, method=model.conv_activations)


@functools.partial(jax.jit, static_argnames=("model", "act_thresh"))
def filter_counts(model: nn.Module, params, x: jax.Array, act_thresh: float = ACT_THRESH):
    """Letter counts of the subsequences that make each filter fire: int32 (F, k, 4).

    The notebook loops over sequences, filters and positions; the einsum sums the same
    one-hot subsequences in one call.
    """
    fired = (conv_activations(model, params, x) > act_thresh).astype(jnp.float32)  # (N, P, F)
    positions = fired.shape[1]
    k = x.shape[1] - positions + 1
    windows = jnp.stack([x[:, j : j + positions] for j in range(k)], axis=2)  # (N, P, k, 4)
    return jnp.einsum("npf,npjc->fjc", fired, windows).round().astype(jnp.int32)


def get_filter_activations(
    seqs: Sequence[str], model: nn.Module, params, act_thresh: float = ACT_THRESH
) -> np.ndarray:
    """:func:`filter_counts` for DNA strings: int64 (F, k, 4), as the reference returns."""
    return np.asarray(filter_counts(model, params, one_hot_encode(seqs), act_thresh), np.int64)
