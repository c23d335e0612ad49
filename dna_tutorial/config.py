"""One dataclass configures a run of the tutorial, in either port or both."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dna_tutorial import registry, spec
from dna_tutorial.errors import ConfigError

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
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
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
        classification trains the classifier alone.
        """
        if self.models:
            names = self.models
        elif task == "classify":
            names = ("classifier",)
        else:
            names = ("linear", "cnn", "classifier") if has_classes else ("linear", "cnn")
        wrong = [m for m in names if registry.get(m).task == "regress" and task == "classify"]
        if wrong:
            raise ConfigError(f"models {wrong} predict scores; task 'classify' needs 'classifier'")
        if any(registry.get(m).task == "classify" for m in names) and not has_classes:
            raise ConfigError("the classifier needs class labels; this data has none")
        return tuple(names)

    def model_options(self) -> dict:
        """The options every model is built with (each takes those it declares)."""
        return {"num_filters": self.num_filters, "kernel_size": self.kernel_size}

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
