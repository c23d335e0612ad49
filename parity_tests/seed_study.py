"""``dna-tutorial parity --training``: do PyTorch and JAX train to the same place?

Each model is trained at the notebook's settings once per seed in every port, and the
seeds' results are compared as distributions (``seed_stats``). Controlled runs separate
the sources of a difference, each a row against PyTorch's own runs:

====================================  =====================  ==========================
row                                    PyTorch run            Flax Linen run
====================================  =====================  ==========================
independent (own weights, own order)   own weights, own order  torch-like draw, own order
same weights, same order               own weights, JAX order  torch's weights, own order
same weights, different orders         own weights, own order  torch's weights, own order
different weights, same order          own weights, JAX order  torch-like draw, own order
Flax's own initialisation              own weights, own order  Flax's init, own order
====================================  =====================  ==========================

Writes ``training-cpu.{json,md}`` and its figures (``training-cpu-seeds.png``,
``training-cpu-divergence.png``); ``--quick`` a few seeds of a few epochs, ``*-quick``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dna_tutorial import provenance, registry
from dna_tutorial.config import PORT_NAMES, RunConfig
from dna_tutorial.outputs import json_text, updated_directory
from parity_tests import seed_stats
from parity_tests.divergence import Curve, divergences
from parity_tests.seeds import (
    FLAX_INIT,
    JAX_ORDER,
    OWN,
    TORCH_WEIGHTS,
    SeedRun,
    linen_seeds,
    metrics,
    nnx_seeds,
    torch_pool,
    torch_seeds_in_workers,
    tutorial_frames,
)

#: The tutorial's three models (every control) and the deeper CNN (ports only).
TUTORIAL_MODELS = ("linear", "cnn", "classifier")
DEEP_MODELS = ("deep",)
#: The metric each model's verdict is read from.
HEADLINE = {"regress": ("test R²",), "classify": ("accuracy", "AUROC")}

#: The runs each row compares: (its name, the torch run, the Flax run, paired by seed?).
ROWS = (
    ("independent", ("torch", OWN), ("jax", OWN), False),
    ("independent", ("torch", OWN), ("nnx", OWN), False),
    ("same weights, same order", ("torch", JAX_ORDER), ("jax", TORCH_WEIGHTS), True),
    ("same weights, different orders", ("torch", OWN), ("jax", TORCH_WEIGHTS), True),
    ("different weights, same order", ("torch", JAX_ORDER), ("jax", OWN), True),
    ("Flax's own initialisation", ("torch", OWN), ("jax", FLAX_INIT), False),
)


@dataclass(frozen=True)
class Settings:
    seeds: int = 30
    control_seeds: int = 10  # torch's runs in the Linen port's order (paired rows)
    deep_seeds: int = 10
    epochs: int = 50
    deep_epochs: int = 50
    divergence_epochs: int = 50
    models: tuple[str, ...] = (*TUTORIAL_MODELS, *DEEP_MODELS)

    @classmethod
    def quick(cls) -> Settings:
        """A few seeds of one epoch, the SGD models of both tasks: the suite's check."""
        return cls(seeds=3, control_seeds=3, epochs=1, divergence_epochs=1,
                   models=("linear", "classifier"))  # fmt: skip


def _train(port: str, name: str, cfg: RunConfig, frames, seeds, condition: str):
    if port == "jax":
        return linen_seeds(name, cfg, frames, seeds, init=condition)
    return nnx_seeds(name, cfg, frames, seeds, init=condition)


