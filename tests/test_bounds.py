"""Bounded at the input's edge: every option is range-checked where it is parsed, values
that only fail together are refused before training, and each refusal is one line with
exit status 2, never a traceback. Each case stands for one that failed before its fix."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dna_tutorial.app import pipeline
from dna_tutorial.app.cli import main
from dna_tutorial.config import RunConfig
from dna_tutorial.datafiles import ReadOptions
from dna_tutorial.dataset import SyntheticOptions
from dna_tutorial.options import Switch, declared, flag

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "dna_tutorial" / "examples" / "sample_activity.csv"


class ReachedTraining(Exception):
    """Raised in place of training: the options were accepted."""


def _outcome(argv: list[str]) -> tuple[int | str, str]:
    """(exit status, or "trains"; stderr) of ``dna-tutorial *argv`` without training."""
    err = io.StringIO()
    flags = os.environ.get("XLA_FLAGS")
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exit_:
                code = exit_.code
            except ReachedTraining:
                code = "trains"
    finally:  # --devices sets virtual devices for JAX: none of that may leak out
        if flags is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = flags
    return code, err.getvalue()


@pytest.fixture
def no_training(monkeypatch):
    def reached(*args, **kwargs):
        raise ReachedTraining

    monkeypatch.setattr(pipeline, "run_port", reached)


def _assert_one_line_or_accepted(code, err: str) -> None:
    assert "Traceback" not in err, err
    assert code in ("trains", 0) or (code == 2 and err.count("\n") == 1), (code, err)


# --- A property: whatever is typed, exit 0 or one line with exit 2 -----------------------

#: Values at and past every edge: integers at the int32 and int64 limits, overflowing
#: floats, non-finite ones, digits of another script, empty and odd text.
ODD = [
    "0", "-1", "1", "2", "3", "7", "8", "64", "65", "1000000", "1000001", "2147483647",
    "2147483648", "4294967295", "4294967296", "9223372036854775807", "99999999999999999999",
    "1e20", "-0", "0.5", "1.0", "1e-300", "1e308", "1e309", "nan", "inf", "-inf", "",
    " ", "x", "é", "١٢", "torch", "jax", "both", "cuda", "deep", "cnn", "linear",
    "3:3:3", "8:3:64", "2147483647:1:1", "1:2147483647:1", "0:1:1", "1:1", "tutorial",
    "jaspar:", "jaspar:MA0000.0",
]  # fmt: skip
#: The options of ``run`` that choose settings (paths and the data file are tested apart).
OPTIONS = [
    (flag(field, opt), opt)
    for settings in (RunConfig, SyntheticOptions, ReadOptions)
    for field, opt in declared(settings)
    if field.name not in ("labels",)
]


@st.composite
def command_lines(draw):
    argv = []
    for name, opt in draw(st.lists(st.sampled_from(OPTIONS), min_size=1, max_size=4)):
        argv.append(name)
        if isinstance(opt.kind, Switch):
            continue
        count = {None: 1, "?": draw(st.integers(0, 1)), "+": draw(st.integers(1, 2))}.get(
            opt.nargs, opt.nargs if isinstance(opt.nargs, int) else draw(st.integers(0, 2))
        )
        argv += [draw(st.sampled_from(ODD)) for _ in range(count)]
    return argv


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_any_options_give_exit_0_or_one_line_with_exit_2(argv, no_training, tmp_path):
    code, err = _outcome(["run", "--quiet", "--out", str(tmp_path / "r"), *argv])
    _assert_one_line_or_accepted(code, err)


# --- The cases that failed, one by one -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--epochs", "99999999999999999999"], "--epochs: expected an integer from 1 to"),
        (["--batch-size", "9223372036854775807"], "--batch-size: expected an integer from 1"),
        (["--batch-size", "1e20"], "--batch-size: expected an integer"),
        (["--devices", "999", "--batch-size", "999"], "from 1 to 64"),
        (["--lr", "inf"], "--lr: expected a finite number above 0, got 'inf'"),
        (["--lr", "nan"], "--lr: expected a finite number above 0"),
        (["--dropout", "0.1", "1"], "--dropout: expected a number in [0, 1)"),
        (["--seq-len", "7", "--num-seqs", "7"], "--num-seqs: expected an integer from 8"),
        (["--models", "deep", "--conv-blocks", "8:3:64", "--seq-len", "20", "--num-seqs", "50"],
         "deep: --conv-blocks 8:3:64 leave no positions of a sequence of 20"),
        (["--seq-len", "2", "--num-seqs", "50"], "use --seq-len 3 or more"),
        (["--framework", "torch", "--devices", "4"], "torch does that with --distributed"),
        (["--framework", "torch", "--jax-init", "flax"], "--jax-init applies to the jax and nnx"),
        (["--framework", "torch", "--jax-impl", "textbook"], "--jax-impl applies to the jax"),
        (["--seq-len", "100000", "--num-seqs", "100000"], "use a smaller --num-seqs or --seq-len"),
        (["--num-filters", "2147483647"], "one example's training step of classifier needs"),
        (["--num-seqs", "50"], "--num-seqs goes with --seq-len or --planted"),
        (["--adamw-lr", "0.1"], "--adamw-lr applies to deep, deep_multilabel, and this run"),
        (["--models", "linear", "--num-filters", "3"], "--num-filters applies to cnn, cnn2d"),
        (["--models", "deep", "--lr", "0.1"], "--lr applies to the SGD-trained models"),
    ],
)  # fmt: skip
def test_each_case_of_the_audit_is_one_line(argv, said, no_training, tmp_path):
    code, err = _outcome(["run", "--quiet", "--out", str(tmp_path / "r"), *argv])
    assert code == 2 and err.count("\n") == 1 and said in err, err
    assert not (tmp_path / "r").exists()


def test_sequences_shorter_than_the_motifs_train_and_report(tmp_path, capsys):
    """--seq-len 1: no word fits for the insertion check, which had no rows to concatenate."""
    argv = ["run", "--quiet", "--framework", "jax", "--models", "linear", "--seq-len", "1"]
    argv += ["--num-seqs", "20", "--epochs", "1", "--no-tomtom", "--out", str(tmp_path / "r")]
    assert main(argv) == 0 and (tmp_path / "r" / "index.html").is_file()


def test_a_folder_where_the_lock_file_goes_is_one_line(tmp_path, no_training):
    (tmp_path / ".r.dna-tutorial.lock").mkdir()
    code, err = _outcome(["run", "--quiet", "--out", str(tmp_path / "r")])
    assert code == 2 and "is in the way of dna-tutorial's lock file" in err, err
    assert (tmp_path / ".r.dna-tutorial.lock").is_dir()


@pytest.mark.parametrize("command", [["parity", "--quick"], ["bench", "--quick"]])
def test_an_unwritable_destination_is_refused_before_a_lock_is_taken(
    tmp_path, monkeypatch, command
):
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(tmp_path / "mnt"):
            raise OSError(30, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    (tmp_path / "mnt").mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, err = _outcome([*command, "--out", str(tmp_path / "mnt" / "new")])
    assert code == 2 and "Read-only file system" in err and err.count("\n") == 1, err
    assert list((tmp_path / "mnt").iterdir()) == []  # no lock file, no folder


def test_paths_that_cannot_be_written_as_text_are_refused(tmp_path, no_training):
    undecodable = os.fsdecode(bytes(tmp_path) + b"/r\xff")  # a name the locale could not read
    code, err = _outcome(["run", "--quiet", "--out", undecodable])
    assert code == 2 and "--out: expected a path that can be written as UTF-8" in err, err


@pytest.mark.slow
def test_the_report_is_utf8_whatever_the_locale(tmp_path):
    """An ASCII locale without Python's UTF-8 mode: writing the report's "R²" raised
    UnicodeEncodeError; a non-ASCII path, which Python then cannot read as text, is refused
    in one line naming the option."""
    env = {**os.environ, "LC_ALL": "POSIX", "PYTHONUTF8": "0"}
    argv = [sys.executable, "-m", "dna_tutorial.app", "run", "--quiet", "--framework", "jax",
            "--models", "linear", "--epochs", "1", "--no-tomtom", "--target-col", "activity",
            "--data", str(SAMPLE)]  # fmt: skip
    done = subprocess.run(
        [*argv, "--out", "r"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "R²" in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    done = subprocess.run([*argv, "--out", "rép"], capture_output=True, env=env, cwd=tmp_path)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "--out: expected a path that can be written as UTF-8" in err
    assert err.count("\n") == 1 and "Traceback" not in err
