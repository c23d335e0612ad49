"""A checkpointed model loaded once, in the port asked for, as plain functions of sequences
and NumPy arrays: what ``predict`` and ``explain`` call, whichever port runs them. The
weights of any port load into every port (one safetensors file, torch's layout)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dna_tutorial import memory
from dna_tutorial.checkpoint import Snapshot
from dna_tutorial.config import FAST


def chunk_rows(snapshot: Snapshot, backward: bool = False) -> int:
    """Examples per model call for the snapshot's model, sized from memory."""
    meta = snapshot.meta
    options = {**meta["options"], "num_classes": max(len(meta["class_names"]), 1)}
    return memory.chunk_rows(meta["model"], meta["seq_len"], options, backward)


@dataclass(frozen=True)
class Loaded:
    """``predict(seqs)``: the model's outputs (N, out). ``attributions(x, output)``: ISM
    and saliency of one-hot ``x`` (N, L, 4) for one output, float32 (N, L, 4) each. Both
    in batches that fit in memory."""

    predict: Callable[[list[str]], np.ndarray]
    attributions: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def load(snapshot: Snapshot, framework: str, device: str, jax_variant: str = FAST) -> Loaded:
    """The snapshot's model in ``framework`` (torch, jax or nnx) on ``device``."""
    rows, grad_rows = chunk_rows(snapshot), chunk_rows(snapshot, backward=True)
    if framework == "torch":
        from reference_torch.checkpoint import load_model
        from reference_torch.evaluate import predict_seqs
        from reference_torch.interpret import ism, saliency
        from reference_torch.run import resolve_device

        dev = resolve_device(device)
        model = load_model(snapshot).to(dev)
        return Loaded(
            lambda seqs: predict_seqs(model, seqs, dev, rows),
            lambda x, k: (ism(model, x, k, dev, rows), saliency(model, x, k, dev, grad_rows)),
        )
    import jax

    if framework == "nnx":
        from nnx_impl import evaluate, interpret
        from nnx_impl.checkpoint import load_model
        from nnx_impl.run import resolve_device

        dev = resolve_device(device)
        with jax.default_device(dev):
            model = load_model(snapshot)

        def predict(seqs: list[str]) -> np.ndarray:
            return evaluate.predict_seqs(model, seqs, rows)

        def explain(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            return (
                np.asarray(interpret.ism(model, x, k, rows)),
                np.asarray(interpret.saliency(model, x, k, grad_rows)),
            )

    else:
        from jax_impl import interpret
        from jax_impl.checkpoint import load_model
        from jax_impl.fast import VARIANTS
        from jax_impl.run import resolve_device

        dev = resolve_device(device)
        with jax.default_device(dev):  # the variables live where the work runs
            model, variables = load_model(snapshot, variant=jax_variant)

        def predict(seqs: list[str]) -> np.ndarray:
            return VARIANTS[jax_variant].predict_seqs(model, variables, seqs, rows)

        def explain(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            x = jax.numpy.asarray(x)
            return (
                np.asarray(interpret.ism(model, variables, x, k, rows)),
                np.asarray(interpret.saliency(model, variables, x, k, grad_rows)),
            )

    def on_device(work):
        def run(*args):
            with jax.default_device(dev):
                return work(*args)

        return run

    return Loaded(lambda seqs: np.asarray(on_device(predict)(seqs)), on_device(explain))
