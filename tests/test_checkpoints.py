"""Checkpoints: resumed == uninterrupted, atomic snapshots, cross-framework loading,
prediction from a checkpoint, and runs that refuse to resume what they did not start."""

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dna_tutorial import checkpoint
from dna_tutorial.app.cli import main
from dna_tutorial.app.pipeline import run_port
from dna_tutorial.app.predict import predict_file
from dna_tutorial.checkpoint import CheckpointError, latest_snapshot, load_snapshot
from dna_tutorial.config import FRAMEWORKS, PACKAGES, RunConfig
from dna_tutorial.datafiles import load_data
from dna_tutorial.dataset import planted_task, synthetic_task

SAMPLE = (
    Path(__file__).resolve().parent.parent / "dna_tutorial" / "examples" / "sample_activity.csv"
)


@pytest.fixture(scope="module")
def sample():
    return load_data(SAMPLE, target_col="activity")


def _train(framework, data, epochs, ckpt, resume=False, models=("linear", "cnn")):
    cfg = RunConfig(frameworks=(framework,), epochs=epochs, models=models, batch_size=64)
    return run_port(framework, data, cfg, progress=False, checkpoints=ckpt, resume=resume)


#: What each port's Adam(W) state holds: first and second moments.
ADAM_MOMENTS = {
    "torch": ("exp_avg", "exp_avg_sq"),
    "jax": (".mu[", ".nu["),
    "nnx": ("/mu/", "/nu/"),
}


@pytest.mark.parametrize(
    "framework", ["torch", *(pytest.param(fw, marks=pytest.mark.slow) for fw in ("jax", "nnx"))]
)
def test_the_run_trains_the_deeper_cnn_with_adamw(framework, tmp_path):
    """The tutorial's models train with SGD, the deeper CNN with AdamW in both ports (the
    JAX run once built every model's state with SGD: its deeper CNN barely learned)."""
    data = planted_task(300, 30, seed=1)
    cfg = RunConfig(
        frameworks=(framework,), epochs=1, models=("deep_multilabel",), dense_units=(8,)
    )
    run_port(framework, data, cfg, progress=False, checkpoints=tmp_path)
    names = load_snapshot(tmp_path / framework / "deep_multilabel").optimizer
    for moment in ADAM_MOMENTS[framework]:
        assert any(moment in name for name in names), f"no AdamW {moment} in {sorted(names)[:4]}"
    scores = synthetic_task(300, 30, seed=1)
    run_port(framework, scores, replace(cfg, models=("cnn",)), progress=False, checkpoints=tmp_path)
    names = load_snapshot(tmp_path / framework / "cnn").optimizer
    assert not any(m in name for name in names for m in ADAM_MOMENTS[framework])  # SGD


@pytest.mark.parametrize("framework", ["torch", "jax", "nnx"])
@pytest.mark.slow
def test_resumed_training_equals_uninterrupted_bit_for_bit(framework, sample, tmp_path):
    whole = _train(framework, sample, 4, tmp_path / "a")
    _train(framework, sample, 2, tmp_path / "b")
    resumed = _train(framework, sample, 4, tmp_path / "b", resume=True)
    for name in ("linear", "cnn"):
        assert resumed.models[name].train_loss == whole.models[name].train_loss
        assert resumed.models[name].val_loss == whole.models[name].val_loss
        np.testing.assert_array_equal(resumed.models[name].test_pred, whole.models[name].test_pred)
    snap = load_snapshot(tmp_path / "b" / framework / "cnn")
    assert snap.meta["epoch"] == 4 and snap.meta["framework"] == framework
    assert snap.meta["seed"] == 17 and "torch" in snap.meta["versions"]
    assert snap.meta["alphabet"] == "ACGT" and snap.meta["seq_len"] == 20


@pytest.mark.slow
def test_a_crash_while_saving_leaves_the_last_complete_snapshot(sample, tmp_path, monkeypatch):
    real = checkpoint.save_weights
    calls = []

    def save_weights_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # two files per snapshot: this is the third snapshot's first
            raise OSError("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_weights", save_weights_then_crash)
    with pytest.raises(OSError, match="simulated kill"):
        _train("jax", sample, 5, tmp_path, models=("cnn",))
    model_dir = tmp_path / "jax" / "cnn"
    assert latest_snapshot(model_dir).name == "epoch-0002"
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["epoch-0001", "epoch-0002", "latest", "snapshots.json"]
    assert load_snapshot(model_dir).meta["epoch"] == 2


@pytest.mark.parametrize(
    ("trained_by", "predicted_by"), [("torch", "jax"), ("jax", "torch"), ("nnx", "torch")]
)
@pytest.mark.slow
def test_a_checkpoint_from_one_port_predicts_the_same_in_the_other(
    trained_by, predicted_by, sample, tmp_path
):
    _train(trained_by, sample, 2, tmp_path, models=("cnn",))
    ckpt = tmp_path / trained_by / "cnn"
    own, _ = predict_file(ckpt, SAMPLE)
    other, meta = predict_file(ckpt, SAMPLE, framework=predicted_by)
    assert meta["framework"] == trained_by and len(own) == 6000
    np.testing.assert_allclose(other["prediction"], own["prediction"], rtol=1e-5, atol=1e-5)


