"""Saving and restoring an NNX model and optimizer mid-training (see
:mod:`dna_tutorial.checkpoint`).

A snapshot holds the weights in torch's layout (so every port loads them), the optimizer's
state (optax's arrays, keyed by their paths, and the step count) and the model's random
streams (``nnx.Rngs`` counters: the dropout masks a resumed run draws are those it would
have drawn). Everything read back is checked against the model and optimizer it goes
into; a mismatch is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dna_tutorial.checkpoint import (
    OPTIMIZER,
    WEIGHTS,
    Snapshot,
    architecture,
    checked_shapes,
    load_snapshot,
    save_snapshot,
)
from dna_tutorial.errors import CheckpointError
from nnx_impl import convert
from nnx_impl.models import build_model
from nnx_impl.train import History

#: What the optimizer file holds besides the weights: the optimizer's state and the
#: model's random streams, by their NNX paths.
_OPT, _RNG = "opt.", "rng."


def _is_key(value: jax.Array) -> bool:
    return jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key)


def _array(value: jax.Array) -> np.ndarray:
    """A variable's value as NumPy: a typed random key as its raw key data."""
    return np.asarray(jax.random.key_data(value) if _is_key(value) else value)


def _value(saved: np.ndarray, like: jax.Array) -> jax.Array:
    """``saved`` as the variable ``like`` holds it (a typed key is re-wrapped)."""
    if _is_key(like):
        return jax.random.wrap_key_data(jnp.asarray(saved), impl=jax.random.key_impl(like))
    return jnp.asarray(saved, like.dtype)


def _flat(prefix: str, state) -> dict[str, np.ndarray]:
    return {
        prefix + "/".join(map(str, path)): _array(v[...]) for path, v in nnx.to_flat_state(state)
    }


def _extras(model: nnx.Module, opt: nnx.Optimizer) -> tuple:
    return nnx.state(opt), nnx.state(model, nnx.RngState)


def save(
    directory: str | Path, model: nnx.Module, opt: nnx.Optimizer, history: History, meta: dict
) -> Path:
    """Snapshot ``model`` and ``opt`` after ``len(history.train)`` epochs."""
    opt_state, rngs = _extras(model, opt)
    return save_snapshot(
        directory,
        convert.to_torch(meta["model"], model, meta["options"]),
        {**_flat(_OPT, opt_state), **_flat(_RNG, rngs)},
        {**meta, "framework": "nnx", "epoch": len(history.train), "history": vars(history)},
    )


def _load_weights(snapshot: Snapshot, model: nnx.Module) -> None:
    name, options = snapshot.meta["model"], snapshot.meta["options"]
    expected = {k: v.shape for k, v in convert.to_torch(name, model, options).items()}
    checked_shapes(snapshot.file(WEIGHTS), snapshot.weights, expected)
    convert.from_torch(name, model, snapshot.weights, options)


def restore(directory: str | Path, model: nnx.Module, opt: nnx.Optimizer) -> History:
    """Load the newest snapshot into ``model`` and ``opt``, in place; return its history."""
    snap = load_snapshot(directory)
    path = snap.file(OPTIMIZER)
    if snap.meta["framework"] != "nnx":
        raise CheckpointError(
            f"{snap.path} was written by the {snap.meta['framework']} port; resume it there "
            "(its weights load into every port, its optimizer state does not)"
        )
    _load_weights(snap, model)
    for prefix, state in zip((_OPT, _RNG), _extras(model, opt)):
        expected = {k: v.shape for k, v in _flat(prefix, state).items()}
        saved = {k: v for k, v in snap.optimizer.items() if k.startswith(prefix)}
        checked_shapes(path, saved, expected)
        for key_path, variable in nnx.to_flat_state(state):
            key = prefix + "/".join(map(str, key_path))
            variable[...] = _value(saved[key], variable[...])
        nnx.update(opt if prefix == _OPT else model, state)
    return History(**snap.history)


def load_model(snapshot: Snapshot) -> nnx.Module:
    """The model a snapshot describes, holding its weights (from any port), in eval mode."""
    try:
        model = build_model(**architecture(snapshot.meta))
    except ValueError as err:
        raise CheckpointError(f"{snapshot.path}: cannot build its model: {err}") from None
    _load_weights(snapshot, model)
    model.eval()
    return model
