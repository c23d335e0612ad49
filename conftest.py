"""Settings for every test directory: one CPU share per pytest-xdist worker, and one JAX
compilation cache for the whole run."""

import atexit
import os
import shutil
import tempfile

if "PYTEST_XDIST_WORKER" in os.environ:
    # torch's OpenMP threads spin while they wait for each other: with a thread per core in
    # every worker they fight over the cores, and torch-heavy tests ran ~17x slower (the
    # PyTorch notebook: 19 s alone, 335 s beside another worker). Each worker, and the
    # subprocesses and notebook kernels it starts, gets its share of the cores.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
elif "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    # Tests, their subprocesses and notebook kernels compile the same models at the same
    # shapes again and again; sharing one cache among them (the workers inherit this
    # environment) took the fast tier from 214 s to 178 s on 2 cores. It is new for every
    # run, so the times stay those of a fresh clone, and removed at exit; a cache the user
    # set is theirs and left alone.
    cache = tempfile.mkdtemp(prefix="dna-tutorial-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
