"""Framework-free sequence handling: k-mers, validation and integer codes.

Both ports validate through :func:`encode_codes`, so a bad letter gives the same message
whichever port reads it. Sequences are case-insensitive: soft-masked (lowercase) bases,
common in genome FASTA files, are read as their uppercase letters.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np

from dna_tutorial.spec import ALPHABET, UNKNOWN_BASE

#: Integer code of ``N``: one past the alphabet, so ``one_hot(code, 4)`` gives a zero row.
UNKNOWN_CODE = len(ALPHABET)
_INVALID = 255


class InvalidSequenceError(ValueError):
    """A sequence that cannot be encoded; ``index`` says which, ``detail`` what is wrong."""

    def __init__(self, message: str, index: int, detail: str):
        super().__init__(message)
        self.index = index
        self.detail = detail


def kmers(k: int) -> list[str]:
    """All ``4**k`` k-mers over ``ALPHABET`` in lexicographic order (AAA..., AAC..., ...)."""
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    return ["".join(letters) for letters in itertools.product(ALPHABET, repeat=k)]


def _lookup_table(allow_unknown: bool) -> np.ndarray:
    table = np.full(256, _INVALID, dtype=np.uint8)
    letters = ALPHABET + (UNKNOWN_BASE if allow_unknown else "")
    for code, base in enumerate(letters):
        table[ord(base)] = table[ord(base.lower())] = code
    return table


_TABLES = {flag: _lookup_table(flag) for flag in (True, False)}


def _allowed(allow_unknown: bool) -> str:
    return ", ".join(ALPHABET + (UNKNOWN_BASE if allow_unknown else ""))


def _show(seq: str, width: int = 40) -> str:
    return repr(seq if len(seq) <= width else seq[: width - 3] + "...")


def check_lengths(seqs: Sequence[str]) -> int:
    """Return the common length of ``seqs``; raise ``ValueError`` naming the first misfit.

    The tutorial's models have a fixed input length, so every sequence must share it.
    """
    if len(seqs) == 0:
        raise ValueError("no sequences given: need at least one")
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    if (lengths == 0).any():
        i = int(np.argmax(lengths == 0))
        raise InvalidSequenceError(f"sequence #{i} is empty", i, "empty sequence")
    misfits = np.flatnonzero(lengths != lengths[0])
    if misfits.size:
        i = int(misfits[0])
        raise ValueError(
            f"sequences must all have the same length: sequence #0 has {lengths[0]}, "
            f"sequence #{i} {_show(seqs[i])} has {lengths[i]}"
        )
    return int(lengths[0])


def encode_codes(seqs: Sequence[str], *, allow_unknown: bool = True) -> np.ndarray:
    """Validate equal-length sequences and map them to integer codes.

    Parameters
    ----------
    seqs : sequence of str, length N
        DNA sequences of one common length L. Case-insensitive.
    allow_unknown : bool
        Accept ``N`` (code 4). Scoring needs ``False``: the rule is defined for ACGT only.

    Returns
    -------
    np.ndarray of uint8, shape (N, L)
        0, 1, 2, 3 for A, C, G, T; 4 for N.

    Raises
    ------
    ValueError
        Naming the sequence, the letter and its 0-based position, for any letter outside
        the alphabet; also for no sequences, an empty sequence or mixed lengths.
    """
    length = check_lengths(seqs)
    joined = "".join(seqs)
    # errors="replace" keeps one byte per character: a non-ASCII letter becomes "?",
    # which the table rejects, and the message below quotes the original letter.
    raw = np.frombuffer(joined.encode("ascii", errors="replace"), dtype=np.uint8)
    codes = _TABLES[allow_unknown][raw].reshape(len(seqs), length)
    bad = np.argwhere(codes == _INVALID)
    if bad.size:
        i, pos = (int(v) for v in bad[0])
        detail = (
            f"invalid letter {seqs[i][pos]!r} at position {pos} (0-based); allowed letters: "
            f"{_allowed(allow_unknown)} (case-insensitive)"
        )
        raise InvalidSequenceError(f"sequence #{i} {_show(seqs[i])} has {detail}", i, detail)
    return codes


def decode_codes(codes: np.ndarray) -> list[str]:
    """Inverse of :func:`encode_codes` (uppercase). ``codes``: (N, L) integers in 0..4."""
    letters = np.frombuffer((ALPHABET + UNKNOWN_BASE).encode("ascii"), dtype=np.uint8)
    chars = letters[np.asarray(codes, dtype=np.intp)]
    return [row.tobytes().decode("ascii") for row in chars]


def count_motif(seqs: Sequence[str], motif: str) -> np.ndarray:
    """Occurrences of ``motif`` in each sequence, overlaps included: int64 array (N,)."""
    starts = re.compile(f"(?={re.escape(motif.upper())})")  # a lookahead: overlaps count
    return np.array([len(starts.findall(s.upper())) for s in seqs], dtype=np.int64)
