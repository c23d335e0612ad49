"""Step 6 in PyTorch: predictions on the test set, R^2 and spot checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from dna_tutorial.metrics import r2_score
from dna_tutorial.spec import PREDICT_BATCH_SIZE, SPOT_CHECKS
from reference_torch.data import one_hot_seqs, score_seqs


def predict(
    model: nn.Module,
    x: np.ndarray,
    device: torch.device | str = "cpu",
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """Model outputs for one-hot inputs ``x`` (N, L, 4): float32 array (N, out_features)."""
    model.eval()
    with torch.no_grad():
        outs = [
            model(torch.tensor(x[i : i + batch_size], dtype=torch.float32, device=device)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(outs).numpy()


def predict_seqs(
    model: nn.Module,
    seqs: Sequence[str],
    device: torch.device | str = "cpu",
    batch_size: int = PREDICT_BATCH_SIZE,
) -> np.ndarray:
    """One-hot encode ``seqs`` and predict: float32 array (N, out_features).

    A batch at a time: the one-hot rows of every sequence at once take 16 bytes a base.
    """
    outs = []
    for i in range(0, len(seqs), batch_size):
        x = one_hot_seqs(seqs[i : i + batch_size])
        outs.append(predict(model, x, device, batch_size))
    return np.concatenate(outs)


def parity_pred(
    model: nn.Module, df: pd.DataFrame, device: torch.device | str = "cpu"
) -> tuple[float, pd.DataFrame]:
    """Predict every row of ``df`` (seq, score): (R^2, DataFrame of seq, truth, pred)."""
    pred = predict_seqs(model, list(df["seq"]), device)[:, 0]
    table = pd.DataFrame({"seq": df["seq"].values, "truth": df["score"].values, "pred": pred})
    return r2_score(table["truth"], table["pred"]), table


def quick_seq_pred(
    models: Mapping[str, nn.Module], device: torch.device | str = "cpu"
) -> pd.DataFrame:
    """The notebook's spot checks: actual score and each model's prediction per sequence.

    Returns a DataFrame with columns ``group, seq, actual`` and one column per model.
    """
    rows = [(group, seq) for group, seqs in SPOT_CHECKS.items() for seq in seqs]
    table = pd.DataFrame(rows, columns=["group", "seq"])
    table["actual"] = score_seqs(list(table["seq"]))["score"].values
    for name, model in models.items():
        table[name] = predict_seqs(model, list(table["seq"]), device)[:, 0]
    return table
