"""The seed study: its ensemble paths against single runs, its statistics against scipy's
own tests, and ``dna-tutorial parity --training --quick`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from dna_tutorial.config import RunConfig
from parity_tests import seed_stats
from parity_tests.seeds import (
    linen_seeds,
    nnx_seeds,
    single_run,
    torch_seeds,
    tutorial_frames,
)
from parity_tests.tolerances import EPOCH, TRAJECTORY


@pytest.fixture(scope="module")
def frames():
    return tutorial_frames()


@pytest.mark.slow
def test_torch_seeds_are_runs_of_the_lesson_bit_for_bit(frames):
    """The in-memory loader draws what ``DataLoader(shuffle=True)`` draws, dropout's
    masks included (the deeper CNN), so every loss and prediction is the same bits."""
    for name, epochs, seeds in (("linear", 2, [1]), ("deep", 1, [3])):
        cfg = RunConfig(epochs=epochs)
        ensemble = torch_seeds(name, cfg, frames, seeds)
        for run in ensemble:
            single = single_run("torch", name, cfg, frames, run.seed)
            assert run.train == single.train and run.val == single.val
            np.testing.assert_array_equal(run.test_pred, single.test_pred)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("port", "name", "tol"), [("jax", "classifier", TRAJECTORY), ("nnx", "linear", EPOCH)]
)
def test_flax_seeds_under_vmap_are_single_runs(frames, port, name, tol):
    """``jax.vmap`` over seeds batches each matmul, which sums in another order: the
    linear model's losses agree to the epoch tolerance, the classifier's to the trajectory
    one (float32 rounding that training amplifies, as ``check_training_run`` describes)."""
    train = linen_seeds if port == "jax" else nnx_seeds
    cfg = RunConfig(epochs=2)
    for run in train(name, cfg, frames, [0, 5]):
        single = single_run(port, name, cfg, frames, run.seed)
        np.testing.assert_allclose(run.train, single.train, rtol=tol.rtol, atol=tol.atol)
        np.testing.assert_allclose(run.val, single.val, rtol=tol.rtol, atol=tol.atol)
        if name == "classifier":  # the same calls on all but a few borderline sequences
            assert np.mean(run.test_pred.argmax(1) == single.test_pred.argmax(1)) > 0.99
        else:
            np.testing.assert_allclose(run.test_pred, single.test_pred, rtol=1e-4, atol=1e-4)


def test_welch_and_tost_are_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 30), rng.normal(0.3, 2, 25)
    diff = seed_stats.welch(a, b)[0]
    ref = stats.ttest_ind(b, a, equal_var=False)
    test = seed_stats.compare_ports(a, b, margin=0.5)
    assert test.p_differ == pytest.approx(ref.pvalue, rel=1e-10)
    assert diff == pytest.approx(np.mean(b) - np.mean(a))
    # TOST: the larger p of "b - a > -margin" and "b - a < margin", each a one-sided Welch test
    low = stats.ttest_ind(b + 0.5, a, equal_var=False, alternative="greater").pvalue
    high = stats.ttest_ind(b - 0.5, a, equal_var=False, alternative="less").pvalue
    assert test.p_equivalent == pytest.approx(max(low, high), rel=1e-10)


def test_verdicts_say_what_the_seeds_can_tell():
    rng = np.random.default_rng(1)
    same = rng.normal(0, 1, (2, 400))
    assert seed_stats.compare_ports(*same, margin=0.5).verdict == seed_stats.EQUIVALENT
    shifted = [rng.normal(0, 1, 400), rng.normal(3, 1, 400)]
    assert seed_stats.compare_ports(*shifted, margin=0.5).verdict == seed_stats.DIFFER
    few = rng.normal(0, 1, (2, 4))
    assert seed_stats.compare_ports(*few, margin=0.5).verdict == seed_stats.CANNOT_TELL
    x = rng.normal(0, 1, 10)
    assert seed_stats.compare_ports(x, x, margin=0.1).verdict == seed_stats.IDENTICAL
    paired = seed_stats.compare_ports(x, x + rng.normal(0, 0.01, 10), 0.5, paired=True)
    assert paired.correlation > 0.99 and paired.paired_sd < 0.02
    # 30 seeds reach a margin of about 0.43 sd; 100 about 0.23
    assert seed_stats.smallest_margin(30) == pytest.approx(0.432, abs=1e-3)


@pytest.mark.slow
def test_the_quick_study_writes_its_results(tmp_path):
    from dna_tutorial.app.cli import main

    assert main(["parity", "--training", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "training-cpu-quick.json").read_text())
    assert set(result["verdicts"]) == {"linear", "classifier"}
    rows = {r["row"] for r in result["models"]["classifier"]["rows"]}
    assert "same weights, same order" in rows and "Flax's own initialisation" in rows
    same = [r for r in result["models"]["linear"]["rows"] if r["row"] == "same weights, same order"]
    assert {r["verdict"] for r in same} <= {"equivalent", "identical"}  # rounding alone
    curves = {(c["model"], c["dtype"]): c for c in result["divergence"]}
    for model in ("linear", "classifier"):
        f32, f64 = curves[model, "float32"], curves[model, "float64"]
        assert len(f32["step_params"]) == 328 and len(f32["epoch_params"]) == 1
        # float64 rounds 2**29 times more finely: its weights stay far closer
        assert max(f64["epoch_params"]) < 1e-9 < max(f32["epoch_params"])
    for suffix in ("-seeds.png", "-divergence.png"):
        assert (tmp_path / f"training-cpu-quick{suffix}").stat().st_size > 10_000
    assert "## Verdicts" in (tmp_path / "training-cpu-quick.md").read_text()


def test_the_study_refuses_a_gpu_in_one_line(tmp_path, capsys):
    from dna_tutorial.app.cli import main

    assert main(["parity", "--training", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "the seed study runs on the CPU only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was written
