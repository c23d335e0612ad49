"""Checkpoints on disk: one directory per trained model, one complete snapshot per epoch.

Layout of a run's checkpoint directory (``--checkpoint-dir CKPT``)::

    run.json                    marks the directory as this project's; the run's config and
                                data fingerprint, so that --resume refuses another run
    <framework>/<model>/
        latest                  the name of the newest complete snapshot, replaced atomically
        snapshots.json          the snapshots this run wrote: the only ones it may prune
        epoch-0007/
            weights.safetensors     the parameters in torch's layout: either port loads them
            optimizer.safetensors   the port's optimizer state and RNG state (for --resume)
            meta.json               model, options, task, classes, epoch, seed, history, run
                                    config, versions, framework and device

A snapshot is recorded in ``snapshots.json``, written into a hidden staging directory and
renamed into place; only then does ``latest`` move to it (temp file + rename), and then
the recorded snapshots that neither the new nor the previous ``latest`` names are pruned,
each only if its manifest lists every file and folder in it, unchanged. A copy a user made
(``epoch-best``), a file added beside a snapshot, anything else in the directory is left
alone. A run killed at any moment leaves ``latest`` naming a complete snapshot. Everything
read back is validated (the files against the checksums of the snapshot's manifest), and
every problem is a :class:`~dna_tutorial.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dna_tutorial import memory, provenance, registry
from dna_tutorial.config import FRAMEWORKS, RunConfig, framework_choice
from dna_tutorial.errors import CheckpointError, ConfigError, DataFileError, OutputError
from dna_tutorial.options import declared as options_of
from dna_tutorial.options import value_ok
from dna_tutorial.outputs import (
    FORMAT,
    MANIFEST,
    PROJECT,
    STAGING_MARK,
    atomic_write_json,
    atomic_write_text,
    not_ours,
    read_json,
    read_manifest,
    remove_owned,
    sha256,
    staged_directory,
)
from dna_tutorial.spec import ALPHABET
from dna_tutorial.weights import load_weights, save_weights

WEIGHTS, OPTIMIZER, META, LATEST, RUN, OWNED = (
    "weights.safetensors",
    "optimizer.safetensors",
    "meta.json",
    "latest",
    "run.json",
    "snapshots.json",
)
#: The lock file a run holds in its checkpoint directory.
LOCK = ".dna-tutorial.lock"


@dataclass(frozen=True)
class Snapshot:
    """One loaded snapshot: arrays in torch layout, optimizer arrays and metadata."""

    path: Path
    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    meta: dict

    @property
    def history(self) -> dict:
        return self.meta["history"]

    def file(self, name: str) -> Path:
        return self.path / name


def model_dir(root: str | Path, framework: str, model: str) -> Path:
    return Path(root) / framework / model


def model_meta(model: str, data, cfg, device: str) -> dict:
    """What a snapshot records about its model and run, the same in both ports."""
    return {
        "format": FORMAT,
        "model": model,
        "task": registry.get(model).task,
        "seq_len": data.seq_len,
        "options": cfg.model_options(),
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
        **meta["options"],
        "num_classes": max(len(meta["class_names"]), 1),
    }


# --- Writing ----------------------------------------------------------------------------


def save_snapshot(
    directory: str | Path,
    weights: Mapping[str, np.ndarray],
    optimizer: Mapping[str, np.ndarray],
    meta: Mapping,
) -> Path:
    """Write one complete snapshot for epoch ``meta["epoch"]``, point ``latest`` at it and
    prune the snapshots this run recorded that neither it nor the previous ``latest``
    names (see the module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _latest_name(directory)
    name = f"epoch-{int(meta['epoch']):04d}"
    meta = {**meta, "alphabet": ALPHABET, "versions": provenance.versions()}
    if (directory / name).is_symlink():
        raise CheckpointError(
            f"{directory / name} is a symbolic link where the snapshot of epoch "
            f"{meta['epoch']} goes; move it away"
        )
    owned = _owned(directory)
    _record_owned(directory, [*owned, name])  # before it exists: a kill leaves nothing unowned
    with staged_directory(directory / name, "snapshot", lock=False) as stage:
        save_weights(stage / WEIGHTS, weights, {"model": meta["model"]})
        save_weights(stage / OPTIMIZER, optimizer)
        atomic_write_json(stage / META, meta)
    atomic_write_text(directory / LATEST, name + "\n")
    keep = {name, previous}
    for stage in directory.glob(".epoch-*"):  # stages of a killed run, marked from the start
        if stage.is_dir() and not stage.is_symlink() and (stage / STAGING_MARK).exists():
            shutil.rmtree(stage, ignore_errors=True)
    for old in dict.fromkeys(owned):
        if old not in keep:
            _prune(directory / old)
    _record_owned(directory, [n for n in dict.fromkeys([*owned, name]) if n in keep])
    return directory / name


def _owned(directory: Path) -> list[str]:
    """The snapshots of ``directory`` that this run (or the run it resumes) wrote."""
    path = directory / OWNED
    if not path.exists():
        return []
    record = _read_json(path)
    names = record.get("snapshots") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or record.get("project") != PROJECT
        or not isinstance(names, list)
    ):
        raise CheckpointError(f"{path} was not written by {PROJECT}; move it away first")
    return [n for n in names if isinstance(n, str) and n.startswith("epoch-") and "/" not in n]


