"""Motif insertion against the known truth: did a model learn +10 for TAT and -10 for GCG?

Random background sequences that contain neither motif get a 3-mer written over them at
every position in turn (at most ``MAX_POSITIONS`` evenly spaced ones in long sequences);
a model's predicted shift, prediction(after) - prediction(before), is compared with what
the scoring rule says. Writing a motif also replaces letters, which moves the letter-mean
part of the score by (points of the new letters - points of the old ones) / L, a small
amount known exactly; the **motif effect** is the shift minus that letter part. The truth
for the motif effect is the motif's bonus: +10 for TAT, -10 for GCG, 0 for both together
and 0 for a control 3-mer that cannot form either motif.

Framework-free: a port supplies ``predict``, a function from sequences to scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dna_tutorial.sequences import count_motif, decode_codes, encode_codes
from dna_tutorial.spec import ALPHABET, KMER_LENGTH, MOTIF_BONUSES, NUCLEOTIDE_POINTS, SPOT_CHECKS

#: What is written into the backgrounds: label -> letters. "CAC" has no T or G, so no
#: context can turn it into TAT or GCG.
INSERTIONS = {"TAT": "TAT", "GCG": "GCG", "TAT and GCG": "TATGCG", "control (CAC)": "CAC"}
NUM_BACKGROUNDS = 200
#: Long sequences get the motif at this many evenly spaced positions, not at every one.
MAX_POSITIONS = 64
#: Sequences per call to ``predict``, so that memory stays bounded for long sequences.
CHUNK = 16_384


def attribution_seqs(seq_len: int, test_seqs: Sequence[str], num: int = 8) -> list[str]:
    """The sequences whose ISM and saliency a report shows: the notebook's spot checks for
    the tutorial's 8-mers (two of each group), else the first ``num`` test sequences."""
    if seq_len == KMER_LENGTH:
        return [seq for group in SPOT_CHECKS.values() for seq in group[:2]]
    return list(test_seqs[:num])


def bonus(seq: str, per_occurrence: bool = False) -> int:
    """The scoring rule's motif part: each motif's bonus once if it occurs, or once per
    occurrence, overlaps included (``per_occurrence``, the ``--per-occurrence`` task)."""
    if per_occurrence:
        return sum(b * int(count_motif([seq], motif)[0]) for motif, b in MOTIF_BONUSES.items())
    return sum(b for motif, b in MOTIF_BONUSES.items() if motif in seq)


def backgrounds(num: int, seq_len: int, seed: int = 0) -> list[str]:
    """``num`` random sequences of ``seq_len`` in which no motif occurs.

    Drawn letter by letter, uniformly among the letters that do not complete a motif (a
    T after TA, a G after GC): rejecting whole random sequences would almost never keep
    one of length 200.
    """
    rng = np.random.default_rng(seed)
    codes = np.zeros((num, seq_len), dtype=np.uint8)
    banned = [(encode_codes([m[:-1]])[0], ALPHABET.index(m[-1])) for m in MOTIF_BONUSES]
    for p in range(seq_len):
        allowed = np.ones((num, 4), dtype=bool)
        for prefix, last in banned:
            k = len(prefix)
            if p >= k:
                allowed[(codes[:, p - k : p] == prefix).all(axis=1), last] = False
        # the r-th allowed letter, r uniform among however many are allowed
        rank = (rng.random(num) * allowed.sum(axis=1)).astype(int)
        codes[:, p] = (np.cumsum(allowed, axis=1) > rank[:, None]).argmax(axis=1)
    return decode_codes(codes)


def insert(seqs: Sequence[str], word: str, position: int) -> list[str]:
    """``word`` written over each sequence from ``position`` on (the length is kept)."""
    return [s[:position] + word + s[position + len(word) :] for s in seqs]


def _letters(seqs: Sequence[str]) -> np.ndarray:
    """The letter-mean part of each sequence's score: float64 (N,)."""
    points = np.array([NUCLEOTIDE_POINTS[b] for b in ALPHABET], dtype=np.float64)
    return points[encode_codes(seqs)].mean(axis=1)


def insertion_effects(
    predict: Callable[[list[str]], np.ndarray],
    seq_len: int,
    num: int = NUM_BACKGROUNDS,
    seed: int = 0,
    per_occurrence: bool = False,
) -> pd.DataFrame:
    """Predicted and true motif effects for every insertion, background and position
    (at most ``MAX_POSITIONS`` evenly spaced positions).

    ``predict`` maps sequences to scores (N,); it is called on chunks of ``CHUNK``.
    Returns one row per insertion, position and background: ``inserted, position, truth,
    shift, motif_effect`` (truth: the bonus the insertion adds; shift: the predicted
    change; motif_effect: the shift less the letter part). ``per_occurrence``: the data
    counted every occurrence (writing TAT after ``..TA`` makes two).
    """
    before = backgrounds(num, seq_len, seed)
    plan = [
        (label, position, insert(before, word, position))
        for label, word in INSERTIONS.items()
        for position in _positions(seq_len - len(word) + 1)
    ]
    after = [seq for _, _, seqs in plan for seq in seqs]
    if not after:  # the sequences are shorter than every word: nothing to insert
        return pd.DataFrame(columns=["inserted", "position", "truth", "shift", "motif_effect"])
    base = _predict(predict, before)
    shift = _predict(predict, after) - np.tile(base, len(plan))
    letters = _letters(after) - np.tile(_letters(before), len(plan))
    return pd.DataFrame(
        {
            "inserted": np.repeat([label for label, _, _ in plan], num),
            "position": np.repeat([position for _, position, _ in plan], num),
            "truth": [bonus(seq, per_occurrence) for seq in after],
            "shift": shift,
            "motif_effect": shift - letters,
        }
    )


def _positions(count: int) -> np.ndarray:
    """At most ``MAX_POSITIONS`` of ``count`` start positions, evenly spaced; none if the
    word does not fit (``count <= 0``)."""
    if count <= 0:
        return np.empty(0, int)
    return np.unique(np.linspace(0, count - 1, min(count, MAX_POSITIONS)).round().astype(int))


def _predict(predict: Callable[[list[str]], np.ndarray], seqs: list[str]) -> np.ndarray:
    chunks = [predict(seqs[i : i + CHUNK]) for i in range(0, len(seqs), CHUNK)]
    return np.concatenate([np.asarray(c, dtype=np.float64).reshape(-1) for c in chunks])


def insertion_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Per insertion: the true effect, the predicted motif effect's mean and sd, and the
    error of the mean (mean - truth)."""
    table = effects.groupby("inserted", sort=False).agg(
        truth=("truth", "mean"),
        mean=("motif_effect", "mean"),
        sd=("motif_effect", "std"),
        n=("motif_effect", "size"),
    )
    table["error"] = table["mean"] - table["truth"]
    return table.reset_index()
