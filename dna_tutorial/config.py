"""One dataclass configures a run of the tutorial, in either port or both."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dna_tutorial import registry, spec
from dna_tutorial.errors import ConfigError
from dna_tutorial.schedule import SCHEDULES

FRAMEWORKS = ("torch", "jax")
DEVICES = ("cpu", "cuda")
#: How the JAX port computes: ``textbook`` is the lesson as written (``nn.Conv``,
#: ``jax.random.permutation``, float one-hot batches); ``fast`` swaps in the CPU engineering
#: of ``jax_impl.fast`` (the same parameters and arithmetic, tested equal).
JAX_IMPLS = ("fast", "textbook")
#: The largest seed every framework accepts (NumPy's legacy seeding stops at 2**32 - 1).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's numbers. The defaults are the notebook's."""

    frameworks: tuple[str, ...] = FRAMEWORKS
    epochs: int = spec.EPOCHS
    seed: int = spec.SEED
    batch_size: int = spec.BATCH_SIZE
    learning_rate: float = spec.LEARNING_RATE
    patience: int = spec.PATIENCE
    num_filters: int = spec.NUM_FILTERS
    kernel_size: int = spec.KERNEL_SIZE
    #: The deeper CNN (``deep``, ``deep_multilabel``): blocks, dense layers, dropout, and
    #: AdamW's rate, weight decay and warm-up epochs (the tutorial's models use SGD).
    conv_blocks: tuple = spec.DEEP_BLOCKS
    dense_units: tuple = spec.DEEP_DENSE
    dropout: tuple = spec.DEEP_DROPOUT
    adamw_lr: float = spec.ADAMW_LR
    weight_decay: float = spec.WEIGHT_DECAY
    warmup_epochs: int = spec.WARMUP_EPOCHS
    schedule: str = spec.SCHEDULE
    act_thresh: float = spec.ACT_THRESH
    num_logo_seqs: int = spec.NUM_LOGO_SEQS
    device: str = "cpu"
    #: Models to train; empty means the task's defaults (see :meth:`model_names`).
    models: tuple[str, ...] = ()
    #: JAX only: ``"torch"`` initialises like PyTorch's defaults, ``"flax"`` like Flax's.
    weight_init: str = "torch"
    #: JAX only: ``"fast"`` or ``"textbook"`` (see ``JAX_IMPLS``).
    jax_impl: str = "fast"
    #: JAX only: train data-parallel over this many local devices (a mesh; see
    #: ``jax_impl.scale``).
    devices: int = 1
    #: Multi-process data parallelism: torch DDP under ``torchrun``, or a multi-host JAX
    #: mesh after ``jax.distributed.initialize()``; one framework at a time.
    distributed: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not self.frameworks or set(self.frameworks) - set(FRAMEWORKS):
            problems.append(f"frameworks must be drawn from {FRAMEWORKS}, got {self.frameworks}")
        for name in (
            "epochs",
            "batch_size",
            "patience",
            "num_filters",
            "kernel_size",
            "num_logo_seqs",
            "devices",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            problems.append(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        for name in ("learning_rate", "adamw_lr"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if not self.weight_decay >= 0 or not (
            isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0
        ):
            problems.append("weight_decay and warmup_epochs must not be negative")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not all(0 <= p < 1 for p in self.dropout) or len(self.dropout) != 2:
            problems.append(f"dropout must be two rates in [0, 1), got {self.dropout}")
        if not self.conv_blocks or not all(
            len(b) == 3 and all(isinstance(v, int) and v >= 1 for v in b) for b in self.conv_blocks
        ):
            problems.append(
                f"conv_blocks must be (filters, width, pool) triples, got {self.conv_blocks}"
            )
        if self.device not in DEVICES:
            problems.append(f"device must be one of {DEVICES}, got {self.device!r}")
        if set(self.models) - set(registry.MODELS):
            problems.append(
                f"models must be drawn from {sorted(registry.MODELS)}, got {self.models}"
            )
        if self.weight_init not in ("torch", "flax"):
            problems.append(f"weight_init must be 'torch' or 'flax', got {self.weight_init!r}")
        if self.jax_impl not in JAX_IMPLS:
            problems.append(f"jax_impl must be one of {JAX_IMPLS}, got {self.jax_impl!r}")
        if self.distributed and len(self.frameworks) != 1:
            problems.append("distributed runs train one framework: pick torch or jax")
        if isinstance(self.devices, int) and self.devices > 1:
            if self.distributed:
                problems.append("use devices (one process, JAX) or distributed, not both")
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
