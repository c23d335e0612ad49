"""Step 3 in Flax NNX: the tutorial's models as objects that hold their parameters.

Inputs are one-hot batches of shape (N, L, 4), as the dataset holds them. Like a torch
``nn.Module``, an NNX module takes its sizes when it is made and keeps its parameters
(``nnx.Param``) and state (``nnx.BatchStat``) as attributes; ``model(xb)`` runs it, and
``model.train()`` / ``model.eval()`` switch dropout and batch statistics. Unlike torch's,
its kernels have Flax's layouts (Conv (k, C, F), Linear (in, out)), and it is convolved
channels-last; ``nnx.state(model)`` holds the variables at the paths the Linen port holds
them (``conv_net/layers/0/kernel`` for Linen's ``conv_net/layers_0/kernel``).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
from flax import nnx

from dna_tutorial import registry
from dna_tutorial.errors import ConfigError
from dna_tutorial.registry import hashable, resolve
from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE, DEEP_DROPOUT, KERNEL_SIZE, NUM_FILTERS


def _flatten(h: jax.Array) -> jax.Array:
    return h.reshape(h.shape[0], -1)


class DNA_Linear(nnx.Module):
    """Flatten the one-hot matrix and map it to one score: (N, L, 4) -> (N, 1)."""

    def __init__(self, seq_len: int, *, rngs: nnx.Rngs):
        self.seq_len = seq_len
        self.lin = nnx.Linear(4 * seq_len, 1, rngs=rngs)

    def __call__(self, xb: jax.Array) -> jax.Array:
        xb = xb.reshape(xb.shape[0], self.seq_len * 4)  # (N, L*4), length-major
        return self.lin(xb)  # (N, 1)


class DNA_CNN(nnx.Module):
    """Conv1d over the sequence, ReLU, flatten, Linear: (N, L, 4) -> (N, out_features).

    With ``kernel_size`` k there are P = L - k + 1 filter positions (no padding).
    """

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        out_features: int = 1,
        *,
        rngs: nnx.Rngs,
    ):
        if not 1 <= kernel_size <= seq_len:
            raise ValueError(f"kernel_size must be in 1..seq_len={seq_len}, got {kernel_size}")
        self.seq_len = seq_len
        self.conv_net = nnx.Sequential(
            nnx.Conv(4, num_filters, kernel_size, padding="VALID", rngs=rngs),  # (N, P, F)
            nnx.relu,
            _flatten,  # (N, P*F), length-major
            nnx.Linear(num_filters * (seq_len - kernel_size + 1), out_features, rngs=rngs),
        )

    def __call__(self, xb: jax.Array) -> jax.Array:
        return self.conv_net(xb)  # NNX convolves channels-last: no permute needed

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        return self.conv_net.layers[0](xb)


class DNA_CNN2d(nnx.Module):
    """Footnote 1: the same CNN with a Conv2d whose kernel spans all 4 rows of the one-hot.

    A (4, k) kernel on the (4, L, 1) "image" can only slide along the sequence, so it scans
    exactly like Conv1d: with weights copied (``kernel[:, :, None]``) outputs are equal.
    """

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        out_features: int = 1,
        *,
        rngs: nnx.Rngs,
    ):
        if not 1 <= kernel_size <= seq_len:
            raise ValueError(f"kernel_size must be in 1..seq_len={seq_len}, got {kernel_size}")
        self.seq_len = seq_len
        self.conv_net = nnx.Sequential(
            nnx.Conv(1, num_filters, (4, kernel_size), padding="VALID", rngs=rngs),
            nnx.relu,
            _flatten,  # (N, P*F), the same order as DNA_CNN's
            nnx.Linear(num_filters * (seq_len - kernel_size + 1), out_features, rngs=rngs),
        )

    def __call__(self, xb: jax.Array) -> jax.Array:
        xb = jnp.swapaxes(xb, 1, 2)[..., None]  # (N, 4, L, 1): a one-channel image
        return self.conv_net(xb)

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        return self.conv_net.layers[0](jnp.swapaxes(xb, 1, 2)[..., None])[:, 0]


class DNA_CNNClassifier(DNA_CNN):
    """Footnote 2: the CNN with one logit per class, trained with cross-entropy."""

    def __init__(
        self,
        seq_len: int,
        num_filters: int = NUM_FILTERS,
        kernel_size: int = KERNEL_SIZE,
        num_classes: int = 3,
        *,
        rngs: nnx.Rngs,
    ):
        super().__init__(seq_len, num_filters, kernel_size, out_features=num_classes, rngs=rngs)


class BatchNorm(nnx.Module):
    """BatchNorm over the last axis with torch's conventions, where Flax's differ: the new
    batch weighs ``momentum`` = 0.1 in the running statistics (``nnx.BatchNorm`` counts
    the other way: its momentum 0.9 is torch's 0.1), and the running variance takes the
    unbiased batch variance (Flax takes the biased one; both normalise with it). The
    statistics are ``nnx.BatchStat`` variables of the module, updated in place in training
    mode (``model.train()`` sets ``use_running_average`` False, as for ``nnx.BatchNorm``)."""

    def __init__(self, features: int, momentum: float = 0.1, epsilon: float = 1e-5):
        self.scale = nnx.Param(jnp.ones(features))
        self.bias = nnx.Param(jnp.zeros(features))
        self.mean = nnx.BatchStat(jnp.zeros(features))
        self.var = nnx.BatchStat(jnp.ones(features))
        self.momentum, self.epsilon = momentum, epsilon
        self.use_running_average = False

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            axes = tuple(range(x.ndim - 1))
            mean, var = x.mean(axes), x.var(axes)
            n, m = x.size // x.shape[-1], self.momentum
            self.mean[...] = (1 - m) * self.mean[...] + m * mean
            self.var[...] = (1 - m) * self.var[...] + m * var * n / (n - 1)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * self.scale[...] + self.bias[...]


class ConvBlock(nnx.Module):
    """Conv -> BatchNorm -> ReLU -> max-pool -> Dropout: (N, L, C) -> (N, L // pool, F)."""

    def __init__(
        self,
        channels: int,
        filters: int,
        width: int,
        pool: int,
        dropout: float,
        padding: str,
        *,
        rngs: nnx.Rngs,
    ):
        padding = padding.upper()
        self.conv = nnx.Conv(channels, filters, width, padding=padding, use_bias=False, rngs=rngs)
        self.bn = BatchNorm(filters)  # its running statistics: BatchStat variables
        self.pool = pool
        self.drop = nnx.Dropout(dropout, rngs=rngs)  # active in train mode: its own key stream

    def __call__(self, xb: jax.Array) -> jax.Array:
        xb = nnx.relu(self.bn(self.conv(xb)))
        if self.pool > 1:
            xb = nnx.max_pool(xb, (self.pool,), strides=(self.pool,), padding="VALID")
        return self.drop(xb)


class DenseBlock(nnx.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout: (N, in) -> (N, units)."""

    def __init__(self, features: int, units: int, dropout: float, *, rngs: nnx.Rngs):
        self.dense = nnx.Linear(features, units, use_bias=False, rngs=rngs)
        self.bn = BatchNorm(units)
        self.drop = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, xb: jax.Array) -> jax.Array:
        return self.drop(nnx.relu(self.bn(self.dense(xb))))


class DNA_DeepCNN(nnx.Module):
    """The second lesson: blocks of conv, BatchNorm, ReLU, max-pool and dropout, then
    dense layers: (N, L, 4) -> (N, out_features). As in torch, it holds state besides its
    weights (BatchNorm's running statistics) and behaves differently in ``model.train()``
    and ``model.eval()`` mode (batch or running statistics; dropout on or off).
    """

    def __init__(
        self,
        seq_len: int,
        conv_blocks=DEEP_BLOCKS,
        dense_units=DEEP_DENSE,
        dropout=DEEP_DROPOUT,
        padding: str = "same",
        out_features: int = 1,
        *,
        rngs: nnx.Rngs,
    ):
        length, channels = seq_len, 4
        self.blocks = nnx.List()
        for filters, width, pool in conv_blocks:
            self.blocks.append(
                ConvBlock(channels, filters, width, pool, dropout[0], padding, rngs=rngs)
            )
            length = (length - (width - 1 if padding == "valid" else 0)) // pool
            channels = filters
        if length < 1:
            raise ValueError(
                f"conv_blocks {conv_blocks} leave no positions of a sequence of {seq_len}"
            )
        features = channels * length  # flattened length-major
        self.head = nnx.List()
        for units in dense_units:
            self.head.append(DenseBlock(features, units, dropout[1], rngs=rngs))
            features = units
        self.out = nnx.Linear(features, out_features, rngs=rngs)

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU, normalised with the running statistics
        (whatever the mode): (N, L, 4) -> (N, P, F)."""
        bn = self.blocks[0].bn
        h = self.blocks[0].conv(xb)
        return (h - bn.mean[...]) * jax.lax.rsqrt(bn.var[...] + bn.epsilon) * bn.scale[...] + (
            bn.bias[...]
        )

    def __call__(self, xb: jax.Array) -> jax.Array:
        for block in self.blocks:
            xb = block(xb)
        xb = xb.reshape(xb.shape[0], -1)  # (N, P*F), length-major
        for block in self.head:
            xb = block(xb)
        return self.out(xb)


class DNA_DeepCNNMultilabel(DNA_DeepCNN):
    """The deeper CNN with one logit per label, trained with binary cross-entropy."""

    def __init__(
        self,
        seq_len: int,
        conv_blocks=DEEP_BLOCKS,
        dense_units=DEEP_DENSE,
        dropout=DEEP_DROPOUT,
        padding: str = "same",
        num_classes: int = 3,
        *,
        rngs: nnx.Rngs,
    ):
        super().__init__(
            seq_len, conv_blocks, dense_units, dropout, padding, out_features=num_classes,
            rngs=rngs,
        )  # fmt: skip


def build_model(name: str, seq_len: int, seed: int = 0, **options) -> nnx.Module:
    """Instantiate a registered model by name, e.g. ``build_model("cnn", 8)``, its
    parameters drawn from ``nnx.Rngs(seed)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ...) reach the model's
    constructor when it declares them: the linear model ignores ``num_filters``.
    """
    ref = registry.get(name).nnx
    if ref is None:
        raise ConfigError(f"--models {name}: the Flax NNX port has no such model; use torch or jax")
    cls = resolve(ref)
    accepted = inspect.signature(cls.__init__).parameters  # NNX wraps the class call
    kwargs = {k: v for k, v in hashable(options).items() if k in accepted}
    return cls(seq_len, **kwargs, rngs=nnx.Rngs(seed))


def conv_layer(model: nnx.Module) -> nnx.Conv:
    """The model's first-layer convolution (the tutorial's ``get_conv_layers_from_model``)."""
    for _, module in nnx.iter_modules(model):
        if isinstance(module, nnx.Conv):
            return module
    raise ValueError(f"{type(model).__name__} has no convolution layer")
