"""The benchmark scripts: costs by hand, torch's windows-matmul CNN equal to DNA_CNN, the
decomposition's factors multiply to the whole, and the quick run end to end. No timing
assertions: benchmarks are measured by running them, not by tests."""

import json

import numpy as np
import pytest
import torch

from benchmarks.costs import (
    inference_bytes,
    inference_flops,
    num_params,
    train_bytes,
    train_flops,
)
from benchmarks.grid import QUICK_DEEP
from benchmarks.kernels import MATMUL
from benchmarks.options import CONV_ONLY, GPU_ONLY, INFER_STRATEGIES, TRAIN_STRATEGIES
from benchmarks.runner import decomposition, nnx_bookkeeping
from benchmarks.strategies import kernels
from benchmarks.timing import measure
from dna_tutorial.app.cli import main
from reference_torch.models import build_model


def test_flop_and_byte_counts_by_hand():
    # CNN at L=8: conv 2*6*32*(3*4) = 4608, dense 2*6*32 = 384
    assert inference_flops("cnn", 8) == 4608 + 384
    assert train_flops("cnn", 8) == 2 * 4608 + 3 * 384
    assert inference_flops("linear", 8) == 2 * 32 and train_flops("linear", 8) == 2 * 64
    assert (
        num_params("cnn", 8)
        == 32 * 13 + (32 * 6 + 1)
        == sum(p.numel() for p in build_model("cnn", 8).parameters())
    )
    # 8 bases read twice, 32 x 6 activations written and read, parameters over 128 rows
    assert train_bytes("cnn", 8, 128) == 2 * 8 + 2 * 4 * 192 + 2 * 4 * 609 / 128
    assert inference_bytes("linear", 8, 4) == 8 + 4 + 4 * 33 / 4
    # the deeper CNN at L=8, 'same' convs: 8*32*(7*4), 4*64*(5*32), 128*(2*64), 1*128
    deep = [8 * 32 * 28, 4 * 64 * 160, 128 * 128, 128]
    assert inference_flops("deep", 8) == 2 * sum(deep)
    assert train_flops("deep", 8) == 2 * 2 * deep[0] + 3 * 2 * sum(deep[1:])
    assert num_params("deep", 8) == sum(p.numel() for p in build_model("deep", 8).parameters())
    with pytest.raises(ValueError, match="no FLOP count"):
        inference_flops("rnn", 8)


@pytest.mark.parametrize("name", sorted(MATMUL))
@pytest.mark.parametrize(("seq_len", "filters", "k"), [(8, 32, 3), (20, 7, 5)])
def test_the_torch_windows_matmul_cnn_equals_dna_cnn(name, seq_len, filters, k):
    torch.manual_seed(0)
    reference = build_model(name, seq_len, num_filters=filters, kernel_size=k)
    twin = MATMUL[name](seq_len, filters, k)
    twin.load_state_dict(reference.state_dict())  # the same parameters, by name
    x = torch.randn(33, seq_len, 4, requires_grad=True)
    torch.testing.assert_close(twin(x), reference(x), rtol=1e-5, atol=1e-6)
    (g_ref,) = torch.autograd.grad(reference(x).square().sum(), reference.conv_net[0].weight)
    (g_twin,) = torch.autograd.grad(twin(x).square().sum(), twin.conv_net[0].weight)
    torch.testing.assert_close(g_twin, g_ref, rtol=1e-4, atol=1e-6)


def test_each_strategy_runs_the_kernels_its_framework_has():
    assert kernels("linear", "jax-fused-epoch") == (None,)
    assert kernels("cnn", "torch-eager") == kernels("cnn", "jax-jit-step") == ("conv", "matmul")
    assert kernels("cnn", "torch-reference") == kernels("cnn", "jax-textbook") == ("conv",)
    # the deeper CNN's matmul twin exists in the JAX fast engine, not in benchmarks.kernels
    assert kernels("deep", "torch-eager") == ("conv",)
    assert kernels("deep", "jax-fused-epoch") == ("conv", "matmul")


