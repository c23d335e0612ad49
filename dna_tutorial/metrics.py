"""Test-set measures, framework-free: R² for scores, AUROC and AUPR for labels.

AUROC and AUPR are computed per label and averaged over the labels (macro), as Koo & Eddy
(2019) report them: AUROC the area under the ROC curve (ties counted half), AUPR the
trapezoidal area under the precision-recall curve from its first threshold, as
``sklearn.metrics.auc(recall, precision)`` gives it.
"""

from __future__ import annotations

import numpy as np


def r2_score(truth: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination, ``1 - SS_res / SS_tot`` (as sklearn's), in float64."""
    truth = np.asarray(truth, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if truth.shape != pred.shape or truth.size < 2:
        raise ValueError(
            f"r2_score needs two arrays of equal length >= 2, got {truth.shape}, {pred.shape}"
        )
    ss_tot = np.sum((truth - truth.mean()) ** 2)
    ss_res = np.sum((truth - pred) ** 2)
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


def _curve(truth: np.ndarray, score: np.ndarray):
    """Cumulative true and false positives at each distinct score, highest first."""
    order = np.argsort(-score, kind="mergesort")
    truth, score = truth[order].astype(np.float64), score[order]
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # the end of each tie
    tps = np.cumsum(truth)[last]
    fps = (last + 1) - tps
    return tps, fps


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of one label: NaN if the label has one value only."""
    truth, score = np.asarray(truth).ravel(), np.asarray(score, np.float64).ravel()
    tps, fps = _curve(truth, score)
    if tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


def pr_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve of one label: NaN without positives."""
    truth, score = np.asarray(truth).ravel(), np.asarray(score, np.float64).ravel()
    tps, fps = _curve(truth, score)
    if tps[-1] == 0:
        return float("nan")
    precision, recall = tps / (tps + fps), tps / tps[-1]
    precision, recall = np.r_[1.0, precision], np.r_[0.0, recall]
    return float(np.trapezoid(precision, recall))


def per_label(metric, truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``metric`` of every label (columns of ``truth`` (N, K) and ``score`` (N, K))."""
    return np.array([metric(truth[:, k], score[:, k]) for k in range(truth.shape[1])])
