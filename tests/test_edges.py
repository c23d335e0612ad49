"""The file system's and the input's edges, found by an adversarial audit of every command
(187 cases): each test stands for a case that failed or answered unclearly before its fix."""

import gzip
import io
import json
import os
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from dna_tutorial import checkpoint, memory
from dna_tutorial.app.cli import main
from dna_tutorial.errors import CheckpointError, DataFileError, OutputError
from dna_tutorial.outputs import (
    exclusive_lock,
    lock_path,
    staged_directory,
    updated_directory,
    write_manifest,
)

SMALL = "id,seq,score,other\n" + "".join(
    f"s{i},{seq},{i % 5}.5,{i % 3}\n"
    for i, seq in enumerate(
        ["ACGTACGTAC", "TTTTACGATT", "GGGGCCCCAA", "ACGTTATAGC", "AAAAAAAAAA", "CCCCCCCCCC"] * 3
    )
)


def _cli(capsys, *argv) -> tuple[int, str]:
    with redirect_stdout(io.StringIO()):
        try:
            code = main([*map(str, argv)])
        except SystemExit as exit_:
            code = exit_.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if code == 2:
        assert err.count("\n") == 1, err
    return code, err


def _report(path, files=None):
    with staged_directory(path, "report") as stage:
        for name, text in (files or {"metrics.json": "{}"}).items():
            (stage / name).write_text(text)
    return path


# --- Lock files that are not regular files -------------------------------------------------


@pytest.mark.parametrize("what", ["fifo", "dangling link", "link to a user's file"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused_and_left(tmp_path, what):
    """A FIFO raised 'Illegal seek'; a dangling link looped forever; a link to a user's
    file holding 'pid 42' had the file overwritten."""
    path = lock_path(tmp_path / "r")
    users = tmp_path / "mine.txt"
    users.write_text("pid 42")
    if what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "nowhere" if what == "dangling link" else users)
    with (
        pytest.raises(OutputError, match="is in the way of dna-tutorial's lock file"),
        exclusive_lock(path, "r"),
    ):
        pass
    assert users.read_text() == "pid 42" and (path.is_symlink() or path.exists())


# --- Checkpoint directories edited by hand --------------------------------------------------


@pytest.mark.parametrize("record", ["[]", '"x"'])
def test_a_snapshots_record_that_is_not_an_object_is_one_line(tmp_path, record):
    meta = {"model": "linear", "history": {}, "epoch": 1}
    checkpoint.save_snapshot(tmp_path, {"w": np.zeros(2, np.float32)}, {}, meta)
    (tmp_path / "snapshots.json").write_text(record)
    with pytest.raises(CheckpointError, match="was not written by dna-tutorial"):
        checkpoint.save_snapshot(tmp_path, {"w": np.zeros(2, np.float32)}, {}, {**meta, "epoch": 2})


def test_a_latest_that_is_a_fifo_or_empty_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "latest")
    with pytest.raises(CheckpointError, match="latest is not a file"):
        checkpoint.load_snapshot(tmp_path)
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").write_text("")
    with pytest.raises(CheckpointError, match="latest is empty: it names no snapshot"):
        checkpoint.load_snapshot(tmp_path)


def test_a_symbolic_link_where_a_snapshot_goes_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "epoch-0001").symlink_to(tmp_path / "mine")
    with pytest.raises(CheckpointError, match="is a symbolic link where the snapshot of epoch 1"):
        checkpoint.save_snapshot(tmp_path, {"w": np.zeros(2, np.float32)}, {}, {"epoch": 1})
    assert list((tmp_path / "mine").iterdir()) == []


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def trained(tmp_path_factory):
    """A torch CNN checkpoint (2 epochs) of a small file, and the file."""
    root = tmp_path_factory.mktemp("edges")
    data = root / "small.csv"
    data.write_text(SMALL)
    argv = ["run", "--quiet", "--no-tomtom", "--framework", "torch", "--models", "cnn"]
    argv += ["--epochs", "2", "--data", str(data), "--out", str(root / "r")]
    with redirect_stdout(io.StringIO()):
        assert main([*argv, "--checkpoint-dir", str(root / "ck")]) == 0
    return root / "ck", data


