"""XLA:CPU's switches, each alone, on the JAX epochs the grid finds slow.

XLA reads ``XLA_FLAGS`` once, when its CPU backend starts, so every setting runs in a
fresh interpreter (``--one``), which times each workload's first epoch from the same
initial weights (compilation included) and then its fastest of ``repeats`` more, and
records the first epoch's mean loss: a switch that changed the arithmetic shows there.

    python -m benchmarks.xla_flags [--quick] [--repeats N] [--out DIR]

writes ``xla-flags-cpu.json`` and ``xla-flags-cpu.md`` (``xla-flags-cpu-quick.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dna_tutorial.errors import ConfigError
from dna_tutorial.outputs import json_text, updated_directory

#: (name, XLA_FLAGS): the switches jaxlib 0.10.2 accepts that could touch a convolution,
#: a matmul or the loop around them (``--xla_cpu_use_thunk_runtime`` is deprecated there).
SETTINGS = (
    ("XLA's defaults", ""),
    ("oneDNN thunks", "--xla_cpu_use_onednn=true"),
    ("oneDNN custom calls", "--xla_cpu_experimental_onednn_custom_call=true"),
    ("oneDNN fusions", "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce"),
    ("XNNPACK fusions", "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise,reduce"),
    ("XNNPACK graph fusion",
     "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY"),
    ("YNNPACK fusions", "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"),
    ("XNNPACK off", "--xla_cpu_use_xnnpack=false"),
    ("Eigen single-threaded", "--xla_cpu_multi_thread_eigen=false"),
    ("FAST_RUNTIME preset", "--xla_cpu_opt_preset=FAST_RUNTIME"),
)  # fmt: skip

#: (model, L, N, B): the issue's workloads (the CNN at L=1000 on one batch of 4,096).
WORKLOADS = (("cnn", 8, 41_942, 128), ("cnn", 1000, 4_096, 4096), ("deep", 8, 41_942, 128),
             ("deep", 200, 8_192, 128))  # fmt: skip
QUICK_WORKLOADS = (("cnn", 20, 300, 64), ("deep", 20, 300, 64))

#: (strategy, kernel): the lesson's epoch (XLA's convolution in ``lax.scan``), the same
#: steps jitted one by one, and the fast engine's fused epoch.
STRATEGIES = (("jax-textbook", "conv"), ("jax-jit-step", "conv"), ("jax-fused-epoch", "matmul"))


def measure_here(workloads, repeats: int) -> list[dict]:
    """Every workload and strategy under this process's ``XLA_FLAGS``."""
    import jax
    import optax

    from benchmarks.strategies import LR, Workload, _jax_loader, jax_model
    from jax_impl import scale
    from jax_impl import train as jtrain

    rows = []
    for model, length, n, batch in workloads:
        w = Workload("train", model, length, n, batch)
        for strategy, kernel in STRATEGIES:
            loader = _jax_loader(w, textbook=strategy == "jax-textbook")
            key = jax.random.key(0)
            xb, _ = loader.batch(jax.numpy.arange(1))
            state = jtrain.create_train_state(jax_model(w, kernel), key, xb, optax.sgd(LR))
            step = scale.train_step_stepwise if strategy == "jax-jit-step" else jtrain.train_step
            start = time.perf_counter()
            after, loss = step(state, loader, key)
            first_loss = float(loss)
            first = time.perf_counter() - start
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                after, loss = step(after, loader, key)
                loss.block_until_ready()
                times.append(time.perf_counter() - start)
            rows.append({"workload": w.describe(), "strategy": strategy, "kernel": kernel,
                         "first_s": first, "epoch_s": min(times), "loss": first_loss})  # fmt: skip
    return rows


def run(quick: bool, repeats: int) -> dict:
    """Every setting in its own interpreter; the rows with each one's flags."""
    rows, started = [], time.perf_counter()
    for name, flags in SETTINGS:
        env = {**os.environ, "XLA_FLAGS": flags}
        argv = [sys.executable, "-m", "benchmarks.xla_flags", "--one", "--repeats", str(repeats)]
        done = subprocess.run(argv + ["--quick"] * quick, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{name} ({flags}) failed:\n{done.stderr[-3000:]}")
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            rows.append({"setting": name, "flags": flags, **row})
        print(f"{name}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    from benchmarks.floors import matmul_peak_gflops

    return {"rows": rows, "seconds": time.perf_counter() - started,
            "matmul peak GFLOP/s": matmul_peak_gflops("cpu")}  # fmt: skip


def markdown(result: dict) -> str:
    """One table per workload: each setting's seconds per epoch as a ratio to XLA's
    defaults, and how far its first epoch's loss moved."""
    import jax

    peak = result["matmul peak GFLOP/s"]
    lines = [
        "# XLA:CPU switches on the JAX epochs",
        "",
        f"`python -m benchmarks.xla_flags`: jax {jax.__version__}, {os.cpu_count()} CPU cores "
        f"(float32 matmul peak {peak['jax']:.0f} GFLOP/s in JAX, {peak['torch']:.0f} in torch, "
        f"measured after the run), {result['seconds'] / 60:.0f} min. Seconds per epoch: the "
        "fastest of the repeats after the first epoch; x: the ratio to XLA's defaults (below 1 "
        "is faster); Δ loss: the first epoch's mean loss against XLA's defaults, from the same "
        "weights.",
    ]
    rows = {(r["setting"], r["workload"], r["strategy"]): r for r in result["rows"]}
    default = SETTINGS[0][0]
    for workload in dict.fromkeys(r["workload"] for r in result["rows"]):
        strategies = [s for s, _ in STRATEGIES]
        lines += ["", f"## {workload}", "",
                  "| setting | " + " | ".join(f"{s} s (x) | Δ loss" for s in strategies) + " |",
                  "|---|" + "---:|---:|" * len(strategies)]  # fmt: skip
        for name, _ in SETTINGS:
            cells = []
            for s in strategies:
                row, b = rows[name, workload, s], rows[default, workload, s]
                cells.append(f"{row['epoch_s']:.3g} ({row['epoch_s'] / b['epoch_s']:.2f})")
                cells.append(f"{abs(row['loss'] - b['loss']):.1e}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.xla_flags", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny workloads (seconds)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs after the first")
    parser.add_argument("--out", type=Path, default=Path("bench-report"))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 100:
        parser.error("--repeats must be from 1 to 100")
    workloads = QUICK_WORKLOADS if args.quick else WORKLOADS
    if args.one:
        print(json.dumps(measure_here(workloads, args.repeats)))
        return 0
    stem = "xla-flags-cpu" + ("-quick" if args.quick else "")
    names = [f"{stem}.json", f"{stem}.md"]
    try:
        with updated_directory(args.out, names) as stage:  # checked before the work
            result = run(args.quick, args.repeats)
            (stage / names[0]).write_text(json_text(result), encoding="utf-8")
            (stage / names[1]).write_text(markdown(result), encoding="utf-8")
    except ConfigError as err:
        print(f"python -m benchmarks.xla_flags: {err}", file=sys.stderr)
        return 2
    print(markdown(result))
    print(f"written: {', '.join(str(args.out / n) for n in names)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
