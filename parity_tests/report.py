"""``dna-tutorial parity``: run the suite for each Flax port, print the tables, write
``parity-cpu.{json,md}`` for Linen and ``parity-cpu-nnx.{json,md}`` for NNX
(``parity-gpu*`` with ``--device cuda``).

The files go into ``--out`` beside whatever else it holds (``parity_tests/results/``
collects the CPU and GPU tables); a file of the same name is replaced only if this project
wrote it (see :func:`dna_tutorial.outputs.updated_directory`).
"""

from __future__ import annotations

import time
from pathlib import Path

from dna_tutorial import provenance
from dna_tutorial.config import PORT_NAMES
from dna_tutorial.outputs import json_text, updated_directory
from parity_tests.compare import markdown_table, text_table
from parity_tests.harness import run_parity
from parity_tests.ports import port
from parity_tests.registry import CASES, TUTORIAL_CASES


def precision(device: str) -> str:
    if device == "cuda":
        return "TF32 off in torch (matmul and cuDNN); JAX default matmul precision 'highest'"
    return "float32 on CPU"


def file_stem(device: str, flax_port: str, quick: bool) -> str:
    """``parity-cpu``, ``parity-gpu-nnx``, ``parity-cpu-quick``: a quick run never replaces
    a full one, and the Linen tables keep the names they had before NNX."""
    name = "gpu" if device == "cuda" else device
    return (
        f"parity-{name}"
        + ("" if flax_port == "jax" else f"-{flax_port}")
        + ("-quick" if quick else "")
    )


def run_and_write(
    device: str,
    out: Path,
    quick: bool = False,
    jax_variant: str = "fast",
    flax_ports: tuple[str, ...] = ("jax", "nnx"),
) -> int:
    """Run the parity suite on ``device`` against each of ``flax_ports`` and write a table
    for each; 1 if a quantity is off."""
    stems = [file_stem(device, p, quick) for p in flax_ports]
    names = [f"{stem}.{ext}" for stem in stems for ext in ("json", "md")]
    failed_any = False
    with updated_directory(out, names) as stage:  # checked before the minutes of work
        for flax_port, stem in zip(flax_ports, stems):
            failed_any |= _run_one(device, stage, stem, quick, port(flax_port, jax_variant))
    print(f"written: {', '.join(str(Path(out) / n) for n in names)}")
    return 1 if failed_any else 0


def _run_one(device: str, stage: Path, stem: str, quick: bool, against) -> bool:
    """One port's table into ``stage``: True if a quantity is off."""
    start = time.perf_counter()
    rows = run_parity(device, TUTORIAL_CASES if quick else CASES, training=not quick, port=against)
    failed = [r for r in rows if not r.passed]
    implementation = f"JAX implementation {against.variant}; " if against.name == "jax" else ""
    summary = (
        f"{len(rows) - len(failed)} of {len(rows)} quantities within tolerance; "
        f"device {device} ({precision(device)}); {implementation}"
        f"{time.perf_counter() - start:.0f} s"
    )
    print(text_table(rows))
    print(f"PyTorch vs {against.title}: {summary}")
    info = provenance.run_info()
    command = f"dna-tutorial parity --framework {against.name} --device {device}"
    command += " --quick" if quick else ""
    if against.name == "jax" and against.variant != "fast":
        command += f" --jax-impl {against.variant}"
    (stage / f"{stem}.json").write_text(
        json_text(
            {
                "command": command,
                "device": device,
                "precision": precision(device),
                "port": against.name,
                "jax_variant": against.variant,
                "run": info,
                "passed": not failed,
                "rows": [r.as_dict() for r in rows],
            }
        ),
        encoding="utf-8",
    )
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    (stage / f"{stem}.md").write_text(
        f"# Parity: {PORT_NAMES['torch']} vs {against.title}\n\n`{command}` at commit "
        f"{info['git_commit']}\n\n{summary}\n\n{versions}\n\n{markdown_table(rows)}\n",
        encoding="utf-8",
    )
    return bool(failed)
