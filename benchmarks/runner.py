"""``python -m benchmarks`` / ``dna-tutorial bench``: every strategy on every sweep, one run.

All numbers in one results file come from one process, and the strategies of a workload
are timed in interleaved rounds, so ratios between them are measured side by side. For
each measurement: warm-up (compilation) apart from the steady state, ``repeats`` timed
passes, their median and spread, throughput, achieved GFLOP/s, the FLOP floor (FLOPs /
the matmul peak measured in the same run) and how far above it the median is. The
launch floor is the time of a compiled loop of trivial steps of the same count: what a
fused epoch would take if each step cost only its dispatch.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from benchmarks.flops import inference_flops, train_flops
from benchmarks.options import ENSEMBLE_SIZE, INFER_STRATEGIES, TRAIN_STRATEGIES, build_parser
from benchmarks.strategies import Skip, Workload, prepare
from benchmarks.timing import measure, measure_side_by_side
from dna_tutorial import provenance
from dna_tutorial.files import atomic_write_json, atomic_write_text

BASELINE = "torch-reference"  # training ratios are against the tutorial's own code
INFER_BASELINE = "torch-eager"


@dataclass(frozen=True)
class Sweep:
    """A named list of workloads."""

    name: str
    workloads: tuple[Workload, ...]


def sweeps(quick: bool) -> list[Sweep]:
    """The full grid, or a tiny one that exercises every strategy in seconds (``quick``)."""
    if quick:
        return [
            Sweep(
                "quick",
                # each kind meets both models and both data paths (8-mers, synthetic L)
                tuple(
                    Workload(kind, model, length, 300, 64)
                    for kind, model, length in (
                        ("train", "linear", 8),
                        ("train", "cnn", 20),
                        ("infer", "linear", 20),
                        ("infer", "cnn", 8),
                    )
                ),
            ),
        ]
    tutorial = 41_942  # the tutorial's training set
    return [
        Sweep(
            "batch size (tutorial data, L=8)",
            tuple(
                Workload("train", model, 8, tutorial, bs)
                for model in ("cnn", "linear")
                for bs in (32, 128, 512, 2048, 4096)
            ),
        ),
        Sweep(
            "sequence length (synthetic task, B=128)",
            tuple(
                Workload("train", "cnn", length, n, 128)
                for length, n in ((8, tutorial), (100, 8_192), (1000, 2_048))
            ),
        ),
        Sweep(
            "sequence length, large batches (B=4096)",
            tuple(
                Workload("train", "cnn", length, n, 4096)
                for length, n in ((100, 32_768), (1000, 8_192))
            ),
        ),
        Sweep(
            "dataset size (synthetic task, L=100, B=128)",
            tuple(Workload("train", "cnn", 100, n, 128) for n in (2_048, 16_384, 131_072)),
        ),
        Sweep(
            "inference (tutorial data and synthetic task)",
            tuple(
                Workload("infer", "cnn", length, n, bs)
                for length, n in ((8, tutorial), (1000, 8_192))
                for bs in (128, 4096)
            ),
        ),
    ]


def matmul_peak_gflops(device: str, size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Float32 matmul throughput of each framework on ``device`` (GFLOP/s, best of repeats)."""
    flops = 2 * size**3
    peaks = {}
    dev = torch.device(device)
    a = torch.rand(size, size, device=dev)
    timing = measure(lambda: (a @ a).sum().item(), repeats)
    peaks["torch"] = flops / timing.min_s / 1e9
    platform = "gpu" if device == "cuda" else "cpu"
    with jax.default_device(jax.devices(platform)[0]):
        b = jnp.ones((size, size), jnp.float32)
        mm = jax.jit(lambda m: m @ m)
        timing = measure(lambda: mm(b).block_until_ready(), repeats)
    peaks["jax"] = flops / timing.min_s / 1e9
    return peaks


