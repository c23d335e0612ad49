"""The one table of models, read by both ports, the converter, the parity suite and the CLI.

A :class:`ModelSpec` says what a model predicts, where each port defines it (as an import
path, so this module imports neither framework) and how each of its tensors is laid out in
torch's ``state_dict`` and in Flax's variables. Registering a spec, a torch ``nn.Module``
and a Flax module is all a new model needs: ``build_model`` in each port, checkpoints,
``predict``, the weight converter and every parity check then take it by name.

Model constructors follow one convention: the first argument is ``seq_len``; the others
are keywords, and each port passes a model only the options its constructor declares (a
model without filters ignores ``num_filters``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What a model predicts: a score (MSE), one class of several (cross-entropy), or several
#: independent yes/no labels (sigmoid, binary cross-entropy).
TASKS = ("regress", "classify", "multilabel")
#: How a tensor's torch layout maps to Flax's (see ``jax_impl.convert``).
LAYOUTS = ("same", "conv1d", "conv2d", "dense", "flatten_dense", "torch_only")


@dataclass(frozen=True)
class Param:
    """One tensor of a model, named in both frameworks.

    ``layout`` says how the arrays differ: ``same``; ``conv1d`` torch (F, C, k) <-> Flax
    (k, C, F); ``conv2d`` torch (F, 1, 4, k) <-> Flax (4, k, 1, F); ``dense`` torch
    (out, in) <-> Flax (in, out); ``flatten_dense`` a dense layer after a flatten, where
    torch's input is channel-major (column c*P + p) and Flax's length-major (row p*C + c),
    ``channels_from`` naming the torch tensor whose first axis is C; ``torch_only`` a torch
    buffer with no Flax twin (BatchNorm's ``num_batches_tracked``), written as zero.
    """

    torch: str  # state_dict key, e.g. "conv_net.0.weight"
    flax: tuple[str, ...]  # path in the Flax variables, e.g. ("params", "conv", "kernel")
    layout: str = "same"
    channels_from: str | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; choose one of {LAYOUTS}")
        if (self.layout == "flatten_dense") != (self.channels_from is not None):
            raise ValueError("channels_from goes with layout 'flatten_dense', and only with it")


@dataclass(frozen=True)
class Size:
    """A model's size at one length, framework-free, per example.

    ``floats``: every value one forward pass makes (each layer's output, and the windows a
    convolution computed as one matmul gathers: ``jax_impl.fast``'s im2col).
    ``params``: its parameters and running statistics."""

    floats: int
    params: int


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    ``torch``, ``jax`` (Flax Linen) and ``nnx`` (Flax NNX) name the classes as
    ``"package.module:Class"`` (or are the classes themselves; ``nnx`` None for a model the
    NNX port lacks). ``layout(options)`` lists the model's tensors for the converter, at
    their Linen paths (NNX holds them at the same paths, spelled its way:
    ``nnx_impl.convert``); ``options`` are the model's keyword options (e.g.
    ``num_filters``), for models whose tensors depend on them. ``has_filters``: a
    first-layer convolution whose filters step 7 inspects (every port's class then has a
    ``conv_activations`` method).
    """

    name: str
    task: str
    torch: str | type
    jax: str | type
    layout: Callable[[Mapping[str, Any]], Sequence[Param]]
    nnx: str | type | None = None
    has_filters: bool = True
    summary: str = ""
    #: The JAX port's CPU-fast twin (``jax_impl.fast``): the same parameters, other layers.
    fast: str | type | None = None
    #: Small configurations (``seq_len`` and options) that tests and the parity suite build
    #: the model at; empty means the tutorial's shape and two others (see parity_tests).
    examples: tuple[Mapping[str, Any], ...] = ()
    #: How a run trains it: ``sgd`` (the notebook's SGD, constant rate) or ``adamw`` (AdamW
    #: with weight decay, warm-up and cosine schedule: the deeper model's).
    optimizer: str = "sgd"
    #: Its size at a length and options (see :class:`Size`); ValueError where it cannot
    #: take that length. What a run's memory is estimated from, before anything is built.
    size: Callable[[int, Mapping[str, Any]], Size] | None = None
    #: The run options its constructors take besides ``seq_len`` and ``num_classes``
    #: (``num_filters``, ...): a run refuses one that none of its models would use.
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {TASKS}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose 'sgd' or 'adamw'")

    def params(self, options: Mapping[str, Any] | None = None) -> tuple[Param, ...]:
        return tuple(self.layout(options or {}))

    def size_at(self, seq_len: int, options: Mapping[str, Any] | None = None) -> Size | None:
        """:class:`Size` at ``seq_len`` (None if the spec does not say); ValueError naming
        the option when the model cannot take sequences that long or short."""
        return None if self.size is None else self.size(seq_len, options or {})


def hashable(options: Mapping[str, Any]) -> dict:
    """``options`` with every list made a tuple (JSON reads tuples back as lists; a Flax
    module's fields, and jit's static arguments, must be hashable)."""

    def freeze(value):
        return tuple(freeze(v) for v in value) if isinstance(value, (list, tuple)) else value

    return {key: freeze(value) for key, value in options.items()}


def resolve(ref: str | type) -> type:
    """The class that ``"package.module:Class"`` names (a class is returned as is)."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the table (replacing a spec of the same name) and return it."""
    MODELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    MODELS.pop(name, None)


def get(name: str) -> ModelSpec:
    """The spec registered under ``name``; ``ValueError`` naming the choices if none."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None


def names(task: str | None = None) -> tuple[str, ...]:
    """Registered model names, in registration order (optionally those of one task)."""
    return tuple(n for n, s in MODELS.items() if task is None or s.task == task)


# --- The tutorial's models -------------------------------------------------------------


def _linear(_: Mapping) -> list[Param]:
    return [
        Param("lin.weight", ("params", "lin", "kernel"), "dense"),
        Param("lin.bias", ("params", "lin", "bias")),
    ]


class TooShort(ValueError):
    """A model that cannot take sequences this short; ``need`` the shortest it takes, when
    one length fixes it."""

    def __init__(self, message: str, need: int | None = None):
        super().__init__(message)
        self.need = need


def _linear_size(seq_len: int, options: Mapping) -> Size:
    return Size(floats=4 * seq_len + 1, params=4 * seq_len + 1)


def _cnn_size(outputs: Callable[[Mapping], int]) -> Callable[[int, Mapping], Size]:
    def size(seq_len: int, options: Mapping) -> Size:
        from dna_tutorial.spec import KERNEL_SIZE, NUM_FILTERS

        filters = options.get("num_filters", NUM_FILTERS)
        width = options.get("kernel_size", KERNEL_SIZE)
        positions = seq_len - width + 1
        if positions < 1:
            raise TooShort(
                f"the sequences have length {seq_len}, shorter than the CNN's filters "
                f"(--kernel-size {width})",
                need=width,
            )
        out = outputs(options)
        conv = filters * positions  # conv, ReLU and flatten: each one (F, P)
        return Size(
            floats=positions * width * 4 + 3 * conv + out,
            params=filters * (4 * width + 1) + (conv + 1) * out,
        )

    return size


CNN_OPTIONS = ("num_filters", "kernel_size")
DEEP_OPTIONS = ("conv_blocks", "dense_units", "dropout")


def _cnn(conv_layout: str) -> Callable[[Mapping], list[Param]]:
    # torch's nn.Sequential numbers its layers conv_net.0..3; Flax's names them layers_0..3.
    def layout(_: Mapping) -> list[Param]:
        return [
            Param("conv_net.0.weight", ("params", "conv_net", "layers_0", "kernel"), conv_layout),
            Param("conv_net.0.bias", ("params", "conv_net", "layers_0", "bias")),
            Param(
                "conv_net.3.weight",
                ("params", "conv_net", "layers_3", "kernel"),
                "flatten_dense",
                channels_from="conv_net.0.weight",
            ),
            Param("conv_net.3.bias", ("params", "conv_net", "layers_3", "bias")),
        ]

    return layout


register(
    ModelSpec(
        "linear",
        "regress",
        "reference_torch.models:DNA_Linear",
        "jax_impl.models:DNA_Linear",
        _linear,
        nnx="nnx_impl.models:DNA_Linear",
        has_filters=False,
        summary="flatten the one-hot sequence, one linear layer (step 3)",
        size=_linear_size,
    )
)
register(
    ModelSpec(
        "cnn",
        "regress",
        "reference_torch.models:DNA_CNN",
        "jax_impl.models:DNA_CNN",
        _cnn("conv1d"),
        nnx="nnx_impl.models:DNA_CNN",
        summary="Conv1d (32 filters of width 3), ReLU, linear layer (step 3)",
        fast="jax_impl.fast:DNA_CNN",
        size=_cnn_size(lambda options: 1),
        options=CNN_OPTIONS,
    )
)
register(
    ModelSpec(
        "cnn2d",
        "regress",
        "reference_torch.models:DNA_CNN2d",
        "jax_impl.models:DNA_CNN2d",
        _cnn("conv2d"),
        nnx="nnx_impl.models:DNA_CNN2d",
        summary="the CNN with a Conv2d spanning the four one-hot rows (footnote 1)",
        size=_cnn_size(lambda options: 1),
        options=CNN_OPTIONS,
    )
)
register(
    ModelSpec(
        "classifier",
        "classify",
        "reference_torch.models:DNA_CNNClassifier",
        "jax_impl.models:DNA_CNNClassifier",
        _cnn("conv1d"),
        nnx="nnx_impl.models:DNA_CNNClassifier",
        summary="the CNN with one logit per class, cross-entropy (footnote 2)",
        fast="jax_impl.fast:DNA_CNNClassifier",
        size=_cnn_size(lambda options: options.get("num_classes", 3)),
        options=CNN_OPTIONS,
    )
)


# --- The second lesson ----------------------------------------------------------------


def _batchnorm(torch_prefix: str, flax_path: tuple[str, ...]) -> list[Param]:
    return [
        Param(f"{torch_prefix}.weight", ("params", *flax_path, "scale")),
        Param(f"{torch_prefix}.bias", ("params", *flax_path, "bias")),
        Param(f"{torch_prefix}.running_mean", ("batch_stats", *flax_path, "mean")),
        Param(f"{torch_prefix}.running_var", ("batch_stats", *flax_path, "var")),
        Param(f"{torch_prefix}.num_batches_tracked", (), "torch_only"),
    ]


def _deep(options: Mapping) -> list[Param]:
    from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE

    blocks = options.get("conv_blocks", DEEP_BLOCKS)
    dense = options.get("dense_units", DEEP_DENSE)
    params = []
    for i in range(len(blocks)):
        params.append(
            Param(f"blocks.{i}.conv.weight", ("params", f"blocks_{i}", "conv", "kernel"), "conv1d")
        )
        params += _batchnorm(f"blocks.{i}.bn", (f"blocks_{i}", "bn"))
    last_conv = f"blocks.{len(blocks) - 1}.conv.weight"
    for j in range(len(dense)):
        kernel = ("params", f"head_{j}", "dense", "kernel")
        if j == 0:
            params.append(Param(f"head.{j}.dense.weight", kernel, "flatten_dense", last_conv))
        else:
            params.append(Param(f"head.{j}.dense.weight", kernel, "dense"))
        params += _batchnorm(f"head.{j}.bn", (f"head_{j}", "bn"))
    if dense:
        params.append(Param("out.weight", ("params", "out", "kernel"), "dense"))
    else:
        params.append(Param("out.weight", ("params", "out", "kernel"), "flatten_dense", last_conv))
    params.append(Param("out.bias", ("params", "out", "bias")))
    return params


def _deep_size(outputs: Callable[[Mapping], int]) -> Callable[[int, Mapping], Size]:
    def size(seq_len: int, options: Mapping) -> Size:
        from dna_tutorial.spec import DEEP_BLOCKS, DEEP_DENSE

        valid = options.get("padding", "same") == "valid"
        blocks = options.get("conv_blocks", DEEP_BLOCKS)
        length, channels, floats, params = seq_len, 4, 0, 0
        for filters, width, pool in blocks:
            conv = length - (width - 1 if valid else 0)
            if conv // pool < 1:
                blocks = " ".join(":".join(map(str, b)) for b in blocks)
                raise TooShort(
                    f"--conv-blocks {blocks} leave no positions of a sequence of {seq_len} "
                    "(use narrower filters, smaller pools or fewer blocks)"
                )
            # windows (im2col), conv, BatchNorm, ReLU; then max-pool and dropout
            floats += conv * width * channels + 3 * conv * filters + 2 * (conv // pool) * filters
            params += width * channels * filters + 4 * filters
            length, channels = conv // pool, filters
        features = length * channels
        for units in options.get("dense_units", DEEP_DENSE):
            floats += 4 * units  # dense, BatchNorm, ReLU, dropout
            params += features * units + 4 * units
            features = units
        out = outputs(options)
        return Size(floats=floats + out, params=params + (features + 1) * out)

    return size


#: Small shapes of the deeper CNN for tests and parity: no dropout (masks from two RNGs
#: cannot match), 'same' and 'valid' padding, one or two blocks and dense layers.
DEEP_EXAMPLES = (
    {"seq_len": 8, "conv_blocks": ((6, 3, 2), (8, 3, 2)), "dense_units": (16,),
     "dropout": (0.0, 0.0)},
    {"seq_len": 30, "conv_blocks": ((5, 4, 3),), "dense_units": (), "dropout": (0.0, 0.0),
     "padding": "valid"},
    {"seq_len": 50, "conv_blocks": ((8, 7, 5), (6, 5, 2)), "dense_units": (12, 10),
     "dropout": (0.0, 0.0)},
)  # fmt: skip

register(
    ModelSpec(
        "deep",
        "regress",
        "reference_torch.models:DNA_DeepCNN",
        "jax_impl.models:DNA_DeepCNN",
        _deep,
        nnx="nnx_impl.models:DNA_DeepCNN",
        summary="blocks of conv, BatchNorm, ReLU, max-pool, dropout; dense layers (lesson 2)",
        examples=DEEP_EXAMPLES,
        optimizer="adamw",
        fast="jax_impl.fast:DNA_DeepCNN",
        size=_deep_size(lambda options: 1),
        options=DEEP_OPTIONS,
    )
)
register(
    ModelSpec(
        "deep_multilabel",
        "multilabel",
        "reference_torch.models:DNA_DeepCNNMultilabel",
        "jax_impl.models:DNA_DeepCNNMultilabel",
        _deep,
        nnx="nnx_impl.models:DNA_DeepCNNMultilabel",
        summary="the deeper CNN with one sigmoid output per label, binary cross-entropy",
        examples=DEEP_EXAMPLES,
        optimizer="adamw",
        fast="jax_impl.fast:DNA_DeepCNNMultilabel",
        size=_deep_size(lambda options: options.get("num_classes", 3)),
        options=DEEP_OPTIONS,
    )
)
