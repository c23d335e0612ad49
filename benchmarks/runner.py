"""``python -m benchmarks`` / ``dna-tutorial bench``: every strategy and kernel on every
sweep, held against the machine's floors, in one run.

All numbers in one results file come from one process, and the strategies of a workload
are timed in interleaved rounds, so ratios between them are measured side by side. For
each measurement: warm-up (compilation) apart from the steady state, ``repeats`` timed
passes, their median and spread, throughput, and the distance to the floor that binds
(the higher of the FLOP floor and the memory floor, ``benchmarks.costs``, against the
matmul peak and copy bandwidth measured in the same run). JAX rows also report the launch
floor: a compiled loop of as many trivial steps. The decomposition splits the tutorial
CNN's speed-up into what dropping the DataLoader, compiling the loop and the kernel each
buy, every factor a ratio of two rows of the same run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from collections.abc import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from benchmarks import floors
from benchmarks.costs import inference_bytes, inference_flops, train_bytes, train_flops
from benchmarks.grid import (
    BASELINE,
    DECOMPOSITION_BATCHES,
    INFER_BASELINE,
    TUTORIAL_TRAIN,
    Sweep,
    sweeps,
)
from benchmarks.options import (
    ENSEMBLE_SIZE,
    ENSEMBLES,
    GPU_ONLY,
    INFER_STRATEGIES,
    SWEEPS,
    TRAIN_STRATEGIES,
)
from benchmarks.report import markdown, plot
from benchmarks.strategies import Skip, Workload, kernels, prepare
from benchmarks.timing import measure_side_by_side
from dna_tutorial import provenance
from dna_tutorial.app.stop import exit_status, signal_name
from dna_tutorial.errors import ConfigError
from dna_tutorial.outputs import json_text, updated_directory
from parity_tests.compare import full_float32


def _row(sweep: str, name: str, kernel, w: Workload, timing, machine: dict, launch) -> dict:
    models = ENSEMBLE_SIZE if name in ENSEMBLES else 1
    if w.kind == "train":
        per_flops = train_flops(w.model, w.seq_len)
        per_bytes = train_bytes(w.model, w.seq_len, w.batch_size)
    else:
        per_flops = inference_flops(w.model, w.seq_len)
        per_bytes = inference_bytes(w.model, w.seq_len, w.batch_size)
    total_flops = per_flops * w.num_seqs * models
    total_bytes = per_bytes * w.num_seqs * models
    median = timing.median_s
    flop_floor = total_flops / (machine["peak_gflops"] * 1e9)
    memory_floor = total_bytes / (machine["bandwidth_gbs"] * 1e9)
    return {
        "sweep": sweep,
        "kind": w.kind,
        "strategy": name,
        "kernel": kernel,
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
        "gbytes": total_bytes / 1e9,
        "flop_floor_s": flop_floor,
        "memory_floor_s": memory_floor,
        "binding_floor": "memory" if memory_floor > flop_floor else "FLOP",
        "x_floor": median / max(flop_floor, memory_floor),
        "launch_floor_s": launch,
    }


def machine_floors(device: str, quick: bool) -> dict:
    """The matmul peak and the copy bandwidth of ``device``, best of both frameworks."""
    peaks = floors.matmul_peak_gflops(device, size=512 if quick else 2048)
    bandwidth = floors.copy_bandwidth_gbs(device, mib=16 if quick else 256)
    return {
        "matmul_peak_gflops": peaks,
        "copy_bandwidth_gbs": bandwidth,
        "peak_gflops": max(peaks.values()),
        "bandwidth_gbs": max(bandwidth.values()),
    }


def run(
    device: str = "cpu",
    quick: bool = False,
    repeats: int = 5,
    strategies: Iterable[str] | None = None,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> dict:
    """Measure every strategy and kernel on every workload (of the sweeps keyed ``only``);
    return the JSON-ready results."""
    wanted = set(strategies or (*TRAIN_STRATEGIES, *INFER_STRATEGIES))
    repeats = 1 if quick else repeats
    rows, skipped = [], {}
    chosen = [s for s in sweeps(quick) if not only or s.key in only]
    plan = [(sweep, w) for sweep in chosen for w in sweep.workloads]
    launch_floors: dict[int, float] = {}
    interrupted = error = status = None
    with full_float32():
        machine = machine_floors(device, quick)
        for done, (sweep, w) in enumerate(tqdm(plan, desc="bench", disable=not progress)):
            try:
                measured, skips = _measure_workload(
                    sweep, w, device, wanted, repeats, machine, launch_floors
                )
                rows += measured
                skipped |= skips  # only for workloads measured to the end
            except KeyboardInterrupt as err:
                # An hour's grid stopped by Ctrl-C (or a time limit) keeps what it measured.
                interrupted = f"stopped by {signal_name(err)} after {done} of {len(plan)} workloads"
                status = exit_status(err)
                break
            except Exception:
                # A bug: its traceback, and still the workloads measured before it.
                error = traceback.format_exc()
                interrupted = f"stopped by an error in workload {done + 1} of {len(plan)} ({w})"
                break
    _add_ratios(rows)
    command = "python -m benchmarks" + (" --quick" if quick else "")
    command += f" --sweeps {' '.join(only)}" if only else ""
    return {
        "command": command + (f" --device {device}" if device != "cpu" else ""),
        "device": device,
        "device_name": _device_name(device),
        "run": provenance.run_info(),
        **machine,
        "repeats": repeats,
        "precision": "float32, TF32 off in torch (matmul and cuDNN) and in JAX (highest)",
        "interrupted": interrupted,
        "exit_status": status,
        "error": error,
        "skipped": skipped,
        "results": rows,
        "decomposition": decomposition(rows),
        "nnx_bookkeeping": nnx_bookkeeping(rows),
    }


def _measure_workload(
    sweep: Sweep,
    w: Workload,
    device: str,
    wanted: set[str],
    repeats: int,
    machine: dict,
    launch_floors: dict[int, float],
) -> tuple[list[dict], dict[str, str]]:
    """The rows of every wanted strategy and kernel on one workload, timed side by side,
    and the strategies skipped there, with why."""
    # Each workload compiles afresh: dynamo caches by function, and after eight
    # workloads its recompile limit would silently leave torch.compile running eager.
    torch._dynamo.reset()
    runs, skipped = {}, {}
    for name in TRAIN_STRATEGIES if w.kind == "train" else INFER_STRATEGIES:
        if name not in wanted or (sweep.strategies and name not in sweep.strategies):
            continue
        for kernel in kernels(w.model, name):
            try:
                runs[(name, kernel)] = prepare(name, kernel, w, device)
            except Skip as why:
                skipped[f"{name} ({w.model})"] = str(why)
    steps = math.ceil(w.num_seqs / w.batch_size)
    rows = []
    for (name, kernel), timing in measure_side_by_side(runs, repeats).items():
        launch = None
        if w.kind == "train" and name.startswith(("jax", "nnx")):
            if steps not in launch_floors:
                launch_floors[steps] = floors.launch_floor_seconds(steps, device, repeats)
            launch = launch_floors[steps]
        rows.append(_row(sweep.name, name, kernel, w, timing, machine, launch))
    return rows, skipped


def _device_name(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    m = provenance.machine()
    return f"{m['processor']}, {m['cpu_cores']} CPU cores"


def _key(r: dict) -> tuple:
    return (r["kind"], r["model"], r["seq_len"], r["num_seqs"], r["batch_size"])


def _add_ratios(rows: list[dict]) -> None:
    """Each row's speed-up over the baseline measured on the same workload."""
    base = {
        _key(r): r
        for r in rows
        if (r["strategy"], r["kernel"] or "conv")
        == (BASELINE if r["kind"] == "train" else INFER_BASELINE)
    }
    for r in rows:
        b = base.get(_key(r))
        # Per model: an ensemble's K models count as K times the work of the baseline's one.
        r["speedup"] = b["median_s"] * r["models"] / r["median_s"] if b else None


