"""What a port hands back after running the tutorial: plain NumPy arrays and numbers.

Each port's ``tutorial.run_tutorial`` returns a :class:`PortResult`. Everything from there
on (metrics, plots, the MEME file, the HTML page) is written once, by the application
layer (``dna_tutorial.app.report``), so the two ports' reports are comparable by
construction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dna_tutorial.metrics import per_label, pr_auc, r2_score, roc_auc


@dataclass
class ModelResult:
    """One trained model: its loss history, epoch times and test-set predictions."""

    name: str
    task: str  # "regress", "classify" or "multilabel"
    train_loss: list[float]
    val_loss: list[float]
    epoch_seconds: list[float]
    stopped_early: bool
    test_truth: np.ndarray  # (N,) float32 scores, (N,) int64 classes, or (N, K) 0/1 labels
    test_pred: np.ndarray  # (N,) float32 predictions, or (N, C) / (N, K) float32 logits

    def metrics(self, num_classes: int = 0) -> dict:
        """Test metrics plus final losses; all deterministic for a given seed."""
        out: dict = {
            "epochs_run": len(self.train_loss),
            "stopped_early": self.stopped_early,
            "final_train_loss": self.train_loss[-1] if self.train_loss else None,
            "final_val_loss": self.val_loss[-1] if self.val_loss else None,
        }
        if self.task == "regress":
            out["test_r2"] = r2_score(self.test_truth, self.test_pred)
            out["test_mse"] = float(np.mean((self.test_truth - self.test_pred) ** 2))
        elif self.task == "classify":
            confusion = self.confusion(num_classes)
            out["test_accuracy"] = float(np.trace(confusion) / confusion.sum())
            out["test_confusion"] = confusion.tolist()
        else:  # multilabel: logits (N, K) against 0/1 labels (N, K), per label then averaged
            auroc = per_label(roc_auc, self.test_truth, self.test_pred)
            aupr = per_label(pr_auc, self.test_truth, self.test_pred)
            out["test_auroc"] = float(np.nanmean(auroc)) if np.isfinite(auroc).any() else None
            out["test_aupr"] = float(np.nanmean(aupr)) if np.isfinite(aupr).any() else None
            out["test_auroc_per_label"] = auroc.tolist()
            out["test_aupr_per_label"] = aupr.tolist()
        return out

    def confusion(self, num_classes: int) -> np.ndarray:
        """Counts of (true class, predicted class) on the test set: int64 (C, C)."""
        pred = self.test_pred.argmax(axis=1)
        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        np.add.at(confusion, (self.test_truth, pred), 1)
        return confusion

    def timing(self) -> dict:
        """Wall-clock seconds: total, first epoch (JAX compiles then) and the steady median."""
        secs = self.epoch_seconds
        steady = statistics.median(secs[1:]) if len(secs) > 1 else (secs[0] if secs else None)
        return {
            "train_seconds": float(sum(secs)),
            "first_epoch_seconds": secs[0] if secs else None,
            "steady_epoch_seconds": steady,
        }


@dataclass
class FilterResult:
    """Step 7 for one conv model: raw weights (F, 4, k) and activation counts (F, k, 4)."""

    model: str
    weights: np.ndarray
    counts: np.ndarray
    num_seqs: int
    act_thresh: float


@dataclass
class Attribution:
    """What one regression model learned, against the scoring rule (synthetic data only):
    motif insertion effects (``dna_tutorial.insertion.insertion_effects``) and ISM and
    saliency maps of a few sequences, float32 (N, L, 4) each."""

    model: str
    insertions: pd.DataFrame
    seqs: list[str]
    ism: np.ndarray
    saliency: np.ndarray


@dataclass
class PortResult:
    """Everything one port computed in one run of the tutorial."""

    framework: str  # "torch" or "jax"
    device: str
    models: dict[str, ModelResult]
    test_seqs: list[str]
    scores: np.ndarray | None = None  # step 1's scores, when the port computed them
    spot_checks: pd.DataFrame | None = None
    filters: list[FilterResult] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    #: False in every process of a distributed run but the first: it writes nothing.
    main_process: bool = True


def headline(metrics: dict) -> tuple[str, float | None]:
    """The one test number a model is known by: R², accuracy or mean AUROC."""
    for key, name in (("test_r2", "R²"), ("test_accuracy", "accuracy"), ("test_auroc", "AUROC")):
        if key in metrics:
            return name, metrics[key]
    raise ValueError(f"no test measure among {sorted(metrics)}")
