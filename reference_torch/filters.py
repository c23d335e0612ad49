"""Step 7 in PyTorch: what the first-layer filters learned.

Two views, as in the notebook: the raw filter weights, and activation-based position
weight matrices (PWMs). For the PWMs, run the conv layer over many sequences; wherever
filter f's output (before the ReLU) exceeds ``act_thresh`` at position p, add the one-hot
subsequence ``seq[p : p + k]`` to filter f's letter counts. The counts become information
content for the logos in :mod:`dna_tutorial.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dna_tutorial.spec import ACT_THRESH, FILTER_BATCH_SIZE
from reference_torch.data import one_hot_seqs
from reference_torch.models import conv_layer


def filter_weights(model: nn.Module) -> np.ndarray:
    """First-layer filter weights as the notebook shows them: float32 (F, 4, k)."""
    weight = conv_layer(model).weight.detach().cpu()
    if weight.ndim == 4:  # Conv2d: (F, 1, 4, k)
        weight = weight[:, 0]
    return weight.numpy()


def conv_activations(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """First-layer conv output before the ReLU, for one-hot ``x`` (N, L, 4): (N, F, P).
    Each model with filters says what its activations are (the deeper CNN's include its
    first BatchNorm)."""
    return model.conv_activations(x)


def _counts(model: nn.Module, x: torch.Tensor, k: int, act_thresh: float) -> torch.Tensor:
    with torch.no_grad():
        fired = (conv_activations(model, x) > act_thresh).float()  # (N, F, P)
    pad = fired.shape[-1] - (x.shape[1] - k + 1)  # 'same' padding: N rows (zeros) around
    x = nn.functional.pad(x, (0, 0, pad // 2, pad - pad // 2))
    windows = x.unfold(1, k, 1).permute(0, 1, 3, 2)  # (N, P, k, 4): seq[p : p + k] one-hot
    return torch.einsum("nfp,npjc->fjc", fired, windows)


def get_filter_activations(
    seqs: Sequence[str],
    model: nn.Module,
    act_thresh: float = ACT_THRESH,
    device: torch.device | str = "cpu",
    batch_size: int = FILTER_BATCH_SIZE,
) -> np.ndarray:
    """Letter counts of the subsequences that make each filter fire: int64 (F, k, 4).

    The notebook loops over sequences, filters and positions; the einsum sums the same
    one-hot subsequences of ``batch_size`` sequences in one call, and the batches' counts
    add up.
    """
    filters, _, k = filter_weights(model).shape
    counts = np.zeros((filters, k, 4), np.int64)
    for i in range(0, len(seqs), batch_size):
        x = torch.as_tensor(one_hot_seqs(seqs[i : i + batch_size]))
        # a float32 count is exact below 2**24: round each batch's, add them as integers
        counts += _counts(model, x.to(device), k, act_thresh).round().long().cpu().numpy()
    return counts
