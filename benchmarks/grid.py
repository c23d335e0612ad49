"""The benchmark's grid: named sweeps of workloads (model, batch size, sequence length,
data size), the full grid and the tiny one ``--quick`` runs."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.options import (
    ENSEMBLES,
    TRAIN_STRATEGIES,
)
from benchmarks.strategies import Workload

BASELINE = ("torch-reference", "conv")  # training ratios are against the tutorial's code
INFER_BASELINE = ("torch-eager", "conv")
#: The batch sizes of the decomposition (tutorial CNN, tutorial data).
DECOMPOSITION_BATCHES = (32, 128, 512)
#: What ``--quick`` runs the deeper CNN with: the baseline, one strategy of each family, and
#: torch.func's ensemble, which skips it (vmap cannot update BatchNorm's statistics in place).
QUICK_DEEP = (
    "torch-reference",  # the baseline every speed-up is against
    "torch-eager",
    "torch-func-ensemble",
    "jax-fused-epoch",
    "nnx-fused-epoch",
    "jax-jit",
)
#: The tutorial's training set: 64% of the 65,536 8-mers (the split is 64/16/20).
TUTORIAL_TRAIN = 41_942


@dataclass(frozen=True)
class Sweep:
    """A named list of workloads (and, optionally, only some strategies for them); ``key``
    names it on the command line (``--sweeps``)."""

    key: str
    name: str
    workloads: tuple[Workload, ...]
    strategies: tuple[str, ...] | None = None


def sweeps(quick: bool) -> list[Sweep]:
    """The full grid, or a tiny one that exercises every strategy in seconds (``quick``)."""
    if quick:
        # each kind meets both models and both data paths (8-mers, synthetic L); the deeper
        # CNN meets one strategy of each family (its compiles are the seconds of --quick)
        small = (("train", "linear", 8), ("train", "cnn", 20), ("infer", "linear", 20),
                 ("infer", "cnn", 8))  # fmt: skip
        deep = (("train", "deep", 20), ("infer", "deep", 20))
        return [
            Sweep("quick", "quick", tuple(Workload(*w, 300, 64) for w in small)),
            Sweep(
                "quick",
                "quick, the deeper CNN",
                tuple(Workload(*w, 300, 64) for w in deep),
                strategies=QUICK_DEEP,
            ),
        ]
    tutorial = TUTORIAL_TRAIN
    single = tuple(s for s in TRAIN_STRATEGIES if s not in ENSEMBLES)
    return [
        Sweep(
            "batch",
            "batch size (tutorial data, L=8)",
            tuple(
                Workload("train", model, 8, tutorial, bs)
                for model in ("cnn", "linear")
                for bs in (32, 128, 512, 2048, 4096)
            ),
        ),
        Sweep(
            "length",
            "sequence length (synthetic task, B=128)",
            tuple(
                Workload("train", "cnn", length, n, 128)
                for length, n in ((100, 8_192), (1000, 2_048))
            ),
        ),
        Sweep(
            "length-large-batch",
            "sequence length, large batches (B=4096)",
            tuple(
                Workload("train", "cnn", length, n, 4096)
                for length, n in ((100, 32_768), (1000, 8_192))
            ),
            strategies=single,
        ),
        Sweep(
            "dataset",
            "dataset size (synthetic task, L=100, B=128)",
            tuple(Workload("train", "cnn", 100, n, 128) for n in (2_048, 131_072)),
            strategies=single,
        ),
        Sweep(
            "deep",
            "the deeper CNN (tutorial data L=8; synthetic task L=200; B=128)",
            tuple(
                Workload("train", "deep", length, n, 128)
                for length, n in ((8, tutorial), (200, 8_192))
            ),
        ),
        Sweep(
            "infer",
            "inference (tutorial data and synthetic task)",
            tuple(
                Workload("infer", "cnn", length, n, bs)
                for length, n in ((8, tutorial), (1000, 8_192))
                for bs in (128, 4096)
            ),
        ),
    ]
