"""What a run trains on: sequences, targets, the task and the split, framework-free."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dna_tutorial import spec
from dna_tutorial.options import Int, Switch, Text, option
from dna_tutorial.recipe import Split, min_rows_for_split, score_classes, tutorial_split
from dna_tutorial.sequences import decode_codes, kmers
from dna_tutorial.synthetic import TUTORIAL_MOTIFS, Motif, planted_motifs, synthetic_codes

_SYNTHETIC = "a bigger synthetic task than the 8-mers"


@dataclass(frozen=True)
class SyntheticOptions:
    """``run``'s bigger synthetic tasks: random sequences scored by the tutorial's rule
    (``synthetic_task``), or planted motifs to detect (``planted_task``)."""

    seq_len: int | None = option(
        None, "random sequences of length L scored by the tutorial's rule", Int(),
        metavar="L", group=_SYNTHETIC,
    )  # fmt: skip
    num_seqs: int = option(
        100_000,
        "how many (default 100,000; with --seq-len)",
        Int(min_rows_for_split(spec.SPLIT_FRAC), 10**9),
        metavar="N",
        group=_SYNTHETIC,
    )
    per_occurrence: bool = option(
        False, "count a motif's bonus at every occurrence (with --seq-len)", Switch(),
        group=_SYNTHETIC,
    )  # fmt: skip
    planted: str | None = option(
        None,
        "instead of scores: which motifs each sequence holds (a multi-label task, trained by "
        "deep_multilabel). MOTIFS: 'tutorial' (TAT and GCG, the default) or "
        "'jaspar:MA0079.3,MA0083.3,...' (JASPAR 2024 PWMs; needs the [motifs] extra); with "
        "--seq-len (default 200)",
        Text(),
        nargs="?",
        const="tutorial",
        metavar="MOTIFS",
        group=_SYNTHETIC,
    )


@dataclass(frozen=True)
class TutorialData:
    """Sequences with their targets and split.

    ``targets`` is None for the built-in synthetic data: scoring is the tutorial's step 1,
    so each port scores the sequences itself (and the parity tests check they agree).
    For classification ``targets`` holds int64 class indices into ``class_names``; for a
    multi-label task, a 0/1 matrix (N, labels) whose columns ``class_names`` names.
    """

    seqs: list[str]  # uppercase, validated, one common length
    task: str  # "regress", "classify" or "multilabel"
    targets: np.ndarray | None
    class_names: tuple[str, ...]
    source: str
    split: Split
    #: Synthetic data only: motif bonuses count every occurrence, not once per sequence.
    per_occurrence: bool = False
    #: The motifs the data was made with, when known: what the filters should learn.
    motifs: tuple[Motif, ...] = ()
    #: Whether the motifs were planted on either strand (else as written, forward only).
    both_strands: bool = False
    #: The option that makes these sequences shorter, for messages (None: the 8-mers).
    length_option: str | None = "--trim-to"

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
            "synthetic": self.synthetic,
            "per_occurrence": self.per_occurrence,
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
        length_option=None,
        split=tutorial_split(len(seqs), seed=seed),
        motifs=TUTORIAL_MOTIFS,
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
        length_option="--seq-len",
        split=tutorial_split(num_seqs, seed=seed),
        per_occurrence=per_occurrence,
        motifs=TUTORIAL_MOTIFS,
    )


def planted_task(
    num_seqs: int,
    seq_len: int,
    motifs: tuple[Motif, ...] = TUTORIAL_MOTIFS,
    seed: int = spec.SEED,
    both_strands: bool = False,
) -> TutorialData:
    """Planted-motif sequences (``dna_tutorial.synthetic.planted_motifs``) whose targets
    say which motifs each holds: a multi-label task, split 64/16/20."""
    planted = planted_motifs(num_seqs, seq_len, motifs, seed, both_strands=both_strands)
    names = ", ".join(m.name for m in motifs)
    return TutorialData(
        seqs=decode_codes(planted.codes),
        task="multilabel",
        targets=planted.labels,
        class_names=tuple(m.name for m in motifs),
        source=f"planted motifs: {num_seqs:,} random {seq_len}-mers with {names} (seed {seed})",
        length_option="--seq-len",
        split=tutorial_split(num_seqs, seed=seed),
        motifs=motifs,
        both_strands=both_strands,
    )


def data_frame(data: TutorialData, scores: np.ndarray | None = None) -> pd.DataFrame:
    """Step 1 as a DataFrame: ``seq``, then ``score`` (the port's own scores of the
    synthetic data, else the file's) and, when classes exist, ``label``; for a multi-label
    task one 0/1 column per label (see :func:`target_column`)."""
    df = pd.DataFrame({"seq": data.seqs})
    if data.synthetic:
        df["score"] = scores
        df["label"] = score_classes(np.asarray(scores))
    elif data.task == "classify":
        df["label"] = data.targets
    elif data.task == "multilabel":
        labels = np.asarray(data.targets)  # (N, K): one column per label
        for name, column in zip(target_column(data.task, data.class_names), labels.T):
            df[name] = column
    else:
        df["score"] = data.targets
    return df


def target_column(task: str, class_names: tuple[str, ...] = ()) -> str | list[str]:
    """The DataFrame column(s) a model of ``task`` trains on."""
    if task == "multilabel":
        return [f"label:{name}" for name in class_names]
    return "score" if task == "regress" else "label"
