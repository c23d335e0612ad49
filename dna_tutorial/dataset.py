"""What a run trains on: sequences, targets, the task and the split, framework-free."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dna_tutorial import spec
from dna_tutorial.recipe import Split, tutorial_split
from dna_tutorial.sequences import decode_codes, kmers
from dna_tutorial.synthetic import synthetic_codes


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
    #: Synthetic data only: motif bonuses count every occurrence, not once per sequence.
    per_occurrence: bool = False

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


def synthetic_task(
    num_seqs: int, seq_len: int, seed: int = spec.SEED, per_occurrence: bool = False
) -> TutorialData:
    """The generalised task: ``num_seqs`` random sequences of ``seq_len``, scored by each
    port with the tutorial's rule (``dna_tutorial.synthetic``), split 64/16/20."""
    codes = synthetic_codes(num_seqs, seq_len, seed)
    rule = "each motif occurrence counts" if per_occurrence else "the tutorial's rule"
    return TutorialData(
        seqs=decode_codes(codes),
        task="regress",
        targets=None,
        class_names=spec.CLASS_NAMES,
        source=f"synthetic: {num_seqs:,} random {seq_len}-mers (seed {seed}, {rule})",
        split=tutorial_split(num_seqs, seed=seed),
        per_occurrence=per_occurrence,
    )