def test_measure_separates_warmup_from_repeats():
    calls = []
    timing = measure(lambda: calls.append(1), repeats=4, warmups=2)
    assert len(calls) == 6 and len(timing.times_s) == 4
    assert timing.min_s <= timing.median_s <= timing.max_s


def _rows(seconds):
    return [
        {"kind": "train", "model": "cnn", "seq_len": 8, "batch_size": 128, "models": 1,
         "strategy": s, "kernel": k, "median_s": v}
        for (s, k), v in seconds.items()
    ]  # fmt: skip


def test_the_decomposition_multiplies_to_the_total():
    seconds = {
        ("torch-reference", "conv"): 0.36,
        ("torch-eager", "conv"): 0.24,
        ("torch-eager", "matmul"): 0.12,
        ("torch-compile-step", "matmul"): 0.15,
        ("jax-fused-epoch", "conv"): 0.1,
        ("jax-fused-epoch", "matmul"): 0.01,
    }
    (d,) = decomposition(_rows(seconds))
    assert d["dataloader"] * d["fused_loop"] * d["kernel"] == pytest.approx(d["total"])
    assert d["total"] == pytest.approx(36) and d["kernel"] == pytest.approx(10)
    assert d["same_kernel"] == pytest.approx(12) and d["best_vs_best"] == pytest.approx(12)
    assert d["torch_best"] == "torch-eager [matmul]"
    del seconds[("jax-fused-epoch", "conv")]
    assert decomposition(_rows(seconds)) == []  # a factor is missing: no row, not a guess


def test_nnx_bookkeeping_is_the_same_step_with_and_without_objects():
    seconds = {
        ("nnx-jit-step", "conv"): 0.9,
        ("nnx-split-step", "conv"): 0.3,
        ("nnx-fused-epoch", "conv"): 0.2,
        ("jax-textbook", "conv"): 0.25,
    }
    (d,) = nnx_bookkeeping(_rows(seconds))
    assert d["bookkeeping"] == pytest.approx(3) and d["fused_nnx_over_linen"] == pytest.approx(0.8)
    assert d["per_step_ms"] == pytest.approx(0.6 / 328 * 1e3)  # 41,942 rows in 328 batches
    assert decomposition(_rows(seconds)) == []  # no torch rows: no speed-up decomposition
    del seconds[("nnx-split-step", "conv")]
    assert nnx_bookkeeping(_rows(seconds)) == []


