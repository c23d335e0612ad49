"""The XLA:CPU switch table (``benchmarks/xla_flags.py``): every switch it sets is one the
pinned jaxlib accepts, and the table's ratios and loss differences are taken against XLA's
defaults. No timing assertions: the table is measured by running the script."""

import os
import subprocess
import sys

from benchmarks.xla_flags import SETTINGS, STRATEGIES, markdown


def test_the_pinned_jaxlib_accepts_every_switch():
    # XLA aborts at backend start on a flag it does not know, printing its list
    flags = " ".join(f for _, f in SETTINGS if f)
    done = subprocess.run(
        [sys.executable, "-c", "import jax; print(jax.numpy.ones(2).sum())"],
        env={**os.environ, "XLA_FLAGS": flags},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "2.0", done.stderr[-2000:]


def test_the_table_is_relative_to_xlas_defaults():
    rows = []
    for k, (name, flags) in enumerate(SETTINGS):
        for strategy, kernel in STRATEGIES:
            rows.append({"setting": name, "flags": flags, "workload": "w", "strategy": strategy,
                         "kernel": kernel, "first_s": 1.0, "epoch_s": 2.0 * (k + 1),
                         "loss": 1.0 + k * 1e-3})  # fmt: skip
    table = markdown({"rows": rows, "seconds": 60.0,
                      "matmul peak GFLOP/s": {"jax": 100.0, "torch": 90.0}})  # fmt: skip
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "| 2 (1.00) | 0.0e+00 |" in lines[SETTINGS[0][0]]
    assert "| 4 (2.00) | 1.0e-03 |" in lines[SETTINGS[1][0]]
    assert "peak 100 GFLOP/s in JAX" in table
