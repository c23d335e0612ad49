"""Never lose a user's data, and every problem a user can fix is one line with exit 2.

Each test here stands for a defect found by trying the commands as a new user would
(overwritten folders, lost checkpoints, mixed runs, endless plots, tracebacks); it fails
without the fix it names. Refusals are checked to come before any training: the tests
replace the training with a function that fails if it is ever reached.
"""

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from dna_tutorial import checkpoint
from dna_tutorial.app import pipeline
from dna_tutorial.app.cli import main
from dna_tutorial.datafiles import MAX_CLASSES
from dna_tutorial.errors import ConfigError
from dna_tutorial.outputs import exclusive_lock, lock_path

SAMPLE = (
    Path(__file__).resolve().parent.parent / "dna_tutorial" / "examples" / "sample_activity.csv"
)
SMALL = "id,seq,score\n" + "".join(
    f"s{i},{seq},{i % 5}.5\n"
    for i, seq in enumerate(
        ["ACGTACGTAC", "TTTTACGATT", "GGGGCCCCAA", "ACGTTATAGC", "AAAAAAAAAA", "CCCCCCCCCC"] * 3
    )
)


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "in" / "small.csv"
    path.parent.mkdir()
    path.write_text(SMALL)
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Any training reached is a failure: refusals must come first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("training started before the refusal")

    monkeypatch.setattr(pipeline, "run_port", forbidden)


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(["run", "--quiet", "--epochs", "1", *map(str, argv)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1, err  # one line
    return code, err


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


# --- 1. --out never deletes what this project did not write -----------------------------


def test_a_folder_with_its_own_metrics_json_is_refused_and_kept(tmp_path, capsys, no_training):
    mine = tmp_path / "analysis"
    mine.mkdir()
    for name, text in {"metrics.json": "{}", "fit.py": "x = 1", "notes.txt": "n"}.items():
        (mine / name).write_text(text)
    before = _tree(mine)
    code, err = _run(capsys, "--out", mine)
    assert code == 2 and "refusing to replace" in err and _tree(mine) == before


@pytest.mark.parametrize("inside", ["equal", "inside"])
def test_a_checkpoint_dir_inside_or_equal_to_out_is_refused(tmp_path, capsys, no_training, inside):
    out = tmp_path / "r"
    ckpt = out if inside == "equal" else out / "ckpt"
    code, err = _run(capsys, "--out", out, "--checkpoint-dir", ckpt)
    assert code == 2 and "overlap" in err and not out.exists()


def test_a_data_file_inside_out_is_refused_and_kept(tmp_path, capsys, no_training):
    out = tmp_path / "r"
    out.mkdir()
    data = out / "data.csv"
    data.write_text(SMALL)
    code, err = _run(capsys, "--out", out, "--data", data)
    assert code == 2 and "lies inside --out" in err and data.read_text() == SMALL


def test_an_earlier_report_is_replaced_but_not_one_a_user_added_to(tmp_path, small, capsys):
    out = tmp_path / "r"
    args = ("--data", small, "--models", "linear", "--framework", "torch", "--out", out)
    assert _run(capsys, *args)[0] == 0
    assert _run(capsys, *args)[0] == 0  # ours and unchanged: replaced
    (out / "my-notes.txt").write_text("keep")
    code, err = _run(capsys, *args)
    assert code == 2 and "my-notes.txt was not written by dna-tutorial" in err
    assert (out / "my-notes.txt").read_text() == "keep"


# --- 2. a checkpoint directory of another run is never overwritten ------------------------


def test_rerunning_into_a_checkpoint_dir_without_resume_is_refused(tmp_path, small, capsys):
    ckpt = tmp_path / "ckpt"
    common = ("--data", small, "--models", "linear", "--framework", "jax", "--checkpoint-dir", ckpt)
    assert _run(capsys, *common, "--epochs", "2", "--out", tmp_path / "r1")[0] == 0
    before = _tree(ckpt)
    code, err = _run(capsys, *common, "--out", tmp_path / "r2")
    assert code == 2 and f"continue it with --resume {ckpt}" in err
    assert _tree(ckpt) == before and not (tmp_path / "r2").exists()


def test_a_non_empty_folder_is_not_taken_for_a_checkpoint_dir(tmp_path, capsys, no_training):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "thesis.tex").write_text("mine")
    code, err = _run(capsys, "--out", tmp_path / "r", "--checkpoint-dir", tmp_path / "ckpt")
    assert code == 2 and "not empty and is not a dna-tutorial checkpoint directory" in err


def test_pruning_keeps_what_latest_names_not_what_sorts_last(tmp_path):
    meta = {"model": "linear", "history": {}}
    weights = {"w": np.zeros(2, np.float32)}
    old = checkpoint.save_snapshot(tmp_path, weights, {}, {**meta, "epoch": 40})
    assert old.name == "epoch-0040"
    for epoch in (1, 2, 3):
        checkpoint.save_snapshot(tmp_path, weights, {}, {**meta, "epoch": epoch})
    assert checkpoint.latest_snapshot(tmp_path).name == "epoch-0003"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0002",
        "epoch-0003",
        "latest",
        "snapshots.json",
    ]


