"""Step 3 in JAX: the tutorial's models as Flax modules, applied functionally.

Inputs are one-hot batches of shape (N, L, 4), as the dataset holds them. A module only
describes the maths: ``model.init(key, xb)`` returns its variables as a plain pytree and
``model.apply(variables, xb)`` runs it. ``train`` is the functional twin of torch's
``model.train()`` / ``model.eval()`` (these models have nothing that it switches).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from dna_tutorial import registry
from dna_tutorial.registry import hashable, resolve
from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE, DEEP_DROPOUT, KERNEL_SIZE, NUM_FILTERS


def _flatten(h: jax.Array) -> jax.Array:
    return h.reshape(h.shape[0], -1)


class DNA_Linear(nn.Module):
    """Flatten the one-hot matrix and map it to one score: (N, L, 4) -> (N, 1)."""

    seq_len: int

    def setup(self) -> None:
        self.lin = nn.Dense(1)

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        xb = xb.reshape(xb.shape[0], self.seq_len * 4)  # (N, L*4), length-major
        return self.lin(xb)  # (N, 1)


class DNA_CNN(nn.Module):
    """Conv1d over the sequence, ReLU, flatten, Linear: (N, L, 4) -> (N, out_features).

    With ``kernel_size`` k there are P = L - k + 1 filter positions (no padding).
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1

    def setup(self) -> None:
        if not 1 <= self.kernel_size <= self.seq_len:
            raise ValueError(
                f"kernel_size must be in 1..seq_len={self.seq_len}, got {self.kernel_size}"
            )
        self.conv_net = nn.Sequential([
            nn.Conv(self.num_filters, (self.kernel_size,), padding="VALID"),  # (N, P, F)
            nn.relu,
            _flatten,  # (N, P*F), length-major
            nn.Dense(self.outputs),
        ])  # fmt: skip

    @property
    def outputs(self) -> int:
        """How many numbers the model predicts (a subclass may count them otherwise)."""
        return self.out_features

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        return self.conv_net(xb)  # Flax convolves channels-last: no permute needed

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        return self.conv_net.layers[0](xb)


