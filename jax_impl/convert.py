"""Parameters between torch's layout and Flax's, both ways, without importing torch.

A torch ``state_dict`` is handled as ``{name: numpy array}``, which is also how weights are
stored in safetensors files (:mod:`dna_tutorial.weights`). Three layout differences:

- Conv1d weight (F, 4, k) <-> Conv kernel (k, 4, F); Conv2d (F, 1, 4, k) <-> (4, k, 1, F).
- Linear weight (out, in) <-> Dense kernel (in, out).
- After the conv, torch flattens (N, F, P) channel-major (column f*P + p) while Flax
  flattens (N, P, F) length-major (row p*F + f): the Dense kernel's rows are permuted.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jax_impl.models import MODELS

Arrays = Mapping[str, np.ndarray]


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _expect(state: Arrays, keys: list[str], model: str) -> None:
    missing, extra = set(keys) - set(state), set(state) - set(keys)
    if missing or extra:
        raise ValueError(
            f"state_dict does not fit model {model!r}: missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}"
        )


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")


def torch_to_flax(model: str, state: Arrays) -> dict:
    """A torch-layout ``{name: array}`` of ``model`` -> Flax params (float32 numpy)."""
    _check_model(model)
    if model == "linear":
        _expect(state, ["lin.weight", "lin.bias"], model)
        return {
            "lin": {"kernel": _f32(state["lin.weight"]).T.copy(), "bias": _f32(state["lin.bias"])}
        }
    keys = ["conv_net.0.weight", "conv_net.0.bias", "conv_net.3.weight", "conv_net.3.bias"]
    _expect(state, keys, model)
    conv = _f32(state["conv_net.0.weight"])
    if conv.ndim != (4 if model == "cnn2d" else 3):
        raise ValueError(f"conv weight of {model!r} has shape {conv.shape}")
    kernel = conv.transpose(2, 3, 1, 0) if model == "cnn2d" else conv.transpose(2, 1, 0)
    dense = _f32(state["conv_net.3.weight"])  # (out, F*P), column f*P + p
    filters, out = conv.shape[0], dense.shape[0]
    positions = dense.shape[1] // filters
    dense_kernel = dense.reshape(out, filters, positions).transpose(2, 1, 0)  # (P, F, out)
    return {
        "conv": {"kernel": _f32(kernel), "bias": _f32(state["conv_net.0.bias"])},
        "dense": {
            "kernel": _f32(dense_kernel.reshape(positions * filters, out)),
            "bias": _f32(state["conv_net.3.bias"]),
        },
    }


def flax_to_torch(model: str, params: Mapping) -> dict[str, np.ndarray]:
    """Flax params of ``model`` -> a torch-layout ``{name: array}`` (float32 numpy)."""
    _check_model(model)
    if model == "linear":
        return {
            "lin.weight": _f32(params["lin"]["kernel"]).T.copy(),
            "lin.bias": _f32(params["lin"]["bias"]),
        }
    kernel = _f32(params["conv"]["kernel"])
    conv = kernel.transpose(3, 2, 0, 1) if model == "cnn2d" else kernel.transpose(2, 1, 0)
    dense_kernel = _f32(params["dense"]["kernel"])  # (P*F, out), row p*F + f
    filters, out = conv.shape[0], dense_kernel.shape[1]
    positions = dense_kernel.shape[0] // filters
    dense = dense_kernel.reshape(positions, filters, out).transpose(2, 1, 0)  # (out, F, P)
    return {
        "conv_net.0.weight": _f32(conv),
        "conv_net.0.bias": _f32(params["conv"]["bias"]),
        "conv_net.3.weight": _f32(dense.reshape(out, filters * positions)),
        "conv_net.3.bias": _f32(params["dense"]["bias"]),
    }
