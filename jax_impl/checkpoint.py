"""Saving and restoring a JAX train state mid-training (see :mod:`dna_tutorial.checkpoint`).

A snapshot holds the variables converted to torch's layout (so the reference loads them
too), the optax state's arrays keyed by their pytree paths, and the step counter. No RNG
state is needed: epoch e draws from ``fold_in(key, e)``, a function of the seed and the
epoch number alone. Everything read back is checked against the state it goes into; a
mismatch is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dna_tutorial.checkpoint import (
    OPTIMIZER,
    WEIGHTS,
    Snapshot,
    architecture,
    checked_shapes,
    load_snapshot,
    save_snapshot,
)
from dna_tutorial.config import FAST
from dna_tutorial.errors import CheckpointError
from jax_impl import convert, fast
from jax_impl.train import History, TrainState

_STEP = "step"


def _flat(tree) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def save(directory: str | Path, state: TrainState, history: History, meta: dict) -> Path:
    """Snapshot ``state`` after ``len(history.train)`` epochs."""
    host = jax.device_get(state)
    optimizer = {k: np.asarray(v) for k, v in _flat(host.opt_state).items()}
    optimizer[_STEP] = np.asarray(host.step)
    return save_snapshot(
        directory,
        convert.flax_to_torch(meta["model"], host.variables, meta["options"]),
        optimizer,
        {
            **meta,
            "framework": "jax",
            "epoch": len(history.train),
            "history": vars(history),
        },
    )


def _variables(snapshot: Snapshot, expected) -> dict:
    """The snapshot's weights as Flax variables, checked against ``expected``'s shapes (in
    torch's layout, as the file holds them, so both ports word a mismatch alike)."""
    name, options = snapshot.meta["model"], snapshot.meta["options"]
    zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), expected)
    want = convert.flax_to_torch(name, zeros, options)
    checked_shapes(snapshot.file(WEIGHTS), snapshot.weights, {k: v.shape for k, v in want.items()})
    return jax.tree.map(jnp.asarray, convert.torch_to_flax(name, snapshot.weights, options))


def restore(directory: str | Path, state: TrainState) -> tuple[TrainState, History]:
    """``state`` with the newest snapshot's variables, optimizer state and step."""
    snap = load_snapshot(directory)
    path = snap.file(OPTIMIZER)
    if snap.meta["framework"] != "jax":
        raise CheckpointError(
            f"{snap.path} was written by the {snap.meta['framework']} port; resume it there "
            "(its weights load into either port, its optimizer state does not)"
        )
    if _STEP not in snap.optimizer:
        raise CheckpointError(f"{path}: the step counter is missing")
    variables = _variables(snap, state.variables)
    expected = _flat(state.opt_state)
    saved = {k: v for k, v in snap.optimizer.items() if k != _STEP}
    checked_shapes(path, saved, {k: tuple(np.shape(v)) for k, v in expected.items()})
    _, treedef = jax.tree_util.tree_flatten(state.opt_state)
    opt_state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(saved[k]) for k in expected])
    if np.shape(snap.optimizer[_STEP]) != ():
        raise CheckpointError(f"{path}: the step counter must be a scalar")
    state = state.replace(
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        opt_state=opt_state,
        step=jnp.asarray(snap.optimizer[_STEP], jnp.int32),
    )
    return state, History(**snap.history)


def load_model(snapshot: Snapshot, variant: str = FAST, **model_kwargs):
    """(model, variables) that a snapshot describes, from either port's weights.

    ``variant``: ``"fast"`` builds the model with ``jax_impl.fast``'s layers where it has
    them, ``"textbook"`` the lesson's; the variables are the same.
    """
    build = fast.VARIANTS[variant].build_model
    arch = architecture(snapshot.meta)
    try:
        model = build(arch.pop("name"), **arch, **model_kwargs)
        seq_len = snapshot.meta["seq_len"]
        shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, seq_len, 4)))
    except ValueError as err:
        raise CheckpointError(f"{snapshot.path}: cannot build its model: {err}") from None
    shapes.setdefault("batch_stats", {})
    return model, _variables(snapshot, shapes)
