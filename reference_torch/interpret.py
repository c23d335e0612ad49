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

from dna_tutorial.spec import ATTRIBUTION_BATCH_SIZE


def ism(
    model: nn.Module,
    x: np.ndarray,
    output: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = ATTRIBUTION_BATCH_SIZE,
) -> np.ndarray:
    """output(mutant) - output(reference) per position and base: float32 (N, L, 4).

    Row (p, b) of a sequence's 4 L mutants is the sequence with position p set to base b:
    16 L^2 floats in all, 6.4 GB at L = 10,000. So they run in blocks of ``batch_size // 4``
    positions (at least one), and memory holds one block of ``batch_size`` rows.
    """
    model.eval()
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    length = x.shape[1]
    block = max(1, min(batch_size // 4, length))  # positions per model call
    effects = []
    with torch.no_grad():
        for seq in x:  # (L, 4)
            ref = model(seq[None])[0, output]
            outs = []
            for start in range(0, length, block):
                positions = torch.arange(start, min(start + block, length), device=device)
                mutants = seq.expand(len(positions), 4, length, 4).clone()
                mutants[torch.arange(len(positions)), :, positions] = torch.eye(4, device=device)
                outs.append(model(mutants.reshape(-1, length, 4))[:, output])
            # the reference base's "mutant" is the sequence itself: exactly 0
            effects.append((torch.cat(outs).reshape(length, 4) - ref) * (1 - seq))
    return torch.stack(effects).cpu().numpy()


def saliency(
    model: nn.Module,
    x: np.ndarray,
    output: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = ATTRIBUTION_BATCH_SIZE,
) -> np.ndarray:
    """Gradient of output ``output`` w.r.t. the one-hot input: float32 (N, L, 4).

    Each example's output depends only on its own row, so one backward pass of the summed
    outputs gives every per-example gradient, and ``batch_size`` rows at a time give the
    same gradients with one batch's activations in memory.
    """
    model.eval()
    grads = []
    for i in range(0, len(x), batch_size):
        xt = torch.tensor(x[i : i + batch_size], dtype=torch.float32, device=device)
        xt.requires_grad_(True)
        # the input's gradient only: backward() would also add to every parameter's .grad
        (grad,) = torch.autograd.grad(model(xt)[:, output].sum(), xt)
        grads.append(grad.cpu())
    return torch.cat(grads).numpy()


def grad_times_input(
    model: nn.Module,
    x: np.ndarray,
    output: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = ATTRIBUTION_BATCH_SIZE,
) -> np.ndarray:
    """Saliency at the observed bases, 0 elsewhere: float32 (N, L, 4)."""
    return saliency(model, x, output, device, batch_size) * np.asarray(x, dtype=np.float32)


def simplex_correction(attributions: np.ndarray) -> np.ndarray:
    """Attributions (..., 4) minus their mean over the bases: same shape and dtype."""
    return attributions - attributions.mean(axis=-1, keepdims=True)
