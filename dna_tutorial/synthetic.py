"""Bigger synthetic tasks than the tutorial's 8-mers: N random sequences of length L,
scored by the tutorial's rule, or carrying planted motifs to detect.

Sequences are generated as integer codes (0..3 for A, C, G, T) in fixed blocks of rows,
block b drawn from its own ``SeedSequence(seed, spawn_key=(b,))``. Row i is therefore
the same whatever chunk size a reader streams with, and memory stays bounded by one
chunk. Both ports score the codes with the tutorial's rule generalised to any length
(``score_codes`` in each port's ``data`` module), with bonuses once per sequence as in the
tutorial or, optionally, once per occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dna_tutorial.errors import ConfigError
from dna_tutorial.spec import ALPHABET, SEED

#: Rows per generator block; fixed, so that row i never depends on how it is read.
BLOCK_ROWS = 4096
#: The generalised task's default sequence length.
DEFAULT_LENGTH = 200


def _block(block: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    return rng.integers(0, 4, size=(BLOCK_ROWS, length), dtype=np.uint8)


def random_codes(
    n: int, length: int = DEFAULT_LENGTH, seed: int = SEED, chunk_rows: int = 65_536
) -> Iterator[np.ndarray]:
    """Stream ``n`` random sequences of ``length`` as uint8 code chunks (rows, length).

    Parameters
    ----------
    n, length : int
        How many sequences, and their common length (both >= 1).
    seed : int
        Row i is a function of (seed, i, length) only.
    chunk_rows : int
        Rows per yielded chunk (the last may be shorter); a multiple of ``BLOCK_ROWS``
        avoids regenerating blocks that straddle two chunks.
    """
    if n < 1 or length < 1 or chunk_rows < 1:
        raise ValueError(f"need n, length and chunk_rows >= 1, got {n}, {length}, {chunk_rows}")
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        first, last = start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS
        rows = np.concatenate([_block(b, length, seed) for b in range(first, last + 1)])
        offset = first * BLOCK_ROWS
        yield rows[start - offset : stop - offset]


def synthetic_codes(n: int, length: int = DEFAULT_LENGTH, seed: int = SEED) -> np.ndarray:
    """All ``n`` sequences at once: uint8 (n, length). Use :func:`random_codes` to stream."""
    return np.concatenate(list(random_codes(n, length, seed)))


# --- Planted motifs: a task where depth pays -----------------------------------------------


@dataclass(frozen=True)
class Motif:
    """A motif to plant: its name and its letter probabilities, float64 (k, 4) in ACGT order."""

    name: str
    pwm: np.ndarray

    @classmethod
    def exact(cls, word: str) -> Motif:
        """A motif that is always the same word (the tutorial's TAT and GCG)."""
        return cls(word, np.eye(4)[[ALPHABET.index(b) for b in word.upper()]])

    @property
    def word(self) -> np.ndarray | None:
        """The codes of the one word this motif always is, or None for a true PWM."""
        return self.pwm.argmax(1) if np.all(self.pwm.max(1) == 1) else None

    def reverse_complement(self) -> np.ndarray:
        """The PWM read on the other strand: positions reversed, A<->T and C<->G."""
        return self.pwm[::-1, ::-1]


#: The tutorial's motifs, as exact words.
TUTORIAL_MOTIFS = (Motif.exact("TAT"), Motif.exact("GCG"))
#: How many motifs a sequence gets, 1 to 5, with Koo & Eddy's (2019) probabilities.
MOTIF_COUNTS = (0.50, 0.25, 0.17, 0.05, 0.03)


@dataclass(frozen=True)
class Planted:
    """Planted-motif sequences: codes uint8 (N, L) and labels uint8 (N, M), label m 1
    where motif m occurs (on either strand)."""

    codes: np.ndarray
    labels: np.ndarray
    motifs: tuple[Motif, ...]


def _planted_block(
    block: int, length: int, motifs, counts, both_strands: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, 1)))
    codes = rng.integers(0, 4, size=(BLOCK_ROWS, length), dtype=np.uint8)  # the background
    words = [m.word for m in motifs if m.word is not None]
    while hits := [h for w in words for h in np.argwhere(_occurs(codes, w))]:
        for row, pos in hits:  # short words occur by chance: redraw them out of the background
            codes[row, pos] = rng.integers(0, 4)
    labels = np.zeros((BLOCK_ROWS, len(motifs)), np.uint8)
    pool = [(m, motifs[m].pwm) for m in range(len(motifs))]
    if both_strands:
        pool += [(m, motifs[m].reverse_complement()) for m in range(len(motifs))]
    number = rng.choice(np.arange(1, len(counts) + 1), size=BLOCK_ROWS, p=counts)
    for row in range(BLOCK_ROWS):
        chosen = rng.integers(0, len(pool), size=number[row])  # with replacement
        widths = [len(pool[c][1]) for c in chosen]
        free = length - sum(widths)
        if free < 0:
            raise ValueError(f"{number[row]} motifs of widths {widths} do not fit in {length}")
        # Non-overlapping, in random order: split the free positions into number + 1 gaps
        # (uniformly over all ways), then lay gap, motif, gap, motif, ... gap.
        cuts = np.sort(rng.choice(free + len(chosen), size=len(chosen), replace=False))
        gaps = cuts - np.arange(len(chosen))  # where each motif starts, net of earlier motifs
        start = 0
        for c, gap in zip(chosen, np.diff(np.r_[0, gaps])):
            m, pwm = pool[c]
            start += gap
            u = rng.random(len(pwm))[:, None]
            codes[row, start : start + len(pwm)] = (u > np.cumsum(pwm, axis=1)[:, :-1]).sum(1)
            labels[row, m] = 1
            start += len(pwm)
    for m, motif in enumerate(motifs):  # a word planted beside another can form one more
        if motif.word is not None:
            labels[:, m] = _occurs(codes, motif.word).any(1)
    return codes, labels


