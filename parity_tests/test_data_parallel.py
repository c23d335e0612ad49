"""Data-parallel training equals single-device training with the same global batches, in
each framework (4 virtual JAX devices; 2 torch DDP processes over gloo), and the two
frameworks agree. The runs happen in subprocesses: JAX's device count is fixed when it
starts, and DDP needs its own processes."""

import os
import subprocess
import sys

import numpy as np
import pytest

from parity_tests.compare import assert_all_pass, compare
from parity_tests.data_parallel import EPOCHS, train_torch
from parity_tests.tolerances import EPOCH
from reference_torch.distributed import torchrun

pytestmark = pytest.mark.slow
TIMEOUT = 600


def _run(args, env=None):
    done = subprocess.run(
        args, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    _run(
        [
            sys.executable,
            "-m",
            "parity_tests.data_parallel",
            "jax",
            str(out / "jax.npz"),
            "--devices",
            "4",
        ],
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    _run(
        [*torchrun(2), "-m", "parity_tests.data_parallel", "torch-ddp", str(out / "ddp.npz")],
        {"OMP_NUM_THREADS": "1"},
    )
    return {
        "jax, 1 device": dict(np.load(out / "jax-1.npz")),
        "jax, 4 devices": dict(np.load(out / "jax-4.npz")),
        "torch, 1 process": train_torch(ddp=False),
        "torch DDP, 2 processes": dict(np.load(out / "ddp.npz")),
    }


def _rows(results, a, b):
    assert results[a].keys() == results[b].keys()
    return [
        compare(f"{a} vs {b}: {key}", results[a][key], results[b][key], EPOCH) for key in results[a]
    ]


def test_jax_on_four_devices_equals_one_device(results):
    assert_all_pass(_rows(results, "jax, 1 device", "jax, 4 devices"))
    assert len(results["jax, 4 devices"]["losses"]) == EPOCHS


def test_torch_ddp_on_two_processes_equals_one_process(results):
    assert_all_pass(_rows(results, "torch, 1 process", "torch DDP, 2 processes"))


def test_the_frameworks_agree_when_data_parallel(results):
    assert_all_pass(_rows(results, "torch DDP, 2 processes", "jax, 4 devices"))


def test_training_did_move_the_weights(results):
    from parity_tests.data_parallel import problem

    start = problem()[2]["conv_net.0.weight"]
    assert np.abs(results["jax, 4 devices"]["conv_net.0.weight"] - start).max() > 1e-3