# --- 3. two runs on one directory: the second is refused -----------------------------------


def test_a_second_run_on_a_locked_out_or_checkpoint_dir_is_refused(tmp_path, capsys, no_training):
    out, ckpt = tmp_path / "r", tmp_path / "ckpt"
    with exclusive_lock(lock_path(out), "another run"):
        code, err = _run(capsys, "--out", out)
    assert code == 2 and "in use by another dna-tutorial run" in err
    with exclusive_lock(ckpt / checkpoint.LOCK, "another run"):
        code, err = _run(capsys, "--out", out, "--checkpoint-dir", ckpt)
    assert code == 2 and "in use by another dna-tutorial run" in err
    assert not out.exists()


# --- 4. too many classes are refused; plots stay bounded -----------------------------------


def test_classify_refuses_a_target_with_too_many_classes(tmp_path, capsys, no_training):
    many = tmp_path / "many.csv"
    rng = np.random.default_rng(0)
    rows = [f"{''.join(rng.choice(list('ACGT'), 12))},{i}" for i in range(MAX_CLASSES + 10)]
    many.write_text("seq,score\n" + "\n".join(rows * 2) + "\n")
    code, err = _run(capsys, "--out", tmp_path / "r", "--data", many, "--task", "classify")
    assert code == 2 and f"more than the {MAX_CLASSES} classes" in err and "--task regress" in err
    code, err = _run(
        capsys, "--out", tmp_path / "r", "--data", SAMPLE, "--target-col", "activity",
        "--task", "classify",
    )  # fmt: skip
    assert code == 2 and "distinct values" in err


def test_a_confusion_matrix_of_many_classes_draws_fast_and_small(tmp_path):
    import time

    from dna_tutorial.app.plots import confusion_plot

    names = [f"class {i}" for i in range(MAX_CLASSES)]
    start = time.perf_counter()
    path = confusion_plot(np.ones((MAX_CLASSES, MAX_CLASSES), int), names, tmp_path / "c.png")
    assert time.perf_counter() - start < 20 and path.stat().st_size < 200_000


# --- 5. damaged checkpoints and bad options are one line ---------------------------------


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def trained(tmp_path_factory):
    """A checkpoint of each port's CNN (2 epochs on the shipped sample)."""
    root = tmp_path_factory.mktemp("trained")
    argv = ["run", "--quiet", "--epochs", "2", "--models", "cnn", "--data", str(SAMPLE)]
    argv += ["--target-col", "activity", "--out", str(root / "r"), "--checkpoint-dir"]
    assert main([*argv, str(root / "ckpt")]) == 0
    return root / "ckpt"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _snapshot(ckpt: Path, framework: str) -> Path:
    model = ckpt / framework / "cnn"
    return model / (model / "latest").read_text().strip()


def _reseal(snapshot: Path) -> None:
    """Record a snapshot's files, as edited, in its manifest (what a forger would do)."""
    from dna_tutorial.outputs import write_manifest

    write_manifest(snapshot, "snapshot")


