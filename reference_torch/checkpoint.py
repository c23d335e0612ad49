"""Saving and restoring a torch model mid-training (see :mod:`dna_tutorial.checkpoint`).

A snapshot holds the ``state_dict`` (torch layout, so the JAX port loads it too), the
optimizer's tensors and torch's global RNG state. The RNG state matters: the notebook's
``DataLoader`` draws each epoch's shuffle from it, so restoring it makes a resumed run
shuffle exactly as an uninterrupted one would. Everything read back is checked against the
model and optimizer it goes into; a mismatch is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dna_tutorial.checkpoint import (
    META,
    OPTIMIZER,
    WEIGHTS,
    Snapshot,
    architecture,
    checked_shapes,
    load_snapshot,
    save_snapshot,
)
from dna_tutorial.errors import CheckpointError
from reference_torch.models import build_model
from reference_torch.train import History

_RNG = "rng.torch"


def _optimizer_arrays(opt: torch.optim.Optimizer) -> tuple[dict[str, np.ndarray], str]:
    """Optimizer tensors as flat arrays, and the rest of its state_dict as JSON."""
    state = opt.state_dict()
    arrays = {
        f"state.{param}.{name}": value.detach().cpu().numpy()
        for param, buffers in state["state"].items()
        for name, value in buffers.items()
        if isinstance(value, torch.Tensor)
    }
    arrays[_RNG] = torch.get_rng_state().numpy()
    return arrays, json.dumps(state["param_groups"])


def save(
    directory: str | Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    history: History,
    meta: dict,
    scheduler=None,
) -> Path:
    """Snapshot ``model``, ``opt`` and ``scheduler`` after ``len(history.train)`` epochs."""
    arrays, groups = _optimizer_arrays(opt)
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return save_snapshot(
        directory,
        weights,
        arrays,
        {
            **meta,
            "framework": "torch",
            "epoch": len(history.train),
            "history": vars(history),
            "param_groups": groups,
            "scheduler": None if scheduler is None else _jsonable(scheduler.state_dict()),
        },
    )


def _jsonable(state: dict) -> dict:
    # A LambdaLR keeps its functions as None in its state_dict: the rest is numbers.
    return {k: v for k, v in state.items() if k != "lr_lambdas"}


def _load_weights(snap: Snapshot, model: nn.Module) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    checked_shapes(snap.file(WEIGHTS), snap.weights, expected)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in snap.weights.items()})


def restore(
    directory: str | Path, model: nn.Module, opt: torch.optim.Optimizer, scheduler=None
) -> History:
    """Load the newest snapshot into ``model``, ``opt``, ``scheduler`` and torch's RNG;
    return its history."""
    snap = load_snapshot(directory)
    path = snap.file(OPTIMIZER)
    if snap.meta["framework"] != "torch":
        raise CheckpointError(
            f"{snap.path} was written by the {snap.meta['framework']} port; resume it there "
            "(its weights load into either port, its optimizer state does not)"
        )
    if "param_groups" not in snap.meta:
        raise CheckpointError(f"{snap.file(META)}: the optimizer's param_groups are missing")
    _load_weights(snap, model)
    rng = snap.optimizer.get(_RNG)
    fresh = torch.get_rng_state()
    if rng is None or rng.dtype != np.uint8 or rng.shape != tuple(fresh.shape):
        raise CheckpointError(f"{path}: torch's RNG state is missing or damaged")
    params = list(model.parameters())
    device = params[0].device
    state: dict = {"state": {}}
    try:
        state["param_groups"] = json.loads(snap.meta["param_groups"])
        for key, value in snap.optimizer.items():
            if key == _RNG:
                continue
            _, index, name = key.split(".", 2)
            if value.shape not in ((), tuple(params[int(index)].shape)):
                raise ValueError(f"{key} has shape {value.shape}")
            tensor = torch.from_numpy(value.copy()).to(device)
            state["state"].setdefault(int(index), {})[name] = tensor
        opt.load_state_dict(state)
    except (ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} does not fit the optimizer: {err}") from None
    if scheduler is not None:
        saved = snap.meta.get("scheduler")
        if not isinstance(saved, dict) or not isinstance(saved.get("last_epoch"), int):
            raise CheckpointError(
                f"{snap.file('meta.json')}: the learning-rate schedule's state is missing"
            )
        scheduler.load_state_dict({**saved, "lr_lambdas": [None] * len(opt.param_groups)})
    torch.set_rng_state(torch.from_numpy(rng.copy()))
    return History(**snap.history)


def load_model(snapshot: Snapshot) -> nn.Module:
    """The model a snapshot describes, holding its weights (from either port)."""
    try:
        model = build_model(**architecture(snapshot.meta))
    except ValueError as err:
        raise CheckpointError(f"{snapshot.path}: cannot build its model: {err}") from None
    _load_weights(snapshot, model)
    return model.eval()
