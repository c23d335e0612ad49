"""The benchmark's results as people read them: the Markdown tables (each row against its
floor, the speed-ups, the decomposition) and the throughput plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from benchmarks.options import (
    TRAIN_STRATEGIES,
)
from benchmarks.runner import BASELINE


def _x(value) -> str:
    return "-" if value is None else f"{value:.1f}x"


def markdown(results: dict) -> str:
    """Results as Markdown: the decomposition, then one table per sweep."""
    lines = [
        f"# Benchmarks on {results['device_name']}",
        "",
        f"`{results['command']}` at commit {results['run']['git_commit']}; per workload, "
        f"every strategy warmed up once, then {results['repeats']} interleaved timed rounds; "
        f"medians. Arithmetic: {results['precision']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["run"]["versions"].items()),
        "",
        "Measured in this run: float32 matmul peak "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in results["matmul_peak_gflops"].items())
        + "; copy bandwidth "
        + ", ".join(f"{k} {v:.1f} GB/s" for k, v in results["copy_bandwidth_gbs"].items())
        + ". The floors use the better of the two.",
        "",
    ]
    if results["interrupted"]:
        lines += [f"**Incomplete**: {results['interrupted']}; the tables hold those.", ""]
    if results["skipped"]:
        lines += [
            "Skipped here: " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items()),
            "",
        ]
    if results["decomposition"]:
        lines += [
            "## Where the speed-up comes from (tutorial CNN, 41,942 8-mers, one epoch)",
            "",
            "| batch | DataLoader dropped | compiled, fused loop | kernel | total | torch's own "
            "kernel | torch compiled step | same kernel, torch vs JAX | "
            "best vs best |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for d in results["decomposition"]:
            lines.append(
                f"| {d['batch_size']} | {_x(d['dataloader'])} | {_x(d['fused_loop'])} | "
                f"{_x(d['kernel'])} | **{_x(d['total'])}** | {_x(d['torch_kernel'])} | "
                f"{_x(d['torch_compiled_step'])} | {_x(d['same_kernel'])} | "
                f"{_x(d['best_vs_best'])} ({d['torch_best']} vs {d['jax_best']}) |"
            )
        lines += [
            "",
            "DataLoader dropped: torch-reference over torch-eager (both nn.Conv1d). Compiled, "
            "fused loop: torch-eager over jax-fused-epoch (each framework's own conv). Kernel: "
            "jax-fused-epoch with nn.Conv over the same with the windows matmul. The three "
            "multiply to the total. Torch's own kernel: torch-eager with Conv1d over the "
            "windows matmul; torch compiled step: torch-eager over torch-compile-step (both "
            "matmul). Same kernel: torch-eager over jax-fused-epoch, both matmul. Best vs "
            "best: the fastest single-model torch row over the fastest JAX (Linen or NNX) row.",
            "",
        ]
    if results.get("nnx_bookkeeping"):
        lines += [
            "## NNX's object bookkeeping (tutorial CNN, 41,942 8-mers, one epoch)",
            "",
            "| batch | nnx.jit per step s | split once, jax.jit per step s | bookkeeping | "
            "per step ms | NNX fused epoch over Linen's |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for d in results["nnx_bookkeeping"]:
            lines.append(
                f"| {d['batch_size']} | {d['nnx_jit_step_s']:.3f} | {d['nnx_split_step_s']:.3f} "
                f"| **{_x(d['bookkeeping'])}** | {d['per_step_ms']:.2f} | "
                f"{_x(d['fused_nnx_over_linen'])} |"
            )
        lines += [
            "",
            "The same step both ways: nnx-jit-step passes the model and optimizer objects to "
            "nnx.jit, which splits them into a graph and arrays and merges them back on every "
            "call; nnx-split-step splits once and hands the arrays to jax.jit. Per step: the "
            "difference over the epoch's steps. The last column: nnx-fused-epoch over "
            "jax-textbook (the same loader, layers and arithmetic).",
            "",
        ]
    for sweep in dict.fromkeys(r["sweep"] for r in results["results"]):
        rows = [r for r in results["results"] if r["sweep"] == sweep]
        lines += [
            f"## {sweep}",
            "",
            "| kind | model | L | N | batch | strategy | kernel | warm-up s | median s (min-max) "
            "| seq/s | speed-up | GFLOP/s | GB moved | binding floor s | x floor | x launch |",
            "|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            launch = f"{r['median_s'] / r['launch_floor_s']:.0f}" if r["launch_floor_s"] else "-"
            unit = " (model-seq/s)" if r["models"] > 1 else ""
            floor = max(r["flop_floor_s"], r["memory_floor_s"])
            lines.append(
                f"| {r['kind']} | {r['model']} | {r['seq_len']} | {r['num_seqs']:,} | "
                f"{r['batch_size']} | {r['strategy']} | {r['kernel'] or '-'} | "
                f"{r['warmup_s']:.2f} | "
                f"{r['median_s']:.4f} ({r['min_s']:.4f}-{r['max_s']:.4f}) | "
                f"{r['seq_per_s']:,.0f}{unit} | {_x(r['speedup'])} | {r['gflops']:.2f} | "
                f"{r['gbytes']:.3f} | {floor:.4f} ({r['binding_floor']}) | "
                f"{r['x_floor']:.0f} | {launch} |"
            )
        lines.append("")
    lines += [
        "Speed-up: the baseline's median over this row's, same workload; training against "
        "the tutorial's own code (torch-reference), inference against torch-eager with "
        "Conv1d; for an ensemble per model. GB moved: what the epoch must move at the least "
        "(benchmarks/costs.py says how it is counted). Binding floor: the higher of FLOPs / "
        "matmul peak and bytes / copy bandwidth; x floor: the median over it. x launch: the "
        "median over a compiled loop of as many trivial steps."
    ]
    return "\n".join(lines) + "\n"


#: One colour per training strategy (ten strategies, ten tab10 colours).
COLOURS = {name: f"C{i}" for i, name in enumerate(TRAIN_STRATEGIES)}


def plot(results: dict, path: Path) -> Path:
    """Training throughput against batch size and the speed-up over the baseline; without
    the batch-size sweep, each training workload's throughput as bars."""
    rows = [
        r for r in results["results"] if r["sweep"].startswith("batch size") and r["model"] == "cnn"
    ]
    if not rows:
        return _plot_workloads(results, path)
    fig = Figure(figsize=(15, 5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for strategy, kernel in dict.fromkeys((r["strategy"], r["kernel"]) for r in rows):
        mine = sorted(
            (r for r in rows if (r["strategy"], r["kernel"]) == (strategy, kernel)),
            key=lambda r: r["batch_size"],
        )
        label = f"{strategy} [{kernel}]" if kernel else strategy
        fmt, colour = ("--" if kernel == "conv" else "-"), COLOURS.get(strategy)
        sizes = [r["batch_size"] for r in mine]
        throughput = [r["seq_per_s"] for r in mine]
        ax1.plot(sizes, throughput, fmt, marker="o", color=colour, label=label)
        if (strategy, kernel) != BASELINE and any(r["speedup"] for r in mine):
            speedups = [r["speedup"] or np.nan for r in mine]
            ax2.plot(sizes, speedups, fmt, marker="o", color=colour, label=label)
    if not ax2.lines:  # e.g. --strategies without the baseline, or an interrupted run
        ax2.text(0.5, 0.5, "no speed-up: the baseline was not measured", ha="center",
                 transform=ax2.transAxes)  # fmt: skip
    for ax in (ax1, ax2) if ax2.lines else (ax1,):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set(
        ylabel="training sequences / s (model-seq/s for ensembles)",
        title="CNN training throughput, tutorial data (dashed: nn.Conv kernel)",
    )
    ax2.set(ylabel="speed-up over torch-reference", title="Speed-up, measured in the same run")
    if ax1.lines:  # beside the plots, where it hides no line
        fig.legend(handles=ax1.lines, loc="outside right upper", fontsize=7)
    fig.suptitle(results["device_name"])
    fig.savefig(path, dpi=110)
    return path


def _plot_workloads(results: dict, path: Path, most: int = 6) -> Path:
    """One panel per training workload (the first ``most``): each strategy and kernel's
    throughput as a bar, hatched for the framework's own convolution."""
    train = [r for r in results["results"] if r["kind"] == "train"]
    workloads = list(dict.fromkeys((r["model"], r["seq_len"], r["num_seqs"], r["batch_size"])
                                   for r in train))[:most]  # fmt: skip
    fig = Figure(figsize=(6 * max(len(workloads), 1), 5.5), layout="constrained")
    axes = fig.subplots(1, len(workloads), squeeze=False)[0] if workloads else []
    for ax, (model, length, n, batch) in zip(axes, workloads):
        mine = [r for r in train if (r["model"], r["seq_len"], r["num_seqs"], r["batch_size"])
                == (model, length, n, batch)]  # fmt: skip
        labels = [f"{r['strategy']} [{r['kernel']}]" if r["kernel"] else r["strategy"]
                  for r in mine]  # fmt: skip
        bars = ax.barh(labels, [r["seq_per_s"] for r in mine],
                       color=[COLOURS.get(r["strategy"]) for r in mine])  # fmt: skip
        for bar, r in zip(bars, mine):
            bar.set_hatch("//" if r["kernel"] == "conv" else "")
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.grid(True, axis="x", which="both", alpha=0.3)
        ax.set(title=f"{model}, L={length}, N={n:,}, B={batch}",
               xlabel="training sequences / s (model-seq/s for ensembles)")  # fmt: skip
        ax.tick_params(axis="y", labelsize=7)
    if not workloads:
        fig.text(0.5, 0.5, "no training workload was measured", ha="center")
    fig.suptitle(f"{results['device_name']}: training throughput per workload "
                 "(hatched: the framework's own convolution)")  # fmt: skip
    fig.savefig(path, dpi=110)
    return path
