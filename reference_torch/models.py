"""Step 3 in PyTorch: the tutorial's models as ``nn.Module`` objects.

Inputs are one-hot batches of shape (N, L, 4), as the Dataset yields them.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from dna_tutorial import registry
from dna_tutorial.registry import hashable, resolve
from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE, DEEP_DROPOUT, KERNEL_SIZE, NUM_FILTERS


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

    def conv_activations(self, xb: torch.Tensor) -> torch.Tensor:
        """First-layer output before the ReLU: (N, L, 4) -> (N, F, P)."""
        return self.conv_net[0](xb.permute(0, 2, 1))


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

    def conv_activations(self, xb: torch.Tensor) -> torch.Tensor:
        """First-layer output before the ReLU: (N, L, 4) -> (N, F, P)."""
        return self.conv_net[0](xb.permute(0, 2, 1).unsqueeze(1))[:, :, 0]


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


class ConvBlock(nn.Module):
    """Conv1d -> BatchNorm -> ReLU -> MaxPool -> Dropout: (N, C, L) -> (N, F, L // pool)."""

    def __init__(self, channels: int, filters: int, width: int, pool: int, dropout: float, padding):
        super().__init__()
        self.conv = nn.Conv1d(channels, filters, width, padding=padding, bias=False)
        self.bn = nn.BatchNorm1d(filters)  # running statistics: buffers, updated in train mode
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()
        self.drop = nn.Dropout(dropout)  # active in train mode only

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(torch.relu(self.bn(self.conv(xb)))))


class DenseBlock(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout: (N, in) -> (N, units)."""

    def __init__(self, features: int, units: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(features, units, bias=False)
        self.bn = nn.BatchNorm1d(units)
        self.drop = nn.Dropout(dropout)

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.relu(self.bn(self.dense(xb))))


class DNA_DeepCNN(nn.Module):
    """The second lesson: blocks of conv, BatchNorm, ReLU, max-pool and dropout, then
    dense layers: (N, L, 4) -> (N, out_features). Unlike the tutorial's models it holds
    state besides its weights (BatchNorm's running statistics) and behaves differently in
    ``model.train()`` and ``model.eval()`` mode (batch or running statistics; dropout on or
    off).
    """

    def __init__(
        self,
        seq_len: int,
        conv_blocks=DEEP_BLOCKS,
        dense_units=DEEP_DENSE,
        dropout=DEEP_DROPOUT,
        padding: str = "same",
        out_features: int = 1,
    ):
        super().__init__()
        length, channels = seq_len, 4
        self.blocks = nn.ModuleList()
        for filters, width, pool in conv_blocks:
            self.blocks.append(ConvBlock(channels, filters, width, pool, dropout[0], padding))
            length = (length - (width - 1 if padding == "valid" else 0)) // pool
            channels = filters
        if length < 1:
            raise ValueError(
                f"conv_blocks {conv_blocks} leave no positions of a sequence of {seq_len}"
            )
        features = channels * length  # flattened channel-major
        self.head = nn.ModuleList()
        for units in dense_units:
            self.head.append(DenseBlock(features, units, dropout[1]))
            features = units
        self.out = nn.Linear(features, out_features)

    def conv_activations(self, xb: torch.Tensor) -> torch.Tensor:
        """First-layer output before the ReLU, normalised with the running statistics
        (whatever the mode): (N, L, 4) -> (N, F, P)."""
        conv, bn = self.blocks[0].conv, self.blocks[0].bn
        h = conv(xb.permute(0, 2, 1))
        return nn.functional.batch_norm(
            h, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
        )

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.permute(0, 2, 1)  # (N, 4, L)
        for block in self.blocks:
            xb = block(xb)
        xb = xb.flatten(1)
        for block in self.head:
            xb = block(xb)
        return self.out(xb)


class DNA_DeepCNNMultilabel(DNA_DeepCNN):
    """The deeper CNN with one logit per label, trained with ``BCEWithLogitsLoss``."""

    def __init__(
        self,
        seq_len: int,
        conv_blocks=DEEP_BLOCKS,
        dense_units=DEEP_DENSE,
        dropout=DEEP_DROPOUT,
        padding: str = "same",
        num_classes: int = 3,
    ):
        super().__init__(
            seq_len, conv_blocks, dense_units, dropout, padding, out_features=num_classes
        )


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """Instantiate a registered model by name, e.g. ``build_model("cnn", 8)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ...) reach the model's
    constructor when it declares them: the linear model ignores ``num_filters``.
    """
    cls = resolve(registry.get(name).torch)
    accepted = inspect.signature(cls).parameters
    return cls(seq_len, **{k: v for k, v in hashable(options).items() if k in accepted})


def conv_layer(model: nn.Module) -> nn.Module:
    """The model's first-layer convolution (the tutorial's ``get_conv_layers_from_model``)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            return module
    raise ValueError(f"{type(model).__name__} has no convolution layer")
