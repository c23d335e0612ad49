"""What an epoch must cost at the least: floating-point operations and bytes moved.

Each measured time is held against the higher of two floors (the one that binds):
``flops / peak`` (the float32 matmul peak measured in the same run) and
``bytes / bandwidth`` (the copy bandwidth measured in the same run).

**FLOPs** count multiply-adds times two, for the matmuls only (bias adds, ReLU and the
loss are a few percent and left out, so the floor is slightly optimistic). Training a
sequence costs the forward pass plus the backward pass: each layer's weight gradient costs
as much as its forward matmul, and every layer but the first also propagates a gradient to
its input (the one-hot input needs none).

**Bytes** count what cannot be avoided however well the kernels are fused, per sequence:
its bases read once per pass that needs them (1 byte each, as int8 codes: the forward pass
and the first layer's weight gradient in training); the conv layer's output, F x P
float32 values, written once in the forward pass and read once in the backward pass (the
ReLU mask and the dense layer's weight gradient need it; inference can stream it into the
dense layer, so it counts nothing there); and every parameter read and written once per
step, shared by the batch's B sequences.

The deeper CNN counts the same way, layer by layer: each conv block's and dense block's
matmul (BatchNorm, pooling and dropout are elementwise and left out), and every block's
output as its activations.
"""

from __future__ import annotations

from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE, KERNEL_SIZE, NUM_FILTERS

FLOAT = 4  # bytes per float32


def _layers(model: str, seq_len: int, num_filters: int, kernel_size: int) -> list[int]:
    """Forward matmul FLOPs of each layer, first layer first."""
    if model == "linear":
        return [2 * 4 * seq_len]
    if model in ("cnn", "cnn2d", "classifier"):
        positions = seq_len - kernel_size + 1
        out = 3 if model == "classifier" else 1
        return [2 * positions * num_filters * kernel_size * 4, 2 * positions * num_filters * out]
    if model == "deep":  # one output; the multi-label head would need the label count
        return [2 * outputs * inputs for outputs, inputs, _ in _deep_matmuls(seq_len)]
    raise ValueError(f"no FLOP count for model {model!r}")


def _deep_matmuls(seq_len: int) -> list[tuple[int, int, int]]:
    """The deeper CNN (default shape, 'same' padding), first layer first: each layer's
    (output values, inputs per output value, output channels or units)."""
    layers, length, channels = [], seq_len, 4
    for filters, width, pool in DEEP_BLOCKS:
        layers.append((length * filters, width * channels, filters))
        length, channels = length // pool, filters
    features = length * channels
    for units in DEEP_DENSE:
        layers.append((units, features, units))
        features = units
    return [*layers, (1, features, 1)]


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


def num_params(
    model: str, seq_len: int, num_filters: int = NUM_FILTERS, kernel_size: int = KERNEL_SIZE
) -> int:
    """Trainable parameters of a model (weights; the deeper CNN's BatchNorm ones too)."""
    if model == "linear":
        return 4 * seq_len + 1
    if model in ("cnn", "cnn2d", "classifier"):
        out = 3 if model == "classifier" else 1
        positions = seq_len - kernel_size + 1
        return num_filters * (4 * kernel_size + 1) + out * (num_filters * positions + 1)
    if model == "deep":
        # hidden layers: weights without a bias, then BatchNorm's scale and shift
        *hidden, (_, head_inputs, _) = _deep_matmuls(seq_len)
        return sum(units * (inputs + 2) for _, inputs, units in hidden) + head_inputs + 1
    raise ValueError(f"no parameter count for model {model!r}")


def _activations(model: str, seq_len: int, num_filters: int, kernel_size: int) -> int:
    if model == "linear":
        return 0
    if model == "deep":
        return sum(outputs for outputs, _, _ in _deep_matmuls(seq_len))
    return num_filters * (seq_len - kernel_size + 1)


def train_bytes(
    model: str,
    seq_len: int,
    batch_size: int,
    num_filters: int = NUM_FILTERS,
    kernel_size: int = KERNEL_SIZE,
) -> float:
    """Bytes one training sequence must move (see the module docstring)."""
    acts = _activations(model, seq_len, num_filters, kernel_size)
    params = num_params(model, seq_len, num_filters, kernel_size)
    return 2 * seq_len + 2 * FLOAT * acts + 2 * FLOAT * params / batch_size


def inference_bytes(
    model: str,
    seq_len: int,
    batch_size: int,
    num_filters: int = NUM_FILTERS,
    kernel_size: int = KERNEL_SIZE,
) -> float:
    """Bytes one predicted sequence must move: its bases, its output, its share of the
    parameters."""
    out = 3 if model == "classifier" else 1
    params = num_params(model, seq_len, num_filters, kernel_size)
    return seq_len + FLOAT * out + FLOAT * params / batch_size