def _predict(capsys, ckpt, *extra) -> tuple[int, str]:
    code = main(["predict", "--checkpoint", str(ckpt), "--data", str(SAMPLE), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("meta_list", "holds a JSON list, not an object"),
        ("meta_missing_key", "'seq_len' must be a int"),
        ("meta_zero_filters", "option 'num_filters' must be an integer from 1"),
        ("meta_negative_length", "seq_len must be a positive integer, got -5"),
        ("meta_string_length", "'seq_len' must be a int, got '20'"),
        ("meta_not_json", "not a readable checkpoint file"),
        ("weights_shape", "has shape"),
        ("weights_extra", "unexpected ['extra']"),
        ("weights_nan", "holds NaN or infinity"),
        ("weights_truncated", "not a readable safetensors file"),
    ],
)
@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_line_naming_the_file(
    trained, tmp_path, capsys, framework, damage, message
):
    from dna_tutorial.weights import load_weights, save_weights

    ckpt = _copy(trained, tmp_path / "ckpt")
    snap = _snapshot(ckpt, framework)
    meta = json.loads((snap / "meta.json").read_text())
    target = snap / ("meta.json" if damage.startswith("meta") else "weights.safetensors")
    if damage == "meta_list":
        target.write_text("[1, 2]")
    elif damage == "meta_missing_key":
        del meta["seq_len"]
        target.write_text(json.dumps(meta))
    elif damage == "meta_zero_filters":
        meta["options"]["num_filters"] = 0
        target.write_text(json.dumps(meta))
    elif damage in ("meta_negative_length", "meta_string_length"):
        meta["seq_len"] = -5 if damage == "meta_negative_length" else "20"
        target.write_text(json.dumps(meta))
    elif damage == "meta_not_json":
        target.write_text('{"model": ')
    elif damage == "weights_truncated":
        target.write_bytes(target.read_bytes()[:100])
    else:
        arrays, _ = load_weights(target)
        if damage == "weights_shape":
            arrays["conv_net.0.weight"] = arrays["conv_net.0.weight"][:5]
        elif damage == "weights_extra":
            arrays["extra"] = np.zeros(1, np.float32)
        else:
            arrays["conv_net.3.bias"] = np.full_like(arrays["conv_net.3.bias"], np.nan)
        save_weights(target, arrays)
    _reseal(snap)  # a damaged file that its manifest vouches for: the checks behind the checksums
    for predictor in ("torch", "jax"):
        code, err = _predict(capsys, snap.parent, "--framework", predictor)
        assert code == 2 and message in err and str(target.parent) in err, err
    resume = ["--models", "cnn", "--data", SAMPLE, "--target-col", "activity"]
    code, err = _run(capsys, *resume, "--framework", framework, "--resume", ckpt, "--epochs", "3",
                     "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and message in err


@pytest.mark.parametrize(
    ("framework", "damage", "message"),
    [
        ("torch", "damaged", "torch's RNG state is missing or damaged"),
        ("torch", "missing", "torch's RNG state is missing or damaged"),
        ("jax", "damaged", "the step counter must be a scalar"),
        ("jax", "missing", "the step counter is missing"),
    ],
)
@pytest.mark.slow
def test_a_damaged_optimizer_state_stops_resume_but_not_predict(
    trained, tmp_path, capsys, framework, damage, message
):
    from dna_tutorial.weights import load_weights, save_weights

    ckpt = _copy(trained, tmp_path / "ckpt")
    snap = _snapshot(ckpt, framework)
    arrays, _ = load_weights(snap / "optimizer.safetensors")
    key = "rng.torch" if framework == "torch" else "step"
    if damage == "missing":
        del arrays[key]
        arrays["unrelated"] = np.zeros(1, np.float32)  # safetensors cannot read back an empty file
    else:
        arrays[key] = arrays[key][:10] if framework == "torch" else np.zeros(3, np.int32)
    save_weights(snap / "optimizer.safetensors", arrays)
    _reseal(snap)
    argv = ("--models", "cnn", "--data", SAMPLE, "--target-col", "activity", "--framework",
            framework, "--resume", ckpt, "--epochs", "3", "--out", tmp_path / "r")  # fmt: skip
    code, err = _run(capsys, *argv)
    assert code == 2 and f"{snap / 'optimizer.safetensors'}: {message}" in err, err
    # 8. predict needs only the weights and meta.json: a damaged or missing optimizer is fine
    assert _predict(capsys, snap.parent)[0] == 0
    (snap / "optimizer.safetensors").unlink()
    _reseal(snap)
    assert _predict(capsys, snap.parent)[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("run_not_json", "run.json: not a readable checkpoint file"),
        ("latest_empty", "jax/cnn/latest is empty: it names no snapshot"),
    ],
)
def test_a_damaged_run_file_or_pointer_stops_resume_naming_it(
    trained, tmp_path, capsys, no_training, damage, message
):
    ckpt = _copy(trained, tmp_path / "ckpt")
    if damage == "run_not_json":
        (ckpt / "run.json").write_text('{"project": ')
    else:
        (ckpt / "jax" / "cnn" / "latest").write_text("")
    argv = ("--models", "cnn", "--data", SAMPLE, "--target-col", "activity", "--resume", ckpt)
    code, err = _run(capsys, *argv, "--epochs", "3", "--out", tmp_path / "r")
    assert code == 2 and message in err and str(ckpt) in err, err


