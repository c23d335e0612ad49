"""Never lose a user's file: manifests, refusals, locks, staged and updated directories."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dna_tutorial.errors import BusyError, OutputError
from dna_tutorial.outputs import (
    MANIFEST,
    atomic_write_json,
    atomic_write_text,
    check_no_overlap,
    check_replaceable,
    check_writable,
    exclusive_lock,
    lock_path,
    read_manifest,
    staged_directory,
    updated_directory,
)


def _report(path, files=None):
    """A report as this project writes it."""
    with staged_directory(path, "report") as stage:
        for name, text in (files or {"metrics.json": "{}", "torch/loss.png": "png"}).items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)
    return path


def test_atomic_write_replaces_whole_files(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_json_is_strict_nan_becomes_null(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"r2": float("nan"), "x": [1.0, float("inf")]})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"r2": None, "x": [1.0, None]}


def test_staged_directory_appears_only_when_complete(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_directory(final, "report") as stage:
        (stage / "a").write_text("partial")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []  # no stage, no lock file
    with staged_directory(final, "report") as stage:
        (stage / "a").write_text("complete")
        assert not final.exists()
    assert (final / "a").read_text() == "complete"
    manifest = read_manifest(final)
    assert manifest["kind"] == "report" and set(manifest["files"]) == {"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_unchanged_report_of_ours_is_replaced(tmp_path):
    _report(tmp_path / "r")
    _report(tmp_path / "r", {"metrics.json": "new"})
    assert (tmp_path / "r" / "metrics.json").read_text() == "new"
    assert not (tmp_path / "r" / "torch").exists()  # the old report went, whole


def test_a_folder_with_a_metrics_json_of_its_own_is_refused(tmp_path):
    (tmp_path / "notes").mkdir()
    for name in ("metrics.json", "analysis.py", "notes.txt"):
        (tmp_path / "notes" / name).write_text("mine")
    with pytest.raises(OutputError, match=r"not empty and holds no \.dna-tutorial\.json"):
        check_replaceable(tmp_path / "notes", "report")
    with pytest.raises(OutputError), staged_directory(tmp_path / "notes", "report"):
        pass
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == [
        "analysis.py",
        "metrics.json",
        "notes.txt",
    ]


def test_a_report_with_a_users_file_added_or_changed_is_refused(tmp_path):
    report = _report(tmp_path / "r")
    (report / "my-notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"my-notes.txt was not written by dna-tutorial"):
        check_replaceable(report, "report")
    (report / "my-notes.txt").unlink()
    (report / "metrics.json").write_text('{"edited": true}')
    with pytest.raises(OutputError, match=r"metrics.json has changed since"):
        check_replaceable(report, "report")
    assert (report / "metrics.json").read_text() == '{"edited": true}'


def test_a_forged_or_foreign_manifest_does_not_make_a_folder_ours(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "data.csv").write_text("x")
    (folder / MANIFEST).write_text('{"project": "other", "files": {}}')
    with pytest.raises(OutputError, match="holds no"):
        check_replaceable(folder, "report")
    _report(tmp_path / "r")
    with pytest.raises(OutputError, match=r"holds dna-tutorial's report output, not its explain"):
        check_replaceable(tmp_path / "r", "explain")


@pytest.mark.parametrize("where", ["file", "link", "cwd", "parent_of_cwd"])
def test_paths_that_are_never_output_directories(tmp_path, monkeypatch, where):
    target = tmp_path / "x"
    if where == "file":
        target.write_text("mine")
    elif where == "link":
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    else:
        (tmp_path / "x" / "sub").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / "x" / ("sub" if where == "parent_of_cwd" else ""))
    with pytest.raises(OutputError):
        check_replaceable(target, "report")


def test_an_unwritable_destination_is_found_before_any_work(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OutputError, match="cannot write in"):
            check_replaceable(locked / "report", "report")
        with pytest.raises(OutputError, match="cannot write in"):
            check_writable(locked / "a" / "b")
    finally:
        locked.chmod(0o700)
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable(tmp_path / "f" / "sub")


def test_writability_is_probed_by_trying(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # as for a read-only mount, even as root
    with pytest.raises(OutputError, match=r"cannot write in .*: Permission denied"):
        check_replaceable(tmp_path / "report", "report")


def test_outputs_that_overlap_each_other_or_the_inputs_are_refused(tmp_path):
    out, ckpt = tmp_path / "r", tmp_path / "r" / "ckpt"
    with pytest.raises(OutputError, match=r"--out .* and --checkpoint-dir .* overlap"):
        check_no_overlap({"--out": out, "--checkpoint-dir": ckpt}, {})
    with pytest.raises(OutputError, match="overlap"):
        check_no_overlap({"--out": out, "--checkpoint-dir": out}, {})
    with pytest.raises(OutputError, match=r"--data .* lies inside --out"):
        check_no_overlap({"--out": out}, {"--data": out / "d.csv"})
    check_no_overlap({"--out": out, "--checkpoint-dir": tmp_path / "c"}, {"--data": tmp_path})


def test_a_second_holder_of_a_lock_is_refused_and_no_lock_file_is_left(tmp_path):
    path = lock_path(tmp_path / "r")
    with exclusive_lock(path, "r"):
        with (
            pytest.raises(
                BusyError, match=rf"r is in use by another dna-tutorial run \(pid {os.getpid()}\)"
            ),
            exclusive_lock(path, "r"),
        ):
            pass
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from dna_tutorial.outputs import exclusive_lock\n"
                f"with exclusive_lock({str(path)!r}, 'r'): pass",
            ],
            capture_output=True,
            text=True,
        )
        assert other.returncode == 1 and "BusyError" in other.stderr
    assert not path.exists()
    with exclusive_lock(path, "r"):  # free again
        pass


@pytest.mark.parametrize("caller_holds_the_lock", [False, True])  # `run` holds it itself
def test_stages_of_killed_runs_are_cleaned_and_nothing_else(tmp_path, caller_holds_the_lock):
    stale = tmp_path / ".r.partial-999-abc"
    stale.mkdir()
    (stale / ".dna-tutorial-staging").touch()
    lookalike = tmp_path / ".r.partial-mine"
    lookalike.mkdir()
    (lookalike / "precious").write_text("not ours")
    if caller_holds_the_lock:
        with (
            exclusive_lock(lock_path(tmp_path / "r"), "r"),
            staged_directory(tmp_path / "r", "report", lock=False) as stage,
        ):
            (stage / "metrics.json").write_text("{}")
    else:
        _report(tmp_path / "r")
    assert not stale.exists() and (lookalike / "precious").exists()


def test_a_failed_final_move_names_the_complete_stage(tmp_path, monkeypatch):
    real = os.replace
    calls = []

    def replace_that_fails_once_the_report_is_done(src, dst):
        calls.append(dst)
        if str(dst).endswith("/r") and ".partial-" in str(src):
            raise OSError(16, "Device or resource busy")
        return real(src, dst)

    _report(tmp_path / "r", {"old": "old"})
    monkeypatch.setattr(os, "replace", replace_that_fails_once_the_report_is_done)
    with pytest.raises(OutputError, match=r"it is complete in .*/r\.new-") as err:
        _report(tmp_path / "r", {"new": "new"})
    monkeypatch.undo()
    stage = str(err.value).rsplit(" in ", 1)[1]
    assert (tmp_path / "r" / "old").read_text() == "old"  # the earlier report is back
    assert os.path.isfile(os.path.join(stage, "new"))


def test_updated_directories_add_files_beside_others_and_refuse_foreign_ones(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "README.txt").write_text("the user's")
    with updated_directory(results, ["cpu.md"]) as stage:
        (stage / "cpu.md").write_text("one")
    with updated_directory(results, ["cpu.md", "gpu.md"]) as stage:
        (stage / "cpu.md").write_text("two")
        (stage / "gpu.md").write_text("gpu")
    assert (results / "cpu.md").read_text() == "two"
    assert (results / "README.txt").read_text() == "the user's"
    assert set(read_manifest(results)["files"]) == {"cpu.md", "gpu.md"}
    with (
        pytest.raises(OutputError, match=r"README.txt was not written by dna-tutorial"),
        updated_directory(results, ["README.txt"]),
    ):
        pass
    (results / "gpu.md").write_text("edited by hand")
    with (
        pytest.raises(OutputError, match=r"gpu.md has changed since"),
        updated_directory(results, ["gpu.md"]),
    ):
        pass
    assert not [p for p in results.iterdir() if p.name.startswith(".results.partial")]
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "cpu.md").write_text("theirs")
    with (
        pytest.raises(OutputError, match=r"holds no .dna-tutorial.json"),
        updated_directory(other, ["cpu.md"]),
    ):
        pass


def test_a_result_file_edited_during_the_work_is_kept_and_the_new_one_waits_beside_it(tmp_path):
    results = tmp_path / "results"
    with updated_directory(results, ["cpu.md"]) as stage:
        (stage / "cpu.md").write_text("one")
    with (
        pytest.raises(OutputError, match=r"cpu.md has changed since") as err,
        updated_directory(results, ["cpu.md", "gpu.md"]) as stage,
    ):
        (results / "cpu.md").write_text("edited by hand while the benchmark ran")
        (results / "gpu.md").write_text("the user's own")
        (stage / "cpu.md").write_text("two")
        (stage / "gpu.md").write_text("gpu")
    assert (results / "cpu.md").read_text() == "edited by hand while the benchmark ran"
    assert (results / "gpu.md").read_text() == "the user's own"
    kept = Path(str(err.value).rsplit(" in ", 1)[1])
    assert (kept / "cpu.md").read_text() == "two" and (kept / "gpu.md").read_text() == "gpu"
    with updated_directory(results, ["other.md"]) as stage:  # a later run leaves it alone
        (stage / "other.md").write_text("x")
    assert (kept / "cpu.md").read_text() == "two"


def test_a_manifest_that_is_not_ours_is_never_overwritten(tmp_path):
    (tmp_path / MANIFEST).write_text('{"written by": "another tool"}')
    with (
        pytest.raises(OutputError, match=r".dna-tutorial.json is not dna-tutorial's"),
        updated_directory(tmp_path, ["cpu.md"]),
    ):
        pass
    assert (tmp_path / MANIFEST).read_text() == '{"written by": "another tool"}'


@pytest.mark.parametrize("text", ["notes of the user's", ""])
def test_a_users_file_with_a_lock_files_name_is_neither_emptied_nor_removed(tmp_path, text):
    path = lock_path(tmp_path / "r")
    path.write_text(text)
    with (
        pytest.raises(OutputError, match=r"is not a lock file of dna-tutorial"),
        exclusive_lock(path, "r"),
    ):
        pass
    assert path.read_text() == text


def test_the_lock_file_of_a_killed_run_is_taken_over_and_removed(tmp_path):
    path = lock_path(tmp_path / "r")
    path.write_text("pid 999999")  # what a run killed while holding the lock leaves
    with exclusive_lock(path, "r"):
        assert path.read_text() == f"pid {os.getpid()}"
    assert not path.exists()


@pytest.mark.parametrize("kind", ["staged", "updated"])
def test_only_the_disk_refusing_becomes_one_line_other_errors_keep_their_type(tmp_path, kind):
    def output():
        if kind == "staged":
            return staged_directory(tmp_path / "r", "report")
        return updated_directory(tmp_path / "results", ["cpu.md"])

    with pytest.raises(FileNotFoundError), output() as stage:
        (stage / "missing" / "f").read_text()  # a bug in the caller: its traceback stays
    with pytest.raises(PermissionError), output():  # not the output's: a bug, not the user's
        raise PermissionError(13, "Permission denied", "/etc/some-library-file")
    denied = r"cannot write .*cpu.md: Permission denied"
    with pytest.raises(OutputError, match=denied), output() as stage:
        raise PermissionError(13, "Permission denied", str(stage / "cpu.md"))
    full = r"cannot write .*cpu.md: No space left on device"
    with pytest.raises(OutputError, match=full), output() as stage:
        raise OSError(28, "No space left on device", str(stage / "cpu.md"))