def _forge(ckpt: Path, tmp_path: Path, **changes) -> Path:
    """A copy of the checkpoint whose meta.json was edited and its manifest re-sealed."""
    ckpt = shutil.copytree(ckpt, tmp_path / "ck")
    snap = checkpoint.latest_snapshot(ckpt / "torch" / "cnn")
    meta = json.loads((snap / "meta.json").read_text())
    for key, value in changes.items():
        if key in ("num_filters", "kernel_size"):
            meta["options"][key] = value
        else:
            meta[key] = value
    (snap / "meta.json").write_text(json.dumps(meta))
    write_manifest(snap, "snapshot")
    return snap.parent


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"num_filters": 10**12}, "must be an integer from 1 to"),
        ({"num_filters": 2_000_000_000}, "too large for this machine"),
        ({"kernel_size": 50}, "shorter than the CNN's filters (--kernel-size 50)"),
        ({"task": "classify", "model": "classifier", "class_names": []},
         "a classify model needs at least 2 class_names"),
        ({"data": None}, "'data' must be an object"),
    ],
)  # fmt: skip
def test_a_consistently_forged_meta_is_one_line(trained, tmp_path, capsys, changes, said):
    model = _forge(trained[0], tmp_path, **changes)
    for command in ("predict", "explain"):
        extra = ["--out", tmp_path / "e"] if command == "explain" else []
        code, err = _cli(capsys, command, "--checkpoint", model, "--data", trained[1], *extra)
        assert code == 2 and said in err, err


def test_a_snapshot_given_for_its_model_directory_names_the_parent(trained, capsys):
    snap = checkpoint.latest_snapshot(trained[0] / "torch" / "cnn")
    code, err = _cli(capsys, "predict", "--checkpoint", snap, "--data", trained[1])
    assert code == 2 and f"is one snapshot; pass its model's directory, {snap.parent}" in err


# --- Resuming is refused when the data would not be what the run trained on --------------


@pytest.mark.parametrize(
    "change",
    [
        ["--target-col", "other"],  # the same file, another column
        ["--trim-to", "8"],
    ],
)
def test_resume_refuses_other_targets_or_other_reading(trained, tmp_path, capsys, change):
    ckpt = shutil.copytree(trained[0], tmp_path / "ck")
    argv = ["run", "--quiet", "--framework", "torch", "--models", "cnn", "--data", trained[1]]
    code, err = _cli(capsys, *argv, *change, "--epochs", "3", "--resume", ckpt, "--out",
                     tmp_path / "r")  # fmt: skip
    assert code == 2 and "the run differs (data_options" in err


def test_resume_refuses_a_labels_table_that_changed(tmp_path, capsys):
    fasta = tmp_path / "d.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(["ACGTACGTAC"] * 18)))
    labels = tmp_path / "labels.csv"
    labels.write_text("id,score\n" + "".join(f"s{i},{i}\n" for i in range(18)))
    argv = ["run", "--quiet", "--no-tomtom", "--framework", "jax", "--models", "linear"]
    argv += ["--data", fasta, "--labels", labels]
    assert _cli(capsys, *argv, "--epochs", "1", "--checkpoint-dir", tmp_path / "ck", "--out",
                tmp_path / "r")[0] == 0  # fmt: skip
    labels.write_text("id,score\n" + "".join(f"s{i},{-i}\n" for i in range(18)))
    code, err = _cli(capsys, *argv, "--epochs", "2", "--resume", tmp_path / "ck", "--out",
                     tmp_path / "r")  # fmt: skip
    assert code == 2 and "labels: was" in err


