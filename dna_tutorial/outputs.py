"""Writing files without ever losing one that this project did not write.

The rules every command follows:

- **Atomic files.** A file is written to a temporary sibling, flushed and renamed over its
  destination: readers see the old file or the new one, never a partial one.
- **Marked directories.** Every output directory this project writes holds a manifest,
  ``.dna-tutorial.json`` (the project's name, a format version, what kind of output, the
  SHA-256 of every file it wrote and every folder it made), written last. A directory is
  replaced, or a file in it overwritten, only if the manifest says this project wrote it
  and it is unchanged since: a folder of someone's notes that happens to hold a
  ``metrics.json`` is refused, and so is a report to which a user added a file or a folder.
- **Deleting only what is ours.** Whatever is deleted (an earlier report, a pruned
  snapshot) is checked against its manifest at the moment of deleting: files whose
  checksum matches and folders the manifest lists go; anything else stays where it is.
- **Staged directories.** A report is built in a hidden sibling and moved into place when
  complete; a failed run leaves the old report (or nothing) behind, and a stranded stage
  is named in the error. Stale stages of killed runs are cleaned up, and only those.
- **One run at a time.** A run holds an exclusive lock (``fcntl.flock``) on each directory
  it writes; a second run is refused, not mixed in.
- **Checks first.** Destinations are checked (writable, not a mount point, not the current
  directory, not overlapping each other or the inputs) before any long work starts, and
  again, under the lock, before the finished output moves in: a directory that stopped
  being replaceable meanwhile is left alone, and the complete new output is kept beside it
  under a name the error gives.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from dna_tutorial.errors import BusyError, OutputError

PROJECT = "dna-tutorial"
FORMAT = 1
#: The manifest that marks a directory as written by this project.
MANIFEST = ".dna-tutorial.json"
#: The kind of a folder that collects results beside other files (``updated_directory``).
RESULTS = "results"
#: Present in a staging directory from its first moment, so a stale one can be recognised.
STAGING_MARK = ".dna-tutorial-staging"
#: What a lock file of ours that we did not create ourselves holds: the pid of its last run.
_LOCK_TEXT = re.compile(r"pid \d+")


class KeptNotice(UserWarning):
    """Something was left in place because it is not this project's to delete; the
    command line prints it as one line."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_path(path: str | Path) -> Path:
    """``path`` made absolute without following symbolic links (``--out .`` becomes the
    current directory's own path, so its name and parent are known)."""
    return Path(os.path.abspath(os.fspath(path)))


# --- Files ------------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it
    over ``path``: readers see the old file or the new one, never a partial one."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the file private
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def strict_json(obj):
    """``obj`` with every NaN or infinite float replaced by None: strict JSON, which
    parsers other than Python's accept (``json.dumps`` would write ``NaN``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def json_text(obj) -> str:
    """``obj`` as indented, strict JSON text (see :func:`strict_json`)."""
    return json.dumps(strict_json(obj), indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json_text(obj))


def read_json(path: str | Path, what: str = "file"):
    """Parse a JSON file; an unreadable or malformed one is an error naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OutputError(f"{path}: not a readable {what} ({err})") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Manifests --------------------------------------------------------------------------


def _listing(directory: Path) -> dict[str, Path]:
    """Every file below ``directory`` (links and files alike), by path relative to it."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root, name)
            out[path.relative_to(directory).as_posix()] = path
    return out


def _folders(directory: Path) -> dict[str, Path]:
    """Every folder below ``directory`` (not links to one), by path relative to it."""
    out = {}
    for root, dirs, _ in os.walk(directory):
        for name in dirs:
            path = Path(root, name)
            if not path.is_symlink():
                out[path.relative_to(directory).as_posix()] = path
    return out


def _our_folders(manifest: dict) -> set[str]:
    """The folders a manifest makes ours: those it lists and those that hold its files
    (a manifest written before folders were listed names only files)."""
    folders = set(manifest.get("folders") or ())
    for name in manifest["files"]:
        parts = name.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return folders


def read_manifest(directory: Path) -> dict | None:
    """The manifest of ``directory``, or None if it has none or it is not ours."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    ok = (
        isinstance(manifest, dict)
        and manifest.get("project") == PROJECT
        and manifest.get("format") == FORMAT
        and isinstance(manifest.get("files"), dict)
        and isinstance(manifest.get("folders", []), list)
    )
    return manifest if ok else None