def test_resume_refuses_another_run_and_missing_checkpoints(sample, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        checkpoint.check_run(tmp_path / "none", {"seed": 1}, resume=True)
    checkpoint.record_run(tmp_path, {"seed": 1, "learning_rate": 0.01, "data": "x"})
    with pytest.raises(CheckpointError, match=r"learning_rate: was 0.01, now 0.1"):
        checkpoint.check_run(tmp_path, {"seed": 1, "learning_rate": 0.1, "data": "x"}, True)
    checkpoint.check_run(tmp_path, {"seed": 1, "learning_rate": 0.01, "data": "x"}, True)
    with pytest.raises(CheckpointError, match="already holds a checkpointed run; continue it"):
        checkpoint.check_run(tmp_path, {"seed": 1, "learning_rate": 0.01, "data": "x"}, False)


@pytest.mark.slow
def test_predict_needs_a_model_directory(sample, tmp_path):
    _train("torch", sample, 1, tmp_path, models=("linear",))
    with pytest.raises(CheckpointError, match=r"not a model checkpoint.*torch/linear"):
        predict_file(tmp_path, SAMPLE)


#: ``dna-tutorial run`` on the shipped sample, quietly.
RUN_SAMPLE = ["run", "--data", str(SAMPLE), "--target-col", "activity", "--quiet"]


def _cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_cli_checkpoint_resume_and_predict_on_the_shipped_sample(tmp_path, capsys):
    common = [*RUN_SAMPLE, "--models", "cnn", "--checkpoint-dir", str(tmp_path / "ckpt")]
    code, _, err = _cli([*common, "--epochs", "2", "--out", str(tmp_path / "r1")], capsys)
    assert code == 0, err
    resume = [*RUN_SAMPLE, "--models", "cnn", "--resume", str(tmp_path / "ckpt")]
    code, _, err = _cli([*resume, "--epochs", "3", "--out", str(tmp_path / "r2")], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "r2" / "metrics.json").read_text())
    assert metrics["jax"]["models"]["cnn"]["epochs_run"] == 3
    code, out, err = _cli(
        ["predict", "--checkpoint", str(tmp_path / "ckpt" / "jax" / "cnn"), "--data", str(SAMPLE)],
        capsys,
    )
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["id", "seq", "prediction"] and len(table) == 6000
    assert table["id"][0] == "frag0000" and "3 epochs, seed 17" in err
    code, _, err = _cli(
        [*common, "--lr", "0.5", "--resume", str(tmp_path / "ckpt"), "--out", str(tmp_path / "r3")],
        capsys,
    )
    assert code == 2 and "cannot resume" in err and "learning_rate" in err


def test_cli_predict_errors_are_one_line(tmp_path, capsys):
    code, _, err = _cli(["predict", "--checkpoint", str(tmp_path), "--data", str(SAMPLE)], capsys)
    assert code == 2 and "not a model checkpoint" in err and "Traceback" not in err


@pytest.mark.slow
def test_divergence_stops_the_run_with_a_clear_message(tmp_path, capsys):
    diverge = ["--models", "cnn", "--framework", "jax", "--lr", "1e6"]
    code, _, err = _cli([*RUN_SAMPLE, *diverge, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "non-finite" in err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_same_seed_same_metrics_on_cpu(tmp_path, capsys):
    def metrics(out):
        assert main([*RUN_SAMPLE, "--epochs", "2", "--out", str(out)]) == 0
        m = json.loads((out / "metrics.json").read_text())
        for fw in FRAMEWORKS:
            m[fw].pop("timing")  # wall-clock seconds are the only numbers allowed to differ
        m.pop("run")
        return m

    first, second = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    assert first == second
    assert first["config"]["seed"] == 17
    assert all("cnn" in first[fw]["models"] for fw in FRAMEWORKS)
    capsys.readouterr()


@pytest.mark.parametrize("framework", ["torch", "jax", "nnx"])
@pytest.mark.slow
def test_a_killed_deep_run_resumes_to_the_same_numbers(framework, sample, tmp_path, monkeypatch):
    """The deeper CNN carries more state: BatchNorm statistics, AdamW's moments, the
    schedule's position and dropout's randomness. A run killed after epoch 2 of 3 and
    resumed ends bit for bit where an uninterrupted one does."""
    import importlib

    port = importlib.import_module(f"{PACKAGES[framework]}.checkpoint")
    whole = _train(framework, sample, 3, tmp_path / "a", models=("deep",))
    real = port.save

    def save_then_die(*args, **kwargs):
        path = real(*args, **kwargs)
        if path.name == "epoch-0002":
            raise KeyboardInterrupt  # killed right after the snapshot of epoch 2
        return path

    monkeypatch.setattr(port, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _train(framework, sample, 3, tmp_path / "b", models=("deep",))
    monkeypatch.undo()
    resumed = _train(framework, sample, 3, tmp_path / "b", resume=True, models=("deep",))
    assert resumed.models["deep"].train_loss == whole.models["deep"].train_loss
    np.testing.assert_array_equal(resumed.models["deep"].test_pred, whole.models["deep"].test_pred)
    snap = load_snapshot(tmp_path / "b" / framework / "deep")
    assert "blocks.0.bn.running_var" in snap.weights
