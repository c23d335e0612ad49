"""Step 3 in JAX: the tutorial's models as Flax modules, applied functionally.

Inputs are one-hot batches of shape (N, L, 4), as the dataset holds them. A module is
only a description of the maths: ``model.init(key, x)`` returns its parameters as a plain
pytree and ``model.apply(variables, x)`` runs it. ``train`` is the functional twin of
torch's ``model.train()`` / ``model.eval()`` (these models have nothing it switches).
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from dna_tutorial import registry
from dna_tutorial.registry import resolve
from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS

#: ``"torch"``: PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
#: biases, which makes training here statistically comparable to the reference.
#: ``"flax"``: Flax's defaults, LeCun normal weights and zero biases.
INITS = ("torch", "flax")


def inits(weight_init: str, fan_in: int) -> dict:
    """Kernel and bias initialisers for a layer with ``fan_in`` inputs per output."""
    if weight_init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        return {
            "kernel_init": nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
            "bias_init": lambda key, shape, dtype=jnp.float32: jax.random.uniform(
                key, shape, dtype, -bound, bound
            ),
        }
    if weight_init == "flax":
        return {}
    raise ValueError(f"unknown weight_init {weight_init!r}; choose one of {INITS}")


class DNA_Linear(nn.Module):
    """Flatten the one-hot matrix and map it to one score: (N, L, 4) -> (N, 1)."""

    seq_len: int
    weight_init: str = "torch"

    @nn.compact
    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        xb = xb.reshape(xb.shape[0], self.seq_len * 4)  # (N, L*4), length-major
        return nn.Dense(1, name="lin", **inits(self.weight_init, self.seq_len * 4))(xb)  # (N, 1)


class DNA_CNN(nn.Module):
    """Conv1d over the sequence, ReLU, flatten, Dense: (N, L, 4) -> (N, out_features).

    With ``kernel_size`` k there are P = L - k + 1 filter positions (no padding).
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1
    weight_init: str = "torch"

    def setup(self) -> None:
        if not 1 <= self.kernel_size <= self.seq_len:
            raise ValueError(
                f"kernel_size must be in 1..seq_len={self.seq_len}, got {self.kernel_size}"
            )
        positions = self.seq_len - self.kernel_size + 1
        self.conv = nn.Conv(  # (N, P, F); Flax pads 'SAME' unless told, torch never pads
            self.num_filters,
            (self.kernel_size,),
            padding="VALID",
            **inits(self.weight_init, 4 * self.kernel_size),
        )
        self.dense = nn.Dense(
            self.out_features, **inits(self.weight_init, self.num_filters * positions)
        )

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        return self.conv(xb)  # Flax convolves channels-last: no permute needed

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        h = nn.relu(self.conv_activations(xb))  # (N, P, F)
        return self.dense(h.reshape(h.shape[0], -1))  # (N, P*F), length-major


class DNA_CNN2d(nn.Module):
    """Footnote 1: the same CNN with a Conv2d whose kernel spans all 4 rows of the one-hot.

    A (4, k) kernel on the (4, L) "image" can only slide along the sequence, so it scans
    exactly like Conv1d: with weights copied (``kernel[:, :, None]``) outputs are equal.
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1
    weight_init: str = "torch"

    def setup(self) -> None:
        if not 1 <= self.kernel_size <= self.seq_len:
            raise ValueError(
                f"kernel_size must be in 1..seq_len={self.seq_len}, got {self.kernel_size}"
            )
        positions = self.seq_len - self.kernel_size + 1
        self.conv = nn.Conv(  # (N, 4, P, F)
            self.num_filters,
            (4, self.kernel_size),
            padding="VALID",
            **inits(self.weight_init, 4 * self.kernel_size),
        )
        self.dense = nn.Dense(
            self.out_features, **inits(self.weight_init, self.num_filters * positions)
        )

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        image = jnp.swapaxes(xb, 1, 2)[..., None]  # (N, 4, L, 1): a one-channel image
        return self.conv(image)[:, 0]  # (N, 1, P, F) -> (N, P, F)

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        h = nn.relu(self.conv_activations(xb))  # (N, P, F)
        return self.dense(h.reshape(h.shape[0], -1))  # (N, P*F), the same order as DNA_CNN's


class DNA_CNNClassifier(DNA_CNN):
    """Footnote 2: the CNN with one logit per class, trained with cross-entropy."""

    num_classes: int = 3

    def __post_init__(self) -> None:
        # A Flax module is a frozen dataclass: set the field before Flax freezes it.
        object.__setattr__(self, "out_features", self.num_classes)
        super().__post_init__()


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """Describe a registered model by name, e.g. ``build_model("cnn", 8)``.

    ``options`` (``num_filters``, ``kernel_size``, ``num_classes``, ``weight_init``, ...)
    reach the model when it declares them: the linear model ignores ``num_filters``.
    """
    cls = resolve(registry.get(name).jax)
    if options.get("weight_init", "torch") not in INITS:
        raise ValueError(f"unknown weight_init {options['weight_init']!r}; choose one of {INITS}")
    accepted = {f.name for f in dataclasses.fields(cls)}
    return cls(seq_len, **{k: v for k, v in options.items() if k in accepted})


def conv_layer(params) -> dict:
    """The first-layer convolution's parameters (the tutorial's ``get_conv_layers_from_model``):
    every model with filters names that layer ``conv``."""
    if "conv" not in params:
        raise ValueError(f"no convolution layer among {sorted(params)}")
    return params["conv"]
