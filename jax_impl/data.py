"""Steps 1-2 of the tutorial in JAX: score the 8-mers, one-hot them, split, load.

The style is functional: pandas DataFrames of (seq, score), a dataset that one-hot
encodes every sequence up front into device arrays (a pytree, so compiled functions take
it), and a ``DataLoader`` that is a description, not an iterator: its batches are index
arrays computed from an explicit random key.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import struct

from dna_tutorial.recipe import Split, inverse_length
from dna_tutorial.sequences import check_lengths, encode_codes
from dna_tutorial.spec import ALPHABET, BATCH_SIZE, MOTIF_BONUSES, NUCLEOTIDE_POINTS, SEED

_POINTS = np.array([NUCLEOTIDE_POINTS[base] for base in ALPHABET], dtype=np.int32)


def set_seed(seed: int = SEED) -> jax.Array:
    """The key that everything random is drawn from: JAX has no global seed to set."""
    return jax.random.key(seed)


def score_seqs(seqs: Sequence[str]) -> pd.DataFrame:
    """Score each sequence with the tutorial's rule (the notebook's ``score_seqs_motif``).

    Score = mean letter points (A=20, C=17, G=14, T=11), +10 if TAT occurs and -10 if GCG
    occurs, each at most once; computed as ``(points_sum + L * bonus) * (1 / L)`` in float32
    (see ``dna_tutorial.spec``), the arithmetic that ``reference_torch`` loops over.

    Returns
    -------
    pd.DataFrame
        Columns ``seq`` (str, uppercase) and ``score`` (float32), one row per sequence.
    """
    codes = encode_codes(seqs, allow_unknown=False)  # clear errors for bad letters and lengths
    scores = np.asarray(score_codes(jnp.asarray(codes)))
    return pd.DataFrame({"seq": [seq.upper() for seq in seqs], "score": scores})


@functools.partial(jax.jit, static_argnames="per_occurrence")
def score_codes(codes: jax.Array, per_occurrence: bool = False) -> jax.Array:
    """:func:`score_seqs` vectorised over integer codes (N, L) in 0..3: float32 (N,).

    For datasets too big for the notebook's Python loop (see ``dna_tutorial.synthetic``);
    the same arithmetic. With ``per_occurrence`` each motif's bonus counts every
    (overlapping) occurrence instead of once per sequence.
    """
    codes = codes.astype(jnp.int32)
    length = codes.shape[1]
    points = jnp.asarray(_POINTS)[codes].sum(axis=1)
    bonus = jnp.zeros_like(points)
    for motif, value in MOTIF_BONUSES.items():
        if length < len(motif):
            continue
        pattern = [ALPHABET.index(b) for b in motif]
        starts = length - len(motif) + 1  # hits[n, p]: the motif starts at p
        hits = jnp.stack([codes[:, j : j + starts] == c for j, c in enumerate(pattern)]).all(0)
        bonus += value * (hits.sum(axis=1) if per_occurrence else hits.any(axis=1))
    return (points + length * bonus).astype(jnp.float32) * inverse_length(length)


def one_hot_encode(seq: str) -> jax.Array:
    """One-hot encode one sequence: float32 array (L, 4), channels A, C, G, T; N -> zeros."""
    return one_hot_seqs([seq])[0]


def one_hot_seqs(seqs: Sequence[str]) -> jax.Array:
    """Every sequence one-hot encoded at once: float32 array (N, L, 4), each row what
    :func:`one_hot_encode` gives for it."""
    codes = encode_codes(seqs)  # raises ValueError naming the bad letter and its position
    return jax.nn.one_hot(codes, len(ALPHABET), dtype=jnp.float32)  # code 4 (N): zeros


def quick_split(df: pd.DataFrame, split: Split) -> tuple[pd.DataFrame, ...]:
    """Rows of ``df`` for each part of ``split``: (train_df, val_df, test_df)."""
    return tuple(
        df.iloc[idx].reset_index(drop=True) for idx in (split.train, split.val, split.test)
    )


def targets_array(targets: np.ndarray) -> jax.Array:
    """Targets as training wants them: class labels int32 (N,), scores float32 (N, 1), a
    multi-label 0/1 matrix float32 (N, K)."""
    if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
        return jnp.asarray(targets, jnp.int32)
    return jnp.asarray(targets, jnp.float32).reshape(len(targets), -1)


@jax.tree_util.register_pytree_node_class
class SeqDatasetOHE:
    """(one-hot sequence, target) pairs; every sequence is encoded once, up front.

    Targets are float32 of shape (N, 1) for regression (as MSE wants), int32 of shape (N,)
    for classification and float32 (N, K) for K labels (``target_col`` a list of K
    columns). A pytree: compiled functions take it as an argument.
    """

    def __init__(self, df: pd.DataFrame, seq_col: str = "seq", target_col: str = "score"):
        seqs = list(df[seq_col].values)
        check_lengths(seqs)
        self.ohe_seqs = one_hot_seqs(seqs)
        self.labels = targets_array(df[target_col].to_numpy())

    def __len__(self) -> int:
        return len(self.ohe_seqs)

    def __getitem__(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.ohe_seqs[idx], self.labels[idx]

    def tree_flatten(self):
        return (self.ohe_seqs, self.labels), None

    @classmethod
    def tree_unflatten(cls, _, children):
        dataset = object.__new__(cls)
        dataset.ohe_seqs, dataset.labels = children
        return dataset


@struct.dataclass
class DataLoader:
    """What torch's ``DataLoader`` does, as data: a dataset, a batch size, shuffle or not.

    ``batches(key)`` draws the epoch's row order from ``key`` and cuts it into batches of
    row indices: an array of the full batches, then, if rows are left, a one-batch array of
    the short last one (each array has one shape, as a compiled loop needs).
    """

    dataset: SeqDatasetOHE
    batch_size: int = struct.field(pytree_node=False)
    shuffle: bool = struct.field(pytree_node=False, default=False)

    def __len__(self) -> int:
        """Batches per epoch, the short last one included (as ``len`` of torch's)."""
        return -(-len(self.dataset) // self.batch_size)

    def order(self, key: jax.Array | None) -> jax.Array:
        """Every row once: shuffled by ``key`` when ``shuffle``, else in order."""
        n = len(self.dataset)
        return jax.random.permutation(key, n) if self.shuffle else jnp.arange(n)

    def batches(self, key: jax.Array | None = None) -> list[jax.Array]:
        order = self.order(key)
        cut = len(order) - len(order) % self.batch_size
        full, rest = order[:cut].reshape(-1, self.batch_size), order[cut:]
        return [full, rest[None]] if len(rest) else [full]

    def batch(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(xb, yb) for the rows ``idx``."""
        return self.dataset[idx]


def build_dataloaders(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    seq_col: str = "seq",
    target_col: str = "score",
    batch_size: int = BATCH_SIZE,
    shuffle: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """The notebook's loaders: training shuffled each epoch, validation in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    train_ds = SeqDatasetOHE(train_df, seq_col=seq_col, target_col=target_col)
    val_ds = SeqDatasetOHE(val_df, seq_col=seq_col, target_col=target_col)
    train_dl = DataLoader(train_ds, batch_size=batch_size, shuffle=shuffle)
    val_dl = DataLoader(val_ds, batch_size=batch_size)
    return train_dl, val_dl