def _occurs(codes: np.ndarray, word: np.ndarray) -> np.ndarray:
    """Where ``word`` (k,) starts in each row of ``codes`` (N, L): bool (N, L - k + 1)."""
    starts = codes.shape[1] - len(word) + 1
    return np.all([codes[:, j : j + starts] == c for j, c in enumerate(word)], axis=0)


def planted_motifs(
    n: int,
    length: int = DEFAULT_LENGTH,
    motifs: tuple[Motif, ...] = TUTORIAL_MOTIFS,
    seed: int = SEED,
    counts: tuple[float, ...] = MOTIF_COUNTS,
    both_strands: bool = False,
) -> Planted:
    """``n`` random sequences of ``length``, each with 1 to ``len(counts)`` motifs planted.

    Every sequence gets ``k`` motifs with probability ``counts[k - 1]``, drawn with
    replacement from ``motifs`` (and their reverse complements when ``both_strands``),
    placed without overlap at random positions, their letters sampled from the PWM. Rows
    come in fixed blocks drawn from ``SeedSequence(seed, spawn_key=(block, 1))``: row i is a
    function of the seed and i alone, as in :func:`random_codes`.
    """
    if n < 1 or length < 1:
        raise ValueError(f"need n and length >= 1, got {n} and {length}")
    if not math.isclose(sum(counts), 1.0):
        raise ValueError(f"the motif counts' probabilities must sum to 1, got {sum(counts)}")
    blocks = [
        _planted_block(b, length, motifs, counts, both_strands, seed)
        for b in range(-(-n // BLOCK_ROWS))
    ]
    codes = np.concatenate([c for c, _ in blocks])[:n]
    labels = np.concatenate([lab for _, lab in blocks])[:n]
    return Planted(codes, labels, tuple(motifs))


def motif_set(text: str) -> tuple[Motif, ...]:
    """Motifs named on the command line: ``tutorial`` (TAT and GCG) or
    ``jaspar:MA0079.3,MA0083.3`` (PWMs from JASPAR 2024, through pyjaspar)."""
    if text == "tutorial":
        return TUTORIAL_MOTIFS
    kind, _, ids = text.partition(":")
    if kind != "jaspar" or not ids:
        raise ConfigError(f"--planted takes 'tutorial' or 'jaspar:ID,ID,...', got {text!r}")
    from dna_tutorial.jaspar import load_motifs

    return load_motifs(ids.split(","))