def launch_floor_seconds(steps: int, device: str, repeats: int = 5) -> float:
    """Seconds for a compiled ``lax.scan`` of ``steps`` near-empty steps on ``device``."""
    platform = "gpu" if device == "cuda" else "cpu"
    with jax.default_device(jax.devices(platform)[0]):
        loop = jax.jit(
            lambda x: jax.lax.scan(lambda c, _: (c * 1.0001 + 1.0, None), x, None, length=steps)[0]
        )
        x = jnp.ones(128, jnp.float32)
        return measure(lambda: loop(x).block_until_ready(), repeats).median_s


def _row(sweep: str, name: str, w: Workload, timing, peak: float, floor_s: float | None) -> dict:
    models = ENSEMBLE_SIZE if name == "jax-vmap-ensemble" else 1
    per_seq = (train_flops if w.kind == "train" else inference_flops)(w.model, w.seq_len)
    total_flops = per_seq * w.num_seqs * models
    median = timing.median_s
    return {
        "sweep": sweep,
        "kind": w.kind,
        "strategy": name,
        "model": w.model,
        "seq_len": w.seq_len,
        "num_seqs": w.num_seqs,
        "batch_size": w.batch_size,
        "models": models,
        "steps": math.ceil(w.num_seqs / w.batch_size),
        "warmup_s": timing.warmup_s,
        "median_s": median,
        "min_s": timing.min_s,
        "max_s": timing.max_s,
        "repeats": len(timing.times_s),
        "seq_per_s": w.num_seqs * models / median,
        "gflops": total_flops / median / 1e9,
        "pct_of_peak": 100 * total_flops / median / 1e9 / peak,
        "flop_floor_s": total_flops / (peak * 1e9),
        "launch_floor_s": floor_s,
    }


def run(
    device: str = "cpu",
    quick: bool = False,
    repeats: int = 5,
    strategies: Iterable[str] | None = None,
    progress: bool = True,
) -> dict:
    """Measure every strategy on every workload; return the JSON-ready results."""
    wanted = set(strategies or (*TRAIN_STRATEGIES, *INFER_STRATEGIES))
    peaks = matmul_peak_gflops(device, size=512 if quick else 2048)
    peak = max(peaks.values())
    repeats = 1 if quick else repeats
    rows, skipped = [], {}
    plan = [(sweep, w) for sweep in sweeps(quick) for w in sweep.workloads]
    floors: dict[int, float] = {}
    for sweep, w in tqdm(plan, desc="bench", disable=not progress):
        runs = {}
        for name in TRAIN_STRATEGIES if w.kind == "train" else INFER_STRATEGIES:
            if name not in wanted:
                continue
            try:
                runs[name] = prepare(name, w, device)
            except Skip as why:
                skipped[name] = str(why)
        steps = math.ceil(w.num_seqs / w.batch_size)
        for name, timing in measure_side_by_side(runs, repeats).items():
            floor = None
            if w.kind == "train" and name.startswith("jax"):
                if steps not in floors:
                    floors[steps] = launch_floor_seconds(steps, device, repeats)
                floor = floors[steps]
            rows.append(_row(sweep.name, name, w, timing, peak, floor))
    _add_ratios(rows)
    info = provenance.run_info()
    return {
        "command": "python -m benchmarks"
        + (" --quick" if quick else "")
        + (f" --device {device}" if device != "cpu" else ""),
        "device": device,
        "device_name": _device_name(device),
        "run": info,
        "matmul_peak_gflops": peaks,
        "repeats": repeats,
        "skipped": skipped,
        "results": rows,
    }