def _tutorial_cnn(rows: list[dict], batch: int) -> dict[tuple, float]:
    """{(strategy, kernel): median seconds} of the tutorial CNN's epoch at ``batch``."""
    return {
        (r["strategy"], r["kernel"]): r["median_s"]
        for r in rows
        if r["kind"] == "train"
        and r["model"] == "cnn"
        and r["seq_len"] == 8
        and r["batch_size"] == batch
        and r["models"] == 1
    }


def nnx_bookkeeping(rows: list[dict]) -> list[dict]:
    """What NNX's objects cost, per batch size of the tutorial CNN: ``nnx-jit-step`` (the
    model and optimizer passed to ``nnx.jit`` every step, split and merged in Python) over
    ``nnx-split-step`` (split once, arrays to ``jax.jit``), the same step and batches; and
    NNX's fused epoch over Linen's textbook one (``nnx-fused-epoch`` over ``jax-textbook``:
    the same loader, layers and arithmetic, bit for bit)."""
    out = []
    for batch in DECOMPOSITION_BATCHES:
        mine = _tutorial_cnn(rows, batch)
        pair = [("nnx-jit-step", "conv"), ("nnx-split-step", "conv")]
        if not all(k in mine for k in pair):
            continue
        linen = ("jax-textbook", "conv") in mine and ("nnx-fused-epoch", "conv") in mine
        steps = math.ceil(TUTORIAL_TRAIN / batch)
        out.append(
            {
                "batch_size": batch,
                "nnx_jit_step_s": mine[pair[0]],
                "nnx_split_step_s": mine[pair[1]],
                "bookkeeping": mine[pair[0]] / mine[pair[1]],
                "per_step_ms": (mine[pair[0]] - mine[pair[1]]) / steps * 1e3,
                "fused_nnx_over_linen": mine[("nnx-fused-epoch", "conv")]
                / mine[("jax-textbook", "conv")]
                if linen
                else None,
            }
        )
    return out


