"""SIGTERM and SIGHUP stop a command as Ctrl-C does: the stage is removed, the earlier
output kept, ``latest`` valid, partial benchmark results written and marked, one line,
exit 128 + n; a second signal does not cut the clean-up short. Before, ``timeout`` or a
closed terminal killed the process where it stood and left its stage behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.runner import file_names
from dna_tutorial.checkpoint import load_snapshot

SMALL = "id,seq,score\n" + "".join(
    f"s{i},{seq},{i % 5}.5\n"
    for i, seq in enumerate(
        ["ACGTACGTAC", "TTTTACGATT", "GGGGCCCCAA", "ACGTTATAGC", "AAAAAAAAAA", "CCCCCCCCCC"] * 3
    )
)
CLI = [sys.executable, "-m", "dna_tutorial.app"]


def _wait_for_epoch(latest: Path, epoch: int, process: subprocess.Popen) -> None:
    """Until the snapshot ``latest`` names is of ``epoch`` or later."""
    deadline = time.monotonic() + 120
    while not (latest.exists() and latest.read_text().strip() >= f"epoch-{epoch:04d}"):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{latest} never reached epoch {epoch}"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("signals", [[signal.SIGHUP], [signal.SIGTERM, signal.SIGINT]])
def test_a_stopped_run_cleans_up_like_ctrl_c(tmp_path, signals):
    data = tmp_path / "small.csv"
    data.write_text(SMALL)
    out, ckpt = tmp_path / "r", tmp_path / "ck"
    run = [*CLI, "run", "--quiet", "--no-tomtom", "--framework", "jax", "--models", "cnn"]
    run += ["--data", str(data), "--out", str(out)]
    subprocess.run([*run, "--epochs", "1"], check=True, capture_output=True)
    earlier = (out / "metrics.json").read_bytes()
    long = [*run, "--epochs", "100000", "--patience", "100000", "--checkpoint-dir", str(ckpt)]
    process = subprocess.Popen(long, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epoch(ckpt / "jax" / "cnn" / "latest", 3, process)
    for signum in signals:
        process.send_signal(signum)
        time.sleep(0.02)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signals[0], err
    assert err.strip().splitlines() == [
        f"dna-tutorial run: stopped by {signal.Signals(signals[0]).name}"
    ]
    assert (out / "metrics.json").read_bytes() == earlier  # the earlier report, as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "r", "small.csv"]  # no stage
    assert not list(ckpt.rglob(".*partial*")) and not list(ckpt.rglob("*.lock"))
    assert load_snapshot(ckpt / "jax" / "cnn").meta["epoch"] >= 3  # latest names a whole one


@pytest.mark.slow
def test_a_benchmark_stopped_by_sigterm_writes_what_it_measured(tmp_path):
    bench = [*CLI, "bench", "--quick", "--strategies", "torch-eager", "jax-fused-epoch"]
    process = subprocess.Popen(
        [*bench, "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.set_blocking(process.stderr.fileno(), False)
    seen, deadline = b"", time.monotonic() + 300
    while b" 2/" not in seen:  # tqdm's bar: the second workload has begun
        assert process.poll() is None and time.monotonic() < deadline, seen[-2000:]
        seen += process.stderr.read() or b""
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    names = file_names("cpu", None, True, bench[-2:], partial=True)
    results = json.loads((tmp_path / names[0]).read_text())
    assert results["interrupted"].startswith("stopped by SIGTERM after")
    page = (tmp_path / names[1]).read_text()
    assert results["results"] and "**Incomplete**: stopped by SIGTERM" in page
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".results.partial")]
