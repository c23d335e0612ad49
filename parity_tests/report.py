"""``dna-tutorial parity``: run the suite, print the table, write ``parity-cpu.{json,md}``
(``parity-gpu.*`` with ``--device cuda``).

The files go into ``--out`` beside whatever else it holds (``parity_tests/results/``
collects the CPU and GPU tables); a file of the same name is replaced only if this project
wrote it (see :func:`dna_tutorial.outputs.updated_directory`).
"""

from __future__ import annotations

import time
from pathlib import Path

from dna_tutorial import provenance
from dna_tutorial.outputs import json_text, updated_directory
from parity_tests.compare import markdown_table, text_table
from parity_tests.harness import run_parity
from parity_tests.registry import CASES, TUTORIAL_CASES


def precision(device: str) -> str:
    if device == "cuda":
        return "TF32 off in torch (matmul and cuDNN); JAX default matmul precision 'highest'"
    return "float32 on CPU"


def run_and_write(device: str, out: Path, quick: bool = False, jax_variant: str = "fast") -> int:
    """Run the parity suite on ``device`` and write its table; 1 if a quantity is off."""
    name = ("gpu" if device == "cuda" else device) + ("-quick" if quick else "")
    names = [f"parity-{name}.json", f"parity-{name}.md"]  # a quick run never replaces a full
    with updated_directory(out, names) as stage:  # checked before the minutes of work
        start = time.perf_counter()
        rows = run_parity(
            device, TUTORIAL_CASES if quick else CASES, training=not quick, variant=jax_variant
        )
        failed = [r for r in rows if not r.passed]
        summary = (
            f"{len(rows) - len(failed)} of {len(rows)} quantities within tolerance; "
            f"device {device} ({precision(device)}); JAX implementation {jax_variant}; "
            f"{time.perf_counter() - start:.0f} s"
        )
        print(text_table(rows))
        print(summary)
        info = provenance.run_info()
        command = f"dna-tutorial parity --device {device}" + (" --quick" if quick else "")
        if jax_variant != "fast":
            command += f" --jax-variant {jax_variant}"
        (stage / names[0]).write_text(
            json_text(
                {
                    "command": command,
                    "device": device,
                    "precision": precision(device),
                    "jax_variant": jax_variant,
                    "run": info,
                    "passed": not failed,
                    "rows": [r.as_dict() for r in rows],
                }
            ),
            encoding="utf-8",
        )
        versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        (stage / names[1]).write_text(
            f"# Parity: PyTorch vs JAX\n\n`{command}` at commit {info['git_commit']}\n\n"
            f"{summary}\n\n{versions}\n\n{markdown_table(rows)}\n",
            encoding="utf-8",
        )
    print(f"written: {', '.join(str(Path(out) / n) for n in names)}")
    return 1 if failed else 0
