"""Step 7 in Flax NNX: what the first-layer filters learned.

Two views, as in the notebook: the raw filter weights, and activation-based position
weight matrices (PWMs). For the PWMs, run the conv layer over many sequences; wherever
filter f's output (before the ReLU) exceeds ``act_thresh`` at position p, add the one-hot
subsequence ``seq[p : p + k]`` to filter f's letter counts. The counts become information
content for the logos drawn by the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dna_tutorial.spec import ACT_THRESH, FILTER_BATCH_SIZE
from nnx_impl.data import one_hot_seqs
from nnx_impl.models import conv_layer


def filter_weights(model: nnx.Module) -> np.ndarray:
    """First-layer filter weights as the notebook shows them: float32 (F, 4, k)."""
    kernel = np.asarray(conv_layer(model).kernel[...])
    if kernel.ndim == 4:  # Conv2d: (4, k, 1, F)
        return kernel[:, :, 0].transpose(2, 0, 1)
    return kernel.transpose(2, 1, 0)  # Conv1d: (k, 4, F)


@nnx.jit
def conv_activations(model: nnx.Module, x: jax.Array) -> jax.Array:
    """First-layer conv output before the ReLU, for one-hot ``x`` (N, L, 4): (N, P, F).
    Each model with filters says what its activations are (the deeper CNN's include its
    first BatchNorm)."""
    return model.conv_activations(x)


@nnx.jit(static_argnames=("k", "act_thresh"))
def _counts(model: nnx.Module, x: jax.Array, k: int, act_thresh: float) -> jax.Array:
    fired = (model.conv_activations(x) > act_thresh).astype(jnp.float32)  # (N, P, F)
    positions = fired.shape[1]
    pad = positions - (x.shape[1] - k + 1)  # 'same' padding: N rows (zeros) around
    x = jnp.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)))
    windows = jnp.stack([x[:, j : j + positions] for j in range(k)], axis=2)  # (N, P, k, 4)
    return jnp.einsum("npf,npjc->fjc", fired, windows)


def get_filter_activations(
    seqs: Sequence[str],
    model: nnx.Module,
    act_thresh: float = ACT_THRESH,
    batch_size: int = FILTER_BATCH_SIZE,
) -> np.ndarray:
    """Letter counts of the subsequences that make each filter fire: int64 (F, k, 4).

    The notebook loops over sequences, filters and positions; the einsum sums the same
    one-hot subsequences of ``batch_size`` sequences in one call, and the batches' counts
    add up.
    """
    filters, _, k = filter_weights(model).shape
    batch = max(1, min(batch_size, len(seqs)))
    counts = np.zeros((filters, k, 4), np.int64)
    for i in range(0, len(seqs), batch):
        x = one_hot_seqs(seqs[i : i + batch])
        # all-N rows (zeros) add no letters: padding the last batch keeps one compiled shape
        x = jnp.pad(x, ((0, batch - len(x)), (0, 0), (0, 0)))
        # a float32 count is exact below 2**24: round each batch's, add them as integers
        counts += np.asarray(_counts(model, x, k, act_thresh)).round().astype(np.int64)
    return counts
