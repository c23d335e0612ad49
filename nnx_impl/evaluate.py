"""Step 6 in Flax NNX: predictions on the test set, R^2 and spot checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from dna_tutorial.metrics import r2_score
from dna_tutorial.spec import PREDICT_BATCH_SIZE, SPOT_CHECKS
from nnx_impl.data import one_hot_seqs, score_seqs


@nnx.jit
def _apply(model: nnx.Module, xb: jax.Array) -> jax.Array:
    return model(xb)


def predict(model: nnx.Module, x, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Model outputs for one-hot inputs ``x`` (N, L, 4): float32 array (N, out_features)."""
    model.eval()
    outs = [
        np.asarray(_apply(model, jnp.asarray(x[i : i + batch_size], jnp.float32)))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs)


def predict_seqs(
    model: nnx.Module, seqs: Sequence[str], batch_size: int = PREDICT_BATCH_SIZE
) -> np.ndarray:
    """One-hot encode ``seqs`` and predict: float32 array (N, out_features).

    A batch at a time: the one-hot rows of every sequence at once take 16 bytes a base.
    """
    outs = []
    for i in range(0, len(seqs), batch_size):
        x = one_hot_seqs(seqs[i : i + batch_size])
        outs.append(predict(model, x, batch_size))
    return np.concatenate(outs)


def parity_pred(model: nnx.Module, df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Predict every row of ``df`` (seq, score): (R^2, DataFrame of seq, truth, pred)."""
    pred = predict_seqs(model, list(df["seq"]))[:, 0]
    table = pd.DataFrame({"seq": df["seq"].values, "truth": df["score"].values, "pred": pred})
    return r2_score(table["truth"], table["pred"]), table


def quick_seq_pred(models: Mapping[str, nnx.Module]) -> pd.DataFrame:
    """The notebook's spot checks: actual score and each model's prediction per sequence.

    Returns a DataFrame with columns ``group, seq, actual`` and one column per model.
    """
    rows = [(group, seq) for group, seqs in SPOT_CHECKS.items() for seq in seqs]
    table = pd.DataFrame(rows, columns=["group", "seq"])
    table["actual"] = score_seqs(list(table["seq"]))["score"].values
    for name, model in models.items():
        table[name] = predict_seqs(model, list(table["seq"]))[:, 0]
    return table
