"""Saving and restoring a JAX train state mid-training (see :mod:`dna_tutorial.checkpoint`).

A snapshot holds the parameters converted to torch's layout (so the reference loads them
too), the optax state's arrays keyed by their pytree paths, and the step counter. No RNG
state is needed: epoch e's shuffle key is ``fold_in(key, e)``, a function of the seed and
the epoch number alone.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dna_tutorial.checkpoint import (
    CheckpointError,
    Snapshot,
    architecture,
    load_snapshot,
    save_snapshot,
)
from jax_impl import convert
from jax_impl.models import build_model
from jax_impl.train import History, TrainState

_STEP = "step"


def save(directory: str | Path, state: TrainState, history: History, meta: dict) -> Path:
    """Snapshot ``state`` after ``len(history.train)`` epochs."""
    host = jax.device_get(state)
    leaves, _ = jax.tree_util.tree_flatten_with_path(host.opt_state)
    optimizer = {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}
    optimizer[_STEP] = np.asarray(host.step)
    return save_snapshot(
        directory,
        convert.flax_to_torch(meta["model"], host.params),
        optimizer,
        {
            **meta,
            "framework": "jax",
            "epoch": len(history.train),
            "history": vars(history),
        },
    )


def restore(directory: str | Path, state: TrainState) -> tuple[TrainState, History]:
    """``state`` with the newest snapshot's parameters, optimizer state and step."""
    snap = load_snapshot(directory)
    if _STEP not in snap.optimizer:
        raise CheckpointError(
            f"{directory} was written by the {snap.meta.get('framework')} port; resume it "
            "there (its weights load into either port, its optimizer state does not)"
        )
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state.opt_state)
    opt_state = jax.tree_util.tree_unflatten(
        treedef, [jnp.asarray(snap.optimizer[jax.tree_util.keystr(path)]) for path, _ in leaves]
    )
    params = jax.tree.map(jnp.asarray, convert.torch_to_flax(snap.meta["model"], snap.weights))
    state = state.replace(
        params=params, opt_state=opt_state, step=jnp.asarray(snap.optimizer[_STEP], jnp.int32)
    )
    return state, History(**snap.history)


def load_model(snapshot: Snapshot, **model_kwargs):
    """(model, params) that a snapshot describes, from either port's weights."""
    model = build_model(**architecture(snapshot.meta), **model_kwargs)
    weights = convert.torch_to_flax(snapshot.meta["model"], snapshot.weights)
    params = jax.tree.map(jnp.asarray, weights)
    return model, params
