"""Where a result came from: package versions, the machine and the code's commit."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGES = ("dna-tutorial", "numpy", "torch", "jax", "jaxlib", "flax", "optax", "chex")


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers (absent ones omitted)."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def git_commit() -> str | None:
    """The commit of the checkout this code runs from, with ``-dirty`` if it has edits."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def machine() -> dict[str, str | int]:
    """The host: OS, processor and the CPU cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_cores": cores or 0,
    }


def run_info() -> dict:
    """Everything above in one JSON-ready dict."""
    return {"versions": versions(), "machine": machine(), "git_commit": git_commit()}
