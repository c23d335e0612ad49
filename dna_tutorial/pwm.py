"""Filter PWMs as numbers: letter counts -> probabilities, and MEME motif files.

Both ports produce the same thing for step 7, letter counts of shape (F, k, 4) (filter,
position in the filter, letter in ACGT order); everything after that is shared here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dna_tutorial.spec import ALPHABET


def probabilities(counts: np.ndarray, pseudocount: float = 1.0) -> np.ndarray:
    """Letter probabilities per position: float64, same shape as ``counts`` (..., k, 4).

    ``pseudocount`` is added to every cell first (logomaker's default is 1), so a filter
    that never fired gets a uniform matrix rather than a division by zero.
    """
    c = np.asarray(counts, dtype=np.float64) + pseudocount
    return c / c.sum(axis=-1, keepdims=True)


def write_meme(counts: np.ndarray, path: str | Path, names: list[str] | None = None) -> Path:
    """Write filter PWMs (F, k, 4) as a MEME motif file (version 4, ACGT, uniform background).

    Each motif's ``nsites`` is the number of activations behind it; filters that never
    fired are written with a uniform matrix and ``nsites= 0``.
    """
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[-1] != len(ALPHABET):
        raise ValueError(f"counts must have shape (F, k, 4), got {counts.shape}")
    names = names or [f"filter{i}" for i in range(len(counts))]
    lines = [
        "MEME version 4",
        "",
        f"ALPHABET= {ALPHABET}",
        "",
        "strands: +",
        "",
        "Background letter frequencies",
        " ".join(f"{base} 0.25" for base in ALPHABET),
        "",
    ]
    for name, filt in zip(names, counts):
        nsites = int(filt.sum(axis=1).max())
        probs = probabilities(filt, pseudocount=0.0) if nsites else probabilities(filt)
        lines += [
            f"MOTIF {name}",
            f"letter-probability matrix: alength= {len(ALPHABET)} w= {len(filt)} "
            f"nsites= {nsites} E= 0",
            *(" ".join(f"{p:.6f}" for p in row) for row in probs),
            "",
        ]
    path = Path(path)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def read_meme(path: str | Path) -> dict[str, np.ndarray]:
    """Read the letter-probability matrices of a MEME file: {motif name: (w, 4) array}."""
    motifs: dict[str, np.ndarray] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("MOTIF "):
            name = lines[i].split()[1]
            header = lines[i + 1].split()
            width = int(header[header.index("w=") + 1])
            rows = [list(map(float, lines[i + 2 + r].split())) for r in range(width)]
            motifs[name] = np.array(rows)
            i += 2 + width
        else:
            i += 1
    return motifs