@pytest.mark.slow
def test_quick_bench_runs_every_strategy_and_kernel_and_writes_its_results(tmp_path, capsys):
    assert main(["bench", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "cpu-quick.json").read_text())
    seen = {(r["kind"], r["strategy"], r["kernel"]) for r in results["results"]}
    for strategy in TRAIN_STRATEGIES:
        if strategy in GPU_ONLY:
            continue
        kernels = {"conv"} if strategy in CONV_ONLY else {"conv", "matmul"}
        assert {("train", strategy, k) for k in kernels} <= seen
        assert ("train", strategy, None) in seen  # the linear model has no kernel choice
    assert {("infer", s, "matmul") for s in INFER_STRATEGIES if s not in GPU_ONLY} <= seen
    deep = {(r["strategy"], r["kernel"]) for r in results["results"] if r["model"] == "deep"}
    assert {("torch-eager", "conv"), ("jax-fused-epoch", "matmul"), ("jax-jit", "matmul")} <= deep
    # no GPU here, and torch.func cannot vmap BatchNorm: skipped, with the reason
    assert {k.split(" ")[0] for k in results["skipped"]} == {*GPU_ONLY, "torch-func-ensemble"}
    assert results["copy_bandwidth_gbs"]["jax"] > 0 and results["matmul_peak_gflops"]["torch"] > 0
    for row in results["results"]:
        assert row["x_floor"] > 0 and row["binding_floor"] in ("FLOP", "memory")
        assert np.isfinite(row["median_s"]) and row["speedup"] is not None
    assert (tmp_path / "cpu-quick-throughput.png").stat().st_size > 10_000
    assert "## quick" in (tmp_path / "cpu-quick.md").read_text()
    assert {s for s, _ in deep} == set(QUICK_DEEP) - {"torch-func-ensemble"}
    assert "Benchmarks on" in capsys.readouterr().out
    (tmp_path / "cpu-quick.md").write_text("edited by hand")
    assert main(["bench", "--quick", "--quiet", "--out", str(tmp_path)]) == 2  # not overwritten
    assert (tmp_path / "cpu-quick.md").read_text() == "edited by hand"


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [
        pytest.param(  # Ctrl-C, `timeout -s INT`
            KeyboardInterrupt, 130, "stopped by SIGINT after 2 of", marks=pytest.mark.slow
        ),
        (RuntimeError("a bug in a strategy"), 1, "stopped by an error in workload 3 of"),
    ],
)
def test_a_stopped_bench_writes_the_workloads_it_measured(
    tmp_path, monkeypatch, capsys, stop, code, said
):
    from benchmarks import grid, runner

    real, measured = runner.measure_side_by_side, []

    def measure_until_the_third(runs, repeats):
        if len(measured) == 2:
            raise stop
        measured.append(list(runs))
        return real(runs, repeats)

    monkeypatch.setattr(runner, "measure_side_by_side", measure_until_the_third)
    argv = ["bench", "--quick", "--quiet", "--strategies", "torch-eager", "jax-fused-epoch"]
    assert main([*argv, "--out", str(tmp_path)]) == code
    names = runner.file_names("cpu", None, True, argv[-2:], partial=True)  # never the full ones
    results = json.loads((tmp_path / names[0]).read_text())
    plan = [w for sweep in grid.sweeps(quick=True) for w in sweep.workloads]
    assert results["interrupted"].startswith(f"{said} {len(plan)}")
    first_two = {(w.kind, w.model, w.seq_len) for w in plan[:2]}
    assert {(r["kind"], r["model"], r["seq_len"]) for r in results["results"]} == first_two
    assert "TF32 off" in results["precision"]
    assert f"**Incomplete**: {said}" in (tmp_path / names[1]).read_text()
    assert (tmp_path / names[2]).exists()
    err = capsys.readouterr().err
    assert "written what was measured" in err
    assert ("a bug in a strategy" in err) == (code == 1)  # a bug keeps its traceback


def test_sweeps_runs_only_the_sweeps_named_and_names_its_files_after_them(
    tmp_path, monkeypatch, capsys
):
    from benchmarks import grid, runner
    from benchmarks.options import SWEEPS

    assert tuple(s.key for s in grid.sweeps(quick=False)) == SWEEPS
    visited = []
    monkeypatch.setattr(runner, "machine_floors", lambda device, quick: {
        "matmul_peak_gflops": {"torch": 1.0}, "copy_bandwidth_gbs": {"torch": 1.0},
        "peak_gflops": 1.0, "bandwidth_gbs": 1.0})  # fmt: skip
    monkeypatch.setattr(
        runner, "_measure_workload", lambda sweep, w, *rest: (visited.append(sweep.key) or [], {})
    )
    argv = ["bench", "--quiet", "--sweeps", "deep", "length", "deep", "--out", str(tmp_path)]
    assert main(argv) == 0
    grid = {s.key: len(s.workloads) for s in grid.sweeps(quick=False)}
    assert visited == ["length"] * grid["length"] + ["deep"] * grid["deep"]  # grid order
    assert {p.name for p in tmp_path.iterdir()} >= {"cpu-length-deep.json", "cpu-length-deep.md"}
    results = json.loads((tmp_path / "cpu-length-deep.json").read_text())
    assert results["command"] == "python -m benchmarks --sweeps length deep"
    assert main(["bench", "--quick", "--sweeps", "deep", "--out", str(tmp_path)]) == 2
    assert "--sweeps picks from the full grid" in capsys.readouterr().err