def _jobs(settings: Settings) -> list[tuple[str, RunConfig, list[int], tuple[str, str]]]:
    """(model, its settings, the seeds, (port, condition)) of every run the rows need;
    torch's runs in the Linen port's order take the first ``control_seeds`` seeds."""
    jobs = []
    for name in settings.models:
        deep = name in DEEP_MODELS
        cfg = RunConfig(epochs=settings.deep_epochs if deep else settings.epochs)
        seeds = list(range(settings.deep_seeds if deep else settings.seeds))
        wanted = {("torch", OWN), ("jax", OWN), ("nnx", OWN)}
        if not deep:
            wanted |= {run for _, *runs, _ in ROWS for run in runs}
        for run in sorted(wanted):
            jobs.append(
                (
                    name,
                    cfg,
                    seeds[: settings.control_seeds] if run == ("torch", JAX_ORDER) else seeds,
                    run,
                )
            )
    return jobs


def train_all(settings: Settings, progress: bool = True, workers: int = 2) -> dict:
    """Every run of every model: {"runs": {model: {(port, condition): (runs, seconds)}},
    "frames": the tutorial's split}. Torch's seeds train in ``workers`` processes while
    the Flax ports train theirs here, all seeds of a run at once."""
    frames = tutorial_frames()
    jobs = _jobs(settings)
    runs: dict = {}
    bar = tqdm(total=len(jobs), desc="seed study", unit="run", disable=not progress)
    with torch_pool(workers) as pool:
        started = time.perf_counter()
        pending = {
            (name, run): torch_seeds_in_workers(pool, name, cfg, seeds, run[1])
            for name, cfg, seeds, run in jobs
            if run[0] == "torch"
        }
        for name, cfg, seeds, run in jobs:
            if run[0] != "torch":
                tick = time.perf_counter()
                trained = _train(*run[:1], name, cfg, frames, seeds, run[1])
                runs.setdefault(name, {})[run] = (trained, time.perf_counter() - tick)
                bar.update()
        for (name, run), futures in pending.items():
            runs.setdefault(name, {})[run] = ([f.result() for f in futures], math.nan)
            bar.update()
        torch_seconds = time.perf_counter() - started
    bar.close()
    return {"runs": runs, "frames": frames, "torch_seconds": torch_seconds}


def _metric_table(runs: list[SeedRun], name: str, test_df) -> dict[str, list[float]]:
    table: dict[str, list[float]] = {"seed": [float(run.seed) for run in runs]}
    for run in runs:
        for metric, value in metrics(run, name, test_df).items():
            table.setdefault(metric, []).append(value)
    return table


def _paired(a: dict, b: dict, metric: str) -> tuple[list[float], list[float]]:
    """The two runs' values of ``metric`` on the seeds both ran, in seed order."""
    common = sorted(set(a["seed"]) & set(b["seed"]))
    pick = lambda t: [t[metric][t["seed"].index(s)] for s in common]  # noqa: E731
    return pick(a), pick(b)


def analyse(trained: dict) -> dict:
    """Per model: each run's metrics per seed, each port's summaries and every row's tests.
    The margin of a metric is ``MARGIN_SDS`` of PyTorch's own seed-to-seed sd."""
    test_df = trained["frames"][2]
    out = {}
    for name, by_run in trained["runs"].items():
        tables = {key: _metric_table(runs, name, test_df) for key, (runs, _) in by_run.items()}
        reference = tables[("torch", OWN)]
        measured = [m for m in reference if m != "seed"]
        margins = {m: seed_stats.MARGIN_SDS * float(np.std(reference[m], ddof=1)) for m in measured}
        rows = []
        for label, a, b, paired in ROWS:
            if a not in tables or b not in tables:
                continue
            for metric in measured:
                if paired:
                    va, vb = _paired(tables[a], tables[b], metric)
                else:
                    va, vb = tables[a][metric], tables[b][metric]
                test = seed_stats.compare_ports(va, vb, margins[metric], paired)
                rows.append(
                    {"row": label, "a": list(a), "b": list(b), "metric": metric,
                     "seeds": len(va), **test.as_dict()}
                )  # fmt: skip
        out[name] = {
            "task": registry.get(name).task,
            "seconds": {f"{p} {c}": s for (p, c), (_, s) in by_run.items() if p != "torch"},
            "metrics": {f"{p} {c}": t for (p, c), t in tables.items()},
            "summaries": {
                f"{p} {c}": {m: seed_stats.summarize(t[m]).as_dict() for m in measured}
                for (p, c), t in sorted(tables.items(), key=lambda kv: _port_order(kv[0]))
            },
            "rows": rows,
        }
    return out