def test_a_checkpointed_run_refuses_data_from_a_pipe(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe")
    code, err = _cli(capsys, "run", "--data", tmp_path / "pipe", "--checkpoint-dir",
                     tmp_path / "ck", "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "is not a regular file (a pipe?)" in err


# --- Reading data: bounded memory -----------------------------------------------------------


def test_a_gzip_bomb_is_refused_while_it_decompresses(tmp_path, monkeypatch):
    """A 2.4 MB file that decompresses to 43 million rows took 23 GB before any check."""
    from dna_tutorial.datafiles import read_records

    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb") as f:
        f.write(b"seq,score\n" + b"ACGTACGTAC,1\n" * 3_000_000)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(DataFileError, match=r"bomb.csv.gz: reading it needs about .* GB"):
        read_records(bomb)


def test_a_long_sequence_in_a_csv_field_is_read(tmp_path):
    """csv refused fields over 131,072 characters ('field larger than field limit')."""
    from dna_tutorial.datafiles import read_records

    path = tmp_path / "long.csv"
    path.write_text("seq,score\n" + "".join(f"{'ACGT' * 50_000},{i}\n" for i in range(2)))
    assert len(read_records(path).seqs[0]) == 200_000


def test_an_id_column_asked_for_and_absent_is_refused(tmp_path):
    from dna_tutorial.datafiles import read_records

    path = tmp_path / "d.csv"
    path.write_text("seq,score\nACGT,1\n")
    with pytest.raises(DataFileError, match="no id column 'name'"):
        read_records(path, id_col="name")


@pytest.mark.parametrize("option", [["--target-col", "activity"], ["--labels", "x.csv"]])
def test_predict_refuses_target_options_it_would_ignore(trained, capsys, option):
    model = trained[0] / "torch" / "cnn"
    code, err = _cli(capsys, "predict", "--checkpoint", model, "--data", trained[1], *option)
    assert code == 2 and "reads the sequences only, no targets" in err


# --- Outputs ---------------------------------------------------------------------------------


def test_a_users_copy_named_like_an_old_report_is_kept(tmp_path):
    """``cp -a rep .rep.old-2``: taken for a stale old report and deleted."""
    report = _report(tmp_path / "rep")
    shutil.copytree(report, tmp_path / ".rep.old-2")
    (tmp_path / ".rep.old-mybackup").mkdir()
    shutil.copytree(report, tmp_path / ".rep.old-mybackup" / "inner", dirs_exist_ok=True)
    _report(tmp_path / "rep", {"metrics.json": "new"})
    assert (tmp_path / ".rep.old-2" / "metrics.json").read_text() == "{}"
    assert (tmp_path / ".rep.old-mybackup" / "inner" / "metrics.json").exists()


def test_an_undeletable_file_of_an_old_report_is_kept_aside_not_a_traceback(tmp_path, monkeypatch):
    report = _report(tmp_path / "r", {"metrics.json": "{}", "stuck.png": "png"})
    real = Path.unlink

    def immutable(self, *args, **kwargs):
        if self.name == "stuck.png":
            raise PermissionError(1, "Operation not permitted", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", immutable)
    with pytest.warns(UserWarning, match="kept .*r.previous-"):
        _report(report, {"metrics.json": "new"})
    assert (report / "metrics.json").read_text() == "new"
    previous = next(tmp_path.glob("r.previous-*"))
    assert (previous / "stuck.png").exists()


@pytest.mark.parametrize("kind", ["report", "snapshot"])
def test_results_are_never_added_to_another_kind_of_output(tmp_path, kind):
    folder = _report(tmp_path / "out", {"metrics.json": "{}"}) if kind == "report" else None
    if folder is None:
        meta = {"model": "linear", "history": {}, "epoch": 1}
        checkpoint.save_snapshot(tmp_path, {"w": np.zeros(2, np.float32)}, {}, meta)
        folder = tmp_path / "epoch-0001"
    before = sorted(p.name for p in folder.iterdir())
    with (
        pytest.raises(OutputError, match=f"holds dna-tutorial's {kind} output"),
        updated_directory(folder, ["parity-cpu.md"]),
    ):
        pass
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_dangling_link_as_a_checkpoint_dir_is_named(tmp_path, capsys):
    (tmp_path / "ck").symlink_to(tmp_path / "nowhere")
    code, err = _cli(capsys, "run", "--checkpoint-dir", tmp_path / "ck", "--out", tmp_path / "r")
    assert code == 2 and "is a symbolic link to nothing" in err


# --- Options of the other commands -----------------------------------------------------------


@pytest.mark.parametrize("command", [["parity", "--quick"], ["bench", "--quick"]])
def test_a_device_that_is_not_there_is_refused_before_any_output(tmp_path, capsys, command):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    code, err = _cli(capsys, *command, "--device", "cuda", "--out", tmp_path / "out")
    assert code == 2 and "--device cuda was requested" in err and not (tmp_path / "out").exists()


def test_bench_refuses_a_gpu_strategy_on_the_cpu(tmp_path, capsys):
    code, err = _cli(capsys, "bench", "--strategies", "torch-cuda-graphs", "--out", tmp_path)
    assert code == 2 and "torch-cuda-graphs needs --device cuda" in err


def test_a_run_of_some_strategies_never_replaces_the_full_results():
    from benchmarks.runner import file_names

    assert file_names("cpu", strategies=["torch-eager"])[0] == "cpu-torch-eager.json"
    assert file_names("cpu", quick=True, partial=True)[0] == "cpu-quick-partial.json"


def test_reproduce_refuses_a_seed_given_twice(capsys):
    code, err = _cli(capsys, "reproduce", "koo-eddy", "--quick", "--seeds", "0", "0")
    assert code == 2 and "each seed once" in err


def test_the_advice_for_a_synthetic_task_names_its_own_length_option(tmp_path, capsys):
    code, err = _cli(capsys, "run", "--seq-len", "100000", "--num-seqs", "40", "--models", "cnn",
                     "--num-filters", "100000", "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "shorter sequences (--seq-len)" in err and "--trim-to" not in err


def test_after_a_stop_the_process_ends_without_the_interpreters_shutdown(monkeypatch):
    """A stop during JAX's compilation crashed the interpreter's shutdown (exit 139, in 2 of
    6 SIGTERM and 3 of 4 SIGINT tries): everything of ours is cleaned up by then, so the
    command ends with os._exit."""
    from dna_tutorial.app import stop

    ended = []

    def ends(how):
        def end(code):
            ended.append((how, code))
            raise SystemExit(code)

        return end

    monkeypatch.setattr(stop.os, "_exit", ends("os._exit"))
    monkeypatch.setattr(stop.sys, "exit", ends("sys.exit"))
    for code in (143, 2):
        with pytest.raises(SystemExit):
            stop.exit_with(code)
    assert ended == [("os._exit", 143), ("sys.exit", 2)]
