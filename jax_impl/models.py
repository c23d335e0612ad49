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
from dna_tutorial.registry import resolve
from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS


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
            nn.Dense(self.out_features),
        ])  # fmt: skip

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

    def __post_init__(self) -> None:
        # A Flax module is a frozen dataclass: set the field before Flax freezes it.
        object.__setattr__(self, "out_features", self.num_classes)
        super().__post_init__()


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """Describe a registered model by name, e.g. ``build_model("cnn", 8)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ...) reach the model's
    fields when it declares them: the linear model ignores ``num_filters``.
    """
    cls = resolve(registry.get(name).jax)
    accepted = {field.name for field in dataclasses.fields(cls)}
    return cls(seq_len, **{k: v for k, v in options.items() if k in accepted})


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
