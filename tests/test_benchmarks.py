"""The benchmark scripts run end to end (quick mode); FLOP counts by hand. No timing
assertions: benchmarks are measured by running them, not by tests."""

import json

import pytest

from benchmarks.flops import inference_flops, train_flops
from benchmarks.options import GPU_ONLY, INFER_STRATEGIES, TRAIN_STRATEGIES
from benchmarks.timing import measure
from dna_tutorial.app.cli import main


def test_flop_counts_by_hand():
    # CNN at L=8: conv 2*6*32*(3*4) = 4608, dense 2*6*32 = 384
    assert inference_flops("cnn", 8) == 4608 + 384
    assert train_flops("cnn", 8) == 2 * 4608 + 3 * 384
    assert inference_flops("linear", 8) == 2 * 32 and train_flops("linear", 8) == 2 * 64
    with pytest.raises(ValueError, match="no FLOP count"):
        inference_flops("rnn", 8)


def test_measure_separates_warmup_from_repeats():
    calls = []
    timing = measure(lambda: calls.append(1), repeats=4, warmups=2)
    assert len(calls) == 6 and len(timing.times_s) == 4
    assert timing.min_s <= timing.median_s <= timing.max_s


@pytest.mark.slow
def test_quick_bench_runs_every_strategy_and_writes_its_results(tmp_path, capsys):
    assert main(["bench", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    seen = {(r["kind"], r["strategy"]) for r in results["results"]}
    expected = {("train", s) for s in TRAIN_STRATEGIES if s not in GPU_ONLY}
    expected |= {("infer", s) for s in INFER_STRATEGIES if s not in GPU_ONLY}
    assert seen == expected
    assert set(results["skipped"]) == GPU_ONLY  # no GPU here: skipped, with the reason
    row = results["results"][0]
    for field in (
        "warmup_s",
        "median_s",
        "min_s",
        "max_s",
        "seq_per_s",
        "gflops",
        "pct_of_peak",
        "flop_floor_s",
        "speedup",
    ):
        assert row[field] is not None
    assert {"torch", "jax"} <= set(results["run"]["versions"])
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
    assert "## quick" in (tmp_path / "results.md").read_text()
    assert "Benchmarks on" in capsys.readouterr().out
