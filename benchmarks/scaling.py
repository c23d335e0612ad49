"""``python -m benchmarks.scaling``: data-parallel throughput and how cost grows with L and N.

Three tables, written to ``scaling.json`` and ``scaling.md``:

1. JAX, the fused epoch on a mesh of 1, 2 and 4 devices (virtual CPU devices here, each
   count in its own process, since JAX fixes its devices when it starts; real GPUs with
   ``--device cuda``).
2. torch DDP with 1 and 2 processes under ``torchrun`` (gloo on CPU, nccl on GPU).
3. One device: the fused JAX epoch and torch on tensors as the sequence length L and the
   number of sequences N grow, in seconds per epoch and nanoseconds per base.

Virtual CPU devices share the same cores, so on CPU the device sweep shows the overhead
of splitting batches rather than a speed-up; the same code scales over real devices.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import measure, measure_side_by_side
from dna_tutorial import provenance
from dna_tutorial.outputs import json_text, updated_directory
from reference_torch.distributed import torchrun

#: The data-parallel workload: the synthetic task, a CNN, batches that split over 4.
DP_SEQ_LEN, DP_NUM_SEQS, DP_BATCH = 200, 32_768, 512
REPEATS = 3


def jax_worker(devices: int, device: str, repeats: int) -> dict:
    """One row of table 1, measured in this process (which has ``devices`` devices)."""
    import jax
    import jax.numpy as jnp
    import optax
    import pandas as pd

    from benchmarks.strategies import dataset
    from dna_tutorial.sequences import decode_codes
    from jax_impl import fast, scale
    from jax_impl.train import create_train_state, train_step

    codes, scores = dataset(DP_SEQ_LEN, DP_NUM_SEQS)
    platform = "gpu" if device == "cuda" else "cpu"
    if jax.devices()[0].platform != platform:
        raise RuntimeError(f"JAX sees no {platform} devices")
    mesh = scale.make_mesh(devices)
    df = pd.DataFrame({"seq": decode_codes(codes), "score": scores})
    loader, _ = fast.build_dataloaders(df, df.iloc[:1], batch_size=DP_BATCH)
    model = fast.build_model("cnn", DP_SEQ_LEN)
    xb, _ = loader.batch(jnp.arange(1))
    state = create_train_state(model, jax.random.key(0), xb, optax.sgd(0.01))
    state, (loader,) = scale.data_parallel(state, [loader], mesh)
    box = [state]

    def run():
        box[0], loss = train_step(box[0], loader, jax.random.key(1))
        loss.block_until_ready()

    timing = measure(run, repeats)
    warmup, median = timing.warmup_s, timing.median_s
    return {
        "framework": "jax",
        "devices": devices,
        "warmup_s": warmup,
        "median_s": median,
        "seq_per_s": DP_NUM_SEQS / median,
    }


def torch_worker(device: str, repeats: int) -> dict | None:
    """One row of table 2, measured across this torchrun job's processes (rank 0 reports)."""
    import torch
    from torch import nn

    from benchmarks.strategies import dataset
    from reference_torch import distributed
    from reference_torch.models import build_model

    rank, world = distributed.setup(device)
    dev = (
        torch.device(device, int(os.environ.get("LOCAL_RANK", 0)))
        if device == "cuda"
        else torch.device("cpu")
    )
    codes, scores = dataset(DP_SEQ_LEN, DP_NUM_SEQS)
    x = nn.functional.one_hot(torch.from_numpy(codes).long(), 4).float()
    y = torch.from_numpy(scores).unsqueeze(1)
    dataset_ = torch.utils.data.TensorDataset(x, y)
    loader, _ = distributed.distributed_loader(dataset_, DP_BATCH, seed=0)
    torch.manual_seed(0)
    model = distributed.wrap(build_model("cnn", DP_SEQ_LEN).to(dev), dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_func = nn.MSELoss()

    def run():
        for xb, yb in loader:
            loss = loss_func(model(xb.to(dev)), yb.to(dev))
            loss.backward()
            opt.step()
            opt.zero_grad()
        torch.distributed.barrier()

    timing = measure(run, repeats)
    warmup, median = timing.warmup_s, timing.median_s
    distributed.teardown()
    if rank != 0:
        return None
    return {
        "framework": "torch DDP",
        "devices": world,
        "warmup_s": warmup,
        "median_s": median,
        "seq_per_s": DP_NUM_SEQS / median,
    }


def growth_rows(device: str, repeats: int) -> list[dict]:
    """Table 3: one device, the fused JAX epoch and torch on tensors, over L and N."""
    from benchmarks.strategies import Workload, prepare

    grid = [(length, 8_192) for length in (100, 200, 500, 1000)]
    grid += [(200, n) for n in (32_768, 131_072)]
    rows = []
    for length, n in grid:
        w = Workload("train", "cnn", length, n, 128)
        names = ("torch-eager", "jax-fused-epoch")
        runs = {name: prepare(name, "matmul", w, device) for name in names}
        for name, timing in measure_side_by_side(runs, repeats).items():
            rows.append(
                {
                    "strategy": name,
                    "seq_len": length,
                    "num_seqs": n,
                    "median_s": timing.median_s,
                    "ns_per_base": 1e9 * timing.median_s / (n * length),
                }
            )
    return rows


def _subprocess_json(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(device: str = "cpu", repeats: int = REPEATS) -> dict:
    """All three tables (each data-parallel row from its own process)."""
    me = [sys.executable, "-m", "benchmarks.scaling"]
    jax_rows = []
    for count in (1, 2, 4):
        env = (
            {"XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
            if device == "cpu"
            else {}
        )
        jax_rows.append(
            _subprocess_json(
                [
                    *me,
                    "--worker",
                    "jax",
                    "--devices",
                    str(count),
                    "--device",
                    device,
                    "--repeats",
                    str(repeats),
                ],
                env,
            )
        )
    torch_rows = []
    for count in (1, 2):
        torch_rows.append(
            _subprocess_json(
                [
                    *torchrun(count),
                    "-m",
                    "benchmarks.scaling",
                    "--worker",
                    "torch",
                    "--device",
                    device,
                    "--repeats",
                    str(repeats),
                ],
                {"OMP_NUM_THREADS": "1"},
            )
        )
    return {
        "command": "python -m benchmarks.scaling"
        + (f" --device {device}" if device != "cpu" else ""),
        "device": device,
        "run": provenance.run_info(),
        "repeats": repeats,
        "workload": {
            "model": "cnn",
            "seq_len": DP_SEQ_LEN,
            "num_seqs": DP_NUM_SEQS,
            "global_batch": DP_BATCH,
        },
        "data_parallel": jax_rows + torch_rows,
        "growth": growth_rows(device, repeats),
    }


def markdown(results: dict) -> str:
    w = results["workload"]
    lines = [
        "# Scaling out",
        "",
        f"`{results['command']}` at commit {results['run']['git_commit']} on "
        f"{results['run']['machine']['cpu_cores']} CPU cores ({results['device']}); medians of "
        f"{results['repeats']} epochs after a warm-up.",
        "",
        f"## Data parallel: CNN, synthetic task, L={w['seq_len']}, N={w['num_seqs']:,}, "
        f"global batch {w['global_batch']}",
        "",
        "| framework | devices / processes | warm-up s | s / epoch | seq / s | vs 1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fw in dict.fromkeys(r["framework"] for r in results["data_parallel"]):
        rows = [r for r in results["data_parallel"] if r["framework"] == fw]
        base = rows[0]["median_s"]
        lines += [
            f"| {r['framework']} | {r['devices']} | {r['warmup_s']:.2f} | "
            f"{r['median_s']:.3f} | {r['seq_per_s']:,.0f} | {base / r['median_s']:.2f}x |"
            for r in rows
        ]
    lines += [
        "",
        "## One device: cost against sequence length L and count N (batch 128)",
        "",
        "| strategy (windows-matmul kernel) | L | N | s / epoch | ns / base |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['strategy']} | {r['seq_len']} | {r['num_seqs']:,} | {r['median_s']:.3f} | "
        f"{r['ns_per_base']:.1f} |"
        for r in results["growth"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--out", type=Path, default=Path("bench-report"))
    parser.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "jax":
        print(json.dumps(jax_worker(args.devices, args.device, args.repeats)))
        return 0
    if args.worker == "torch":
        row = torch_worker(args.device, args.repeats)
        if row is not None:
            print(json.dumps(row))
        return 0
    name = "gpu" if args.device == "cuda" else args.device
    names = [f"scaling-{name}.json", f"scaling-{name}.md"]
    with updated_directory(args.out, names) as stage:  # checked before the minutes of work
        results = run(args.device, args.repeats)
        (stage / names[0]).write_text(json_text(results), encoding="utf-8")
        (stage / names[1]).write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
