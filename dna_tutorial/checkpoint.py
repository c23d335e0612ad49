"""Checkpoints on disk: one directory per trained model, one complete snapshot per epoch.

Layout of a model's checkpoint directory (``CKPT/<framework>/<model>/``)::

    latest                  the name of the newest complete snapshot, replaced atomically
    epoch-0007/
        weights.safetensors     the parameters in torch's layout: either port loads them
        optimizer.safetensors   the port's own optimizer state and RNG state (for --resume)
        meta.json               model config, alphabet, task, classes, epoch, seed, history,
                                run config, versions, framework and device

A snapshot is written into a hidden staging directory and renamed into place; only then
does ``latest`` move to it (temp file + rename), and older snapshots are pruned. A run
killed at any moment leaves ``latest`` naming a complete snapshot. The run's root also
holds ``run.json`` (config and data fingerprint), so that ``--resume`` can refuse to
continue a different run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dna_tutorial import provenance
from dna_tutorial.config import MODEL_TASKS, RunConfig
from dna_tutorial.dataset import TutorialData
from dna_tutorial.files import atomic_write_json, atomic_write_text, staged_directory
from dna_tutorial.spec import ALPHABET
from dna_tutorial.weights import load_weights, save_weights

WEIGHTS, OPTIMIZER, META, LATEST, RUN = (
    "weights.safetensors",
    "optimizer.safetensors",
    "meta.json",
    "latest",
    "run.json",
)
KEEP = 2  # snapshots kept per model: the newest, and one before it


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete or belongs to another run."""


@dataclass(frozen=True)
class Snapshot:
    """One loaded snapshot: arrays in torch layout, optimizer arrays and metadata."""

    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    meta: dict

    @property
    def history(self) -> dict:
        return self.meta["history"]


def model_dir(root: str | Path, framework: str, model: str) -> Path:
    return Path(root) / framework / model


def model_meta(model: str, data: TutorialData, cfg: RunConfig, device: str) -> dict:
    """What a snapshot records about its model and run, the same in both ports."""
    return {
        "model": model,
        "task": MODEL_TASKS[model],
        "seq_len": data.seq_len,
        "num_filters": cfg.num_filters,
        "kernel_size": cfg.kernel_size,
        "class_names": list(data.class_names),
        "seed": cfg.seed,
        "device": device,
        "config": cfg.to_dict(),
        "data": data.describe(),
    }


def architecture(meta: Mapping) -> dict:
    """``build_model``'s arguments for the model a snapshot's meta describes (either port).

    Regression data has no class names; the models still take ``num_classes >= 1``.
    """
    return {
        "name": meta["model"],
        "seq_len": meta["seq_len"],
        "num_filters": meta["num_filters"],
        "kernel_size": meta["kernel_size"],
        "num_classes": max(len(meta["class_names"]), 1),
    }


def save_snapshot(
    directory: str | Path,
    weights: Mapping[str, np.ndarray],
    optimizer: Mapping[str, np.ndarray],
    meta: Mapping,
) -> Path:
    """Write one complete snapshot for epoch ``meta["epoch"]`` and point ``latest`` at it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{int(meta['epoch']):04d}"
    meta = {**meta, "alphabet": ALPHABET, "versions": provenance.versions()}
    with staged_directory(directory / name) as stage:
        save_weights(stage / WEIGHTS, weights, {"model": meta["model"]})
        save_weights(stage / OPTIMIZER, optimizer)
        atomic_write_json(stage / META, meta)
    atomic_write_text(directory / LATEST, name + "\n")
    for old in sorted(directory.glob("epoch-*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return directory / name


def latest_snapshot(directory: str | Path) -> Path | None:
    """The newest complete snapshot of a model's checkpoint directory, or None."""
    pointer = Path(directory) / LATEST
    if not pointer.is_file():
        return None
    snapshot = Path(directory) / pointer.read_text().strip()
    if not (snapshot / META).is_file():
        raise CheckpointError(f"{pointer} names {snapshot.name}, which is incomplete")
    return snapshot


def load_snapshot(directory: str | Path) -> Snapshot:
    """The newest snapshot of a model's checkpoint directory.

    Raises
    ------
    CheckpointError
        If there is none; when ``directory`` is a run's root, the message lists the
        model directories inside it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    snapshot = latest_snapshot(directory)
    if snapshot is None:
        inside = sorted(str(p.parent.relative_to(directory)) for p in directory.glob("*/*/latest"))
        hint = f"; it holds {', '.join(inside)}: pass one of those" if inside else ""
        raise CheckpointError(f"{directory} is not a model checkpoint (no '{LATEST}'){hint}")
    weights, _ = load_weights(snapshot / WEIGHTS)
    optimizer, _ = load_weights(snapshot / OPTIMIZER)
    meta = json.loads((snapshot / META).read_text())
    if meta.get("alphabet") != ALPHABET:
        raise CheckpointError(f"{snapshot} was written for alphabet {meta.get('alphabet')}")
    return Snapshot(weights, optimizer, meta)


def fingerprint(path: str | Path | None) -> str:
    """The SHA-256 of a data file ("synthetic" for the built-in data)."""
    if path is None:
        return "synthetic"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_run(root: str | Path, run: Mapping, resume: bool, write: bool = True) -> None:
    """Record the run in ``root/run.json``; on resume, refuse a run that differs.

    ``run`` holds the config and the data fingerprint (the caller leaves out what may
    change on resume). ``write=False`` only checks (the other processes of a
    distributed run).
    """
    root = Path(root)
    path = root / RUN
    run = json.loads(json.dumps(dict(run)))  # as it reads back: tuples become lists
    if resume:
        if not path.is_file():
            raise CheckpointError(f"nothing to resume in {root}: no {RUN}")
        saved = json.loads(path.read_text())
        differ = sorted(
            key
            for key in set(saved) | set(run)
            if key != "epochs" and saved.get(key) != run.get(key)
        )
        if differ:
            details = "; ".join(f"{k}: was {saved.get(k)!r}, now {run.get(k)!r}" for k in differ)
            raise CheckpointError(f"cannot resume {root}: the run differs ({details})")
    if write:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, run)
