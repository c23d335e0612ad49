"""One dataclass configures a run of the tutorial, in either port or both."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dna_tutorial import spec

FRAMEWORKS = ("torch", "jax")
TASKS = ("regress", "classify")
DEVICES = ("cpu", "cuda")
#: What each registered model predicts: a score (MSE loss) or a class (cross-entropy).
MODEL_TASKS = {"linear": "regress", "cnn": "regress", "cnn2d": "regress", "classifier": "classify"}


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
    #: JAX only: train data-parallel over this many local devices (a mesh; see
    #: ``jax_impl.distributed``).
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
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {DEVICES}, got {self.device!r}")
        if set(self.models) - set(MODEL_TASKS):
            problems.append(f"models must be drawn from {sorted(MODEL_TASKS)}, got {self.models}")
        if self.weight_init not in ("torch", "flax"):
            problems.append(f"weight_init must be 'torch' or 'flax', got {self.weight_init!r}")
        if self.distributed and len(self.frameworks) != 1:
            problems.append("distributed runs train one framework: pick torch or jax")
        if isinstance(self.devices, int) and self.devices > 1 and self.distributed:
            problems.append("use devices (one process, JAX) or distributed, not both")
        if problems:
            raise ValueError("invalid run configuration: " + "; ".join(problems))

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
        wrong = [m for m in names if MODEL_TASKS[m] == "regress" and task == "classify"]
        if wrong:
            raise ValueError(f"models {wrong} predict scores; task 'classify' needs 'classifier'")
        if "classifier" in names and not has_classes:
            raise ValueError("the classifier needs class labels; this data has none")
        return tuple(names)

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
