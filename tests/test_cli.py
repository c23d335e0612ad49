"""The command line end to end: artefacts, provenance, and clear errors on bad input."""

import json
import re

import pytest

from dna_tutorial.app import pipeline
from dna_tutorial.app.cli import main
from dna_tutorial.app.report import FRAMEWORK_TITLES
from dna_tutorial.config import FRAMEWORKS

PORT_FILES = {
    "score_histogram.png",
    "loss_curves.png",
    "parity_linear.png",
    "parity_cnn.png",
    "test_predictions_linear.csv",
    "test_predictions_cnn.csv",
    "confusion_classifier.png",
    "predictions.html",
    "spot_checks.csv",
    "filters_cnn.png",
    "logos_cnn.png",
    "motifs_cnn.meme",
    "filters_classifier.png",
    "logos_classifier.png",
    "motifs_classifier.meme",
    "insertions_linear.csv",
    "insertions_cnn.csv",
    "ism_linear.png",
    "ism_cnn.png",
}


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "report"
    assert main(["run", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_run_writes_every_artefact_for_every_port(report):
    assert (report / "index.html").is_file() and (report / "metrics.json").is_file()
    for fw in FRAMEWORKS:
        assert {p.name for p in (report / fw).iterdir()} == PORT_FILES


@pytest.mark.slow
def test_metrics_hold_results_timing_and_provenance(report):
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["seed"] == 17
    assert metrics["data"]["split"] == {"train": 41_942, "val": 10_486, "test": 13_108}
    assert {"python", "numpy", "torch", "jax", "flax"} <= set(metrics["run"]["versions"])
    for fw in ("torch", "jax"):
        models = metrics[fw]["models"]
        assert set(models) == {"linear", "cnn", "classifier"}
        assert models["cnn"]["test_r2"] > models["linear"]["test_r2"]
        assert 0 <= models["classifier"]["test_accuracy"] <= 1
        assert len(models["classifier"]["test_confusion"]) == 3
        assert metrics[fw]["timing"]["cnn"]["first_epoch_seconds"] > 0
        assert "cpu" in metrics[fw]["device"].lower()


@pytest.mark.slow
def test_index_shows_every_port_and_its_figures(report):
    page = (report / "index.html").read_text()
    assert all(title in page for title in FRAMEWORK_TITLES.values())
    for fw in FRAMEWORKS:
        for name in PORT_FILES - {"spot_checks.csv"}:
            assert f"{fw}/{name}" in page
    assert "speed-up" in page


@pytest.mark.slow
def test_the_report_says_what_the_cnn_learned(report):
    """Motif insertion for every regression model, Tomtom for every conv model (slow: the
    first Tomtom compiles memelite's kernels)."""
    page = (report / "index.html").read_text()
    assert page.count("What did the CNN learn?") == len(FRAMEWORKS)
    for fw in FRAMEWORKS:
        learned = json.loads((report / "metrics.json").read_text())[fw]["learned"]
        assert set(learned["insertions"]) == {"linear", "cnn"}
        rows = {r["inserted"]: r for r in learned["insertions"]["cnn"]}
        assert rows["TAT"]["truth"] == 10 and rows["GCG"]["truth"] == -10
        assert rows["TAT"]["mean"] > rows["control (CAC)"]["mean"] > rows["GCG"]["mean"]
        assert set(learned["tomtom"]) == {"cnn", "classifier"}
        matches = learned["tomtom"]["cnn"]["filters"]
        assert matches and {r["motif"] for r in matches} <= {"TAT", "GCG"}
        assert all(0 <= r["p"] <= r["q"] <= 1 for r in matches)
        assert "Tomtom" in page


@pytest.mark.slow
def test_interactive_chart_is_self_contained_with_tooltips(report):
    chart = (report / "torch" / "predictions.html").read_text()
    assert not re.search(r"<script[^>]+src=", chart)  # nothing fetched from the network
    assert '"TAT"' in chart and '"GCG"' in chart and '"seq"' in chart


@pytest.mark.slow
def test_meme_file_has_one_motif_per_filter(report):
    text = (report / "jax" / "motifs_cnn.meme").read_text()
    assert text.startswith("MEME version 4") and text.count("MOTIF filter") == 32


def _fails(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_option_values_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--epochs", "0"])
    assert exit_.value.code == 2 and "expected an integer from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--framework", "tensorflow"])
    assert "expected one of torch, jax, nnx, all, both, got 'tensorflow'" in capsys.readouterr().err


def test_missing_gpu_is_a_clear_error(tmp_path, capsys):
    err = _fails(
        [
            "run",
            "--framework",
            "torch",
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ],
        capsys,
    )
    assert "--device cuda was requested" in err and not (tmp_path / "r").exists()


def test_a_directory_that_is_not_a_report_is_never_replaced(tmp_path, capsys):
    keep = tmp_path / "precious.txt"
    keep.write_text("do not delete")
    err = _fails(["run", "--epochs", "1", "--out", str(tmp_path), "--quiet"], capsys)
    assert "refusing to replace" in err and keep.read_text() == "do not delete"


@pytest.mark.slow
def test_a_run_that_fails_while_writing_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    def index_that_fails(*args):
        raise OSError(28, "simulated disk error: no space left")  # ENOSPC: the user's to fix

    monkeypatch.setattr(pipeline, "write_index", index_that_fails)
    err = _fails(
        ["run", "--epochs", "1", "--models", "linear", "--out", str(tmp_path / "r"), "--quiet"],
        capsys,
    )
    assert "simulated disk error" in err
    assert list(tmp_path.iterdir()) == []  # neither the report nor its staging directory


@pytest.mark.slow
def test_parity_command_prints_and_writes_the_table(tmp_path, capsys, monkeypatch):
    """The NNX port's quick table: torch against NNX, then NNX against Linen, for the
    tutorial's CNN (every other model's checks are the parity tests' own)."""
    from parity_tests import report

    cnn = [case for case in report.TUTORIAL_CASES if case.name == "cnn"]
    monkeypatch.setattr(report, "TUTORIAL_CASES", cnn)
    assert main(["parity", "--framework", "nnx", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "quantities within tolerance" in out and "cnn (L=8, F=32, k=3) gradient" in out
    assert "PyTorch vs Flax NNX:" in out and "(NNX vs Linen) forward" in out
    table = (tmp_path / "parity-cpu-nnx-quick.md").read_text()
    assert table.startswith("# Parity: PyTorch vs Flax NNX")
    assert "| quantity | max abs diff | max rel diff | tolerance | pass |" in table
    assert json.loads((tmp_path / "parity-cpu-nnx-quick.json").read_text())["passed"] is True
    assert not (tmp_path / "parity-cpu-quick.json").exists()  # --framework nnx: NNX's alone


def test_parity_command_fails_when_a_quantity_is_off(tmp_path, monkeypatch, capsys):
    from parity_tests import compare, report
    from parity_tests.tolerances import EXACT

    monkeypatch.setattr(
        report, "run_parity", lambda *a, **k: [compare.compare("off by one", [1.0], [2.0], EXACT)]
    )
    assert main(["parity", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "off by one" in out and "PyTorch vs Flax Linen:" in out and "vs Flax NNX:" in out
    for stem in ("parity-cpu", "parity-cpu-nnx"):  # the default: both Flax ports
        assert json.loads((tmp_path / f"{stem}.json").read_text())["passed"] is False
    assert main(["parity", "--framework", "torch", "--out", str(tmp_path / "t")]) == 2
    assert "parity holds a Flax port to PyTorch" in capsys.readouterr().err
