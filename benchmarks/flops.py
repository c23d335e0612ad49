"""Floating-point operations per sequence: the floor every measured time is held against.

Counts are multiply-adds times two, for the matmuls only (bias adds, ReLU and the loss are
a few percent of the total and left out, so the floor is slightly optimistic). Training
per sequence is the forward pass plus the backward pass: each layer's weight gradient
costs as much as its forward matmul, and every layer but the first also propagates a
gradient to its input (the one-hot input needs none).
"""

from __future__ import annotations

from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS


def _layers(model: str, seq_len: int, num_filters: int, kernel_size: int) -> list[int]:
    """Forward matmul FLOPs of each layer, first layer first."""
    if model == "linear":
        return [2 * 4 * seq_len]
    if model in ("cnn", "cnn2d", "classifier"):
        positions = seq_len - kernel_size + 1
        out = 3 if model == "classifier" else 1
        return [2 * positions * num_filters * kernel_size * 4, 2 * positions * num_filters * out]
    raise ValueError(f"no FLOP count for model {model!r}")


def inference_flops(
    model: str, seq_len: int, num_filters: int = NUM_FILTERS, kernel_size: int = KERNEL_SIZE
) -> int:
    """Forward FLOPs for one sequence."""
    return sum(_layers(model, seq_len, num_filters, kernel_size))


def train_flops(
    model: str, seq_len: int, num_filters: int = NUM_FILTERS, kernel_size: int = KERNEL_SIZE
) -> int:
    """Forward + backward FLOPs for one sequence in one SGD step."""
    layers = _layers(model, seq_len, num_filters, kernel_size)
    return 2 * layers[0] + 3 * sum(layers[1:])