def _port_order(run: tuple[str, str]) -> tuple[int, str]:
    return ("torch", "nnx", "jax").index(run[0]), run[1]


def verdicts(analysis: dict) -> dict[str, dict[str, str]]:
    """{model: {"Flax Linen test R²": verdict, ...}} from the independent rows."""
    out: dict[str, dict[str, str]] = {}
    for name, result in analysis.items():
        for row in result["rows"]:
            if row["row"] == "independent" and row["metric"] in HEADLINE[_task(result)]:
                label = f"{PORT_NAMES[row['b'][0]]} {row['metric']}"
                out.setdefault(name, {})[label] = row["verdict"]
    return out


def _task(result: dict) -> str:
    return "classify" if result["task"] == "classify" else "regress"


# --- The written results -------------------------------------------------------------------


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def _run_label(run: list[str]) -> str:
    port, cond = run
    return f"{PORT_NAMES[port]} ({cond})"


def ports_table(name: str, result: dict) -> str:
    """Each port's own runs: mean ± sd [95% interval] per metric."""
    keys = [k for k in result["summaries"] if k.endswith(f" {OWN}")]
    head = "| metric | " + " | ".join(PORT_NAMES[k.split()[0]] for k in keys) + " |"
    lines = [head, "|---|" + "---:|" * len(keys)]
    for metric in result["summaries"][keys[0]]:
        cells = []
        for k in keys:
            s = result["summaries"][k][metric]
            cells.append(
                f"{_fmt(s['mean'])} ± {_fmt(s['sd'])} [{_fmt(s['low'])}, {_fmt(s['high'])}]"
            )
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    n = result["summaries"][keys[0]][next(iter(result["summaries"][keys[0]]))]["n"]
    return f"{n} seeds per port; mean ± sd [95% interval of the mean]\n\n" + "\n".join(lines)