def write_manifest(directory: Path, kind: str, files: Mapping[str, str] | None = None) -> None:
    """Record ``files`` (name -> SHA-256; default: every file now in ``directory``) and
    every folder now below it as written by this project. The manifest is written last,
    so its presence means done."""
    if files is None:
        files = {
            name: sha256(path)
            for name, path in _listing(directory).items()
            if name not in (MANIFEST, STAGING_MARK)
        }
    manifest = {
        "project": PROJECT,
        "format": FORMAT,
        "kind": kind,
        "files": dict(files),
        "folders": sorted(_folders(directory)),
    }
    atomic_write_json(directory / MANIFEST, manifest)


def not_ours(directory: Path, manifest: dict, names: Iterable[str] | None = None) -> str | None:
    """Why something below ``directory`` is not this project's, or None if all is ours.

    ``names`` limits the check to those files (those about to be overwritten); without
    it, folders are checked too."""
    listing = _listing(directory)
    for name in sorted(listing if names is None else (n for n in names if n in listing)):
        if name in (MANIFEST, STAGING_MARK):
            continue
        path = listing[name]
        if path.is_symlink() or name not in manifest["files"]:
            return f"{path} was not written by {PROJECT}"
        if sha256(path) != manifest["files"][name]:
            return f"{path} has changed since {PROJECT} wrote it"
    if names is None:
        ours = _our_folders(manifest)
        for name, path in sorted(_folders(directory).items()):
            if name not in ours:
                return f"the folder {path} was not made by {PROJECT}"
    return None


def remove_owned(directory: Path) -> list[Path]:
    """Delete what ``directory``'s manifest says this project wrote and is unchanged, at
    this moment, checksum by checksum; keep everything else. Returns what was kept
    (empty when ``directory`` is gone). A directory without a manifest of ours is kept whole.
    """
    manifest = read_manifest(directory)
    if manifest is None or directory.is_symlink():
        return [directory]
    kept = []
    for name, path in sorted(_listing(directory).items()):
        if name in (MANIFEST, STAGING_MARK):
            continue
        if path.is_symlink() or manifest["files"].get(name) != sha256(path):
            kept.append(path)
            continue
        try:
            path.unlink()
        except OSError:  # immutable, or on a read-only mount: it stays, and is named
            kept.append(path)
    ours = _our_folders(manifest)
    for name, path in sorted(_folders(directory).items(), reverse=True):  # deepest first
        with contextlib.suppress(OSError):  # not empty: something in it was kept
            if name in ours:
                path.rmdir()
        if path.exists() and not any(p.is_relative_to(path) for p in kept):
            kept.append(path)  # an empty folder of the user's
    if kept:
        return kept
    for name in (MANIFEST, STAGING_MARK):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    try:
        directory.rmdir()
    except OSError:
        return [p for p in directory.iterdir()]  # appeared just now: not ours
    return []


def check_replaceable(final: str | Path, kind: str) -> None:
    """Raise :class:`OutputError` unless ``final`` may be replaced by a new ``kind`` output.

    Allowed: a path that does not exist (its parent must be writable), an empty
    directory, or a directory whose manifest says this project wrote a ``kind`` output
    there and whose every file is unchanged since. Refused, with the reason: a file, a
    symbolic link, a mount point, the current directory or one above it, anything else.
    """
    final = output_path(final)
    if final.is_symlink():
        raise OutputError(f"{final} is a symbolic link; give the directory itself")
    if final.exists() and not final.is_dir():
        raise OutputError(f"{final} exists and is not a directory")
    cwd = output_path(os.getcwd())
    if final == cwd or final in cwd.parents:
        raise OutputError(f"{final} is the current directory or holds it; choose a new one")
    if final.is_dir() and os.path.ismount(final):
        raise OutputError(f"{final} is a mount point; choose a directory inside it")
    if final.is_dir() and any(final.iterdir()):
        manifest = read_manifest(final)
        if manifest is None:
            raise OutputError(
                f"refusing to replace {final}: it is not empty and holds no {MANIFEST} of an "
                f"earlier {PROJECT} {kind}; choose another directory"
            )
        if manifest.get("kind") != kind:
            raise OutputError(
                f"refusing to replace {final}: it holds {PROJECT}'s {manifest.get('kind')} "
                f"output, not its {kind} output"
            )
        reason = not_ours(final, manifest)
        if reason:
            raise OutputError(f"refusing to replace {final}: {reason}; move it away first")
    check_writable(final.parent)


