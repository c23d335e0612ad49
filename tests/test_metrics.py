"""Test-set measures on inputs small enough to check by hand, and against scikit-learn."""

import itertools

import numpy as np
import pytest

from dna_tutorial.metrics import per_label, pr_auc, r2_score, roc_auc
from dna_tutorial.schedule import schedule_factor, warmup_cosine


def test_r2_matches_the_definition():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(truth, truth) == 1.0
    assert r2_score(truth, np.full(4, truth.mean())) == 0.0
    assert r2_score(truth, truth + 1) == pytest.approx(1 - 4 / 5)
    assert np.isnan(r2_score(np.ones(3), np.arange(3.0)))  # constant truth: undefined


def test_auroc_and_aupr_by_hand():
    truth = np.array([1, 0, 1, 0])
    # ranked 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): 3 of 4 pairs ordered right
    assert roc_auc(truth, np.array([0.9, 0.8, 0.7, 0.1])) == 0.75
    assert roc_auc(truth, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # ties count half
    # precision-recall points (0, 1), (.5, 1), (.5, .5), (1, 2/3), (1, .5): trapezoids
    assert pr_auc(truth, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(
        0.5 + 0.5 * (0.5 + 2 / 3) / 2
    )
    assert np.isnan(roc_auc(np.ones(4), np.arange(4.0))) and np.isnan(
        pr_auc(np.zeros(4), np.arange(4.0))
    )


def test_auroc_and_aupr_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, (400, 3))
    score = np.round(rng.normal(size=(400, 3)) + truth, 1)  # with ties
    for k in range(3):
        assert roc_auc(truth[:, k], score[:, k]) == pytest.approx(
            metrics.roc_auc_score(truth[:, k], score[:, k]), abs=1e-12
        )
        precision, recall, _ = metrics.precision_recall_curve(truth[:, k], score[:, k])
        assert pr_auc(truth[:, k], score[:, k]) == pytest.approx(
            metrics.auc(recall, precision), abs=1e-12
        )
    assert per_label(roc_auc, truth, score).shape == (3,)


def test_the_schedule_warms_up_then_decays_to_zero():
    rates = [float(warmup_cosine(e, 1.0, 2, 10)) for e in range(10)]
    assert rates[:2] == [0.5, 1.0] and rates[2] == 1.0
    assert all(a > b for a, b in itertools.pairwise(rates[2:]))
    assert rates[-1] == pytest.approx(0.5 * (1 + np.cos(np.pi * 7 / 8)), rel=1e-5)  # float32
    assert float(warmup_cosine(10, 1.0, 2, 10)) == pytest.approx(0.0, abs=1e-7)
    assert float(warmup_cosine(0, 3.0, 0, 4)) == 3.0  # no warm-up: the peak first
    with pytest.raises(ValueError, match="total >= 1"):
        warmup_cosine(0, 1.0, 0, 0)


def test_the_constant_schedule_warms_up_then_holds_the_peak():
    rates = [float(schedule_factor(e, "constant", 2, 10)) for e in range(10)]
    assert rates == [0.5] + [1.0] * 9
    assert float(schedule_factor(3, "cosine", 2, 10)) == float(warmup_cosine(3, 1.0, 2, 10))
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_factor(0, "step", 0, 10)
