"""Step 3 in PyTorch: the tutorial's models as ``nn.Module`` objects.

Inputs are one-hot batches of shape (N, L, 4), as the Dataset yields them.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from dna_tutorial import registry
from dna_tutorial.registry import resolve
from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS


class DNA_Linear(nn.Module):
    """Flatten the one-hot matrix and map it to one score: (N, L, 4) -> (N, 1)."""

    def __init__(self, seq_len: int):
        super().__init__()
        self.seq_len = seq_len
        self.lin = nn.Linear(4 * seq_len, 1)

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.reshape(xb.shape[0], self.seq_len * 4)  # (N, L*4), length-major
        return self.lin(xb)  # (N, 1)


class DNA_CNN(nn.Module):
    """Conv1d over the sequence, ReLU, flatten, Linear: (N, L, 4) -> (N, out_features).

    With ``kernel_size`` k there are P = L - k + 1 filter positions (no padding).
    """

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        out_features: int = 1,
    ):
        super().__init__()
        if not 1 <= kernel_size <= seq_len:
            raise ValueError(f"kernel_size must be in 1..seq_len={seq_len}, got {kernel_size}")
        self.seq_len = seq_len
        self.conv_net = nn.Sequential(
            nn.Conv1d(4, num_filters, kernel_size=kernel_size),  # (N, F, P)
            nn.ReLU(inplace=True),
            nn.Flatten(),  # (N, F*P), channel-major
            nn.Linear(num_filters * (seq_len - kernel_size + 1), out_features),
        )

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.permute(0, 2, 1)  # (N, 4, L): Conv1d wants channels first
        return self.conv_net(xb)


class DNA_CNN2d(nn.Module):
    """Footnote 1: the same CNN with a Conv2d whose kernel spans all 4 rows of the one-hot.

    A (4, k) kernel on the (1, 4, L) "image" can only slide along the sequence, so it scans
    exactly like Conv1d: with weights copied (``conv1d.weight[:, None]``) outputs are equal.
    """

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        out_features: int = 1,
    ):
        super().__init__()
        if not 1 <= kernel_size <= seq_len:
            raise ValueError(f"kernel_size must be in 1..seq_len={seq_len}, got {kernel_size}")
        self.seq_len = seq_len
        self.conv_net = nn.Sequential(
            nn.Conv2d(1, num_filters, kernel_size=(4, kernel_size)),  # (N, F, 1, P)
            nn.ReLU(inplace=True),
            nn.Flatten(),  # (N, F*P), the same order as DNA_CNN's
            nn.Linear(num_filters * (seq_len - kernel_size + 1), out_features),
        )

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.permute(0, 2, 1).unsqueeze(1)  # (N, 1, 4, L): a one-channel image
        return self.conv_net(xb)


class DNA_CNNClassifier(DNA_CNN):
    """Footnote 2: the CNN with one logit per class, trained with ``CrossEntropyLoss``."""

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        num_classes: int = 3,
    ):
        super().__init__(seq_len, num_filters, kernel_size, out_features=num_classes)


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """Instantiate a registered model by name, e.g. ``build_model("cnn", 8)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ...) reach the model's
    constructor when it declares them: the linear model ignores ``num_filters``.
    """
    cls = resolve(registry.get(name).torch)
    accepted = inspect.signature(cls).parameters
    return cls(seq_len, **{k: v for k, v in options.items() if k in accepted})


def conv_layer(model: nn.Module) -> nn.Module:
    """The model's first-layer convolution (the tutorial's ``get_conv_layers_from_model``)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            return module
    raise ValueError(f"{type(model).__name__} has no convolution layer")
