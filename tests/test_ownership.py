"""Nothing this project did not write, or no longer owns, is ever deleted; nothing it
loads is silently different from what it wrote. Each test stands for a case of the second
safety audit that failed before its fix."""

import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from dna_tutorial import checkpoint
from dna_tutorial.app.cli import main
from dna_tutorial.errors import OutputError
from dna_tutorial.outputs import (
    check_replaceable,
    read_manifest,
    remove_owned,
    staged_directory,
    updated_directory,
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


def _run(capsys, *argv) -> tuple[int, str]:
    with redirect_stdout(io.StringIO()):
        code = main(["run", "--quiet", "--no-tomtom", *map(str, argv)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1, err
    return code, err


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


# --- Pruning on --resume takes only the snapshots this run wrote, unchanged -------------


def test_resume_prunes_only_unchanged_snapshots_of_its_own(tmp_path, small, capsys):
    ckpt = tmp_path / "ck"
    args = ("--framework", "jax", "--models", "cnn", "--data", small, "--checkpoint-dir", ckpt)
    assert _run(capsys, *args, "--epochs", "3", "--out", tmp_path / "r1")[0] == 0
    model = ckpt / "jax" / "cnn"
    shutil.copytree(model / "epoch-0003", model / "epoch-best")  # cp -a epoch-0003 epoch-best
    shutil.copytree(model / "epoch-0003", model / "epoch-0003-keep")
    (model / "NOTE.txt").write_text("the best one")
    (model / "epoch-0002" / "predictions.csv").write_text("id,p\n")  # beside the snapshot
    (model / "epoch-0003" / "mine").mkdir()  # an empty folder of the user's
    mine = {n: _tree(model / n) for n in ("epoch-best", "epoch-0003-keep", "epoch-0002")}
    resume = ("--framework", "jax", "--models", "cnn", "--data", small, "--resume", ckpt)
    assert _run(capsys, *resume, "--epochs", "6", "--out", tmp_path / "r2")[0] == 0
    assert {n: _tree(model / n) for n in mine} == mine
    assert (model / "NOTE.txt").read_text() == "the best one"
    assert (model / "epoch-0003" / "mine").is_dir()  # changed: no longer ours to prune
    assert not (model / "epoch-0004").exists()  # ours and unchanged: pruned
    assert checkpoint.latest_snapshot(model).name == "epoch-0006"
    assert (model / "epoch-0005").is_dir()  # the previous latest stays


def test_a_snapshot_is_pruned_only_if_this_run_recorded_it(tmp_path):
    meta = {"model": "linear", "history": {}}
    weights = {"w": np.zeros(2, np.float32)}
    checkpoint.save_snapshot(tmp_path, weights, {}, {**meta, "epoch": 1})
    shutil.copytree(tmp_path / "epoch-0001", tmp_path / "epoch-0009")  # valid, not recorded
    for epoch in (2, 3, 4):
        checkpoint.save_snapshot(tmp_path, weights, {}, {**meta, "epoch": epoch})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["epoch-0003", "epoch-0004", "epoch-0009", "latest", "snapshots.json"]


# --- Manifests list folders; deletion checks them at the moment of deleting -----------------


def _report(path, files=None):
    with staged_directory(path, "report") as stage:
        for name, text in (files or {"metrics.json": "{}", "torch/loss.png": "png"}).items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)
    return path


def test_an_empty_folder_a_user_made_in_a_report_is_not_deleted(tmp_path):
    report = _report(tmp_path / "r", {"metrics.json": "{}", "torch/empty/.keep": ""})
    assert "torch/empty" in read_manifest(report)["folders"]
    (report / "my-figures").mkdir()
    with pytest.raises(OutputError, match=r"the folder .*my-figures was not made by dna-tutorial"):
        check_replaceable(report, "report")
    with pytest.raises(OutputError), staged_directory(report, "report"):
        pass
    assert (report / "my-figures").is_dir()


def test_deleting_an_output_keeps_what_is_not_ours(tmp_path):
    report = _report(tmp_path / "r")
    (report / "torch" / "notes.txt").write_text("mine")
    (report / "mine").mkdir()
    kept = remove_owned(report)
    assert sorted(p.relative_to(report).as_posix() for p in kept) == ["mine", "torch/notes.txt"]
    assert not (report / "metrics.json").exists() and not (report / "torch" / "loss.png").exists()
    assert (report / "torch" / "notes.txt").read_text() == "mine"
    assert remove_owned(_report(tmp_path / "s")) == [] and not (tmp_path / "s").exists()


def test_a_file_added_while_the_work_ran_keeps_the_new_output_beside(tmp_path):
    report = _report(tmp_path / "r", {"metrics.json": "old"})
    with (
        pytest.raises(OutputError, match=r"notes.txt was not written by dna-tutorial") as err,
        staged_directory(report, "report") as stage,
    ):
        (stage / "metrics.json").write_text("new, an hour of training")
        (report / "notes.txt").write_text("added by the user meanwhile")
    kept = Path(str(err.value).rsplit(" complete in ", 1)[1])
    assert kept.name.startswith("r.new-") and (kept / "metrics.json").read_text().startswith("new")
    assert read_manifest(kept)["kind"] == "report"
    assert (report / "metrics.json").read_text() == "old"
    assert (report / "notes.txt").read_text() == "added by the user meanwhile"
    _report(tmp_path / "s")
    assert kept.exists()  # no later run takes it for a stale stage


@pytest.mark.slow
def test_a_run_whose_out_gained_a_file_keeps_its_report_in_a_named_stage(
    tmp_path, small, capsys, monkeypatch
):
    from dna_tutorial.app import pipeline

    out = tmp_path / "r"
    args = ("--framework", "jax", "--models", "linear", "--data", small, "--out", out)
    assert _run(capsys, *args, "--epochs", "1")[0] == 0
    real = pipeline.run_port

    def train_while_the_user_adds_a_file(*a, **k):
        result = real(*a, **k)
        (out / "my-notes.txt").write_text("keep")
        return result

    monkeypatch.setattr(pipeline, "run_port", train_while_the_user_adds_a_file)
    code, err = _run(capsys, *args, "--epochs", "2")
    assert code == 2 and "my-notes.txt was not written by dna-tutorial" in err
    kept = Path(err.rsplit(" complete in ", 1)[1].strip())
    assert (kept / "index.html").is_file() and (out / "my-notes.txt").read_text() == "keep"


# --- --quick never replaces full results ---------------------------------------------------


def test_quick_runs_write_files_of_their_own_names():
    from benchmarks.runner import file_names
    from experiments import koo_eddy

    assert set(koo_eddy.file_names(koo_eddy.QUICK)).isdisjoint(koo_eddy.NAMES)
    assert koo_eddy.file_names(koo_eddy.FULL) == koo_eddy.NAMES
    assert set(file_names("cpu", quick=True)).isdisjoint(file_names("cpu"))


def test_parity_quick_leaves_the_full_results_alone(tmp_path, monkeypatch, capsys):
    from parity_tests import compare, report
    from parity_tests.tolerances import EXACT

    with updated_directory(tmp_path, ["parity-cpu.md"]) as stage:
        (stage / "parity-cpu.md").write_text("the committed full run")
    monkeypatch.setattr(
        report, "run_parity", lambda *a, **k: [compare.compare("same", [1.0], [1.0], EXACT)]
    )
    assert main(["parity", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "parity-cpu.md").read_text() == "the committed full run"
    assert (tmp_path / "parity-cpu-quick.md").is_file()


# --- Nothing silently wrong ------------------------------------------------------------------


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def jax_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("jaxck")
    data = root / "small.csv"
    data.write_text(SMALL)
    argv = ["run", "--quiet", "--no-tomtom", "--framework", "jax", "--models", "cnn", "--epochs"]
    argv += ["2", "--data", str(data), "--out", str(root / "r"), "--checkpoint-dir"]
    with redirect_stdout(io.StringIO()):
        assert main([*argv, str(root / "ck")]) == 0
    return root / "ck", data


def test_a_flipped_byte_in_a_valid_weights_file_is_refused(jax_checkpoint, tmp_path, capsys):
    from dna_tutorial.weights import load_weights

    ckpt = shutil.copytree(jax_checkpoint[0], tmp_path / "ck")
    snap = checkpoint.latest_snapshot(ckpt / "jax" / "cnn")
    raw = bytearray((snap / "weights.safetensors").read_bytes())
    raw[-3] ^= 0x01  # the last float's mantissa: still a readable file
    (snap / "weights.safetensors").write_bytes(bytes(raw))
    load_weights(snap / "weights.safetensors")  # valid safetensors
    with redirect_stdout(io.StringIO()):
        code = main(["predict", "--checkpoint", str(snap.parent), "--data", str(jax_checkpoint[1])])
    err = capsys.readouterr().err
    assert code == 2 and "weights.safetensors has changed since dna-tutorial wrote it" in err


@pytest.mark.parametrize("framework", ["torch", "nnx", "all"])
def test_resuming_in_a_port_the_run_never_checkpointed_is_refused(
    jax_checkpoint, tmp_path, capsys, framework
):
    ckpt, data = jax_checkpoint
    before = _tree(ckpt)
    code, err = _run(capsys, "--framework", framework, "--models", "cnn", "--data", data,
                     "--epochs", "3", "--resume", ckpt, "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "was checkpointed in jax only; pass --framework jax" in err
    assert _tree(ckpt) == before


def test_an_option_the_predicting_port_ignores_is_refused(jax_checkpoint, capsys):
    ckpt, data = jax_checkpoint
    argv = ["predict", "--checkpoint", str(ckpt / "jax" / "cnn"), "--data", str(data)]
    with redirect_stdout(io.StringIO()):
        assert main([*argv, "--jax-impl", "textbook"]) == 0
        assert main([*argv, "--framework", "torch", "--jax-impl", "textbook"]) == 2
    assert "--jax-impl applies to the jax port" in capsys.readouterr().err
