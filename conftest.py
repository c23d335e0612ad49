"""Settings for every test directory: one CPU share per pytest-xdist worker."""

import os

if "PYTEST_XDIST_WORKER" in os.environ:
    # torch's OpenMP threads spin while they wait for each other: with a thread per core in
    # every worker they fight over the cores, and torch-heavy tests ran ~17x slower (the
    # PyTorch notebook: 19 s alone, 335 s beside another worker). Each worker, and the
    # subprocesses and notebook kernels it starts, gets its share of the cores.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
