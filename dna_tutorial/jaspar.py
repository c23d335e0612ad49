"""JASPAR motifs, offline: the databases ship inside the ``pyjaspar`` wheel.

Part of the ``[motifs]`` extra (``pip install 'dna-tutorial[motifs]'``). Each matrix comes
back as a :class:`~dna_tutorial.synthetic.Motif` of letter probabilities (float64 (w, 4),
A, C, G, T), its counts divided by their column sums, with no pseudocount.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from dna_tutorial.errors import ConfigError
from dna_tutorial.spec import ALPHABET
from dna_tutorial.synthetic import Motif

#: The release used unless one is named (the newest ``pyjaspar`` 4.0 ships).
RELEASE = "JASPAR2024"


@functools.lru_cache(maxsize=4)
def _database(release: str):
    try:
        from pyjaspar import jaspardb
    except ImportError:
        raise ConfigError(
            "JASPAR motifs need the [motifs] extra: pip install 'dna-tutorial[motifs]'"
        ) from None
    try:
        return jaspardb(release=release)
    except Exception as err:  # pyjaspar raises plain exceptions for unknown releases
        raise ConfigError(f"no JASPAR release {release!r} in pyjaspar: {err}") from None


def _motif(matrix) -> Motif:
    counts = np.array([matrix.counts[base] for base in ALPHABET], dtype=np.float64).T
    return Motif(f"{matrix.matrix_id} {matrix.name}", counts / counts.sum(1, keepdims=True))


def load_motifs(ids: Iterable[str], release: str = RELEASE) -> tuple[Motif, ...]:
    """The matrices ``ids`` (e.g. ``MA0079.3``) of ``release``, in the order given."""
    db = _database(release)
    motifs = []
    for matrix_id in ids:
        matrix = db.fetch_motif_by_id(matrix_id.strip())
        if matrix is None:
            raise ConfigError(f"{release} has no matrix {matrix_id!r}")
        motifs.append(_motif(matrix))
    return tuple(motifs)


def vertebrates(release: str = RELEASE) -> tuple[Motif, ...]:
    """Every CORE vertebrate matrix of ``release`` (519 in JASPAR 2016, 879 in 2024)."""
    return tuple(
        _motif(m)
        for m in _database(release).fetch_motifs(collection="CORE", tax_group="vertebrates")
    )