def _record_owned(directory: Path, names: list[str]) -> None:
    atomic_write_json(directory / OWNED, {"project": PROJECT, "format": FORMAT, "snapshots": names})


def _prune(snapshot: Path) -> None:
    """Delete ``snapshot`` if it is exactly as this project wrote it. One with a file or
    folder a user added or changed stays, whole, and is no longer this run's to prune."""
    manifest = None if snapshot.is_symlink() else read_manifest(snapshot)
    if (
        manifest is not None
        and manifest.get("kind") == "snapshot"
        and (not_ours(snapshot, manifest) is None)
    ):
        remove_owned(snapshot)  # checks each checksum again as it deletes


def _latest_name(directory: Path) -> str | None:
    pointer = directory / LATEST
    if pointer.exists() and not pointer.is_file():  # a folder, or a FIFO that would block
        raise CheckpointError(f"{pointer} is not a file; move it away")
    try:
        return pointer.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{pointer}: cannot read it ({err})") from None


# --- Reading ----------------------------------------------------------------------------


def latest_snapshot(directory: str | Path) -> Path | None:
    """The newest complete snapshot of a model's checkpoint directory, or None."""
    directory = Path(directory)
    name = _latest_name(directory)
    if name is None:
        return None
    snapshot = directory / name
    if "/" in name or not name.startswith("epoch-") or not (snapshot / META).is_file():
        raise CheckpointError(f"{directory / LATEST} names {name!r}, which is not a snapshot")
    return snapshot


