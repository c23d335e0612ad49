"""`dna-tutorial run --devices N` and `--distributed` end to end, in fresh processes (JAX
fixes its device count at start-up; DDP needs torchrun's processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = (
    Path(__file__).resolve().parent.parent / "dna_tutorial" / "examples" / "sample_activity.csv"
)
COMMON = [
    "--data",
    str(SAMPLE),
    "--target-col",
    "activity",
    "--models",
    "cnn",
    "--epochs",
    "3",
    "--quiet",
]


def _run(args, **env):
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=600, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_jax_on_four_virtual_devices_matches_one_device(tmp_path):
    cli = [sys.executable, "-m", "dna_tutorial.app", "run", "--framework", "jax", *COMMON]
    _run([*cli, "--devices", "4", "--out", str(tmp_path / "four")])
    _run([*cli, "--out", str(tmp_path / "one")])
    four, one = _metrics(tmp_path / "four"), _metrics(tmp_path / "one")
    assert four["config"]["devices"] == 4
    a, b = four["jax"]["models"]["cnn"], one["jax"]["models"]["cnn"]
    assert a["final_val_loss"] == pytest.approx(b["final_val_loss"], rel=1e-4)
    assert a["test_r2"] == pytest.approx(b["test_r2"], abs=5e-4)


def test_devices_beyond_the_cpu_count_get_a_clear_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dna_tutorial.app",
            "run",
            "--framework",
            "jax",
            "--devices",
            "3",
            *COMMON,
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "does not split evenly over 3 devices" in done.stderr


def test_torch_ddp_under_torchrun_writes_one_report(tmp_path):
    out = tmp_path / "ddp"
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "dna_tutorial.app",
            "run",
            "--framework",
            "torch",
            "--distributed",
            *COMMON,
            "--out",
            str(out),
            "--checkpoint-dir",
            str(tmp_path / "ckpt"),
        ],
        OMP_NUM_THREADS="1",
    )
    metrics = _metrics(out)
    assert metrics["config"]["distributed"] is True
    assert metrics["torch"]["models"]["cnn"]["epochs_run"] == 3
    assert (tmp_path / "ckpt" / "torch" / "cnn" / "latest").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "ddp"]  # no stray reports


def test_distributed_without_torchrun_is_a_clear_error(tmp_path, capsys):
    from dna_tutorial.app.cli import main

    for var in ("RANK", "WORLD_SIZE"):
        os.environ.pop(var, None)
    assert (
        main(
            ["run", "--framework", "torch", "--distributed", *COMMON, "--out", str(tmp_path / "r")]
        )
        == 2
    )
    assert "runs under torchrun" in capsys.readouterr().err
