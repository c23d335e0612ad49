"""`dna-tutorial run --devices N` and `--distributed` end to end, in fresh processes (JAX
fixes its device count at start-up; DDP needs torchrun's processes). That data-parallel
training computes what one device computes is parity_tests/test_data_parallel.py's job;
here: the command line sets the devices up, trains, and writes one report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dna_tutorial.app.cli import main
from reference_torch.distributed import torchrun

pytestmark = pytest.mark.slow

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


def test_jax_on_virtual_devices_trains_and_reports(tmp_path):
    cli = [sys.executable, "-m", "dna_tutorial.app", "run", "--framework", "jax", *COMMON]
    _run([*cli, "--devices", "4", "--out", str(tmp_path / "four")])
    four = _metrics(tmp_path / "four")
    assert four["config"]["devices"] == 4
    cnn = four["jax"]["models"]["cnn"]
    assert cnn["epochs_run"] == 3 and cnn["test_r2"] > 0.05  # learning, though 3 epochs are few


def test_torch_ddp_under_torchrun_writes_one_report(tmp_path):
    out = tmp_path / "ddp"
    _run(
        [
            *torchrun(2),
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


def test_devices_that_do_not_split_the_batch_are_refused_at_once(tmp_path, capsys):
    argv = ["run", "--framework", "jax", "--devices", "3", *COMMON, "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "does not split evenly over 3 devices" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_distributed_without_torchrun_is_a_clear_error(tmp_path, capsys, monkeypatch):
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    argv = ["run", "--framework", "torch", "--distributed", *COMMON, "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "runs under torchrun" in capsys.readouterr().err