def load_snapshot(directory: str | Path, optimizer: bool = True) -> Snapshot:
    """The newest snapshot of a model's checkpoint directory, validated.

    ``optimizer=False`` skips the optimizer state (prediction needs only the weights).

    Raises
    ------
    CheckpointError
        If there is none (when ``directory`` is a run's root, the message lists the model
        directories inside it), or a file is missing, damaged or inconsistent; the message
        names the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    snapshot = latest_snapshot(directory)
    if snapshot is None:
        if (directory / LATEST).exists():
            raise CheckpointError(f"{directory / LATEST} is empty: it names no snapshot")
        if read_manifest(directory) is not None and (directory / META).is_file():
            raise CheckpointError(
                f"{directory} is one snapshot; pass its model's directory, {directory.parent}"
            )
        inside = sorted(str(p.parent.relative_to(directory)) for p in directory.glob("*/*/latest"))
        hint = f"; it holds {', '.join(inside)}: pass one of those" if inside else ""
        raise CheckpointError(f"{directory} is not a model checkpoint (no '{LATEST}'){hint}")
    _check_sums(snapshot, [META, WEIGHTS, *([OPTIMIZER] if optimizer else [])])
    meta = validate_meta(_read_json(snapshot / META), snapshot / META)
    weights = _arrays(snapshot / WEIGHTS)
    for key, array in weights.items():
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise CheckpointError(f"{snapshot / WEIGHTS}: tensor {key!r} holds NaN or infinity")
    arrays = _arrays(snapshot / OPTIMIZER) if optimizer else {}
    return Snapshot(snapshot, weights, arrays, meta)


def _check_sums(snapshot: Path, names: list[str]) -> None:
    """Refuse a snapshot whose files differ from the checksums its manifest recorded: a
    flipped byte in a valid weights file would otherwise change every prediction."""
    manifest = read_manifest(snapshot)
    if manifest is None or manifest.get("kind") != "snapshot":
        raise CheckpointError(f"{snapshot} holds no {MANIFEST} of a {PROJECT} snapshot")
    reason = not_ours(snapshot, manifest, names)
    if reason:
        raise CheckpointError(f"{reason} (its SHA-256 differs from {snapshot / MANIFEST})")


def _read_json(path: Path):
    try:
        return read_json(path, "checkpoint file")
    except OutputError as err:
        raise CheckpointError(str(err)) from None


def _arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_weights(path)[0]
    except (OSError, ValueError) as err:
        raise CheckpointError(str(err)) from None


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def validate_meta(meta, path: Path) -> dict:
    """``meta`` if it describes a model this version can rebuild, else CheckpointError.

    Checks types and ranges of everything that decides the model's shape (model, task,
    length, options, classes) and the training state (epoch, seed, history)."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: holds a JSON {type(meta).__name__}, not an object")
    problems = []
    for key, kind in (
        ("model", str),
        ("task", str),
        ("framework", str),
        ("alphabet", str),
        ("seq_len", int),
        ("epoch", int),
        ("seed", int),
        ("options", dict),
        ("class_names", list),
        ("history", dict),
    ):
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(f"{key!r} must be a {kind.__name__}, got {value!r}")
    if problems:
        raise CheckpointError(f"{path}: " + "; ".join(problems))
    if meta["alphabet"] != ALPHABET:
        problems.append(f"alphabet {meta['alphabet']!r} is not {ALPHABET!r}")
    if meta["model"] not in registry.MODELS:
        problems.append(f"model {meta['model']!r} is not one of {sorted(registry.MODELS)}")
    elif meta["task"] != registry.get(meta["model"]).task:
        problems.append(f"task {meta['task']!r} does not fit model {meta['model']!r}")
    if meta["framework"] not in FRAMEWORKS:
        problems.append(f"framework {meta['framework']!r} is not one of {FRAMEWORKS}")
    if not _positive_int(meta["seq_len"]):
        problems.append(f"seq_len must be a positive integer, got {meta['seq_len']!r}")
    if meta["epoch"] < 0:
        problems.append(f"epoch must be >= 0, got {meta['epoch']}")
    problems += _option_problems(meta["options"])
    if not all(isinstance(c, str) for c in meta["class_names"]):
        problems.append("class_names must be strings")
    needed = {"classify": 2, "multilabel": 1}.get(meta["task"], 0)
    if len(meta["class_names"]) < needed:
        problems.append(f"a {meta['task']} model needs at least {needed} class_names")
    if not isinstance(meta.get("data", {}), dict):
        problems.append(f"'data' must be an object, got {meta['data']!r}")
    history = meta["history"]
    for key in ("train", "val", "seconds"):
        values = history.get(key)
        if not isinstance(values, list) or len(values) != meta["epoch"]:
            problems.append(f"history[{key!r}] must list one number per epoch")
        elif not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            problems.append(f"history[{key!r}] must hold finite numbers")
    if not isinstance(history.get("stopped_early"), bool):
        problems.append("history['stopped_early'] must be true or false")
    if problems:
        raise CheckpointError(f"{path}: " + "; ".join(problems))
    _check_size(meta, path)
    return meta


#: Options a snapshot may hold besides the run's: the deeper CNN's padding.
_PADDINGS = ("same", "valid")


def _option_problems(options: Mapping) -> list[str]:
    """Each option outside the range ``RunConfig`` declares for it (lists as JSON has
    them, read as tuples)."""
    declared = {f.name: opt for f, opt in options_of(RunConfig)}
    problems = []
    for key, value in options.items():
        if key == "padding":
            if value not in _PADDINGS:
                problems.append(f"option 'padding' must be one of {_PADDINGS}, got {value!r}")
        elif key not in declared:
            problems.append(f"option {key!r} is not one a model takes")
        elif not value_ok(declared[key], registry.hashable({key: value})[key]):
            problems.append(f"option {key!r} must be {declared[key].kind.expects}, got {value!r}")
    return problems


def _check_size(meta: Mapping, path: Path) -> None:
    """Refuse a model that cannot take its own length, or whose one example would not fit
    in memory (a meta.json edited to 10**12 filters)."""
    options = {**meta["options"], "num_classes": max(len(meta["class_names"]), 1)}
    try:
        registry.get(meta["model"]).size_at(meta["seq_len"], options)
        memory.refuse_unless_fits(
            {"one example": memory.training_bytes(meta["model"], meta["seq_len"], options, 1)},
            "the model it describes is too large for this machine",
        )
    except (ValueError, ConfigError) as err:
        raise CheckpointError(f"{path}: {err}") from None


