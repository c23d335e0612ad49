"""The models the parity suite checks: every model of the one registry, at a few shapes.

A model registered in ``dna_tutorial.registry`` (a spec, a torch class, a Flax class) gets
every parity check at the tutorial's shape and at two others, with no further code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dna_tutorial import registry

#: The tutorial's shape, an odd small one and a long one.
SHAPES: tuple[Mapping[str, Any], ...] = (
    {"seq_len": 8, "num_filters": 32, "kernel_size": 3},
    {"seq_len": 13, "num_filters": 5, "kernel_size": 4},
    {"seq_len": 100, "num_filters": 16, "kernel_size": 7},
)
_SHORT = {"num_filters": "F", "kernel_size": "k"}


@dataclass(frozen=True)
class ModelCase:
    """One model at one shape: ``options`` are the model's keyword options, as sorted pairs."""

    name: str
    seq_len: int = 8
    options: tuple[tuple[str, Any], ...] = (("kernel_size", 3), ("num_filters", 32))

    @property
    def spec(self) -> registry.ModelSpec:
        return registry.get(self.name)

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def has_filters(self) -> bool:
        return self.spec.has_filters

    @property
    def kwargs(self) -> dict:
        """``build_model``'s options, with three classes for a classifier."""
        return {"num_classes": 3, **dict(self.options)}

    def __str__(self) -> str:
        options = dict(self.options)
        shown = [f"L={self.seq_len}"]
        if self.has_filters:
            shown += [f"{short}={options[key]}" for key, short in _SHORT.items() if key in options]
        shown += [f"{key}={value}" for key, value in sorted(options.items()) if key not in _SHORT]
        return f"{self.name} ({', '.join(shown)})"


def cases(names: Iterable[str] | None = None) -> tuple[ModelCase, ...]:
    """Every (model, shape) pair to check, for ``names`` (default: all registered)."""
    out = []
    for name in names or registry.names():
        for example in registry.get(name).examples or SHAPES:
            options = {k: v for k, v in example.items() if k != "seq_len"}
            out.append(ModelCase(name, example["seq_len"], tuple(sorted(options.items()))))
    return tuple(out)


CASES = cases()
TUTORIAL_CASES = tuple(case for case in CASES if case.seq_len == 8)
