"""The models the parity suite checks, derived from the two ports' registries.

A model registered in ``reference_torch.models.MODELS`` and ``jax_impl.models.MODELS``
(and mapped by ``jax_impl.convert``) gets every parity check at the tutorial's shape and
at two others, with no further code.
"""

from __future__ import annotations

from dataclasses import dataclass

from dna_tutorial.config import MODEL_TASKS
from jax_impl.models import MODELS as JAX_MODELS
from reference_torch.models import MODELS as TORCH_MODELS

if set(TORCH_MODELS) != set(JAX_MODELS):
    raise ImportError(
        f"the ports register different models: torch {sorted(TORCH_MODELS)}, "
        f"jax {sorted(JAX_MODELS)}"
    )

MODEL_NAMES = tuple(TORCH_MODELS)


@dataclass(frozen=True)
class ModelCase:
    """One model at one shape."""

    name: str
    seq_len: int = 8
    num_filters: int = 32
    kernel_size: int = 3
    num_classes: int = 3

    @property
    def task(self) -> str:
        return MODEL_TASKS[self.name]

    @property
    def has_conv(self) -> bool:
        return self.name != "linear"

    def __str__(self) -> str:
        shape = f"L={self.seq_len}"
        if self.has_conv:
            shape += f", F={self.num_filters}, k={self.kernel_size}"
        return f"{self.name} ({shape})"


#: The tutorial's shape, an odd small one and a long one.
SHAPES = ((8, 32, 3), (13, 5, 4), (100, 16, 7))
CASES = tuple(ModelCase(name, *shape) for name in MODEL_NAMES for shape in SHAPES)
TUTORIAL_CASES = tuple(case for case in CASES if case.seq_len == 8)