def checked_shapes(
    path: Path, arrays: Mapping[str, np.ndarray], expected: Mapping[str, tuple]
) -> None:
    """Raise CheckpointError naming ``path`` unless ``arrays`` has exactly the tensors of
    ``expected`` (name -> shape), each of that shape."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{path} does not fit the model its meta.json describes: missing {missing}, "
            f"unexpected {extra}"
        )
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != tuple(shape):
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(arrays[name].shape)}, the model "
                f"needs {tuple(shape)}"
            )


# --- The run -------------------------------------------------------------------------------


def fingerprint(path: str | Path | None) -> str:
    """The SHA-256 of a data file ("synthetic" for the built-in data)."""
    if path is None:
        return "synthetic"
    try:
        return sha256(Path(path))
    except OSError as err:
        raise DataFileError(f"{path}: cannot read it ({err.strerror or err})") from None


def _contents(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name != LOCK] if root.is_dir() else []


def check_run(
    root: str | Path,
    run: Mapping,
    resume: bool,
    epochs: int | None = None,
    frameworks: Sequence[str] = (),
) -> None:
    """Refuse to start unless ``root`` may hold this run; does not write anything.

    Without ``resume``, ``root`` must be absent or empty: a directory holding another run
    is refused (with how to resume it), and so is any other non-empty directory. With
    ``resume``, ``root`` must hold a run whose settings equal ``run`` (``epochs`` aside),
    begun in every port of ``frameworks`` (a port it never checkpointed would train from
    scratch under the name of a resume), whose models have trained no more than
    ``epochs`` epochs.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise CheckpointError(f"{root} exists and is not a directory")
    path = root / RUN
    if not resume:
        if path.is_file():
            raise CheckpointError(
                f"{root} already holds a checkpointed run; continue it with --resume {root}, "
                "or choose another --checkpoint-dir"
            )
        if _contents(root):
            raise CheckpointError(
                f"{root} is not empty and is not a {PROJECT} checkpoint directory; choose an "
                "empty or new --checkpoint-dir"
            )
        return
    if not path.is_file():
        raise CheckpointError(f"nothing to resume in {root}: no {RUN}")
    saved = _read_json(path)
    if not isinstance(saved, dict) or saved.get("project") != PROJECT:
        raise CheckpointError(f"{path} was not written by {PROJECT}")
    run = {"project": PROJECT, "format": FORMAT, **json_roundtrip(run)}
    free = ("epochs", "frameworks")
    differ = sorted(
        key for key in set(saved) | set(run) if key not in free and saved.get(key) != run.get(key)
    )
    if differ:
        details = "; ".join(f"{k}: was {saved.get(k)!r}, now {run.get(k)!r}" for k in differ)
        raise CheckpointError(f"cannot resume {root}: the run differs ({details})")
    begun = saved.get("frameworks")
    new = [fw for fw in frameworks if isinstance(begun, list) and fw not in begun]
    if new and isinstance(begun, list):
        hint = framework_choice(begun)
        raise CheckpointError(
            f"cannot resume {root} in {' and '.join(new)}: the run was checkpointed in "
            f"{' and '.join(begun)} only; pass --framework {hint} (its weights load into "
            "either port with predict and explain)"
        )
    if epochs is not None:
        for pointer in sorted(root.glob(f"*/*/{LATEST}")):
            snapshot = latest_snapshot(pointer.parent)
            if snapshot is None:
                raise CheckpointError(f"{pointer} is empty: it names no snapshot")
            done = validate_meta(_read_json(snapshot / META), snapshot / META)
            if done["epoch"] > epochs:
                raise CheckpointError(
                    f"{pointer.parent} has trained {done['epoch']} epochs; --epochs {epochs} "
                    f"is fewer: pass --epochs {done['epoch']} or more to continue"
                )


def record_run(root: str | Path, run: Mapping) -> None:
    """Write ``root/run.json``, which marks ``root`` as this project's checkpoint directory."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / RUN, {"project": PROJECT, "format": FORMAT, **dict(run)})


def json_roundtrip(obj):
    """``obj`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(obj))
