"""What a run trains on: sequences, targets, the task and the split, framework-free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dna_tutorial import spec
from dna_tutorial.recipe import Split, tutorial_split
from dna_tutorial.sequences import encode_codes, kmers


@dataclass(frozen=True)
class TutorialData:
    """Sequences with their targets and split.

    ``targets`` is None for the built-in synthetic data: scoring is the tutorial's step 1,
    so each port scores the sequences itself (and the parity tests check they agree).
    For classification ``targets`` holds int64 class indices into ``class_names``.
    """

    seqs: list[str]  # uppercase, validated, one common length
    task: str  # "regress" or "classify"
    targets: np.ndarray | None
    class_names: tuple[str, ...]
    source: str
    split: Split

    @property
    def seq_len(self) -> int:
        return len(self.seqs[0])

    @property
    def synthetic(self) -> bool:
        return self.targets is None

    def describe(self) -> dict:
        """A JSON-ready summary for reports."""
        return {
            "source": self.source,
            "task": self.task,
            "num_seqs": len(self.seqs),
            "seq_len": self.seq_len,
            "split": self.split.sizes(),
            "classes": list(self.class_names),
        }


def synthetic_kmers(k: int = spec.KMER_LENGTH, seed: int = spec.SEED) -> TutorialData:
    """The tutorial's data: all 4**k k-mers, scored by each port, split 64/16/20."""
    seqs = kmers(k)
    return TutorialData(
        seqs=seqs,
        task="regress",
        targets=None,
        class_names=spec.CLASS_NAMES,
        source=f"synthetic: all {len(seqs):,} {k}-mers",
        split=tutorial_split(len(seqs), seed=seed),
    )


def from_arrays(
    seqs: Sequence[str],
    targets: Sequence,
    task: str = "regress",
    source: str = "arrays",
    seed: int = spec.SEED,
    class_names: Sequence[str] | None = None,
) -> TutorialData:
    """Validated data from in-memory sequences and targets.

    Regression targets must be finite numbers; classification targets are class indices
    ``0..C-1`` (``class_names`` defaults to their string forms).
    """
    if task not in ("regress", "classify"):
        raise ValueError(f"task must be 'regress' or 'classify', got {task!r}")
    seqs = [s.upper() for s in seqs]
    encode_codes(seqs)  # raises on bad letters, empty or mixed-length sequences
    targets = np.asarray(targets)
    if len(targets) != len(seqs):
        raise ValueError(f"{len(seqs)} sequences but {len(targets)} targets")
    if task == "regress":
        targets = targets.astype(np.float32)
        bad = np.flatnonzero(~np.isfinite(targets))
        if bad.size:
            raise ValueError(f"target #{bad[0]} is {targets[bad[0]]}: targets must be finite")
        names: tuple[str, ...] = ()
    else:
        if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0:
            raise ValueError("classification targets must be class indices 0, 1, 2, ...")
        targets = targets.astype(np.int64)
        count = int(targets.max()) + 1
        names = tuple(class_names) if class_names else tuple(str(i) for i in range(count))
        if len(names) < count:
            raise ValueError(f"{len(names)} class names for {count} classes")
    return TutorialData(
        seqs=seqs,
        task=task,
        targets=targets,
        class_names=names,
        source=source,
        split=tutorial_split(len(seqs), seed=seed),
    )
