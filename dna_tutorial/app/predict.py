"""``dna-tutorial predict``: a saved model's predictions for the sequences in a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dna_tutorial.app.loaded import load
from dna_tutorial.checkpoint import WEIGHTS, Snapshot, load_snapshot
from dna_tutorial.config import FAST
from dna_tutorial.datafiles import Records, read_records
from dna_tutorial.errors import CheckpointError, DataFileError


def read_for_model(snapshot: Snapshot, data: str | Path, **read_options) -> Records:
    """The sequences of ``data``, refused unless they have the length the model takes."""
    records = read_records(data, need_target=False, **read_options)
    length, expected = len(records.seqs[0]), snapshot.meta["seq_len"]
    if length != expected:
        raise DataFileError(
            f"{records.path}: sequences have length {length}, but the model in "
            f"{snapshot.path} takes {expected}; use --pad-to / --trim-to {expected}"
        )
    return records


def predict_file(
    checkpoint: str | Path,
    data: str | Path,
    framework: str | None = None,
    device: str = "cpu",
    jax_variant: str = FAST,
    **read_options,
) -> tuple[pd.DataFrame, dict]:
    """Predict every sequence of ``data`` with the newest snapshot in ``checkpoint``.

    ``framework`` defaults to the port that wrote the checkpoint. Only the weights and
    ``meta.json`` are read (not the optimizer state). Returns the table (``id``, ``seq``,
    then ``prediction`` for a score, or ``predicted_class`` and one ``p_<class>``
    probability column per class) and the snapshot's metadata.
    """
    snapshot = load_snapshot(checkpoint, optimizer=False)
    meta = snapshot.meta
    records = read_for_model(snapshot, data, **read_options)
    out = load(snapshot, framework or meta["framework"], device, jax_variant).predict(records.seqs)
    if not np.isfinite(out).all():
        raise CheckpointError(
            f"{snapshot.file(WEIGHTS)}: the model's outputs overflow to infinity or NaN on "
            f"{records.path}; the weights are unusable for these sequences"
        )
    table = pd.DataFrame({"id": records.ids, "seq": records.seqs})
    if meta["task"] == "regress":
        table["prediction"] = out[:, 0]
    elif meta["task"] == "multilabel":
        for i, name in enumerate(meta["class_names"]):
            table[f"p_{name}"] = 1.0 / (1.0 + np.exp(-out[:, i]))
    else:
        probs = np.exp(out - out.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        names = meta["class_names"]
        table["predicted_class"] = [names[i] for i in out.argmax(axis=1)]
        for i, name in enumerate(names):
            table[f"p_{name}"] = probs[:, i]
    return table, meta
