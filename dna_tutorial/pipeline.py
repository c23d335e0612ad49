"""``dna-tutorial run``: the tutorial in each chosen port, then one report for all."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from dna_tutorial import provenance
from dna_tutorial.checkpoint import check_run, fingerprint
from dna_tutorial.config import RunConfig
from dna_tutorial.dataset import TutorialData, synthetic_kmers
from dna_tutorial.files import atomic_write_json, check_replaceable, staged_directory
from dna_tutorial.report import METRICS_FILE, PortResult, write_index, write_port_report

#: Settings a resumed run may change: train for longer, with other ports or hardware.
RESUMABLE = {"epochs", "frameworks", "device", "devices", "distributed"}
#: The module holding each framework's ``run_tutorial``.
PORTS = {"torch": "reference_torch.tutorial", "jax": "jax_impl.tutorial"}


def launch_rank() -> int:
    """This process's rank as the launcher gave it (``torchrun``'s ``RANK``), else 0."""
    return int(os.environ.get("RANK", "0"))


def run_port(framework: str, data: TutorialData, cfg: RunConfig, **kwargs) -> PortResult:
    """Run the whole tutorial in one port (imported only when asked for)."""
    return importlib.import_module(PORTS[framework]).run_tutorial(data, cfg, **kwargs)


def run(
    cfg: RunConfig,
    out: str | Path,
    data: TutorialData | None = None,
    progress: bool = True,
    verbose: bool = False,
    checkpoints: str | Path | None = None,
    resume: bool = False,
    data_file: str | Path | None = None,
) -> dict:
    """Run the tutorial in every port of ``cfg.frameworks`` and write the report to ``out``.

    ``out`` receives ``metrics.json``, ``index.html`` and one folder of figures per port.
    It is written in a staging directory and moved into place only when complete.
    ``checkpoints`` snapshots every model after each epoch; ``resume`` continues from
    them (the config, except the number of epochs, and the data file must match).
    Returns the metrics.
    """
    out = Path(out)
    check_replaceable(out, METRICS_FILE)  # fail before minutes of training, not after
    data = data or synthetic_kmers(seed=cfg.seed)
    first = launch_rank() == 0
    if checkpoints is not None:
        checkpoints = Path(checkpoints)
        fixed = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE}
        check_run(checkpoints, {**fixed, "data": fingerprint(data_file)}, resume, write=first)
    results = [
        run_port(
            fw,
            data,
            cfg,
            progress=progress and first,
            verbose=verbose and first,
            checkpoints=checkpoints,
            resume=resume,
        )
        for fw in cfg.frameworks
    ]
    if not all(r.main_process for r in results):
        return {}  # another process of a distributed run writes the report
    metrics = {
        "config": cfg.to_dict(),
        "data": data.describe(),
        "run": provenance.run_info(),
    }
    with staged_directory(out) as stage:
        for result in results:
            metrics[result.framework] = write_port_report(
                result, stage / result.framework, data.class_names
            )
        atomic_write_json(stage / METRICS_FILE, metrics)
        write_index(stage, metrics)
    return metrics