def decomposition(rows: list[dict]) -> list[dict]:
    """The tutorial CNN's training speed-up, split into factors whose product is the whole.

    For each batch size: (a) dropping the DataLoader (``torch-reference`` over
    ``torch-eager``, both ``nn.Conv1d``), (b) the compiled, fused loop (``torch-eager`` over
    ``jax-fused-epoch``, both with the framework's own conv), (c) the kernel
    (``jax-fused-epoch`` with ``nn.Conv`` over the same with the windows matmul). Beside
    them: torch's own kernel and compiled-step factors, torch against JAX with the same
    kernel and the same kind of loop, and the best of each framework against the other.
    """
    out = []
    for batch in DECOMPOSITION_BATCHES:
        mine = _tutorial_cnn(rows, batch)
        need = [
            ("torch-reference", "conv"),
            ("torch-eager", "conv"),
            ("jax-fused-epoch", "conv"),
            ("jax-fused-epoch", "matmul"),
        ]
        if not all(k in mine for k in need):
            continue

        def ratio(a, b, m=mine):
            return m[a] / m[b] if a in m and b in m else None

        torch_best = min((v, k) for k, v in mine.items() if k[0].startswith("torch"))
        jax_best = min((v, k) for k, v in mine.items() if k[0].startswith(("jax", "nnx")))
        out.append(
            {
                "batch_size": batch,
                "seconds": {f"{s} [{k}]": v for (s, k), v in mine.items()},
                "dataloader": ratio(("torch-reference", "conv"), ("torch-eager", "conv")),
                "fused_loop": ratio(("torch-eager", "conv"), ("jax-fused-epoch", "conv")),
                "kernel": ratio(("jax-fused-epoch", "conv"), ("jax-fused-epoch", "matmul")),
                "total": ratio(("torch-reference", "conv"), ("jax-fused-epoch", "matmul")),
                "torch_kernel": ratio(("torch-eager", "conv"), ("torch-eager", "matmul")),
                "torch_compiled_step": ratio(
                    ("torch-eager", "matmul"), ("torch-compile-step", "matmul")
                ),
                "same_kernel": ratio(("torch-eager", "matmul"), ("jax-fused-epoch", "matmul")),
                "best_vs_best": torch_best[0] / jax_best[0],
                "torch_best": f"{torch_best[1][0]} [{torch_best[1][1]}]",
                "jax_best": f"{jax_best[1][0]} [{jax_best[1][1]}]",
            }
        )
    return out


def file_names(
    device: str,
    only: Sequence[str] | None = None,
    quick: bool = False,
    strategies: Sequence[str] | None = None,
    partial: bool = False,
) -> list[str]:
    """What a run on ``device`` writes: ``cpu.json``, ``cpu.md``, ``cpu-throughput.png``.
    A run of part of the grid is named after the part (``gpu-length-deep.json`` for some
    sweeps, ``cpu-torch-eager.json`` for some strategies, ``cpu-quick.json`` for
    ``--quick``), and a stopped run's files end in ``-partial``: none replaces a full
    run's results."""
    parts = ["gpu" if device == "cuda" else device, *(only or ()), *(strategies or ())]
    name = "-".join([*parts, *(["quick"] * quick), *(["partial"] * partial)])
    return [f"{name}.json", f"{name}.md", f"{name}-throughput.png"]


def main_from_args(args: argparse.Namespace) -> int:
    if args.quick and args.sweeps:
        raise ConfigError("--sweeps picks from the full grid; --quick has a sweep of its own")
    if args.device != "cuda" and set(args.strategies or ()) & GPU_ONLY:
        raise ConfigError(
            f"--strategies {' '.join(sorted(set(args.strategies) & GPU_ONLY))} needs --device cuda"
        )
    only = [key for key in SWEEPS if key in args.sweeps] if args.sweeps else None  # grid order
    start = time.perf_counter()
    part = {"only": only, "quick": args.quick, "strategies": args.strategies}
    names, partial = file_names(args.device, **part), file_names(args.device, **part, partial=True)
    with updated_directory(args.out, names + partial) as stage:  # checked before the work
        results = run(
            args.device,
            args.quick,
            args.repeats,
            args.strategies,
            progress=not args.quiet,
            only=only,
        )
        if results["interrupted"]:
            names = partial  # a stopped run never replaces complete results
        (stage / names[0]).write_text(json_text(results), encoding="utf-8")
        (stage / names[1]).write_text(markdown(results), encoding="utf-8")
        plot(results, stage / names[2])
    print(markdown(results))
    written = ", ".join(str(args.out / n) for n in names)
    print(f"written: {written} ({time.perf_counter() - start:.0f} s)")
    if results["error"]:
        print(results["error"], file=sys.stderr)
    if results["interrupted"]:
        print(f"bench {results['interrupted']}; written what was measured", file=sys.stderr)
        return 1 if results["error"] else results["exit_status"]
    return 0
