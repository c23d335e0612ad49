"""The JAX port's CPU engineering, kept out of the lesson and chosen with ``--jax-impl fast``.

The lesson (``data``, ``models``, ``train``) is textbook Flax. This module swaps three of
its parts for faster ones with the same parameters and the same arithmetic (each is
tested equal to the textbook part it replaces); ``train_step``, ``val_step`` and ``fit``
run them unchanged, since they only ask a model to apply, a dataset for rows and a loader
for an order:

- **The CNN's layers** (:class:`WindowConv`, :class:`FeatureMajorDense`). XLA's CPU
  convolution is slow at these sizes. These layers keep activations feature-major,
  (F, P, N), so that the long batch axis is contiguous, and compute the conv as one matmul
  over the k-wide windows; this layout trains an epoch several times faster (see
  benchmarks/). Their parameters are ``nn.Conv``'s and ``nn.Dense``'s, so checkpoints,
  the converter and the parity suite see no difference.
- **The data** (:class:`SeqDatasetCodes`). Sequences stay on the device as int8 codes
  (1 byte per base rather than 16 for a float32 one-hot row) and each batch is one-hot
  encoded inside the compiled step, where XLA fuses it into the first layer.
- **The shuffle** (:func:`shuffled_order`). ``jax.random.permutation`` sorts random keys,
  and XLA's CPU sort takes longer for the tutorial's 42k rows than a whole training epoch.
  A keyed Feistel permutation draws an equally uniform order in O(n). It is a different
  order from the textbook one for the same key, so the two implementations train through
  different batches (equally good, not equal, runs).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import struct

from dna_tutorial import registry
from dna_tutorial.config import FAST, TEXTBOOK
from dna_tutorial.registry import resolve
from dna_tutorial.sequences import encode_codes
from dna_tutorial.spec import ALPHABET, BATCH_SIZE, PREDICT_BATCH_SIZE
from jax_impl import data, evaluate, models

# --- Layers --------------------------------------------------------------------------------


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


class DNA_CNN(models.DNA_CNN):
    """``models.DNA_CNN`` computed by :class:`WindowConv` and :class:`FeatureMajorDense`.

    The layers keep the textbook's names (``conv_net/layers_0`` and ``layers_3``; the
    flatten is the dense layer's own, so position 2 passes its input through)."""

    def setup(self) -> None:
        if not 1 <= self.kernel_size <= self.seq_len:
            raise ValueError(
                f"kernel_size must be in 1..seq_len={self.seq_len}, got {self.kernel_size}"
            )
        self.conv_net = nn.Sequential([
            WindowConv(self.num_filters, self.kernel_size),  # (F, P, N)
            nn.relu,
            lambda h: h,
            FeatureMajorDense(self.outputs),  # (N, outputs)
        ])  # fmt: skip

    def conv_activations(self, xb: jax.Array) -> jax.Array:
        return jnp.transpose(self.conv_net.layers[0](xb), (2, 1, 0))  # (N, P, F)

    def __call__(self, xb: jax.Array, train: bool = False) -> jax.Array:
        rows = chunk_rows(len(xb), 4 * self.num_filters * (self.seq_len - self.kernel_size + 1))
        if rows == len(xb):
            return self.conv_net(xb)

        # Long sequences in big batches: the conv's output would be hundreds of MB, and
        # XLA's CPU passes over such buffers run far below the memory bandwidth. Run the
        # network over pieces of the batch instead (a scan), recomputing each piece's
        # forward pass for its gradient (remat) so that only one piece's activations exist.
        def piece(module, carry, x):
            return carry, module.conv_net(x)

        scan = nn.scan(nn.remat(piece), variable_broadcast="params", split_rngs={"params": False})
        _, out = scan(self, None, xb.reshape(len(xb) // rows, rows, *xb.shape[1:]))
        return out.reshape(len(xb), -1)


#: The conv activations a piece of a batch may hold (see ``DNA_CNN.__call__``): measured on
#: 2 CPU cores, 4 MiB trained L=1000 batches of 4096 three times faster than one piece.
PIECE_BYTES = 4 * 2**20
#: Pieces smaller than this cost more in loop overhead than they save.
MIN_PIECE_ROWS = 32


def chunk_rows(n: int, bytes_per_row: int) -> int:
    """Rows per piece for a batch of ``n`` rows: ``n`` (no pieces) when the activations
    fit ``PIECE_BYTES`` or no power of two of at least ``MIN_PIECE_ROWS`` divides ``n``."""
    if n * bytes_per_row <= PIECE_BYTES:
        return n
    rows = 1
    while rows * 2 * bytes_per_row <= PIECE_BYTES and n % (rows * 2) == 0:
        rows *= 2
    return rows if rows >= MIN_PIECE_ROWS else n


class DNA_CNNClassifier(DNA_CNN, models.DNA_CNNClassifier):
    """``models.DNA_CNNClassifier`` computed by the fast layers."""


class Im2colConv(nn.Module):
    """``nn.Conv(features, (width,), padding, use_bias)`` on channels-last input as one
    matmul over the k-wide windows: (N, L, C) -> (N, P, F), with ``nn.Conv``'s parameters
    (``kernel`` (k, C, F), ``bias`` (F,)).

    XLA's CPU convolution runs many times slower inside a compiled loop (the epoch's
    ``lax.scan``) than on its own: measured on 2 cores, the gradient of the deeper CNN's
    first layer (30 filters of width 19 over 200 positions, batch 100) took 32 ms a step
    inside a scan against 2 ms alone; as a matmul it takes 3 ms either way.
    """

    features: int
    width: int
    padding: str = "same"
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, channels = self.width, x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, channels, self.features))
        if self.padding == "same":  # as nn.Conv pads: (k - 1) // 2 before, the rest after
            x = jnp.pad(x, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
        positions = x.shape[1] - k + 1
        # windows[n, p, j*C + c] = x[n, p + j, c]: row j*C + c of kernel.reshape(k*C, F)
        windows = jnp.concatenate([x[:, j : j + positions] for j in range(k)], axis=-1)
        y = windows @ kernel.reshape(k * channels, self.features)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class ConvBlock(models.ConvBlock):
    """``models.ConvBlock`` with its convolution as :class:`Im2colConv`."""

    def setup(self) -> None:
        self.conv = Im2colConv(self.filters, self.width, self.padding, use_bias=False)
        self.bn = models.BatchNorm()
        self.drop = nn.Dropout(self.dropout)


class DNA_DeepCNN(models.DNA_DeepCNN):
    """``models.DNA_DeepCNN`` with :class:`Im2colConv` in its blocks."""

    def setup(self) -> None:
        self.positions()
        self.blocks = [
            ConvBlock(*block, self.dropout[0], self.padding) for block in self.conv_blocks
        ]
        self.head = [models.DenseBlock(u, self.dropout[1]) for u in self.dense_units]
        self.out = nn.Dense(self.outputs)


class DNA_DeepCNNMultilabel(DNA_DeepCNN, models.DNA_DeepCNNMultilabel):
    """``models.DNA_DeepCNNMultilabel`` with :class:`Im2colConv` in its blocks."""


def build_model(name: str, seq_len: int, **options) -> nn.Module:
    """The registered model ``name`` with its fast layers where it has them (the registry's
    ``fast`` entry), else the textbook model; the parameters are the same either way."""
    textbook = models.build_model(name, seq_len, **options)
    fast = registry.get(name).fast
    if fast is None:
        return textbook
    fields = [f.name for f in dataclasses.fields(textbook) if f.name not in ("parent", "name")]
    return resolve(fast)(**{f: getattr(textbook, f) for f in fields})


# --- Data ------------------------------------------------------------------------------------


def encode(seqs: Sequence[str]) -> jax.Array:
    """Validate DNA strings and put their integer codes on the device: int8 (N, L)."""
    return jnp.asarray(encode_codes(seqs), jnp.int8)


def one_hot(codes: jax.Array) -> jax.Array:
    """Integer codes (..., L) -> float32 one-hot (..., L, 4); code 4 (N) gives a zero row."""
    return jax.nn.one_hot(codes, len(ALPHABET), dtype=jnp.float32)


@jax.tree_util.register_pytree_node_class
class SeqDatasetCodes:
    """``data.SeqDatasetOHE`` holding int8 codes: rows are one-hot encoded when taken."""

    def __init__(self, df: pd.DataFrame, seq_col: str = "seq", target_col: str = "score"):
        self.codes = encode(list(df[seq_col].values))  # (N, L) int8: 0-3 for ACGT, 4 for N
        self.labels = data.targets_array(df[target_col].to_numpy())

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        return one_hot(self.codes[idx]), self.labels[idx]

    def tree_flatten(self):
        return (self.codes, self.labels), None

    @classmethod
    def tree_unflatten(cls, _, children):
        dataset = object.__new__(cls)
        dataset.codes, dataset.labels = children
        return dataset


def _mix32(x: jax.Array) -> jax.Array:
    # MurmurHash3's finaliser: every input bit flips each output bit with probability ~1/2.
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def shuffled_order(key: jax.Array, n: int, rounds: int = 8) -> jax.Array:
    """A random permutation of ``0..n-1`` drawn from ``key``: int32 (n,).

    The DataLoader's ``shuffle=True``. ``jax.random.permutation`` sorts random keys, and
    XLA's CPU sort takes longer for the tutorial's 42k rows than a whole training epoch.
    This is a keyed Feistel network instead: an invertible map on ``[0, 2**b)`` with
    ``2**b >= n``, applied to every index at once in O(n). Indices that land at ``n`` or
    beyond are mapped again ("cycle walking") until they fall inside, which keeps it a
    bijection on ``[0, n)``. Eight rounds of a full-avalanche hash make each position
    uniformly distributed (see the tests).
    """
    if n < 1:
        raise ValueError(f"cannot shuffle {n} rows")
    half = max(1, ((n - 1).bit_length() + 1) // 2)  # bits per Feistel half
    low = jnp.uint32((1 << half) - 1)
    round_keys = jax.random.bits(key, (rounds,), jnp.uint32)

    def encrypt(v: jax.Array) -> jax.Array:
        left, right = v >> half, v & low
        for r in range(rounds):
            left, right = right, left ^ (_mix32(right ^ round_keys[r]) & low)
        return (left << half) | right

    def walk(v: jax.Array) -> jax.Array:
        return jnp.where(v >= n, encrypt(v), v)

    order = jax.lax.while_loop(
        lambda v: (v >= n).any(), walk, encrypt(jnp.arange(n, dtype=jnp.uint32))
    )
    return order.astype(jnp.int32)


@struct.dataclass
class DataLoader(data.DataLoader):
    """``data.DataLoader`` shuffling with :func:`shuffled_order`."""

    def order(self, key: jax.Array | None) -> jax.Array:
        n = len(self.dataset)
        return shuffled_order(key, n) if self.shuffle else jnp.arange(n)


def build_dataloaders(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    seq_col: str = "seq",
    target_col: str = "score",
    batch_size: int = BATCH_SIZE,
    shuffle: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """``data.build_dataloaders`` with int8 datasets and the Feistel shuffle."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    train_ds = SeqDatasetCodes(train_df, seq_col=seq_col, target_col=target_col)
    val_ds = SeqDatasetCodes(val_df, seq_col=seq_col, target_col=target_col)
    return DataLoader(train_ds, batch_size, shuffle), DataLoader(val_ds, batch_size)


@functools.partial(jax.jit, static_argnames=("model", "batch_size"))
def predict_codes(
    model: nn.Module, variables, codes: jax.Array, batch_size: int = PREDICT_BATCH_SIZE
):
    """Model outputs for integer-coded sequences (N, L): float32 (N, out_features).

    Rows are one-hot encoded batch by batch inside one compiled ``lax.map``; the last
    batch is padded with row 0 and the padding's outputs dropped.
    """
    n = codes.shape[0]
    num = -(-n // batch_size)
    idx = jnp.arange(num * batch_size).reshape(num, batch_size) % n
    outs = jax.lax.map(lambda rows: model.apply(variables, one_hot(codes[rows])), idx)
    return outs.reshape(-1, outs.shape[-1])[:n]


def predict_seqs(
    model: nn.Module, variables, seqs: Sequence[str], batch_size: int = PREDICT_BATCH_SIZE
):
    """``evaluate.predict_seqs`` from int8 codes: float32 array (N, out_features).

    A batch of sequences is encoded at a time, so memory holds one batch's codes."""
    outs = [
        np.asarray(predict_codes(model, variables, encode(seqs[i : i + batch_size]), batch_size))
        for i in range(0, len(seqs), batch_size)
    ]
    return np.concatenate(outs)


class Variant(NamedTuple):
    """What ``--jax-impl`` chooses: the models, the loaders and batched prediction, with the
    lesson's signatures. Every function of the lesson's ``train`` runs either."""

    build_model: Callable
    build_dataloaders: Callable
    predict_seqs: Callable


VARIANTS = {
    TEXTBOOK: Variant(models.build_model, data.build_dataloaders, evaluate.predict_seqs),
    FAST: Variant(build_model, build_dataloaders, predict_seqs),
}
