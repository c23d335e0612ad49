"""An NNX model's variables as the Linen port holds them, and back, so that one converter
(``jax_impl.convert``, through the registry's layouts) serves both Flax rungs.

The two rungs hold the same arrays at paths that differ only in spelling: NNX indexes a
list's items (``conv_net/layers/0/kernel``, ``blocks/1/bn/mean``) where Linen names them
(``conv_net/layers_0/kernel``, ``blocks_1/bn/mean``), and NNX types its variables
(``nnx.Param``, ``nnx.BatchStat``) where Linen puts them in collections (``params``,
``batch_stats``). Torch's weights reach an NNX model as torch -> Linen variables
(``torch_to_flax``) -> NNX state, and leave it the other way.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax_impl import convert as linen
from jax_impl.convert import flax_to_torch, torch_to_flax

#: The variables the converter carries: trainable parameters and running statistics.
WEIGHTS = nnx.Any(nnx.Param, nnx.BatchStat)


def linen_names(path: tuple) -> tuple[str, ...]:
    """Linen's names for an NNX path: ``("conv_net", "layers", 0, "kernel")`` is
    ``("conv_net", "layers_0", "kernel")``."""
    names: list[str] = []
    for key in path:
        if isinstance(key, int):
            names[-1] = f"{names[-1]}_{key}"
        else:
            names.append(str(key))
    return tuple(names)


def linen_path(path: tuple, variable: nnx.Variable) -> tuple[str, ...]:
    """The Linen variables' path of an NNX state path: ``("conv_net", "layers", 0,
    "kernel")`` of a ``Param`` is ``("params", "conv_net", "layers_0", "kernel")``."""
    collection = "batch_stats" if isinstance(variable, nnx.BatchStat) else "params"
    return (collection, *linen_names(path))


def _nest(flat: dict[tuple[str, ...], np.ndarray], into: dict) -> dict:
    for path, value in flat.items():
        *parents, leaf = path
        node = into
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return into


def linen_variables(state: nnx.State) -> dict:
    """An NNX state of parameters and statistics (a model's, or gradients) as Linen
    variables (NumPy arrays): ``{"params": ..., "batch_stats": ...}``."""
    flat = {
        linen_path(path, variable): np.asarray(variable[...])
        for path, variable in nnx.to_flat_state(state)
    }
    return _nest(flat, {"params": {}, "batch_stats": {}})


def linen_params(tree: Mapping) -> dict:
    """A nested dict at the model's parameter paths (e.g. optax's moments of an
    ``nnx.Optimizer``, as ``nnx.to_pure_dict`` gives them) in Linen's params layout."""

    def flat(node: Mapping, path: tuple) -> dict:
        out: dict = {}
        for key, value in node.items():
            out.update(
                flat(value, (*path, key))
                if isinstance(value, Mapping)
                else {linen_names((*path, key)): np.asarray(value)}
            )
        return out

    return _nest(flat(tree, ()), {})


def to_linen(model: nnx.Module) -> dict:
    """``model``'s parameters and statistics as Linen variables (NumPy arrays):
    ``{"params": ..., "batch_stats": ...}``."""
    return linen_variables(nnx.state(model, WEIGHTS))


def from_linen(model: nnx.Module, variables: Mapping) -> nnx.Module:
    """Set ``model``'s parameters and statistics from Linen variables, in place; returns
    it. Raises ``KeyError`` naming a path the variables lack."""
    state = nnx.state(model, WEIGHTS)
    for path, variable in nnx.to_flat_state(state):
        node = variables
        for key in linen_path(path, variable):
            node = node[key]
        variable[...] = jnp.asarray(node, variable[...].dtype)
    nnx.update(model, state)
    return model


def to_torch(name: str, model: nnx.Module, options: Mapping | None = None) -> dict:
    """``model``'s weights in torch's layout (``{key: array}``), as checkpoints hold them."""
    return flax_to_torch(name, to_linen(model), options)


def from_torch(name: str, model: nnx.Module, state: Mapping, options: Mapping | None = None):
    """Load torch-layout weights (a ``state_dict`` as arrays) into ``model``, in place."""
    return from_linen(model, torch_to_flax(name, state, options))


def torch_init(model: nnx.Module, key) -> nnx.Module:
    """``model``'s parameters redrawn as PyTorch initialises its layers (the Linen port's
    ``jax_impl.convert.torch_init``, on the same paths with the same key, so both Flax
    rungs start from the same weights), in place; returns it."""
    variables = to_linen(model)
    variables["params"] = linen.torch_init(variables["params"], key)
    return from_linen(model, variables)