def rows_table(result: dict, metrics_shown: tuple[str, ...]) -> str:
    lines = [
        "| row | metric | Flax run | difference (Flax − PyTorch) [95%] | Welch p | margin | "
        "TOST p | paired sd | correlation | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        if r["metric"] not in metrics_shown:
            continue
        lines.append(
            f"| {r['row']} | {r['metric']} | {_run_label(r['b'])} | {_fmt(r['difference'])} "
            f"[{_fmt(r['low'])}, {_fmt(r['high'])}] | {r['p_differ']:.3g} | {_fmt(r['margin'])} | "
            f"{r['p_equivalent']:.3g} | {_fmt(r['paired_sd'])} | {_fmt(r['correlation'], 3)} | "
            f"**{r['verdict']}** |"
        )
    return "\n".join(lines)


def divergence_table(curves: list[Curve]) -> str:
    lines = [
        "| model | precision | max Δ parameter after step 1 | after epoch 1 | after the last "
        "epoch | Δ train loss, last epoch | Δ val loss, last epoch | test metric torch / Linen |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in curves:
        final = " / ".join(f"{c.final[p]:.6f}" for p in ("torch", "jax"))
        lines.append(
            f"| {c.model} | {c.dtype} | {c.step_params[0]:.2g} | {c.epoch_params[0]:.2g} | "
            f"{c.epoch_params[-1]:.2g} | {c.epoch_train[-1]:.2g} | {c.epoch_val[-1]:.2g} | "
            f"{final} |"
        )
    return "\n".join(lines)


def plot_seeds(analysis: dict, path: Path) -> None:
    """One panel per model and headline metric: every seed of every port, with its mean
    and 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(n, m) for n, r in analysis.items() for m in HEADLINE[_task(r)]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.6), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (name, metric) in zip(axes[0], panels):
        result = analysis[name]
        keys = [k for k in result["summaries"] if k.endswith(f" {OWN}")]
        keys += [k for k in result["summaries"] if k == f"jax {FLAX_INIT}"]
        for i, key in enumerate(keys):
            values = np.asarray(result["metrics"][key][metric])
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=9, alpha=0.6)
            s = result["summaries"][key][metric]
            ax.errorbar(
                i + 0.3,
                s["mean"],
                yerr=[[s["mean"] - s["low"]], [s["high"] - s["mean"]]],
                fmt="o",
                color="black",
                ms=3,
                capsize=3,
            )
        labels = [
            PORT_NAMES[k.split()[0]] + ("\nFlax init" if k.endswith(FLAX_INIT) else "")
            for k in keys
        ]
        ax.set_xticks(range(len(keys)), labels, fontsize=7)
        ax.set_title(f"{name}: {metric}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("Each seed trained in each port (mean and 95% interval in black)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_divergence(curves: list[Curve], path: Path) -> None:
    """The largest parameter difference, per step through epoch 1 and per epoch after,
    float32 solid and float64 dashed, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_params, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = dict(zip(dict.fromkeys(c.model for c in curves), plt.cm.tab10.colors))
    for c in curves:
        steps = len(c.step_params)
        x = np.r_[np.arange(1, steps + 1), steps * np.arange(2, len(c.epoch_params) + 1)]
        y = np.r_[c.step_params, c.epoch_params[1:]]
        style = "-" if c.dtype == "float32" else "--"
        ax_params.plot(
            x, np.maximum(y, 1e-18), style, color=colours[c.model], label=f"{c.model} {c.dtype}"
        )
        epochs = np.arange(1, len(c.epoch_train) + 1)
        ax_loss.plot(epochs, np.maximum(c.epoch_train, 1e-18), style, color=colours[c.model])
    for ax, title in (
        (ax_params, "max |Δ parameter|, torch vs Linen"),
        (ax_loss, "|Δ train loss| per epoch"),
    ):
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    ax_params.set_xscale("log")
    ax_params.set_xlabel("optimiser steps (every step of epoch 1, then every epoch)", fontsize=8)
    ax_loss.set_xlabel("epoch", fontsize=8)
    ax_params.legend(fontsize=6, ncol=2)
    fig.suptitle(
        "Same weights, same batches: only rounding differs (float32 solid, float64 dashed)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def file_stem(quick: bool) -> str:
    return "training-cpu" + ("-quick" if quick else "")


def run_and_write(out: Path, quick: bool = False, progress: bool = True) -> int:
    """Train every seed, analyse, and write the tables and figures into ``out``."""
    settings = Settings.quick() if quick else Settings()
    stem = file_stem(quick)
    names = [f"{stem}.json", f"{stem}.md", f"{stem}-seeds.png", f"{stem}-divergence.png"]
    with updated_directory(out, names) as stage:  # checked before the minutes of work
        from benchmarks.floors import matmul_peak_gflops

        peak = matmul_peak_gflops("cpu")  # so that readers can scale the times to their CPU
        start = time.perf_counter()
        trained = train_all(settings, progress)
        analysis = analyse(trained)
        frames = trained["frames"]
        tutorial = [name for name in settings.models if name in TUTORIAL_MODELS]
        curves = divergences(tutorial, RunConfig(epochs=settings.divergence_epochs), frames)
        seconds = time.perf_counter() - start
        seconds = {
            "total": seconds,
            "torch, in its workers": trained["torch_seconds"],
            "matmul peak GFLOP/s": peak,
        }
        _write(stage, stem, settings, analysis, curves, seconds, quick)
    print(f"written: {', '.join(str(Path(out) / n) for n in names)}")
    return 0


def _write(stage: Path, stem: str, settings, analysis, curves, seconds: dict, quick: bool):
    info = provenance.run_info()
    command = "dna-tutorial parity --training" + (" --quick" if quick else "")
    found = verdicts(analysis)
    (stage / f"{stem}.json").write_text(
        json_text(
            {
                "command": command,
                "device": "cpu",
                "precision": "float32 (the divergence curves also float64)",
                "run": info,
                "seconds": seconds,
                "settings": settings.__dict__,
                "alpha": seed_stats.ALPHA,
                "margin_sds": seed_stats.MARGIN_SDS,
                "verdicts": found,
                "models": analysis,
                "divergence": [c.as_dict() for c in curves],
            }
        ),
        encoding="utf-8",
    )
    plot_seeds(analysis, stage / f"{stem}-seeds.png")
    plot_divergence(curves, stage / f"{stem}-divergence.png")
    parts = [
        "# Do PyTorch and JAX train to the same place?",
        f"`{command}` at commit {info['git_commit']}: {seconds['total'] / 60:.1f} min on "
        f"{info['machine']['cpu_cores']} CPU cores (float32 matmul peak "
        f"{seconds['matmul peak GFLOP/s']['torch']:.0f} GFLOP/s in torch, "
        f"{seconds['matmul peak GFLOP/s'].get('jax', math.nan):.0f} in JAX, measured at the "
        "start); " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        METHOD.format(
            margin=seed_stats.MARGIN_SDS,
            alpha=seed_stats.ALPHA,
            smallest=seed_stats.smallest_margin(settings.seeds),
            n=settings.seeds,
        ),
        "## Verdicts\n\n"
        + "\n".join(
            f"- **{name}**: " + "; ".join(f"{k}: {v}" for k, v in found[name].items())
            for name in found
        ),
        f"![every seed]({stem}-seeds.png)",
    ]
    for name, result in analysis.items():
        parts += [
            f"## {name}",
            ports_table(name, result),
            rows_table(result, tuple(result["summaries"][f"torch {OWN}"])),
        ]
    parts += [
        "## The divergence curve: same weights, same batches",
        DIVERGENCE,
        divergence_table(curves),
        f"![divergence]({stem}-divergence.png)",
    ]
    (stage / f"{stem}.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


METHOD = """Each model trained at the notebook's settings (SGD 0.01 for the tutorial's models,
AdamW with its schedule for the deeper CNN; batch 128, 50 epochs, the tutorial's split of the
65,536 8-mers) once per seed in every port: seed s is `dna-tutorial run --seed s`, each port
drawing its own initial weights and batch orders (PyTorch from its global generator, the Flax
ports from `jax.random.key(s)`; both Flax ports draw the same torch-like weights for a seed, in
different batch orders). PyTorch trains its seeds one after another through `run_model`, the
Flax ports all at once under `jax.vmap` of the lesson's `train_step` (tests hold both to single
runs).

Two tests per metric at α = {alpha}: Welch's t-test of "the means differ", and TOST (two one-sided
Welch tests) of "the means lie within ±margin". The margin is {margin} of PyTorch's seed-to-seed
sd: a port difference smaller than half the spread that changing the seed gives cannot change
which port a user would trust. With {n} seeds per port, TOST can establish equivalence only
within about {smallest:.2f} sd even when the means agree, so a verdict of "cannot be told apart"
means the seeds are too few for this margin, not that the ports differ. Verdicts: **equivalent**
(TOST rejects), **differ** (only Welch rejects), **cannot be told apart** (neither).

Paired rows share each seed's weights or order between the ports; their paired sd and
correlation across seeds say how much of a result the shared part decides."""

DIVERGENCE = """Torch's initial weights for seed 17 copied into Flax Linen, and both ports stepped
through the Linen port's batches one step at a time, in float32 and in float64 (the same code;
JAX with `jax.enable_x64`, torch with `.double()`): after every step of the first epoch and every
epoch after, the largest difference of any parameter and the difference of the losses."""
