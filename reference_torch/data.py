"""Steps 1-2 of the tutorial in PyTorch: score the 8-mers, one-hot them, split, load.

The style is the notebook's: pandas DataFrames of (seq, score), a ``Dataset`` that
one-hot encodes every sequence up front and a ``DataLoader`` that shuffles and batches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from dna_tutorial.recipe import Split, inverse_length
from dna_tutorial.sequences import check_lengths, encode_codes
from dna_tutorial.spec import ALPHABET, BATCH_SIZE, MOTIF_BONUSES, NUCLEOTIDE_POINTS, SEED

#: The notebook's lookup: one row per letter, channels in ALPHABET order; N is all zeros.
_ONE_HOT = {base: [float(base == c) for c in ALPHABET] for base in ALPHABET + "N"}
#: The same rows by integer code (0-3 for A, C, G, T, then N's zeros), for whole batches.
_ONE_HOT_CODES = np.array([_ONE_HOT[base] for base in ALPHABET + "N"], dtype=np.float32)


def set_seed(seed: int = SEED) -> None:
    """Seed Python's ``random``, NumPy and torch, as the notebook's ``set_seed`` does."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the notebook seeds NumPy's global generator)
    torch.manual_seed(seed)


def score_seqs(seqs: Sequence[str]) -> pd.DataFrame:
    """Score each sequence with the tutorial's rule (the notebook's ``score_seqs_motif``).

    Score = mean letter points (A=20, C=17, G=14, T=11), +10 if TAT occurs and -10 if GCG
    occurs, each at most once; computed as ``(points_sum + L * bonus) * (1 / L)`` in float32
    (see ``dna_tutorial.spec``), the same arithmetic that ``jax_impl`` vectorises.

    Returns
    -------
    pd.DataFrame
        Columns ``seq`` (str, uppercase) and ``score`` (float32), one row per sequence.
    """
    encode_codes(seqs, allow_unknown=False)  # clear errors for bad letters and lengths
    rows = []
    for seq in seqs:
        seq = seq.upper()
        points = sum(NUCLEOTIDE_POINTS[base] for base in seq)
        bonus = sum(b for motif, b in MOTIF_BONUSES.items() if motif in seq)
        rows.append((seq, np.float32(points + len(seq) * bonus) * inverse_length(len(seq))))
    return pd.DataFrame(rows, columns=["seq", "score"]).astype({"score": np.float32})


def score_codes(codes: np.ndarray | torch.Tensor, per_occurrence: bool = False) -> torch.Tensor:
    """:func:`score_seqs` vectorised over integer codes (N, L) in 0..3: float32 (N,).

    For datasets too big for the notebook's Python loop (see ``dna_tutorial.synthetic``);
    the same arithmetic. With ``per_occurrence`` each motif's bonus counts every
    (overlapping) occurrence instead of once per sequence.
    """
    codes = torch.as_tensor(codes).long()
    length = codes.shape[1]
    points = torch.tensor([NUCLEOTIDE_POINTS[b] for b in ALPHABET])[codes].sum(dim=1)
    bonus = torch.zeros_like(points)
    for motif, value in MOTIF_BONUSES.items():
        if length < len(motif):
            continue
        pattern = torch.tensor([ALPHABET.index(b) for b in motif])
        hits = (codes.unfold(1, len(motif), 1) == pattern).all(dim=-1)  # (N, P): starts here
        bonus += value * (hits.sum(dim=1) if per_occurrence else hits.any(dim=1).long())
    return (points + length * bonus).to(torch.float32) * torch.tensor(inverse_length(length))


def one_hot_encode(seq: str) -> np.ndarray:
    """One-hot encode one sequence: float32 array (L, 4), channels A, C, G, T; N -> zeros."""
    encode_codes([seq])  # raises ValueError naming the bad letter and its position
    return np.array([_ONE_HOT[base] for base in seq.upper()], dtype=np.float32)


def one_hot_seqs(seqs: Sequence[str]) -> np.ndarray:
    """Every sequence one-hot encoded at once: float32 array (N, L, 4), each row what
    :func:`one_hot_encode` gives for it."""
    return _ONE_HOT_CODES[encode_codes(seqs)]


def quick_split(df: pd.DataFrame, split: Split) -> tuple[pd.DataFrame, ...]:
    """Rows of ``df`` for each part of ``split``: (train_df, val_df, test_df)."""
    return tuple(
        df.iloc[idx].reset_index(drop=True) for idx in (split.train, split.val, split.test)
    )


class SeqDatasetOHE(Dataset):
    """(one-hot sequence, target) pairs; every sequence is encoded once, up front.

    Targets are float32 of shape (1,) for regression (``MSELoss`` wants (B, 1)), int64
    scalars for classification (``CrossEntropyLoss`` wants (B,)) and float32 (K,) for K
    labels (``target_col`` a list of K columns; ``BCEWithLogitsLoss`` wants (B, K)).
    """

    def __init__(self, df: pd.DataFrame, seq_col: str = "seq", target_col: str = "score"):
        self.seqs = list(df[seq_col].values)
        self.seq_len = check_lengths(self.seqs)
        self.ohe_seqs = torch.stack([torch.from_numpy(one_hot_encode(s)) for s in self.seqs])
        targets = df[target_col].to_numpy()
        if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
            self.labels = torch.from_numpy(targets.astype(np.int64))
        else:  # scores, or a multi-label 0/1 matrix when target_col lists columns
            self.labels = torch.from_numpy(targets.astype(np.float32)).reshape(len(df), -1)

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ohe_seqs[idx], self.labels[idx]


def build_dataloaders(
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    seq_col: str = "seq",
    target_col: str = "score",
    batch_size: int = BATCH_SIZE,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[DataLoader, DataLoader]:
    """The notebook's loaders: training shuffled each epoch, validation in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    train_ds = SeqDatasetOHE(train_df, seq_col=seq_col, target_col=target_col)
    val_ds = SeqDatasetOHE(val_df, seq_col=seq_col, target_col=target_col)
    train_dl = DataLoader(train_ds, batch_size=batch_size, shuffle=shuffle, generator=generator)
    val_dl = DataLoader(val_ds, batch_size=batch_size)
    return train_dl, val_dl
