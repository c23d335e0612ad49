"""How far apart the two ports are: one :class:`Comparison` row per quantity, checked
against its tolerance (``parity_tests.tolerances``), the precision both frameworks run at,
and the tables ``dna-tutorial parity`` prints and writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import jax
import numpy as np
import torch

from jax_impl import convert
from parity_tests.registry import ModelCase
from parity_tests.tolerances import (
    Tolerance,
)


@dataclass
class Comparison:
    """How far the torch value is from the JAX value of one quantity."""

    quantity: str
    max_abs: float
    max_rel: float
    tolerance: Tolerance
    passed: bool

    def as_dict(self) -> dict:
        row = asdict(self)
        row["tolerance"] = str(self.tolerance)
        return row

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return (
            f"{self.quantity}: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g}, "
            f"{self.tolerance} -> {verdict}"
        )


def assert_all_pass(rows: Sequence[Comparison]) -> None:
    """Fail with every row that did not pass (for the pytest files)."""
    failed = [str(r) for r in rows if not r.passed]
    assert rows, "the check compared nothing"
    assert not failed, "parity failures:\n" + "\n".join(failed)


def compare(quantity: str, torch_value, jax_value, tol: Tolerance) -> Comparison:
    """Compare two arrays elementwise under ``tol`` (``|a - b| <= tol.allowed(b)``).

    The relative difference of an element is ``|a - b| / max(|a|, |b|)`` (0 where both are
    0); the row reports the largest of each.
    """
    a = np.asarray(torch_value, dtype=np.float64)
    b = np.asarray(jax_value, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(f"{quantity} [shapes {a.shape} vs {b.shape}]", np.inf, np.inf, tol, False)
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    passed = bool(np.all(diff <= tol.allowed(b)))
    return Comparison(quantity, float(diff.max(initial=0)), float(rel.max(initial=0)), tol, passed)


def compare_params(
    quantity: str, case: ModelCase, torch_state, jax_variables, tol: Tolerance
) -> list[Comparison]:
    """One row per tensor: torch's against Flax variables mapped to torch's layout
    (tensors the other side lacks, like BatchNorm's batch counter, are skipped)."""
    as_torch = convert.flax_to_torch(case.name, jax_variables, case.kwargs)
    return [
        compare(f"{quantity} {key}", as_numpy(torch_state[key]), as_torch[key], tol)
        for key in as_torch
        if key in torch_state and np.issubdtype(np.asarray(as_torch[key]).dtype, np.floating)
    ]


def as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Both frameworks at full float32 precision.

    On GPUs both default to TF32 for some float32 work (10-bit mantissas; torch for cuDNN
    convolutions, JAX for every matmul and convolution): this turns it off in torch
    (matmul and cuDNN) and sets JAX's default matmul precision to "highest". No effect on
    a CPU, where neither uses TF32. The benchmark runs under it too, so that its
    torch-vs-JAX ratios compare the same arithmetic."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with jax.default_matmul_precision("highest"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def parity_precision(device: str) -> Iterator[tuple[torch.device, jax.Device]]:
    """Both frameworks at full float32 precision (:func:`full_float32`) on ``device``
    ("cpu" or "cuda"). Yields (torch device, JAX device)."""
    platform = "gpu" if device == "cuda" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("parity on cuda needs a GPU that torch can see")
    try:
        jax_device = jax.devices(platform)[0]
    except RuntimeError as err:
        raise RuntimeError(f"parity on {device} needs a JAX {platform} device") from err
    with full_float32(), jax.default_device(jax_device):
        yield torch.device(device), jax_device


def markdown_table(rows: Sequence[Comparison]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| quantity | max abs diff | max rel diff | tolerance | pass |",
        "|---|---:|---:|---|:---:|",
    ]
    lines += [
        f"| {r.quantity} | {r.max_abs:.3g} | {r.max_rel:.3g} | {r.tolerance} | "
        f"{'yes' if r.passed else '**NO**'} |"
        for r in rows
    ]
    return "\n".join(lines)


def text_table(rows: Sequence[Comparison]) -> str:
    """The rows as aligned plain text, for a terminal."""
    width = max(len(r.quantity) for r in rows)
    head = f"{'quantity':{width}}  {'max abs':>9}  {'max rel':>9}  {'tolerance':22}  pass"
    body = [
        f"{r.quantity:{width}}  {r.max_abs:9.3g}  {r.max_rel:9.3g}  {r.tolerance!s:22}  "
        f"{'yes' if r.passed else 'NO'}"
        for r in rows
    ]
    return "\n".join([head, "-" * len(head), *body])