def check_writable(directory: str | Path) -> None:
    """Raise :class:`OutputError` unless files can be created in ``directory``, or, if it
    does not exist yet, in its nearest existing ancestor (found by trying, not guessing)."""
    directory = output_path(directory)
    existing = directory
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"{existing} is a symbolic link to nothing; remove it first")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot create {directory}: {existing} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dna-tutorial-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"cannot write in {existing}: {err.strerror or err}") from None


def check_no_overlap(outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None]):
    """Refuse output directories that are equal to or inside one another, and inputs that
    lie inside an output directory (replacing the output would delete them).

    ``outputs`` and ``inputs`` map an option's name (``--out``) to its path or None.
    """
    outs = {k: output_path(v) for k, v in outputs.items() if v is not None}
    ins = {k: output_path(v) for k, v in inputs.items() if v is not None}
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa, pb = outs[a], outs[b]
            if pa == pb or pa in pb.parents or pb in pa.parents:
                raise OutputError(f"{a} {pa} and {b} {pb} overlap; give them separate directories")
    for a, pa in outs.items():
        for b, pb in ins.items():
            if pa == pb or pa in pb.parents:
                raise OutputError(
                    f"{b} {pb} lies inside {a} {pa}; move it out or choose another {a}"
                )


# --- Locks ------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` (created if absent) or raise
    :class:`BusyError` naming ``what`` and the process holding it.

    The file is removed before the lock is released, and a lock taken on a file that has
    meanwhile been removed is retried, so no lock file is left behind and two runs can never
    both believe they hold it.
    """
    path = Path(path)
    check_writable(path.parent)  # before anything is created: one line, not a traceback
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {path.parent}: {err.strerror or err}") from None
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK  # never through a link, never waiting
    for _ in range(100):  # a lock file removed by its holder as we opened it: try again
        try:
            fd, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            try:
                fd, created = os.open(path, flags), False
            except FileNotFoundError:
                if os.path.islink(path):  # a dangling link: it will not go away
                    raise _in_the_way(path, "a symbolic link") from None
                continue  # removed by its holder between the two opens
            except OSError as err:  # a folder, a link, a socket, a file we may not open
                raise _in_the_way(path, err.strerror or str(err)) from None
        except OSError as err:
            raise OutputError(f"cannot create {path}: {err.strerror or err}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device
            os.close(fd)
            raise _in_the_way(path, "not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = "another process"
            with contextlib.suppress(OSError):
                holder = path.read_text().strip() or holder
            raise BusyError(
                f"{what} is in use by another dna-tutorial run ({holder}); wait for it to "
                "finish or choose another directory"
            ) from None
        try:
            if os.fstat(fd).st_ino == os.lstat(path).st_ino:
                break  # the file we locked is still the one at `path`
        except FileNotFoundError:
            pass
        os.close(fd)
    else:
        raise BusyError(f"{what}: its lock file keeps changing; is another run starting?")
    if not created and not _LOCK_TEXT.fullmatch(os.pread(fd, 64, 0).decode("utf-8", "replace")):
        # A file of the user's that happens to have the lock's name, even an empty one: a
        # file this project made holds its pid from the moment it is locked.
        os.close(fd)
        raise OutputError(
            f"{path} is not a lock file of {PROJECT} (or one a killed run left empty); "
            "move it away first"
        )
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _in_the_way(path: Path, why: str) -> OutputError:
    return OutputError(f"{path} is in the way of {PROJECT}'s lock file ({why}); move it away first")


def lock_path(final: Path) -> Path:
    """The lock file of an output directory: beside it, since the directory is replaced."""
    return final.parent / f".{final.name}.dna-tutorial.lock"


# --- Staged output directories ------------------------------------------------------------


def _clean_stale_stages(final: Path) -> None:
    """Remove the staging and old-report siblings of ``final`` that killed runs left.

    Both carry this project's staging mark (a stage from its first moment, an old report
    from just before it was moved aside), so a copy a user made (``.report.old-2``) is never
    taken for one. A stage is removed whole; an old report only as far as its manifest says
    it is ours and unchanged. The caller holds ``final``'s lock, so no live run uses them."""
    for sibling in final.parent.glob(f".{final.name}.*-*"):
        kind = sibling.name[len(final.name) + 2 :].split("-", 1)[0]
        ours = sibling.is_dir() and not sibling.is_symlink() and (sibling / STAGING_MARK).exists()
        if ours and kind == "partial":
            shutil.rmtree(sibling, ignore_errors=True)
        elif ours and kind == "old":
            remove_owned(sibling)


