"""Steps 1-2 of the tutorial in JAX: score the 8-mers, one-hot them, split, load.

The style is functional: the dataset is a pair of device arrays (a pytree, so it can be
passed into compiled functions), and the ``DataLoader`` is a description (dataset, batch
size, shuffle or not) whose batches are index arrays computed from an explicit
``jax.random`` key, not an object that iterates.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from dna_tutorial.recipe import Split, inverse_length
from dna_tutorial.sequences import encode_codes
from dna_tutorial.spec import ALPHABET, BATCH_SIZE, MOTIF_BONUSES, NUCLEOTIDE_POINTS, SEED

_POINTS = np.array([NUCLEOTIDE_POINTS[base] for base in ALPHABET], dtype=np.int32)
_MOTIFS = [
    (np.array([ALPHABET.index(base) for base in motif], np.int32), bonus)
    for motif, bonus in MOTIF_BONUSES.items()
]


def set_seed(seed: int = SEED) -> jax.Array:
    """The key that everything random is drawn from: JAX has no global seed to set."""
    return jax.random.key(seed)


def score_seqs(seqs: Sequence[str]) -> jax.Array:
    """Score each sequence with the tutorial's rule (the notebook's ``score_seqs_motif``).

    Score = mean letter points (A=20, C=17, G=14, T=11), +10 if TAT occurs and -10 if GCG
    occurs, each at most once; computed as ``(points_sum + L * bonus) * (1 / L)`` in float32
    (see ``dna_tutorial.spec``), the same arithmetic that ``reference_torch`` loops over.

    Returns
    -------
    jax.Array
        float32 (N,), one score per sequence.
    """
    return score_codes(jnp.asarray(encode_codes(seqs, allow_unknown=False)))


def _motif_hits(codes: jax.Array, motif: np.ndarray) -> jax.Array:
    """Where ``motif`` (k,) starts in each row of ``codes`` (N, L): bool (N, L - k + 1)."""
    k, length = len(motif), codes.shape[1]
    if length < k:
        return jnp.zeros((codes.shape[0], 0), bool)
    # Compare k shifted views at once: hit[n, p] is True where the motif starts at p.
    return jnp.stack([codes[:, j : length - k + 1 + j] == motif[j] for j in range(k)]).all(0)


@functools.partial(jax.jit, static_argnames="per_occurrence")
def score_codes(codes: jax.Array, per_occurrence: bool = False) -> jax.Array:
    """:func:`score_seqs` for integer codes (N, L) in 0..3: float32 (N,).

    For datasets too big for the notebook's Python loop (see ``dna_tutorial.synthetic``);
    the same arithmetic. With ``per_occurrence`` each motif's bonus counts every
    (overlapping) occurrence instead of once per sequence.
    """
    codes = codes.astype(jnp.int32)
    length = codes.shape[1]
    points = jnp.asarray(_POINTS)[codes].sum(axis=1)  # (N,) int32
    bonus = jnp.zeros_like(points)
    for motif, value in _MOTIFS:
        hits = _motif_hits(codes, motif)  # (N, P)
        bonus += value * (hits.sum(axis=1) if per_occurrence else hits.any(axis=1))
    return (points + length * bonus).astype(jnp.float32) * inverse_length(length)


def one_hot_encode(seqs: Sequence[str]) -> jax.Array:
    """One-hot encode equal-length sequences: float32 (N, L, 4), channels A, C, G, T; N ->
    zeros. (The reference encodes one sequence per call, as the notebook does.)"""
    codes = jnp.asarray(encode_codes(seqs))  # raises ValueError naming the bad letter
    return jax.nn.one_hot(codes, len(ALPHABET), dtype=jnp.float32)  # code 4 (N): a zero row


def quick_split(data, split: Split) -> tuple:
    """Rows of ``data`` (any dataset pytree) for each part of ``split``: (train, val, test)."""
    parts = (split.train, split.val, split.test)
    return tuple(jax.tree.map(lambda a, idx=idx: a[idx], data) for idx in parts)


@struct.dataclass
class SeqDatasetOHE:
    """(one-hot sequences, targets) as two device arrays.

    ``y`` is float32 (N, 1) for regression (as ``MSELoss`` wants) and int32 (N,) for
    classification. Indexing with an array of rows gives those rows, as the reference's
    ``__getitem__`` gives one.
    """

    x: jax.Array  # (N, L, 4) float32
    y: jax.Array

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.x[idx], self.y[idx]


class Batches(NamedTuple):
    """An epoch's row indices: ``full`` (num_full, B) batches of B rows, then the ``rest``
    (N mod B rows, possibly none), which runs as one shorter batch as in torch."""

    full: jax.Array
    rest: jax.Array


@struct.dataclass
class DataLoader:
    """What torch's ``DataLoader`` does, as data: a dataset, a batch size, shuffle or not.

    ``batches(key)`` draws the epoch's order from ``key`` and cuts it into batches. The
    batch size and the shuffle flag are static (part of what gets compiled).
    """

    dataset: SeqDatasetOHE
    batch_size: int = struct.field(pytree_node=False)
    shuffle: bool = struct.field(pytree_node=False, default=False)

    def order(self, key: jax.Array | None) -> jax.Array:
        """Every row once: shuffled by ``key`` when ``shuffle``, else in order."""
        n = len(self.dataset)
        return jax.random.permutation(key, n) if self.shuffle else jnp.arange(n)

    def batches(self, key: jax.Array | None = None) -> Batches:
        order = self.order(key)
        cut = len(order) - len(order) % self.batch_size
        return Batches(order[:cut].reshape(-1, self.batch_size), order[cut:])

    def batch(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(xb, yb) for the rows ``idx``."""
        return self.dataset[idx]


def build_dataloaders(
    train_ds: SeqDatasetOHE, val_ds: SeqDatasetOHE, batch_size: int = BATCH_SIZE, shuffle=True
) -> tuple[DataLoader, DataLoader]:
    """The notebook's loaders: training shuffled each epoch, validation in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return DataLoader(train_ds, batch_size, shuffle), DataLoader(val_ds, batch_size)
