"""Shared reporting: metrics from results, MEME files, bounded figures."""

import json

import numpy as np
import pandas as pd
import pytest

from dna_tutorial.app import plots
from dna_tutorial.pwm import probabilities, read_meme, write_meme
from dna_tutorial.results import ModelResult


def _result(task, truth, pred):
    return ModelResult(
        "m",
        task,
        [3.0, 2.0],
        [3.5, 2.5],
        [1.5, 0.2, 0.3],
        False,
        np.asarray(truth),
        np.asarray(pred),
    )


def test_regression_metrics():
    m = _result("regress", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0]).metrics()
    assert m["test_r2"] == pytest.approx(0.5) and m["test_mse"] == pytest.approx(1 / 3)
    assert (m["final_train_loss"], m["final_val_loss"], m["epochs_run"]) == (2.0, 2.5, 2)


def test_classification_metrics_and_confusion():
    logits = np.array([[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5]], dtype=np.float32)
    m = _result("classify", [0, 1, 2, 2], logits).metrics(num_classes=3)
    assert m["test_accuracy"] == 0.75
    assert m["test_confusion"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_timing_separates_the_first_epoch():
    t = _result("regress", [1.0, 2.0], [1.0, 2.0]).timing()
    assert t == {
        "train_seconds": pytest.approx(2.0),
        "first_epoch_seconds": 1.5,
        "steady_epoch_seconds": 0.25,
    }


def test_meme_round_trip_and_never_fired_filters(tmp_path):
    counts = np.array([[[3, 1, 0, 0], [0, 0, 4, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    path = write_meme(counts, tmp_path / "m.meme")
    motifs = read_meme(path)
    np.testing.assert_allclose(motifs["filter0"], [[0.75, 0.25, 0, 0], [0, 0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(motifs["filter1"], 0.25)  # never fired: uniform
    text = path.read_text()
    assert "nsites= 4" in text and "nsites= 0" in text and "ALPHABET= ACGT" in text


def test_meme_refuses_wrong_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"\(F, k, 4\)"):
        write_meme(np.zeros((3, 4)), tmp_path / "m.meme")


def test_probabilities_with_pseudocounts():
    np.testing.assert_allclose(
        probabilities(np.array([[2, 0, 0, 0]]), 1.0), [[0.5, 1 / 6, 1 / 6, 1 / 6]]
    )


def test_the_interactive_chart_samples_big_test_sets(tmp_path):
    seqs = ["ACGTTATA", "GCGCAAAA", "TTTTTTTT", "AAAAAAAA", "CCCCCCCC"]
    table = pd.DataFrame({"seq": seqs, "truth": np.arange(5.0), "pred": np.arange(5.0) + 0.5})
    path = plots.predictions_chart({"cnn": table}, tmp_path / "all.html")
    assert all(seq in path.read_text() for seq in seqs) and "of 5)" not in path.read_text()
    html = plots.predictions_chart({"cnn": table}, tmp_path / "some.html", max_points=3)
    text = html.read_text()
    assert sum(seq in text for seq in seqs) == 3 and "cnn (random 3 of 5)" in text
    assert json.dumps("TAT") in text  # tooltips keep the motif counts


@pytest.mark.parametrize("length", [8, 30, 1000])
def test_attribution_figures_stay_bounded_and_show_the_largest_effect(tmp_path, length):
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(2)]
    effects = rng.normal(0, 0.01, (2, length, 4)).astype(np.float32)
    effects[:, length - 3, 1] = 5.0  # one strong effect near the end
    ism = imread(plots.ism_maps(seqs, effects, tmp_path / "ism.png", "ISM"))
    logos = imread(plots.attribution_logos(seqs, effects, tmp_path / "logos.png", "logos"))
    for image in (ism, logos):
        assert image.shape[0] < 2_000 and image.shape[1] < 3_000  # pixels, whatever L
    window = plots._window(effects[0])
    assert window.stop - window.start == min(length, plots.MAX_POSITIONS_SHOWN)
    assert window.start <= length - 3 < window.stop
    if length > plots.MAX_POSITIONS_SHOWN:
        assert plots._seq_title(seqs[0], window).endswith(f"(positions 901-1000 of {length})")
