"""The benchmark's strategy names and command-line options, free of torch and JAX imports
so that ``dna-tutorial --help`` stays instant."""

from __future__ import annotations

import argparse
from pathlib import Path

from dna_tutorial.config import DEVICES
from dna_tutorial.options import File, Int, argument_type

#: Training strategies, the tutorial's own code first (see ``benchmarks.strategies``).
TRAIN_STRATEGIES = (
    "torch-reference",
    "torch-eager",
    "torch-compile",
    "torch-compile-step",
    "torch-cuda-graphs",
    "torch-func-ensemble",
    "jax-textbook",
    "jax-jit-step",
    "jax-fused-epoch",
    "jax-vmap-ensemble",
    "nnx-jit-step",
    "nnx-split-step",
    "nnx-fused-epoch",
)
INFER_STRATEGIES = ("torch-eager", "torch-compile", "torch-cuda-graphs", "jax-jit")
#: Strategies that run with the framework's own convolution only: the tutorial's code and
#: the lesson as written are what they are.
#: The NNX port is the lesson as written too: ``nnx.Conv``, no matmul twin.
CONV_ONLY = {"torch-reference", "jax-textbook", "nnx-jit-step", "nnx-split-step", "nnx-fused-epoch"}
GPU_ONLY = {"torch-cuda-graphs"}
#: Strategies that train several models at once; throughput counts model-sequences.
ENSEMBLES = {"torch-func-ensemble", "jax-vmap-ensemble"}
#: Models trained at once by the ensemble strategies.
ENSEMBLE_SIZE = 8
#: The sweeps of the full grid, by the key ``--sweeps`` takes (``benchmarks.grid.sweeps``).
SWEEPS = ("batch", "length", "length-large-batch", "dataset", "deep", "infer")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The options of ``python -m benchmarks``, added to ``parser`` when one is given."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Training and inference throughput of every strategy and kernel, "
        "held against the machine's floors, in one run.",
    )
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every strategy once at tiny sizes (seconds; for CI); files named <device>-quick.*",
    )
    parser.add_argument(
        "--repeats",
        type=argument_type(Int(1, 1000), "count"),
        default=5,
        metavar="N",
        help="timed passes after warm-up (1 to 1000; default 5)",
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=sorted({*TRAIN_STRATEGIES, *INFER_STRATEGIES}),
        help="only these strategies",
    )
    parser.add_argument(
        "--sweeps",
        nargs="+",
        choices=SWEEPS,
        help="only these sweeps of the full grid; the files are then named after them "
        "(e.g. gpu-length.json)",
    )
    parser.add_argument(
        "--out",
        type=argument_type(File(), "path"),
        default=Path("bench-report"),
        help="directory to write <device>.json, <device>.md and <device>-throughput.png "
        "into, beside what it holds (default ./bench-report)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser
