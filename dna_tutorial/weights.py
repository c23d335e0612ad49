"""Model weights in a framework-neutral file: safetensors, in torch's layout.

Both ports read and write the same files. A torch model saves its ``state_dict`` as is;
the JAX port converts its Flax params with ``jax_impl.convert.flax_to_torch`` first (and
back with ``torch_to_flax`` on loading), so one file serves either framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as _save_bytes

from dna_tutorial.outputs import atomic_write_bytes


def save_weights(
    path: str | Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``{name: float32 array}`` (torch layout) and string metadata, atomically."""
    tensors = {
        name: np.asarray(array, order="C") for name, array in arrays.items()
    }  # 0-d stays 0-d
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    return atomic_write_bytes(path, _save_bytes(tensors, metadata=meta))


def load_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a file written by :func:`save_weights`: (arrays, metadata).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            arrays = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
            return arrays, dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
