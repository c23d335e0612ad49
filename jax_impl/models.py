"""Step 3 in JAX: the tutorial's models as Flax modules, applied functionally.

A module here is only a description of the maths: ``model.init(key, x)`` returns the
parameters as a plain pytree and ``model.apply({"params": params}, x)`` runs it. Inputs
are one-hot batches (N, L, 4), length-major as the data arrives (no permute needed).

Parameter layouts, which :mod:`jax_impl.convert` maps to and from torch's:
Conv kernel (k, 4, F) [torch (F, 4, k)], Conv2d kernel (4, k, 1, F) [torch (F, 1, 4, k)],
Dense kernel (in, out) [torch (out, in)], and the CNN flattens (P, F) length-major.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS

#: ``"torch"``: PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
#: biases, which makes training here statistically comparable to the reference.
#: ``"flax"``: Flax's defaults, LeCun normal weights and zero biases.
INITS = ("torch", "flax")
#: How the CNN is computed; both give the same outputs from the same parameters (tested).
#: ``"xla"``: the textbook Flax layers, ``nn.Conv`` and ``nn.Dense`` on (N, P, F) activations.
#: ``"matmul"``: :class:`WindowConv` and :class:`FeatureMajorDense`, which keep activations
#: feature-major, (F, P, N), so that the long batch axis is contiguous, and compute the conv
#: as one matmul over the k-wide windows. XLA's CPU convolution is slow at these sizes;
#: this layout trains an epoch several times faster (see benchmarks/).
CONV_IMPLS = ("matmul", "xla")


def _inits(weight_init: str, fan_in: int) -> dict:
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


class WindowConv(nn.Module):
    """A 'VALID' Conv1d as one matmul over the k-wide windows: (N, L, C) -> (F, P, N).

    The parameters are ``nn.Conv(F, (k,), padding="VALID")``'s, ``kernel`` (k, C, F) and
    ``bias`` (F,); only the output layout differs: feature-major, batch last.
    """

    features: int
    kernel_size: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        (n, length, channels), k = x.shape, self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, channels, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        positions = length - k + 1
        xt = jnp.transpose(x, (2, 1, 0))  # (C, L, N)
        # windows[j*C + c, p, n] = x[n, p + j, c]: row j*C + c of kernel.reshape(k*C, F).
        windows = jnp.concatenate([xt[:, j : j + positions] for j in range(k)])  # (k*C, P, N)
        h = kernel.reshape(k * channels, self.features).T @ windows.reshape(k * channels, -1)
        return (h + bias[:, None]).reshape(self.features, positions, n)  # (F, P, N)


class FeatureMajorDense(nn.Module):
    """``nn.Dense`` on feature-major activations: (F, P, N) -> (N, out).

    ``kernel`` (P*F, out) and ``bias`` (out,) are exactly the parameters of ``nn.Dense``
    applied to the length-major flatten (N, P*F); the kernel is permuted, not the data.
    """

    features: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        filters, positions, n = h.shape
        kernel = self.param("kernel", self.kernel_init, (positions * filters, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        # (P*F, out) rows p*F + f -> (out, F*P) columns f*P + p, to match h's (F*P, N) rows.
        w = kernel.reshape(positions, filters, self.features).transpose(2, 1, 0)
        w = w.reshape(self.features, filters * positions)
        h = h.reshape(filters * positions, n)
        # One matrix-vector product per output: for the few outputs of these models (one
        # score, three classes) XLA's CPU backend runs them several times faster than a
        # single skinny (out, F*P) @ (F*P, N) matmul, whose gradients it computes slowly.
        return jnp.stack([w[o] @ h for o in range(self.features)], axis=-1) + bias


def _check_kernel(seq_len: int, kernel_size: int) -> None:
    if not 1 <= kernel_size <= seq_len:
        raise ValueError(f"kernel_size must be in 1..seq_len={seq_len}, got {kernel_size}")


class DNA_Linear(nn.Module):
    """Flatten the one-hot matrix and map it to one score: (N, L, 4) -> (N, 1)."""

    seq_len: int
    weight_init: str = "torch"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], self.seq_len * 4)  # (N, L*4), length-major like torch
        return nn.Dense(1, name="lin", **_inits(self.weight_init, self.seq_len * 4))(x)  # (N, 1)


class DNA_CNN(nn.Module):
    """Conv1d over the sequence, ReLU, flatten, Dense: (N, L, 4) -> (N, out_features).

    With ``kernel_size`` k there are P = L - k + 1 filter positions (no padding).
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1
    weight_init: str = "torch"
    conv_impl: str = "matmul"

    def setup(self) -> None:
        _check_kernel(self.seq_len, self.kernel_size)
        positions = self.seq_len - self.kernel_size + 1
        conv_inits = _inits(self.weight_init, 4 * self.kernel_size)
        dense_inits = _inits(self.weight_init, self.num_filters * positions)
        if self.conv_impl == "matmul":
            self.conv = WindowConv(self.num_filters, self.kernel_size, **conv_inits)
            self.dense = FeatureMajorDense(self.out_features, **dense_inits)
        elif self.conv_impl == "xla":
            self.conv = nn.Conv(
                self.num_filters, (self.kernel_size,), padding="VALID", **conv_inits
            )
            self.dense = nn.Dense(self.out_features, **dense_inits)
        else:
            raise ValueError(f"unknown conv_impl {self.conv_impl!r}; choose one of {CONV_IMPLS}")

    def conv_activations(self, x: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        h = self.conv(x)
        return jnp.transpose(h, (2, 1, 0)) if self.conv_impl == "matmul" else h

    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.relu(self.conv(x))  # (N, P, F), or (F, P, N) feature-major
        if self.conv_impl == "xla":
            h = h.reshape(h.shape[0], -1)  # (N, P*F), length-major
        return self.dense(h)  # (N, out_features)


class DNA_CNN2d(nn.Module):
    """Footnote 1: the CNN with a Conv2d whose (4, k) kernel spans all four one-hot rows.

    Such a kernel can only slide along the sequence, so it scans exactly like Conv1d.
    """

    seq_len: int
    num_filters: int = NUM_FILTERS
    kernel_size: int = KERNEL_SIZE
    out_features: int = 1
    weight_init: str = "torch"

    def setup(self) -> None:
        _check_kernel(self.seq_len, self.kernel_size)
        self.conv = nn.Conv(
            self.num_filters,
            (4, self.kernel_size),
            padding="VALID",
            **_inits(self.weight_init, 4 * self.kernel_size),
        )
        positions = self.seq_len - self.kernel_size + 1
        self.dense = nn.Dense(
            self.out_features, **_inits(self.weight_init, self.num_filters * positions)
        )

    def conv_activations(self, x: jax.Array) -> jax.Array:
        """First-layer output before the ReLU: (N, L, 4) -> (N, P, F)."""
        image = jnp.swapaxes(x, 1, 2)[..., None]  # (N, 4, L, 1): a one-channel image
        return self.conv(image)[:, 0]  # (N, 1, P, F) -> (N, P, F)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.relu(self.conv_activations(x))
        return self.dense(h.reshape(h.shape[0], -1))


class DNA_CNNClassifier(DNA_CNN):
    """Footnote 2: the CNN with one logit per class, trained with cross-entropy."""

    out_features: int = 3  # the number of classes


#: Model names used by the CLI, the parity registry and the benchmarks.
MODELS: dict[str, type[nn.Module]] = {
    "linear": DNA_Linear,
    "cnn": DNA_CNN,
    "cnn2d": DNA_CNN2d,
    "classifier": DNA_CNNClassifier,
}


def build_model(
    name: str,
    seq_len: int,
    num_filters: int = NUM_FILTERS,
    kernel_size: int = KERNEL_SIZE,
    num_classes: int = 3,
    weight_init: str = "torch",
    conv_impl: str = "matmul",
) -> nn.Module:
    """Describe a registered model by name, e.g. ``build_model("cnn", 8)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if weight_init not in INITS:
        raise ValueError(f"unknown weight_init {weight_init!r}; choose one of {INITS}")
    if name == "linear":
        return DNA_Linear(seq_len, weight_init=weight_init)
    if name == "cnn2d":
        return DNA_CNN2d(seq_len, num_filters, kernel_size, weight_init=weight_init)
    out = num_classes if name == "classifier" else 1
    return MODELS[name](seq_len, num_filters, kernel_size, out, weight_init, conv_impl)


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` has a first-layer convolution (and so filters to look at)."""
    return hasattr(model, "conv_activations")