def _device_name(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    m = provenance.machine()
    return f"{m['processor']}, {m['cpu_cores']} CPU cores"


def _add_ratios(rows: list[dict]) -> None:
    """Each row's speed-up over the baseline measured on the same workload."""

    def key(r):
        return (r["kind"], r["model"], r["seq_len"], r["num_seqs"], r["batch_size"])

    base = {
        key(r): r
        for r in rows
        if r["strategy"] == (BASELINE if r["kind"] == "train" else INFER_BASELINE)
    }
    for r in rows:
        b = base.get(key(r))
        # Per model: an ensemble's K models count as K times the work of the baseline's one.
        r["speedup"] = b["median_s"] * r["models"] / r["median_s"] if b else None


def markdown(results: dict) -> str:
    """Results as Markdown: one table per sweep, speed-ups against the baseline."""
    lines = [
        f"# Benchmarks on {results['device_name']}",
        "",
        f"`{results['command']}` at commit {results['run']['git_commit']}; per workload, "
        f"every strategy warmed up once, then {results['repeats']} interleaved timed rounds; "
        "medians.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["run"]["versions"].items()),
        "",
        "Measured float32 matmul peak: "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in results["matmul_peak_gflops"].items()),
        "",
    ]
    if results["skipped"]:
        lines += [
            "Skipped here: " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items()),
            "",
        ]
    for sweep in dict.fromkeys(r["sweep"] for r in results["results"]):
        rows = [r for r in results["results"] if r["sweep"] == sweep]
        lines += [
            f"## {sweep}",
            "",
            "| kind | model | L | N | batch | strategy | warm-up s | median s (min-max) "
            "| seq/s | speed-up | GFLOP/s | % peak | x launch floor |",
            "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            speed = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
            launch = f"{r['median_s'] / r['launch_floor_s']:.1f}" if r["launch_floor_s"] else "-"
            unit = " (model-seq/s)" if r["models"] > 1 else ""
            lines.append(
                f"| {r['kind']} | {r['model']} | {r['seq_len']} | {r['num_seqs']:,} | "
                f"{r['batch_size']} | {r['strategy']} | {r['warmup_s']:.2f} | "
                f"{r['median_s']:.4f} ({r['min_s']:.4f}-{r['max_s']:.4f}) | "
                f"{r['seq_per_s']:,.0f}{unit} | {speed} | {r['gflops']:.2f} | "
                f"{r['pct_of_peak']:.1f} | {launch} |"
            )
        lines.append("")
    base = "the tutorial's own code (torch-reference)"
    lines += [
        f"Speed-up: the baseline's median over this row's, same workload; training "
        f"against {base}, inference against torch-eager; for the ensemble per model. "
        "% peak: achieved GFLOP/s over the measured matmul peak. x launch floor: "
        "median over a compiled loop of as many trivial steps."
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> Path:
    """Training throughput against batch size, and the speed-up over the baseline."""
    rows = [
        r for r in results["results"] if r["sweep"].startswith("batch size") and r["model"] == "cnn"
    ] or [r for r in results["results"] if r["kind"] == "train"]
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for name in dict.fromkeys(r["strategy"] for r in rows):
        mine = sorted((r for r in rows if r["strategy"] == name), key=lambda r: r["batch_size"])
        sizes = [r["batch_size"] for r in mine]
        ax1.plot(sizes, [r["seq_per_s"] for r in mine], marker="o", label=name)
        if name != BASELINE:
            ax2.plot(sizes, [r["speedup"] or np.nan for r in mine], marker="o", label=name)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set(
        ylabel="training sequences / s (model-seq/s for the ensemble)",
        title="CNN training throughput, tutorial data",
    )
    ax2.axhline(30, color="gray", linestyle=":", linewidth=1)
    ax2.set(ylabel=f"speed-up over {BASELINE}", title="Speed-up, measured in the same run")
    ax1.legend(fontsize=8)
    fig.suptitle(results["device_name"])
    fig.savefig(path, dpi=110)
    return path


def write(results: dict, out: Path) -> list[Path]:
    """``results.json``, ``results.md`` and ``throughput.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        atomic_write_json(out / "results.json", results),
        atomic_write_text(out / "results.md", markdown(results)),
        plot(results, out / "throughput.png"),
    ]


def main_from_args(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    start = time.perf_counter()
    results = run(args.device, args.quick, args.repeats, args.strategies, progress=not args.quiet)
    paths = write(results, args.out)
    print(markdown(results))
    print(f"written: {', '.join(map(str, paths))} ({time.perf_counter() - start:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return main_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