@pytest.mark.slow
def test_predictions_that_overflow_are_refused_not_written_empty(trained, tmp_path, capsys):
    from dna_tutorial.weights import load_weights, save_weights

    ckpt = _copy(trained, tmp_path / "ckpt")
    snap = _snapshot(ckpt, "torch")
    arrays, _ = load_weights(snap / "weights.safetensors")
    huge = {key: np.full_like(array, 1e30) for key, array in arrays.items()}
    save_weights(snap / "weights.safetensors", huge)
    _reseal(snap)
    code, err = _predict(capsys, snap.parent)
    assert code == 2 and "outputs overflow to infinity or NaN" in err, err


@pytest.mark.slow
def test_resume_with_fewer_epochs_than_done_is_refused(trained, tmp_path, capsys, no_training):
    argv = ("--models", "cnn", "--data", SAMPLE, "--target-col", "activity", "--resume", trained)
    code, err = _run(capsys, *argv, "--epochs", "1", "--out", tmp_path / "r")
    assert code == 2 and "has trained 2 epochs; --epochs 1 is fewer" in err


def test_a_seed_out_of_every_frameworks_range_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--seed", str(2**64)])
    assert (
        exit_.value.code == 2
        and "expected an integer from 0 to 4,294,967,295" in capsys.readouterr().err
    )


def test_sequences_shorter_than_the_filters_are_refused_before_training(tmp_path, capsys):
    short = tmp_path / "short.csv"
    short.write_text("seq,score\n" + "".join(f"{s},{i}\n" for i, s in enumerate(["AC", "GT"] * 5)))
    code, err = _run(capsys, "--out", tmp_path / "r", "--data", short)
    assert code == 2 and "shorter than the CNN's filters (--kernel-size 3); use --pad-to 3" in err


# --- 7. an unwritable destination is found before training --------------------------------


def test_an_unwritable_out_is_found_before_training(tmp_path, capsys, no_training, monkeypatch):
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, err = _run(capsys, "--out", tmp_path / "r")
    assert code == 2 and f"cannot write in {tmp_path}: Permission denied" in err


# --- 9, 10. targets, JSON, pipes ------------------------------------------------------------


def test_metrics_json_is_strict_when_r2_is_undefined(tmp_path, capsys):
    flat = tmp_path / "flat.csv"
    rows = ["ACGTACGT", "TTTTACGA", "GGGGCCCC", "AAAAAAAA", "CCCCCCCC", "GGGGGGGG"] * 3
    flat.write_text("seq,score\n" + "".join(f"{s},7\n" for s in rows))  # constant targets
    args = ("--data", flat, "--models", "linear", "--framework", "jax", "--out", tmp_path / "r")
    assert _run(capsys, *args)[0] == 0
    text = (tmp_path / "r" / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["jax"]["models"]["linear"]["test_r2"] is None


@pytest.mark.slow
def test_predict_into_a_closed_pipe_ends_quietly(trained, capsys):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return os.open(os.devnull, os.O_WRONLY)

    with redirect_stdout(ClosedPipe()):
        code = main(
            ["predict", "--checkpoint", str(trained / "jax" / "cnn"), "--data", str(SAMPLE)]
        )
    assert code == 0 and "Traceback" not in capsys.readouterr().err


# --- The error policy: only a user's errors are one line ------------------------------------


def test_a_bug_keeps_its_traceback_and_debug_shows_user_errors_too(tmp_path, monkeypatch, capsys):
    def bug(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(pipeline, "run_port", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["run", "--quiet", "--models", "linear", "--out", str(tmp_path / "r")])
    with pytest.raises(ConfigError):
        main(["--debug", "run", "--data", str(SAMPLE), "--seq-len", "20"])
