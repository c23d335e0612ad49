"""Saving and restoring a torch model mid-training (see :mod:`dna_tutorial.checkpoint`).

A snapshot holds the ``state_dict`` (torch layout, so the JAX port loads it too), the
optimizer's tensors and torch's global RNG state. The RNG state matters: the notebook's
``DataLoader`` draws each epoch's shuffle from it, so restoring it makes a resumed run
shuffle exactly as an uninterrupted one would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dna_tutorial.checkpoint import Snapshot, architecture, load_snapshot, save_snapshot
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
) -> Path:
    """Snapshot ``model`` and ``opt`` after ``len(history.train)`` epochs."""
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
        },
    )


def restore(directory: str | Path, model: nn.Module, opt: torch.optim.Optimizer) -> History:
    """Load the newest snapshot into ``model``, ``opt`` and torch's RNG; return its history."""
    snap = load_snapshot(directory)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in snap.weights.items()})
    device = next(model.parameters()).device
    state: dict = {"state": {}, "param_groups": json.loads(snap.meta["param_groups"])}
    for key, value in snap.optimizer.items():
        if key.startswith("state."):
            _, param, name = key.split(".", 2)
            state["state"].setdefault(int(param), {})[name] = torch.from_numpy(value.copy()).to(
                device
            )
    opt.load_state_dict(state)
    torch.set_rng_state(torch.from_numpy(snap.optimizer[_RNG].copy()))
    return History(**snap.history)


def load_model(snapshot: Snapshot) -> nn.Module:
    """The model a snapshot describes, holding its weights (from either port)."""
    model = build_model(**architecture(snapshot.meta))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in snapshot.weights.items()})
    return model.eval()
