"""Regenerate ``sample_activity.csv``: the small "your own data" file the README trains on.

6,000 random 20-mers whose "activity" is the tutorial's score plus Gaussian noise (sd 1),
like a measured readout of the tutorial's toy rule. One row in five has a soft-masked
(lowercase) stretch, as genome extracts often do; the loader upper-cases it.

Run from the repository root::

    python -m dna_tutorial.examples.make_sample
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dna_tutorial.sequences import decode_codes
from dna_tutorial.synthetic import synthetic_codes
from reference_torch.data import score_seqs

NUM_SEQS = 6000
SEQ_LEN = 20
NOISE_SD = 1.0
SOFT_MASKED_FRACTION = 0.2
SEED = 7
PATH = Path(__file__).with_name("sample_activity.csv")


def soft_mask(seqs: list[str], rng: np.random.Generator) -> list[str]:
    """Lowercase one random stretch (4..10 letters) in a fifth of the sequences."""
    out = []
    for seq in seqs:
        if rng.random() < SOFT_MASKED_FRACTION:
            width = int(rng.integers(4, 11))
            start = int(rng.integers(0, len(seq) - width + 1))
            seq = seq[:start] + seq[start : start + width].lower() + seq[start + width :]
        out.append(seq)
    return out


def write_sample(path: Path = PATH) -> Path:
    """Write the sample CSV (id, seq, activity) to ``path``; the same bytes every time."""
    rng = np.random.default_rng(SEED)
    seqs = decode_codes(synthetic_codes(NUM_SEQS, SEQ_LEN, seed=SEED))
    activity = score_seqs(seqs)["score"].to_numpy(np.float64)
    activity += rng.normal(0.0, NOISE_SD, NUM_SEQS)
    lines = ["id,seq,activity"] + [
        f"frag{i:04d},{seq},{value:.3f}"
        for i, (seq, value) in enumerate(zip(soft_mask(seqs, rng), activity, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_sample()}")
