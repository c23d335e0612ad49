"""Bigger synthetic tasks than the tutorial's 8-mers: N random sequences of length L.

Sequences are generated as integer codes (0..3 for A, C, G, T) in fixed blocks of rows,
block b drawn from its own ``SeedSequence(seed, spawn_key=(b,))``. Row i is therefore
the same whatever chunk size a reader streams with, and memory stays bounded by one
chunk. Both ports score the codes with the tutorial's rule generalised to any length
(``score_codes`` in each port's ``data`` module), with bonuses once per sequence as in the
tutorial or, optionally, once per occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dna_tutorial.spec import SEED

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
