"""The dataset recipe shared by both ports: splits, sampling and class labels.

The notebook shuffles with Python's ``random`` after ``random.seed(17)``. Here each
recipe draws from its own ``random.Random(seed)``, which yields the same numbers without
touching global state, so both ports get identical split membership from one seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dna_tutorial.spec import CLASS_EDGES, SEED, SPLIT_FRAC

#: Fewest rows in each part of a split: R² on the test set is undefined for one row.
MIN_PART_ROWS = 2


@dataclass(frozen=True)
class Split:
    """Row indices of each part, each sorted ascending (the notebook keeps original order)."""

    train: np.ndarray  # int64 (N_train,)
    val: np.ndarray  # int64 (N_val,)
    test: np.ndarray  # int64 (N_test,)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def quick_split_indices(
    n: int, split_frac: float, rng: random.Random
) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's ``quick_split`` on row positions ``0..n-1``.

    Shuffles the positions, cuts at ``int(n * split_frac)`` and returns both parts sorted,
    as ``df[df.index.isin(idxs)]`` does in the notebook.
    """
    idxs = list(range(n))
    rng.shuffle(idxs)
    cut = int(n * split_frac)
    return np.sort(np.array(idxs[:cut], dtype=np.int64)), np.sort(
        np.array(idxs[cut:], dtype=np.int64)
    )


def tutorial_split(n: int, seed: int = SEED, split_frac: float = SPLIT_FRAC) -> Split:
    """Split ``n`` rows as the notebook does: test off the top, then validation off train.

    With the defaults this is 64% train, 16% validation and 20% test.

    Raises
    ------
    ValueError
        If ``split_frac`` is not in (0, 1) or ``n`` is too small for three non-empty parts.
    """
    if not 0.0 < split_frac < 1.0:
        raise ValueError(f"split_frac must lie strictly between 0 and 1, got {split_frac}")
    rng = random.Random(seed)
    full_train, test = quick_split_indices(n, split_frac, rng)
    train_pos, val_pos = quick_split_indices(len(full_train), split_frac, rng)
    split = Split(train=full_train[train_pos], val=full_train[val_pos], test=test)
    if min(split.sizes().values()) < MIN_PART_ROWS:
        raise ValueError(
            f"{n} rows are too few to split into train/val/test at split_frac={split_frac} "
            f"(sizes would be {split.sizes()}); need at least {min_rows_for_split(split_frac)}"
        )
    return split


def min_rows_for_split(split_frac: float = SPLIT_FRAC) -> int:
    """Smallest row count for which :func:`tutorial_split` gives each part ``MIN_PART_ROWS``."""
    n = 3 * MIN_PART_ROWS
    while True:
        full = int(n * split_frac)
        train = int(full * split_frac)
        if min(n - full, full - train, train) >= MIN_PART_ROWS:
            return n
        n += 1


def sample_seqs(seqs: Sequence[str], k: int, seed: int = SEED) -> list[str]:
    """``k`` sequences drawn with replacement (the notebook's ``random.choices``)."""
    return random.Random(seed).choices(list(seqs), k=k)


def inverse_length(length: int) -> np.float32:
    """``float32(1 / length)``: the factor both ports multiply a score's numerator by."""
    return np.float32(1.0 / length)


def score_classes(scores: np.ndarray) -> np.ndarray:
    """Footnote 2's classes: 0 for score <= 10 (GCG), 1 for (10, 20], 2 for > 20 (TAT).

    Returns an int64 array of the same shape as ``scores``.
    """
    scores = np.asarray(scores)
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity; cannot assign classes")
    return np.digitize(scores, CLASS_EDGES, right=True).astype(np.int64)