@contextlib.contextmanager
def staged_directory(final: str | Path, kind: str, lock: bool = True) -> Iterator[Path]:
    """Build a directory's contents in a hidden sibling and move it into place at the end.

    ``final`` must pass :func:`check_replaceable`, checked on entry (under the lock) and
    again just before the move. On success the manifest is written into the stage last and
    the stage replaces ``final``; the earlier output is deleted as far as it is this
    project's (:func:`remove_owned`). On any error the stage is deleted and ``final`` is
    left as it was. If ``final`` stopped being replaceable while the work ran (a user added
    a file), or the final move fails, ``final`` is left alone and the error names the
    complete output, kept beside it. Stages that killed runs left beside ``final`` are
    cleaned up first. ``lock=False``: the caller already holds a lock that covers ``final``.
    """
    final = output_path(final)
    check_writable(final.parent)
    guard = exclusive_lock(lock_path(final), str(final)) if lock else contextlib.nullcontext()
    with guard:
        check_replaceable(final, kind)
        _clean_stale_stages(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            stage = Path(
                tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=final.parent)
            )
            (stage / STAGING_MARK).touch()
            os.chmod(stage, 0o777 & ~_umask())
        except OSError as err:
            raise OutputError(f"cannot write in {final.parent}: {err.strerror or err}") from err
        try:
            yield stage
            write_manifest(stage, kind)
            (stage / STAGING_MARK).unlink()
        except BaseException as err:
            shutil.rmtree(stage, ignore_errors=True)
            refused = _write_refused(err, stage)
            if refused:
                raise refused from err
            raise
        try:  # again: the work may have taken minutes, and a user may have added a file
            check_replaceable(final, kind)
        except OutputError as err:
            kept = _keep(stage, final, "new")
            raise OutputError(f"{err}; the new {kind} is complete in {kept}") from None
        _move_into_place(stage, final)


def _keep(stage: Path, final: Path, what: str) -> Path:
    """Give a complete output that cannot go where it was meant to a visible name beside
    it (``report.new-<pid>``), so that no later run takes it for a stale stage."""
    kept = final.with_name(f"{final.name}.{what}-{os.getpid()}")
    try:
        os.replace(stage, kept)
    except OSError:
        return stage  # the name is taken or the disk refuses: it stays where it is
    return kept


def _move_into_place(stage: Path, final: Path) -> None:
    old = None
    try:
        if final.exists():  # checked replaceable: empty, or an unchanged output of ours
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            (final / STAGING_MARK).touch()  # marks it ours should a kill strand it aside
            os.replace(final, old)
        os.replace(stage, final)
    except OSError as err:
        if old is not None and not final.exists():
            with contextlib.suppress(OSError):
                os.replace(old, final)  # put the earlier output back
        with contextlib.suppress(OSError):
            (final / STAGING_MARK).unlink()
        kept = _keep(stage, final, "new")  # a visible name: no later run takes it for stale
        raise OutputError(
            f"could not move the finished output into {final} ({err.strerror or err}); "
            f"it is complete in {kept}"
        ) from err
    if old is not None and remove_owned(old):
        # Something of the user's reached the earlier output in the instant before it
        # moved: it stays, under a name they can find.
        kept = _keep(old, final, "previous")
        warnings.warn(
            KeptNotice(f"kept {kept}: it holds files {PROJECT} did not write"), stacklevel=2
        )


