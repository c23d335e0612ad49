"""Step 6 in JAX: predictions on the test set, R^2, spot checks and saliency."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dna_tutorial.recipe import r2_score
from dna_tutorial.spec import SPOT_CHECKS
from jax_impl.data import Dataset, batch_indices, one_hot, one_hot_encode, score_seqs


@functools.partial(jax.jit, static_argnames=("model", "batch_size"))
def predict_codes(model: nn.Module, params, codes: jax.Array, batch_size: int = 8192) -> jax.Array:
    """Model outputs for integer-coded sequences (N, L): float32 (N, out_features).

    Rows are one-hot encoded batch by batch inside one compiled ``lax.map``.
    """
    idx, _ = batch_indices(jnp.arange(codes.shape[0]), batch_size)
    outs = jax.lax.map(lambda rows: model.apply({"params": params}, one_hot(codes[rows])), idx)
    return outs.reshape(-1, outs.shape[-1])[: codes.shape[0]]


@functools.partial(jax.jit, static_argnames="model")
def predict(model: nn.Module, params, x: jax.Array) -> jax.Array:
    """Model outputs for one-hot inputs ``x`` (N, L, 4): float32 (N, out_features)."""
    return model.apply({"params": params}, x)


def predict_seqs(model: nn.Module, params, seqs: Sequence[str]) -> np.ndarray:
    """One-hot encode ``seqs`` and predict: float32 array (N, out_features)."""
    return np.asarray(predict(model, params, one_hot_encode(seqs)))


def parity_pred(
    model: nn.Module, params, data: Dataset, seqs: Sequence[str]
) -> tuple[float, pd.DataFrame]:
    """Predict every row of ``data``: (R^2, DataFrame of seq, truth, pred)."""
    pred = np.asarray(predict_codes(model, params, data.codes))[:, 0]
    truth = np.asarray(data.y)[:, 0]
    table = pd.DataFrame({"seq": list(seqs), "truth": truth, "pred": pred})
    return r2_score(truth, pred), table


def quick_seq_pred(models: Mapping[str, tuple[nn.Module, dict]]) -> pd.DataFrame:
    """The notebook's spot checks: actual score and each model's prediction per sequence.

    ``models`` maps a name to ``(model, params)``. Returns a DataFrame with columns
    ``group, seq, actual`` and one column per model.
    """
    rows = [(group, seq) for group, seqs in SPOT_CHECKS.items() for seq in seqs]
    table = pd.DataFrame(rows, columns=["group", "seq"])
    table["actual"] = np.asarray(score_seqs(list(table["seq"])))
    for name, (model, params) in models.items():
        table[name] = predict_seqs(model, params, list(table["seq"]))[:, 0]
    return table


@functools.partial(jax.jit, static_argnames=("model", "output"))
def saliency(model: nn.Module, params, x: jax.Array, output: int = 0) -> jax.Array:
    """Gradient of output ``output`` w.r.t. the one-hot input: float32 (N, L, 4).

    Each example's output depends only on its own row, so the gradient of the summed
    outputs holds every per-example gradient.
    """
    return jax.grad(lambda x: model.apply({"params": params}, x)[:, output].sum())(x)
