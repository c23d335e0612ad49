"""The Koo & Eddy reproduction: its data, its PWM recipe and its match statistics on
hand-checked inputs, and the quick form of the command end to end."""

import json

import numpy as np
import pytest

from experiments import koo_eddy
from experiments.koo_eddy import (
    activation_pwms,
    clip,
    dataset,
    koo_split,
    match_statistics,
    motifs,
)

#: Widths of the 12 JASPAR 2016 matrices (the authors' repository lists the same).
WIDTHS = {"Arid3a": 6, "CEBPB": 10, "FOSL1": 11, "Gabpa": 11, "MAFK": 15, "MAX": 10,
          "MEF2A": 12, "NFYB": 15, "SP1": 11, "SRF": 16, "STAT1": 11, "YY1": 12}  # fmt: skip


def test_the_planted_motifs_are_the_papers_jaspar_2016_matrices():
    found = motifs()
    assert {m.name: len(m.pwm) for m in found} == WIDTHS
    for m in found:
        np.testing.assert_allclose(m.pwm.sum(axis=1), 1.0)


def test_the_data_is_split_70_10_20_with_labels_on_either_strand():
    assert koo_split(25_000).sizes() == {"train": 17_500, "val": 2_500, "test": 5_000}
    data = dataset(400)
    assert data.task == "multilabel" and data.targets.shape == (400, 12)
    assert data.both_strands and data.targets.sum(axis=1).min() >= 1
    split = data.split
    assert len(set(split.train) | set(split.val) | set(split.test)) == 400


def test_activation_pwms_average_the_windows_weighted_by_activation():
    x = np.eye(4, dtype=np.float32)[[[0, 1, 2, 3, 0, 1]]]  # ACGTAC
    acts = np.zeros((1, 6, 2), np.float32)
    acts[0, 2, 0], acts[0, 3, 0], acts[0, 4, 0] = 4.0, 1.0, 3.0  # 1.0 < half the max: out
    pwms, used = activation_pwms(acts, x, window=3)
    assert used.tolist() == [2, 0]
    # windows centred on 2 (C G T) with weight 4 and on 4 (T A C) with weight 3
    expected = (4 * np.eye(4)[[1, 2, 3]] + 3 * np.eye(4)[[3, 0, 1]]) / 7
    np.testing.assert_allclose(pwms[0], expected)
    np.testing.assert_allclose(pwms[1], 0.25)  # never active: uniform


def test_clip_keeps_informative_columns_and_pads_them():
    flat, sharp = [0.25] * 4, [1.0, 0, 0, 0]
    pwm = np.array([flat] * 6 + [sharp] * 2 + [flat] * 6)
    assert len(clip(pwm)) == 2 + 2 * 3
    assert len(clip(np.array([flat] * 5))) == 5  # nothing informative: left as it is


def test_match_statistics_count_filters_by_their_tf_lists():
    found = [["MA0079.3"], ["MA0601.1", "MA9999.1"], ["MA9999.1"], []]
    stats = match_statistics(found)
    assert stats["match_gt"] == 0.5 and stats["match_jaspar"] == 0.75
    assert stats["tfs_covered"] == ["Arid3a", "SP1"]


def test_the_conclusion_is_read_from_the_numbers():
    def row(variant, gt):
        return {"variant": variant, "match_gt": gt, "auroc": 0.96}

    holds = koo_eddy.conclusion([row("CNN-2", 0.0), row("CNN-4", 0.1), row("CNN-50", 0.9)])
    assert "at most 10%" in holds and "at least 90%" in holds and "conclusion holds" in holds
    fails = koo_eddy.conclusion([row("CNN-2", 0.4), row("CNN-50", 0.5)])
    assert "does not show" in fails


@pytest.mark.slow
def test_the_quick_reproduction_writes_its_table_json_and_logos(tmp_path):
    """Slow: trains two variants in both ports and runs Tomtom."""
    results = koo_eddy.run(tmp_path, koo_eddy.QUICK, progress=False, report=lambda _: None)
    names = koo_eddy.file_names(koo_eddy.QUICK)
    assert {p.name for p in tmp_path.iterdir()} >= set(names) and set(names).isdisjoint(
        koo_eddy.NAMES
    )  # a quick run never replaces the committed full results
    saved = json.loads((tmp_path / "koo_eddy-quick.json").read_text())
    assert len(saved["runs"]) == 4 == len(results["summary"])
    for row in saved["runs"]:
        assert 0 <= row["auroc"] <= 1 and 0 <= row["match_gt"] <= row["match_jaspar"] <= 1
        assert np.asarray(row["pwms"]).shape == (30, 19, 4)
    page = (tmp_path / "koo_eddy-quick.md").read_text()
    for source in ("paper", "torch", "jax"):
        assert page.count(f"| CNN-50 | {source} |") == (1 if source == "paper" else 2)
    assert (tmp_path / "koo_eddy-quick_logos.png").stat().st_size > 20_000
