"""The README's figures, drawn from what the project measured.

``python -m dna_tutorial.app.figures --report report --out docs/figures`` draws:

- ``lesson_diffs.png``: how many lines each lesson file of the Flax ports differs from
  PyTorch's by (``diff`` of the files, counted from the source as it is);
- ``parity_cnn.png``: the tutorial's parity plot (predicted against actual test scores)
  of the CNN in each port, from a ``dna-tutorial run`` report;
- ``insertions.png``: what each model learned, the motif insertion table as bars against
  the rule's truth, from the same report;
- ``speedup.png``: where the Linen port's speed comes from, the decomposition of the
  committed benchmark results (``benchmarks/results/cpu.json``, ``gpu.json``).

Each figure says where its numbers come from. The figures are written beside what
``--out`` holds (``dna_tutorial.outputs.updated_directory``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dna_tutorial.app.plots import MAX_SCATTER_POINTS
from dna_tutorial.config import FRAMEWORKS, PACKAGES, PORT_NAMES
from dna_tutorial.outputs import read_json, updated_directory

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ("data", "models", "train", "evaluate", "filters", "interpret", "run")
NAMES = ("lesson_diffs.png", "parity_cnn.png", "insertions.png", "speedup.png")
INSERTIONS = ("TAT", "GCG", "TAT and GCG", "control (CAC)")


def diff_lines(a: Path, b: Path) -> int:
    """Lines ``diff a b`` marks as changed (``<`` and ``>`` lines together): the count a
    learner gets from ``diff a b | grep -c '^[<>]'``."""
    out = subprocess.run(["diff", str(a), str(b)], capture_output=True, text=True).stdout
    return sum(line[:1] in "<>" for line in out.splitlines() if line)


def lesson_diffs(path: Path, root: Path = ROOT) -> Path:
    """Bars: for each lesson file, its lines in PyTorch and the lines ``diff`` changes to
    reach each Flax port (NNX's data.py re-exports Linen's: it is diffed as Linen's)."""
    torch_dir = root / PACKAGES["torch"]
    sizes = [len((torch_dir / f"{p}.py").read_text().splitlines()) for p in PAIRS]
    fig = Figure(figsize=(7.5, 3.2))
    ax = fig.subplots()
    x = np.arange(len(PAIRS))
    ax.bar(x - 0.27, sizes, 0.27, label="lines in reference_torch/", color="#bbbbbb")
    for i, port in enumerate(("nnx", "jax")):
        own = [_lesson_file(root, port, p) for p in PAIRS]
        changed = [diff_lines(torch_dir / f"{p}.py", f) for p, f in zip(PAIRS, own)]
        ax.bar(x + 0.27 * i, changed, 0.27, label=f"lines diff changes ({PORT_NAMES[port]})",
               color=f"C{i}")  # fmt: skip
        for xi, c in zip(x, changed):
            ax.text(xi + 0.27 * i, c, str(c), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{p}.py" for p in PAIRS], fontsize=8)
    ax.set_ylabel("lines")
    ax.set_title("diff reference_torch/X.py {nnx_impl,jax_impl}/X.py: the lesson, side by side")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _lesson_file(root: Path, port: str, pair: str) -> Path:
    own = root / PACKAGES[port] / f"{pair}.py"
    if port == "nnx" and pair == "data":  # a re-export of the Linen port's file
        return root / PACKAGES["jax"] / f"{pair}.py"
    return own


def parity_cnn(report: Path, path: Path, model: str = "cnn") -> Path:
    """The tutorial's parity plot of ``model`` in each port of a run's report."""
    metrics = read_json(report / "metrics.json", "report's metrics")
    ports = [p for p in FRAMEWORKS if p in metrics]
    fig = Figure(figsize=(4.2 * len(ports), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(ports), sharey=True))
    for ax, port in zip(axes, ports):
        table = pd.read_csv(report / port / f"test_predictions_{model}.csv")
        if len(table) > MAX_SCATTER_POINTS:
            table = table.sample(MAX_SCATTER_POINTS, random_state=0)
        r2 = metrics[port]["models"][model]["test_r2"]
        ax.scatter(table["truth"], table["pred"], s=3, alpha=0.15)
        lo = float(min(table["truth"].min(), table["pred"].min()))
        hi = float(max(table["truth"].max(), table["pred"].max()))
        ax.plot([lo, hi], [lo, hi], color="tab:red", linewidth=1)
        ax.set(xlabel="actual score", title=f"{PORT_NAMES[port]}: {model}, test R² = {r2:.3f}")
    axes[0].set_ylabel("predicted score")
    fig.suptitle(_source(metrics), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def insertions(report: Path, path: Path) -> Path:
    """Grouped bars: each model's motif effect (mean and sd) per inserted word and port,
    with the scoring rule's truth."""
    metrics = read_json(report / "metrics.json", "report's metrics")
    bars = []
    for port in (p for p in FRAMEWORKS if p in metrics):
        for model, rows in metrics[port]["learned"].get("insertions", {}).items():
            by = {r["inserted"]: r for r in rows}
            bars.append((f"{model} ({PORT_NAMES[port]})", by))
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    x = np.arange(len(INSERTIONS))
    width = 0.8 / max(len(bars), 1)
    for i, (label, by) in enumerate(bars):
        means = [by[w]["mean"] for w in INSERTIONS]
        sds = [by[w]["sd"] for w in INSERTIONS]
        ax.bar(x - 0.4 + width * (i + 0.5), means, width, yerr=sds, label=label, capsize=2)
    truth = [metrics_truth(bars, w) for w in INSERTIONS]
    ax.scatter(x, truth, marker="_", s=900, color="black", zorder=3, label="the rule's truth")
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.set_xticks(x, [f"insert {w}" for w in INSERTIONS], fontsize=8)
    ax.set_ylabel("predicted motif effect")
    ax.set_title("What did the models learn? Motif insertion against the planted truth")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.text(0.99, 0.01, _source(metrics), ha="right", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def metrics_truth(bars, word: str) -> float:
    return float(bars[0][1][word]["truth"]) if bars else 0.0


def speedup(results: Path, path: Path) -> Path:
    """The decomposition of the Linen port's speed-up over the tutorial's code, per batch
    size, on each device with committed results: (a) no DataLoader, (b) the fused
    compiled loop, (c) the kernel, and their product."""
    devices = [results / f"{d}.json" for d in ("cpu", "gpu")]
    devices = [p for p in devices if p.exists()]
    fig = Figure(figsize=(4.2 * len(devices), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(devices), sharey=True))
    factors = (("dataloader", "(a) no DataLoader"), ("fused_loop", "(b) compiled loop"),
               ("kernel", "(c) kernel"), ("total", "total"))  # fmt: skip
    for ax, file in zip(axes, devices):
        data = json.loads(file.read_text())
        rows = data["decomposition"]
        x = np.arange(len(rows))
        for i, (key, label) in enumerate(factors):
            values = [r[key] for r in rows]
            ax.bar(x - 0.3 + 0.2 * i, values, 0.2, label=label, color=f"C{i}")
            for xi, v in zip(x, values):
                ax.text(xi - 0.3 + 0.2 * i, v, f"{v:.0f}x" if v >= 10 else f"{v:.1f}x",
                        ha="center", va="bottom", fontsize=6)  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks(x, [f"batch {r['batch_size']}" for r in rows], fontsize=8)
        ax.set_title(f"{data['device_name']}", fontsize=9)
    axes[0].set_ylabel("speed-up (x)")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Tutorial CNN, one epoch: where the Linen port's speed-up comes from", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _source(metrics: dict) -> str:
    run = metrics.get("run", {})
    cfg = metrics.get("config", {})
    return (
        f"dna-tutorial run (seed {cfg.get('seed')}, {cfg.get('epochs')} epochs), commit "
        f"{run.get('git_commit', '?')}"
    )


def draw(report: Path, out: Path, results: Path = ROOT / "benchmarks" / "results") -> list[Path]:
    """Every figure into ``out``; returns their paths."""
    with updated_directory(out, NAMES) as stage:
        lesson_diffs(stage / NAMES[0])
        parity_cnn(report, stage / NAMES[1])
        insertions(report, stage / NAMES[2])
        speedup(results, stage / NAMES[3])
    return [out / n for n in NAMES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dna_tutorial.app.figures")
    parser.add_argument("--report", type=Path, default=Path("report"), help="a run's report")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)
    for path in draw(args.report, args.out):
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
