"""Beyond step 7 in PyTorch: which bases drive a prediction (attribution).

Every function takes one-hot sequences ``x`` (N, L, 4), float32, puts the model in eval
mode, and returns float32 (N, L, 4): one number per position and base, for output
``output`` of the model (the score; a class's logit; a label's logit).

- ``ism``: in-silico saturation mutagenesis, output(mutant) - output(reference) for every
  single-base substitution. 0 at the reference base; positive where the substitution
  raises the output.
- ``saliency``: the gradient of the output w.r.t. the one-hot input, every base of every
  position (a linear model's saliency is its weights).
- ``grad_times_input``: the gradient at the observed bases, zero elsewhere.
- ``simplex_correction``: subtract the mean over the 4 bases at each position. A one-hot
  input lives on the simplex (the bases sum to 1), so only differences between bases
  matter; the correction removes the gradient's component off the simplex.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def ism(
    model: nn.Module, x: np.ndarray, output: int = 0, device: torch.device | str = "cpu"
) -> np.ndarray:
    """output(mutant) - output(reference) per position and base: float32 (N, L, 4).

    Each sequence's 4 L mutants run as one batch: row (p, b) is the sequence with
    position p set to base b.
    """
    model.eval()
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    length = x.shape[1]
    positions = torch.arange(length, device=device)
    effects = []
    with torch.no_grad():
        for seq in x:  # (L, 4)
            mutants = seq.expand(length, 4, length, 4).clone()
            mutants[positions, :, positions] = torch.eye(4, device=device)
            out = model(mutants.reshape(4 * length, length, 4))[:, output]
            ref = model(seq[None])[0, output]
            # the reference base's "mutant" is the sequence itself: exactly 0
            effects.append((out.reshape(length, 4) - ref) * (1 - seq))
    return torch.stack(effects).cpu().numpy()


def saliency(
    model: nn.Module, x: np.ndarray, output: int = 0, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Gradient of output ``output`` w.r.t. the one-hot input: float32 (N, L, 4).

    Each example's output depends only on its own row, so one backward pass of the summed
    outputs gives every per-example gradient.
    """
    model.eval()
    xt = torch.tensor(x, dtype=torch.float32, device=device, requires_grad=True)
    model(xt)[:, output].sum().backward()
    return xt.grad.cpu().numpy()


def grad_times_input(
    model: nn.Module, x: np.ndarray, output: int = 0, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Saliency at the observed bases, 0 elsewhere: float32 (N, L, 4)."""
    return saliency(model, x, output, device) * np.asarray(x, dtype=np.float32)


def simplex_correction(attributions: np.ndarray) -> np.ndarray:
    """Attributions (..., 4) minus their mean over the bases: same shape and dtype."""
    return attributions - attributions.mean(axis=-1, keepdims=True)
