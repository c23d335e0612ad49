"""Writing files so that a crash or a kill never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it
    over ``path``: readers see the old file or the new one, never a partial one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the file private
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def check_replaceable(final: str | Path, marker: str) -> None:
    """Raise unless ``final`` is absent, an empty directory, or one holding ``marker``
    (a file that a previous run wrote), so a typo like ``--out ~`` deletes nothing."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final} exists and is not a directory")
    if final.is_dir() and any(final.iterdir()) and not (final / marker).exists():
        raise ValueError(
            f"refusing to replace {final}: it is not empty and holds no {marker} from an "
            "earlier run; choose another output directory"
        )


@contextlib.contextmanager
def staged_directory(final: str | Path) -> Iterator[Path]:
    """Build a directory's contents in a hidden sibling and move it into place at the end.

    On success the finished directory replaces ``final`` (an existing one is removed); on
    any error the staging directory is deleted and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        os.chmod(stage, 0o777 & ~_umask())
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, final)