class DNA_CNN2d(nn.Module):
    """Footnote 1: the same CNN with a Conv2d whose kernel spans all 4 rows of the one-hot.

    A (4, k) kernel on the (4, L, 1) "image" can only slide along the sequence, so it scans
    exactly like Conv1d: with weights copied (``kernel[:, :, None]``) outputs are equal.
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1

    def setup(self) -> None:
        if not 1 <= self.kernel_size <= self.seq_len:
            raise ValueError(
                f"kernel_size must be in 1..seq_len={self.seq_len}, got {self.kernel_size}"
            )
        self.conv_net = nn.Sequential([
            nn.Conv(self.num_filters, (4, self.kernel_size), padding="VALID"),  # (N, 1, P, F)
            nn.relu,
            _flatten,  # (N, P*F), the same order as DNA_CNN's
            nn.Dense(self.out_features),
        ])  # fmt: skip

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        xb = jnp.swapaxes(xb, 1, 2)[..., None]  # (N, 4, L, 1): a one-channel image
        return self.conv_net(xb)

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        return self.conv_net.layers[0](jnp.swapaxes(xb, 1, 2)[..., None])[:, 0]


class DNA_CNNClassifier(DNA_CNN):
    """Footnote 2: the CNN with one logit per class, trained with cross-entropy."""

    num_classes: int = 3

    @property
    def outputs(self) -> int:  # a dataclass: no constructor passes it to the parent
        return self.num_classes


class BatchNorm(nn.Module):
    """BatchNorm over the last axis with torch's conventions, where Flax's differ: the new
    batch weighs ``momentum`` = 0.1 in the running statistics (Flax's ``nn.BatchNorm``
    counts the other way: its momentum 0.9 is torch's 0.1), and the running variance takes
    the unbiased batch variance (Flax takes the biased one; both normalise with it).
    The statistics live in the ``batch_stats`` collection, not in the module."""

    momentum: float = 0.1
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        features = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (features,))
        bias = self.param("bias", nn.initializers.zeros, (features,))
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,))
        running_var = self.variable("batch_stats", "var", jnp.ones, (features,))
        if not train:
            mean, var = running_mean.value, running_var.value
        else:
            axes = tuple(range(x.ndim - 1))
            mean, var = x.mean(axes), x.var(axes)
            n = x.size // features
            if not self.is_initializing():
                m = self.momentum
                running_mean.value = (1 - m) * running_mean.value + m * mean
                running_var.value = (1 - m) * running_var.value + m * var * n / (n - 1)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> ReLU -> max-pool -> Dropout: (N, L, C) -> (N, L // pool, F)."""

    filters: int
    width: int
    pool: int
    dropout: float
    padding: str

    def setup(self) -> None:
        padding = self.padding.upper()
        self.conv = nn.Conv(self.filters, (self.width,), padding=padding, use_bias=False)
        self.bn = BatchNorm()  # its running statistics: the batch_stats collection
        self.drop = nn.Dropout(self.dropout)  # active when train: its mask needs a key

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        xb = nn.relu(self.bn(self.conv(xb), train))
        if self.pool > 1:
            xb = nn.max_pool(xb, (self.pool,), strides=(self.pool,), padding="VALID")
        return self.drop(xb, deterministic=not train)


class DenseBlock(nn.Module):
    """Dense -> BatchNorm -> ReLU -> Dropout: (N, in) -> (N, units)."""

    units: int
    dropout: float

    def setup(self) -> None:
        self.dense = nn.Dense(self.units, use_bias=False)
        self.bn = BatchNorm()
        self.drop = nn.Dropout(self.dropout)

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        return self.drop(nn.relu(self.bn(self.dense(xb), train)), deterministic=not train)


class DNA_DeepCNN(nn.Module):
    """The second lesson: blocks of conv, BatchNorm, ReLU, max-pool and dropout, then
    dense layers: (N, L, 4) -> (N, out_features). Its BatchNorm statistics are variables
    of their own (``batch_stats``), and ``train`` switches batch statistics and dropout on:
    the functional twin of torch's ``model.train()`` / ``model.eval()``.
    """

    seq_len: int
    conv_blocks: tuple = DEEP_BLOCKS
    dense_units: tuple = DEEP_DENSE
    dropout: tuple = DEEP_DROPOUT
    padding: str = "same"
    out_features: int = 1

    def positions(self) -> int:
        """Positions left after the blocks; refused if none are."""
        length = self.seq_len
        for _, width, pool in self.conv_blocks:
            length = (length - (width - 1 if self.padding == "valid" else 0)) // pool
        if length < 1:
            raise ValueError(
                f"conv_blocks {self.conv_blocks} leave no positions of a sequence of {self.seq_len}"
            )
        return length

    def setup(self) -> None:
        self.positions()
        self.blocks = [
            ConvBlock(*block, self.dropout[0], self.padding) for block in self.conv_blocks
        ]
        self.head = [DenseBlock(units, self.dropout[1]) for units in self.dense_units]
        self.out = nn.Dense(self.outputs)

    @property
    def outputs(self) -> int:
        """How many numbers the model predicts (a subclass may count them otherwise)."""
        return self.out_features

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU, normalised: (N, L, 4) -> (N, P, F)."""
        return self.blocks[0].bn(self.blocks[0].conv(xb))

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        for block in self.blocks:
            xb = block(xb, train)
        xb = xb.reshape(xb.shape[0], -1)  # (N, P*F), length-major
        for block in self.head:
            xb = block(xb, train)
        return self.out(xb)


class DNA_DeepCNNMultilabel(DNA_DeepCNN):
    """The deeper CNN with one logit per label, trained with binary cross-entropy."""

    num_classes: int = 3

    @property
    def outputs(self) -> int:  # a dataclass: no constructor passes it to the parent
        return self.num_classes


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """Describe a registered model by name, e.g. ``build_model("cnn", 8)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ...) reach the model's
    fields when it declares them: the linear model ignores ``num_filters``.
    """
    cls = resolve(registry.get(name).jax)
    accepted = {field.name for field in dataclasses.fields(cls)}
    return cls(seq_len, **{k: v for k, v in hashable(options).items() if k in accepted})


def conv_layer(params) -> dict:
    """The first-layer convolution's parameters (the tutorial's ``get_conv_layers_from_model``):
    the first kernel of three or more axes, in the order Flax lists the layers."""
    for path, kernel in jax.tree_util.tree_flatten_with_path(params)[0]:
        if path[-1].key == "kernel" and kernel.ndim >= 3:
            parent = params
            for entry in path[:-1]:
                parent = parent[entry.key]
            return parent
    raise ValueError(f"no convolution layer among {sorted(params)}")
