"""Which motif did each filter learn? Tomtom (``memelite``) between filter PWMs and motifs.

Part of the ``[motifs]`` extra. memelite's Tomtom scores aligned columns by negative
Euclidean distance and builds each query column's null from the target columns, so its
p-values are only meaningful against a large target database: the planted motifs are
compared together with every CORE vertebrate matrix of JASPAR (``dna_tutorial.jaspar``),
and q-values are Benjamini-Hochberg over each filter's row of p-values against all of them
(MEME's Tomtom also computes q-values per query; it estimates the null share, BH does
not). memelite computes no q-values itself.

Before comparing, a filter's PWM loses its low-information edge columns: columns at either
end with less than ``TRIM_BITS`` bits of information content (of 2) are dropped. A filter
with no such column is uninformative (it never fired, or fired on anything) and is not
compared: it matches nothing. Without this, a near-uniform PWM "matches" the low-information
columns of some long JASPAR matrix at a small p-value.

memelite compiles its kernels with numba on first use (about a minute on 2 cores, then
cached on disk); everything here is float64, which memelite's cache is compiled for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dna_tutorial.errors import ConfigError
from dna_tutorial.synthetic import Motif

#: Edge columns below this information content (bits) are trimmed.
TRIM_BITS = 0.5
#: A filter matches a motif when its q-value is below this.
Q_THRESHOLD = 0.05


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Bits per column of letter probabilities (w, 4): float64 (w,), 0 to 2."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-12, 1)
    return 2 + (p * np.log2(p)).sum(axis=1)


def trim(pwm: np.ndarray, bits: float = TRIM_BITS) -> np.ndarray:
    """``pwm`` (w, 4) from its first to its last column with at least ``bits`` of
    information; (0, 4) when no column has that much (an uninformative filter)."""
    keep = np.flatnonzero(information_content(pwm) >= bits)
    return pwm[keep[0] : keep[-1] + 1] if len(keep) else pwm[:0]


def run_tomtom(
    queries: Sequence[np.ndarray], targets: Sequence[np.ndarray], rc: bool = True
) -> np.ndarray:
    """memelite's Tomtom of PWMs (w, 4) against PWMs: float64 (5, nQ, nT), its p-values,
    scores, offsets, overlaps and strands."""
    try:
        from memelite import tomtom
    except ImportError:
        raise ConfigError(
            "Tomtom needs the [motifs] extra: pip install 'dna-tutorial[motifs]'"
        ) from None
    as_cols = [np.ascontiguousarray(np.asarray(m, dtype=np.float64).T) for m in queries]
    t_cols = [np.ascontiguousarray(np.asarray(m, dtype=np.float64).T) for m in targets]
    return tomtom(as_cols, t_cols, reverse_complement=rc)  # (5, nQ, nT)


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis (same shape)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, -1) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(p)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), -1)
    return q


def compare(
    filters: Mapping[str, np.ndarray],
    targets: Sequence[Motif],
    reverse_complement: bool = True,
) -> pd.DataFrame:
    """Every informative filter PWM (w, 4) against every target motif, after trimming.

    Returns one row per (filter, target): ``filter, target, p, q, E, offset, overlap,
    strand`` (E: p times the number of targets; strand "-" when the filter matches the
    target's reverse complement). Uninformative filters have no rows.
    """
    trimmed = {name: trim(np.asarray(pwm, dtype=np.float64)) for name, pwm in filters.items()}
    names = [name for name, pwm in trimmed.items() if len(pwm)]
    columns = ["filter", "target", "p", "q", "E", "offset", "overlap", "strand"]
    if not names:
        return pd.DataFrame(columns=columns)
    queries = [trimmed[name] for name in names]
    p, _, offsets, overlaps, strands = run_tomtom(
        queries, [m.pwm for m in targets], reverse_complement
    )
    n_t = len(targets)
    return pd.DataFrame(
        {
            "filter": np.repeat(names, n_t),
            "target": [m.name for m in targets] * len(names),
            "p": p.ravel(),
            "q": bh(p).ravel(),
            "E": (p * n_t).ravel(),
            "offset": offsets.ravel().astype(int),
            "overlap": overlaps.ravel().astype(int),
            "strand": np.where(strands.ravel() > 0, "-", "+"),
        },
        columns=columns,
    )


def best_matches(table: pd.DataFrame, motifs: Sequence[str] | None = None) -> pd.DataFrame:
    """Each filter's best target (lowest p), among ``motifs`` when given: one row per filter."""
    if motifs is not None:
        table = table[table["target"].isin(motifs)]
    best = table.loc[table.groupby("filter", sort=False)["p"].idxmin()]
    return best.reset_index(drop=True)


def match_fraction(best: pd.DataFrame, num_filters: int, q_threshold: float = Q_THRESHOLD) -> float:
    """The share of all ``num_filters`` filters (uninformative ones count as no match)
    whose best match has q below ``q_threshold``."""
    return float((best["q"] < q_threshold).sum() / num_filters) if num_filters else 0.0
