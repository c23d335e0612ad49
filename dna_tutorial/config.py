"""One dataclass configures a run of the tutorial, in either port or both."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dna_tutorial import registry, spec
from dna_tutorial.errors import ConfigError
from dna_tutorial.options import (
    MAX_DEVICES,
    MAX_EPOCHS,
    MAX_SEED,
    Block,
    Choice,
    Int,
    Real,
    Switch,
    option,
    out_of_range,
)
from dna_tutorial.schedule import SCHEDULES

#: The ports: PyTorch (objects), Flax Linen (pure functions: ``jax``) and Flax NNX (objects
#: on JAX), each the same lesson.
FRAMEWORKS = ("torch", "jax", "nnx")
#: The package each port lives in (its lesson files, ``run``, ``checkpoint``).
PACKAGES = {"torch": "reference_torch", "jax": "jax_impl", "nnx": "nnx_impl"}
#: What each port is called where people read it (reports, figures).
PORT_NAMES = {"torch": "PyTorch", "jax": "Flax Linen", "nnx": "Flax NNX"}
#: What ``--framework`` takes besides one port: ``all`` (the default) and ``both``, the
#: PyTorch and Linen pair of the first two rungs.
FRAMEWORK_CHOICES = {"all": FRAMEWORKS, "both": ("torch", "jax")}
DEVICES = ("cpu", "cuda")
#: How the JAX port computes (``--jax-impl``): ``textbook`` is the lesson as written
#: (``nn.Conv``, ``jax.random.permutation``, float one-hot batches); ``fast`` swaps in the
#: CPU engineering of ``jax_impl.fast`` (the same parameters and arithmetic, tested equal).
FAST, TEXTBOOK = "fast", "textbook"
JAX_VARIANTS = (FAST, TEXTBOOK)
#: The JAX port's initialisations: like PyTorch's defaults, or Flax's own.
WEIGHT_INITS = ("torch", "flax")

_TRAIN, _MODEL, _DEEP, _SCALE = (
    "training",
    "models",
    "the deeper CNN (--models deep or deep_multilabel)",
    "scaling out",
)


def _takes(option: str) -> dict:
    """The models whose constructors take ``option`` (see ``ModelSpec.options``)."""
    users = [name for name, spec in registry.MODELS.items() if option in spec.options]
    return {"used_by": lambda spec: option in spec.options, "users": ", ".join(users)}


_SGD = {"used_by": lambda spec: spec.optimizer == "sgd", "users": "the SGD-trained models"}
_ADAMW = {"used_by": lambda spec: spec.optimizer == "adamw", "users": "deep, deep_multilabel"}
_FILTERS = {"used_by": lambda spec: spec.has_filters, "users": "models with filters"}


def _frameworks(choice: str) -> tuple[str, ...]:
    return FRAMEWORK_CHOICES.get(choice, (choice,))


def framework_choice(frameworks) -> str:
    """The ``--framework`` value that runs ``frameworks`` (their first, if none does)."""
    named = {tuple(v): k for k, v in FRAMEWORK_CHOICES.items()}
    ports = tuple(fw for fw in FRAMEWORKS if fw in frameworks)
    return ports[0] if len(ports) == 1 else named.get(ports, ports[0])


def _some_frameworks(value) -> bool:
    return isinstance(value, tuple) and bool(value) and set(value) <= set(FRAMEWORKS)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's numbers. The defaults are the notebook's.

    Each field is declared with its command-line flag and range (:mod:`dna_tutorial.options`):
    ``dna-tutorial run`` builds its options from these declarations."""

    frameworks: tuple[str, ...] = option(
        FRAMEWORKS,
        "which port to run: torch, jax (Flax Linen), nnx (Flax NNX), both (torch and jax) or "
        "all (the default, side by side)",
        Choice((*FRAMEWORKS, *FRAMEWORK_CHOICES)),
        flag="--framework",
        to_field=_frameworks,
        check=_some_frameworks,
    )
    epochs: int = option(
        spec.EPOCHS, f"training epochs per model (default {spec.EPOCHS})", Int(1, MAX_EPOCHS),
        group=_TRAIN,
    )  # fmt: skip
    seed: int = option(spec.SEED, f"seed (default {spec.SEED})", Int(0, MAX_SEED), group=_TRAIN)
    batch_size: int = option(
        spec.BATCH_SIZE, f"training batch size (default {spec.BATCH_SIZE})", Int(), group=_TRAIN
    )
    learning_rate: float = option(
        spec.LEARNING_RATE,
        f"SGD learning rate (default {spec.LEARNING_RATE})",
        Real(0, above=True),
        flag="--lr",
        group=_TRAIN,
        **_SGD,
    )
    patience: int = option(
        spec.PATIENCE,
        f"stop after this many epochs without a better validation loss (default {spec.PATIENCE})",
        Int(1, MAX_EPOCHS),
        group=_TRAIN,
    )
    num_filters: int = option(
        spec.NUM_FILTERS,
        f"the CNNs' first-layer filters (default {spec.NUM_FILTERS})",
        Int(),
        group=_MODEL,
        **_takes("num_filters"),
    )
    kernel_size: int = option(
        spec.KERNEL_SIZE,
        f"the CNNs' filter width (default {spec.KERNEL_SIZE})",
        Int(),
        group=_MODEL,
        **_takes("kernel_size"),
    )
    conv_blocks: tuple = option(
        spec.DEEP_BLOCKS,
        "convolution blocks as filters:width:pool, e.g. 32:7:2 64:5:2 (the default)",
        Block(),
        nargs="+",
        metavar="F:W:P",
        group=_DEEP,
        **_takes("conv_blocks"),
    )
    dense_units: tuple = option(
        spec.DEEP_DENSE,
        f"hidden dense layers (default {' '.join(map(str, spec.DEEP_DENSE))}; none: give the "
        "flag alone)",
        Int(),
        nargs="*",
        metavar="N",
        group=_DEEP,
        **_takes("dense_units"),
    )
    dropout: tuple = option(
        spec.DEEP_DROPOUT,
        f"dropout after each block and each dense layer (default {spec.DEEP_DROPOUT})",
        Real(0, 1, below=True),
        nargs=2,
        metavar=("CONV", "DENSE"),
        group=_DEEP,
        **_takes("dropout"),
    )
    adamw_lr: float = option(
        spec.ADAMW_LR,
        f"AdamW's peak learning rate (default {spec.ADAMW_LR})",
        Real(0, above=True),
        group=_DEEP,
        **_ADAMW,
    )
    weight_decay: float = option(
        spec.WEIGHT_DECAY,
        f"AdamW's decoupled weight decay (default {spec.WEIGHT_DECAY}, torch's)",
        Real(0),
        group=_DEEP,
        **_ADAMW,
    )
    warmup_epochs: int = option(
        spec.WARMUP_EPOCHS,
        f"epochs of linear warm-up before the cosine decay (default {spec.WARMUP_EPOCHS})",
        Int(0, MAX_EPOCHS),
        group=_DEEP,
        **_ADAMW,
    )
    schedule: str = option(
        spec.SCHEDULE,
        f"after the warm-up: cosine decay to 0 or the constant peak rate (default {spec.SCHEDULE})",
        Choice(SCHEDULES),
        group=_DEEP,
        **_ADAMW,
    )
    act_thresh: float = option(
        spec.ACT_THRESH,
        "a filter position counts towards its logo where its activation exceeds this "
        f"(default {spec.ACT_THRESH})",
        Real(),
        group=_MODEL,
        **_FILTERS,
    )
    num_logo_seqs: int = option(
        spec.NUM_LOGO_SEQS,
        f"sequences drawn for the filter logos (default {spec.NUM_LOGO_SEQS:,})",
        Int(1, 10_000_000),
        group=_MODEL,
        **_FILTERS,
    )
    device: str = option("cpu", "where to train (default cpu)", Choice(DEVICES))
    #: Models to train; empty means the task's defaults (see :meth:`model_names`).
    models: tuple[str, ...] = option(
        (),
        "models to train (default: linear, cnn and classifier)",
        Choice(lambda: registry.names()),
        nargs="+",
        group=_MODEL,
        check=lambda v: isinstance(v, tuple) and set(v) <= set(registry.MODELS),
    )
    weight_init: str = option(
        "torch",
        "JAX weight init: like PyTorch's defaults (default) or Flax's",
        Choice(WEIGHT_INITS),
        flag="--jax-init",
        ports=("jax", "nnx"),
    )
    jax_variant: str = option(
        FAST,
        "JAX: the lesson as written ('textbook': nn.Conv, jax.random.permutation) or with the "
        "CPU engineering of jax_impl/fast.py ('fast', default; the same maths)",
        Choice(JAX_VARIANTS),
        flag="--jax-impl",
        ports=("jax",),
    )
    devices: int = option(
        1,
        "JAX: train data-parallel over N local devices (on CPU, N virtual devices)",
        Int(1, MAX_DEVICES),
        metavar="N",
        group=_SCALE,
        ports=("jax",),
    )
    distributed: bool = option(
        False,
        "one process per device: torch DDP under torchrun, or a multi-host JAX mesh "
        "(jax.distributed); pick one --framework",
        Switch(),
        group=_SCALE,
    )

    def __post_init__(self) -> None:
        problems = out_of_range(self)
        if self.distributed and len(self.frameworks) != 1:
            problems.append("distributed runs train one framework: pick torch or jax")
        if self.distributed and self.frameworks == ("nnx",):
            problems.append("the NNX port does not train distributed yet: pick torch or jax")
        if isinstance(self.devices, int) and self.devices > 1:
            if self.distributed:
                problems.append("use devices (one process, JAX) or distributed, not both")
            elif "torch" in self.frameworks or "nnx" in self.frameworks:
                problems.append(
                    "devices (--devices) trains the JAX (Linen) port data-parallel in one "
                    "process; torch does that with --distributed under torchrun, and the NNX "
                    "port not yet: use --framework jax"
                )
            elif isinstance(self.batch_size, int) and self.batch_size % self.devices:
                problems.append(
                    f"batch size {self.batch_size} does not split evenly over {self.devices} "
                    f"devices; use a multiple of {self.devices}"
                )
        if problems:
            raise ConfigError("invalid run configuration: " + "; ".join(problems))

    def model_names(self, task: str, has_classes: bool) -> tuple[str, ...]:
        """The models a run trains: the explicit list, else the task's defaults.

        Regression trains the linear model and the CNN (steps 3-6), plus the footnote-2
        classifier when class labels exist (the synthetic data's score groups);
        classification trains the classifier alone; a multi-label task the deeper CNN.
        """
        defaults = {
            "regress": ("linear", "cnn", "classifier") if has_classes else ("linear", "cnn"),
            "classify": ("classifier",),
            "multilabel": ("deep_multilabel",),
        }
        names = self.models or defaults[task]
        fits = {
            "regress": ("regress", "classify") if has_classes else ("regress",),
            "classify": ("classify",),
            "multilabel": ("multilabel",),
        }[task]
        missing = [m for m in names if registry.get(m).nnx is None]
        if "nnx" in self.frameworks and missing:
            raise ConfigError(
                f"--models {' '.join(missing)}: the Flax NNX port has no such model; "
                "use --framework both (torch and jax)"
            )
        wrong = [m for m in names if registry.get(m).task not in fits]
        if wrong:
            want = " or ".join(registry.names(t)[0] for t in fits)
            raise ConfigError(
                f"models {wrong} do not fit this {task} data (they predict "
                f"{', '.join(sorted({registry.get(m).task for m in wrong}))}); try {want}"
            )
        return tuple(names)

    def model_options(self) -> dict:
        """The options every model is built with (each takes those it declares)."""
        return {
            "num_filters": self.num_filters,
            "kernel_size": self.kernel_size,
            "conv_blocks": self.conv_blocks,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
        }

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
