"""Parity of steps 1-2: scores, encodings, the split and batch order, in both ports."""

from __future__ import annotations

import numpy as np

from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from dna_tutorial.spec import SEED
from dna_tutorial.synthetic import synthetic_codes
from jax_impl import data as jdata
from parity_tests.compare import Comparison, compare
from parity_tests.pairs import random_seqs
from parity_tests.tolerances import (
    EXACT,
)
from reference_torch import data as tdata


def check_data() -> list[Comparison]:
    """Scores, one-hot encodings and split membership: identical, not merely close."""
    seqs, long = kmers(8), random_seqs(2000, 200, seed=1)
    kmer_frame = tdata.score_seqs(seqs)  # the reference's step 1; split below as well
    rows = [
        compare(
            "scores, all 65,536 8-mers", kmer_frame["score"], jdata.score_seqs(seqs)["score"], EXACT
        ),
        compare(
            "scores, 2,000 random 200-mers",
            tdata.score_seqs(long)["score"],
            jdata.score_seqs(long)["score"],
            EXACT,
        ),
    ]
    codes = synthetic_codes(20_000, 200, seed=2)
    for per in (False, True):
        rows.append(
            compare(
                f"synthetic task scores, 20,000 200-mers{', per occurrence' if per else ''}",
                tdata.score_codes(codes, per),
                jdata.score_codes(codes, per),
                EXACT,
            )
        )
    with_n = [s[:3] + "N" + s[4:] for s in random_seqs(500, 20, seed=2)]
    for name, batch in [("one-hot, all 65,536 8-mers", seqs), ("one-hot, 20-mers with N", with_n)]:
        rows.append(
            compare(
                name,
                tdata.one_hot_seqs(batch),
                jdata.one_hot_seqs(batch),
                EXACT,
            )
        )
    split = tutorial_split(len(seqs), seed=SEED)
    frames = tdata.quick_split(kmer_frame, split)
    parts = jdata.quick_split(jdata.score_seqs(seqs), split)
    for part, frame, jframe in zip(("train", "val", "test"), frames, parts):
        differ = np.asarray(frame["seq"]) != np.asarray(jframe["seq"])
        rows.append(
            Comparison(
                f"split membership, {part}: rows that differ, of {len(frame):,}",
                float(differ.sum()),
                float(differ.mean()),
                EXACT,
                not differ.any(),
            )
        )
    return rows
