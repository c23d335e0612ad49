"""Parameters between torch's layout and Flax's, both ways, without importing torch.

A torch ``state_dict`` is handled as ``{name: numpy array}``, which is also how weights are
stored in safetensors files (:mod:`dna_tutorial.weights`). Which tensor goes where, and how
its axes differ, is the model's layout in the registry (:class:`dna_tutorial.registry.Param`):

- Conv1d weight (F, C, k) <-> Conv kernel (k, C, F); Conv2d (F, 1, 4, k) <-> (4, k, 1, F).
- Linear weight (out, in) <-> Dense kernel (in, out).
- After a conv, torch flattens (N, C, P) channel-major (column c*P + p) while Flax
  flattens (N, P, C) length-major (row p*C + c): the next Dense kernel's rows are permuted.
- BatchNorm's running statistics are torch buffers and Flax ``batch_stats``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from dna_tutorial import registry
from dna_tutorial.registry import Param

Arrays = Mapping[str, np.ndarray]


def _as_array(a) -> np.ndarray:
    # float32, as both ports train; a float64 model (the divergence curve's) stays float64
    a = np.asarray(a)
    floating = np.issubdtype(a.dtype, np.floating) and a.dtype != np.float64
    dtype = np.float32 if floating else a.dtype
    return np.asarray(a, dtype=dtype, order="C")


def _flatten_dense_to_flax(w: np.ndarray, channels: int) -> np.ndarray:
    out = w.shape[0]  # (out, C*P), column c*P + p
    positions = w.shape[1] // channels
    return w.reshape(out, channels, positions).transpose(2, 1, 0).reshape(-1, out)


def _flatten_dense_to_torch(k: np.ndarray, channels: int) -> np.ndarray:
    out = k.shape[1]  # (P*C, out), row p*C + c
    positions = k.shape[0] // channels
    return k.reshape(positions, channels, out).transpose(2, 1, 0).reshape(out, -1)


def _layout(model: str, options: Mapping[str, Any] | None) -> tuple[Param, ...]:
    return registry.get(model).params(options)


def _get(tree: Mapping, path: tuple[str, ...]):
    for key in path:
        tree = tree[key]
    return tree


def torch_to_flax(model: str, state: Arrays, options: Mapping[str, Any] | None = None) -> dict:
    """A torch-layout ``{name: array}`` of ``model`` -> Flax variables (numpy arrays):
    ``{"params": ..., "batch_stats": ...}``.

    Raises ``ValueError`` naming the tensors that are missing or unexpected.
    """
    layout = _layout(model, options)
    _expect(state, [p.torch for p in layout], model)
    shapes = {p.torch: np.shape(state[p.torch]) for p in layout}
    variables: dict = {"params": {}, "batch_stats": {}}
    for p in layout:
        if p.layout == "torch_only":
            continue
        w = _as_array(state[p.torch])
        if p.layout == "conv1d":
            w = w.transpose(2, 1, 0)
        elif p.layout == "conv2d":
            w = w.transpose(2, 3, 1, 0)
        elif p.layout == "dense":
            w = w.T
        elif p.layout == "flatten_dense":
            w = _flatten_dense_to_flax(w, shapes[p.channels_from][0])
        node = variables
        for key in p.flax[:-1]:
            node = node.setdefault(key, {})
        node[p.flax[-1]] = np.asarray(w, order="C")
    return variables


def flax_to_torch(
    model: str, variables: Mapping, options: Mapping[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Flax variables of ``model`` (``{"params": ..., "batch_stats": ...}``) -> a
    torch-layout ``{name: array}`` (numpy)."""
    layout = _layout(model, options)
    by_torch = {p.torch: p for p in layout}
    state = {}
    for p in layout:
        if p.layout == "torch_only":
            state[p.torch] = np.zeros((), np.int64)  # BatchNorm's batch counter: unused
            continue
        k = _as_array(_get(variables, p.flax))
        if p.layout == "conv1d":
            k = k.transpose(2, 1, 0)
        elif p.layout == "conv2d":
            k = k.transpose(3, 2, 0, 1)
        elif p.layout == "dense":
            k = k.T
        elif p.layout == "flatten_dense":
            channels = np.shape(_get(variables, by_torch[p.channels_from].flax))[-1]
            k = _flatten_dense_to_torch(k, channels)
        state[p.torch] = np.asarray(k, order="C")
    return state


def _expect(state: Arrays, keys: list[str], model: str) -> None:
    missing, extra = set(keys) - set(state), set(state) - set(keys)
    if missing or extra:
        raise ValueError(
            f"state_dict does not fit model {model!r}: missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}"
        )


def torch_init(params, key: jax.Array):
    """``params`` redrawn as PyTorch initialises its layers: every kernel and its bias
    uniform in +-1/sqrt(fan_in), fan_in being the kernel's inputs per output.

    Flax's defaults (LeCun normal kernels, zero biases) train differently; with torch's
    draws the JAX port's training is statistically comparable to the reference
    (``--jax-init torch``, the default). Other parameters (BatchNorm's) are kept.
    """

    def redraw(tree, key):
        if not isinstance(tree, dict):
            return tree
        if "kernel" in tree:
            kernel = tree["kernel"]
            bound = 1.0 / math.sqrt(math.prod(kernel.shape[:-1]))
            k1, k2 = jax.random.split(key)
            tree = {
                **tree,
                "kernel": jax.random.uniform(k1, kernel.shape, kernel.dtype, -bound, bound),
            }
            if "bias" in tree:
                bias = tree["bias"]
                tree["bias"] = jax.random.uniform(k2, bias.shape, bias.dtype, -bound, bound)
            return tree
        keys = jax.random.split(key, max(len(tree), 1))
        return {name: redraw(sub, k) for (name, sub), k in zip(sorted(tree.items()), keys)}

    return redraw(params, key)
