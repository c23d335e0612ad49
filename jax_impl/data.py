"""Steps 1-2 of the tutorial in JAX: score, encode, split and batch with pure functions.

No Dataset objects and no DataLoader: sequences become integer codes once, the whole
dataset lives on the device as arrays, and each epoch's batches are rows of an index
permutation drawn from an explicit ``jax.random`` key. Sequences stay as int8 codes on
the device (1 byte per base rather than 16 for a float32 one-hot row) and each batch is
one-hot encoded inside the compiled step, where XLA fuses it into the first layer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dna_tutorial.recipe import Split, inverse_length, tutorial_split
from dna_tutorial.sequences import encode_codes
from dna_tutorial.spec import ALPHABET, MOTIF_BONUSES, NUCLEOTIDE_POINTS, SEED

_POINTS = np.array([NUCLEOTIDE_POINTS[base] for base in ALPHABET], dtype=np.int32)
_MOTIFS = [
    (np.array([ALPHABET.index(base) for base in motif], np.int32), bonus)
    for motif, bonus in MOTIF_BONUSES.items()
]


class Dataset(NamedTuple):
    """A dataset as two device arrays (a pytree, so it can be passed into jitted code)."""

    codes: jax.Array  # (N, L) int8: 0, 1, 2, 3 for A, C, G, T; 4 for N
    y: jax.Array  # (N, 1) float32 scores, or (N,) int32 class labels

    def __len__(self) -> int:
        return self.codes.shape[0]


class Batch(NamedTuple):
    """One batch; ``mask`` is 0 on the padding rows of an epoch's last, short batch."""

    x: jax.Array  # (B, L, 4) float32 one-hot
    y: jax.Array  # (B, 1) float32 or (B,) int32
    mask: jax.Array  # (B,) float32


def one_hot(codes: jax.Array) -> jax.Array:
    """Integer codes (..., L) -> float32 one-hot (..., L, 4); code 4 (N) gives a zero row."""
    return jax.nn.one_hot(codes, len(ALPHABET), dtype=jnp.float32)


def make_batch(x: jax.Array, y: jax.Array) -> Batch:
    """A batch of one-hot ``x`` with no padding: every row counts."""
    return Batch(x, y, jnp.ones(x.shape[0], jnp.float32))


def gather_batch(data: Dataset, idx: jax.Array, mask: jax.Array) -> Batch:
    """Rows ``idx`` (B,) of ``data`` as a one-hot batch."""
    return Batch(one_hot(data.codes[idx]), data.y[idx], mask)


def motif_hits(codes: jax.Array, motif: np.ndarray) -> jax.Array:
    """Where ``motif`` (k,) starts in each row of ``codes`` (N, L): bool (N, L - k + 1)."""
    k, length = len(motif), codes.shape[1]
    if length < k:
        return jnp.zeros((codes.shape[0], 0), bool)
    # Compare k shifted views at once: hit[n, p] is True where the motif starts at p.
    return jnp.stack([codes[:, j : length - k + 1 + j] == motif[j] for j in range(k)]).all(0)


@functools.partial(jax.jit, static_argnames="per_occurrence")
def score_codes(codes: jax.Array, per_occurrence: bool = False) -> jax.Array:
    """The tutorial's score for integer-coded sequences (N, L) in 0..3: float32 (N,).

    ``(points_sum + L * bonus) * (1 / L)`` in float32, as ``reference_torch.data.score_seqs``
    computes it one sequence at a time, so the two ports agree bit for bit. With
    ``per_occurrence`` each motif's bonus counts every (overlapping) occurrence.
    """
    codes = codes.astype(jnp.int32)
    length = codes.shape[1]
    points = jnp.asarray(_POINTS)[codes].sum(axis=1)  # (N,) int32
    bonus = jnp.zeros_like(points)
    for motif, value in _MOTIFS:
        hits = motif_hits(codes, motif)  # (N, P)
        bonus += value * (hits.sum(axis=1) if per_occurrence else hits.any(axis=1))
    return (points + length * bonus).astype(jnp.float32) * inverse_length(length)


def encode(seqs: Sequence[str], allow_unknown: bool = True) -> jax.Array:
    """Validate DNA strings and put their integer codes on the device: int8 (N, L)."""
    return jnp.asarray(encode_codes(seqs, allow_unknown=allow_unknown), jnp.int8)


def score_seqs(seqs: Sequence[str]) -> jax.Array:
    """Score DNA strings with the tutorial's rule, vectorised: float32 (N,)."""
    return score_codes(encode(seqs, allow_unknown=False))


def one_hot_encode(seqs: Sequence[str]) -> jax.Array:
    """One-hot encode equal-length sequences: float32 (N, L, 4), channels A, C, G, T."""
    return one_hot(encode(seqs))


def quick_split(data: Dataset, split: Split) -> tuple[Dataset, Dataset, Dataset]:
    """Rows of ``data`` for each part of ``split``: (train, val, test)."""
    return tuple(
        Dataset(data.codes[idx], data.y[idx]) for idx in (split.train, split.val, split.test)
    )


def split_datasets(data: Dataset, seed: int = SEED) -> tuple[Dataset, Dataset, Dataset]:
    """The notebook's two ``quick_split`` calls: (train, val, test), 64/16/20."""
    return quick_split(data, tutorial_split(len(data), seed=seed))


def batch_indices(order: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """Cut an epoch's row order into batches, padding the last one.

    Parameters
    ----------
    order : int array (N,)
        The rows in the order they are visited (a permutation when shuffling).
    batch_size : int
        B, as in the DataLoader; the last batch holds the remaining N mod B rows.

    Returns
    -------
    idx : int32 (ceil(N / B), B)
        Row indices; padding points at row 0.
    mask : float32 (ceil(N / B), B)
        1 for real rows, 0 for padding, so every batch has one static shape (what
        ``lax.scan`` needs) while losses and gradients see only the real rows.
    """
    n = order.shape[0]
    num_batches = math.ceil(n / batch_size)
    pad = num_batches * batch_size - n
    idx = jnp.concatenate([order.astype(jnp.int32), jnp.zeros(pad, jnp.int32)])
    mask = jnp.concatenate([jnp.ones(n, jnp.float32), jnp.zeros(pad, jnp.float32)])
    return idx.reshape(num_batches, batch_size), mask.reshape(num_batches, batch_size)


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