@contextlib.contextmanager
def updated_directory(directory: str | Path, names: Iterable[str]) -> Iterator[Path]:
    """Write the files ``names`` into ``directory``, leaving its other files alone (of
    ``names``, those the caller wrote into the stage).

    For result folders that collect several outputs (``benchmarks/results/``). Each file
    is built in a hidden stage, then moved in; a file already there is overwritten only if
    the directory's manifest says this project wrote it and it is unchanged. Everything is
    checked before the caller's work starts; the manifest is updated last.
    """
    directory = output_path(directory)
    names = list(names)
    _overwritable(directory, names)  # what the user can fix, before anything is created
    check_writable(directory)
    with exclusive_lock(lock_path(directory), str(directory)):
        _overwritable(directory, names)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(".results.partial-*"):
            if (stale / STAGING_MARK).exists():
                shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=".results.partial-", dir=directory))
        (stage / STAGING_MARK).touch()
        keep = False
        try:
            try:
                yield stage
            except OSError as err:
                refused = _write_refused(err, stage)
                if refused:
                    raise refused from err
                raise
            try:  # again: the work took minutes, and a user may have edited a file meanwhile
                manifest = _overwritable(directory, names)
            except OutputError as err:
                keep = True
                (stage / STAGING_MARK).unlink()  # no longer a stale stage to clean up
                raise OutputError(f"{err}; the new files are complete in {stage}") from None
            recorded = {} if manifest is None else dict(manifest["files"])
            try:
                for name in names:
                    if not (stage / name).exists():
                        continue  # one of the names the work could write (a stopped run's)
                    recorded[name] = sha256(stage / name)
                    os.replace(stage / name, directory / name)
                write_manifest(directory, RESULTS, recorded)
            except OSError as err:
                where = err.filename or directory
                raise OutputError(f"cannot write {where}: {err.strerror or err}") from err
        finally:
            if not keep:
                shutil.rmtree(stage, ignore_errors=True)


def _write_refused(err: BaseException, where: Path) -> OutputError | None:
    """``err`` as one line if it is the file system refusing output: a full disk or quota
    anywhere, or a forbidden or read-only file inside ``where`` (the output). Any other
    error is a bug: None, it keeps its traceback."""
    if not isinstance(err, OSError) or isinstance(err, OutputError):
        return None
    inside = err.filename is not None and Path(os.path.abspath(err.filename)).is_relative_to(where)
    full = err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if full or (inside and err.errno in (errno.EROFS, errno.EACCES, errno.EPERM)):
        return OutputError(f"cannot write {err.filename or where}: {err.strerror}")
    return None


def _overwritable(directory: Path, names: list[str]) -> dict | None:
    """The manifest of ``directory`` (None if it has none yet), once each of ``names``
    already there is known to be this project's and unchanged; else OutputError."""
    if directory.is_symlink():
        raise OutputError(f"{directory} is a symbolic link; give the directory itself")
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory} is not a directory")
    manifest = read_manifest(directory) if directory.is_dir() else None
    if manifest is None and (directory / MANIFEST).exists():
        raise OutputError(f"{directory / MANIFEST} is not {PROJECT}'s; move it away first")
    if manifest is not None and manifest.get("kind") != RESULTS:
        raise OutputError(
            f"refusing to add results to {directory}: it holds {PROJECT}'s "
            f"{manifest.get('kind')} output; choose another directory"
        )
    present = [n for n in names if (directory / n).exists() or (directory / n).is_symlink()]
    if present and manifest is None:
        raise OutputError(
            f"refusing to overwrite {directory / present[0]}: {directory} holds no "
            f"{MANIFEST} of {PROJECT}; choose another directory"
        )
    reason = manifest is not None and present and not_ours(directory, manifest, present)
    if reason:
        raise OutputError(f"refusing to overwrite: {reason}; move it away first")
    return manifest
