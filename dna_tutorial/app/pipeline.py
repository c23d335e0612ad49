"""``dna-tutorial run``: the tutorial in each chosen port, then one report for all.

Before any training: the output and checkpoint directories are checked (writable, ours
or empty, not overlapping each other or the data) and locked against a second run; at the
end the report is built in a staging directory and moved into place.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from dna_tutorial import memory, provenance, registry
from dna_tutorial.app.report import METRICS_FILE, write_index, write_port_report
from dna_tutorial.checkpoint import LOCK, check_run, fingerprint, record_run
from dna_tutorial.config import PACKAGES, RunConfig
from dna_tutorial.dataset import TutorialData, synthetic_kmers
from dna_tutorial.errors import ConfigError
from dna_tutorial.outputs import (
    atomic_write_json,
    check_no_overlap,
    check_replaceable,
    check_writable,
    exclusive_lock,
    lock_path,
    output_path,
    staged_directory,
)
from dna_tutorial.results import PortResult

#: Settings a resumed run may change: train for longer, with other ports or hardware.
RESUMABLE = {"epochs", "frameworks", "device", "devices", "distributed", "jax_variant"}
REPORT = "report"


def launch_rank() -> int:
    """This process's rank as the launcher gave it (``torchrun``'s ``RANK``), else 0."""
    return int(os.environ.get("RANK", "0"))


def run_port(framework: str, data: TutorialData, cfg: RunConfig, **kwargs) -> PortResult:
    """Run the whole tutorial in one port (imported only when asked for)."""
    return importlib.import_module(f"{PACKAGES[framework]}.run").run_tutorial(data, cfg, **kwargs)


def _run_record(
    cfg: RunConfig, data_file: Path | None, labels: Path | None, data_options: Mapping
) -> dict:
    """What a checkpointed run must keep to be resumed: its fixed settings, the data file's
    and the labels' checksums, and how the data was read or made (the columns, the task,
    the synthetic task's options), so that a resume cannot train on other targets."""
    fixed = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE}
    record = {**fixed, "data": fingerprint(data_file), "data_options": dict(data_options)}
    return record if labels is None else {**record, "labels": fingerprint(labels)}


def preflight(
    cfg: RunConfig,
    out: str | Path,
    checkpoints: str | Path | None = None,
    resume: bool = False,
    data_file: str | Path | None = None,
    labels: str | Path | None = None,
    data_options: Mapping = MappingProxyType({}),
) -> None:
    """Every check that can fail before training, in the order a user would fix them:
    paths that overlap, a report directory that must not be replaced, a checkpoint
    directory that is not empty or holds another run (``data_options``: how the data is
    read or made, see :func:`_run_record`). Writes nothing.

    Only the first process of a distributed run checks: it alone writes, and the others
    would see what it has begun to write (if it refuses, the launcher stops them all)."""
    if launch_rank() != 0:
        return
    check_no_overlap(
        {"--out": out, "--checkpoint-dir": checkpoints}, {"--data": data_file, "--labels": labels}
    )
    check_replaceable(out, REPORT)
    if checkpoints is not None:
        for option, path in (("--data", data_file), ("--labels", labels)):
            if path is not None and Path(path).exists() and not Path(path).is_file():
                raise ConfigError(
                    f"{option} {path} is not a regular file (a pipe?): a checkpointed run "
                    "keeps its checksum to resume it; save it to a file first"
                )
        check_writable(checkpoints)
        record = _run_record(cfg, data_file, labels, data_options)
        check_run(checkpoints, record, resume, epochs=cfg.epochs, frameworks=cfg.frameworks)


def check_models(cfg: RunConfig, data: TutorialData) -> tuple[str, ...]:
    """The models the run trains, refused if they cannot take this data or if the data
    and a training step would not fit in memory (:mod:`dna_tutorial.memory`)."""
    names = cfg.model_names(data.task, has_classes=bool(data.class_names))
    options = {**cfg.model_options(), "num_classes": max(len(data.class_names), 1)}
    for name in names:
        try:
            registry.get(name).size_at(data.seq_len, options)
        except registry.TooShort as err:
            fix = ""
            if err.need is not None:
                longer = "--pad-to" if data.length_option == "--trim-to" else "--seq-len"
                fix = f"; use {longer} {err.need} or more, or a smaller --kernel-size"
            raise ConfigError(f"{name}: {err}{fix}") from None
    memory.check_training(
        names, len(data.seqs), data.seq_len, options, cfg.batch_size, len(data.split.train),
        data.length_option,
    )  # fmt: skip
    return names


def run(
    cfg: RunConfig,
    out: str | Path,
    data: TutorialData | None = None,
    progress: bool = True,
    verbose: bool = False,
    checkpoints: str | Path | None = None,
    resume: bool = False,
    data_file: str | Path | None = None,
    labels: str | Path | None = None,
    tomtom: bool = True,
    data_options: Mapping = MappingProxyType({}),
) -> dict:
    """Run the tutorial in every port of ``cfg.frameworks`` and write the report to ``out``.

    ``out`` receives ``metrics.json``, ``index.html`` and one folder of figures per port.
    It is written in a staging directory and moved into place only when complete.
    ``checkpoints`` snapshots every model after each epoch; ``resume`` continues from
    them (the config, except the number of epochs, the data file and how it is read,
    ``data_options``, must match).
    ``tomtom`` matches the filters against the data's motifs (``dna_tutorial.tomtom``).
    Returns the metrics.
    """
    out = output_path(out)
    checkpoints = None if checkpoints is None else output_path(checkpoints)
    preflight(cfg, out, checkpoints, resume, data_file, labels, data_options)
    data = data or synthetic_kmers(seed=cfg.seed)
    check_models(cfg, data)
    first = launch_rank() == 0
    record = _run_record(cfg, data_file, labels, data_options)
    with contextlib.ExitStack() as held:
        if first:  # the first process writes; a distributed run's others only train
            held.enter_context(exclusive_lock(lock_path(out), f"--out {out}"))
            if checkpoints is not None:
                where = f"--checkpoint-dir {checkpoints}"
                held.enter_context(exclusive_lock(checkpoints / LOCK, where))
        if checkpoints is not None and first:
            # again, under the lock
            check_run(checkpoints, record, resume, epochs=cfg.epochs, frameworks=cfg.frameworks)
            if not resume:
                record_run(checkpoints, {**record, "frameworks": list(cfg.frameworks)})
        if first:  # staged from the start: a report that cannot move in at the end is kept
            stage = held.enter_context(staged_directory(out, REPORT, lock=False))
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
        metrics = {"config": cfg.to_dict(), "data": data.describe(), "run": provenance.run_info()}
        for result in results:
            metrics[result.framework] = write_port_report(
                result,
                stage / result.framework,
                data.class_names,
                motifs=data.motifs,
                both_strands=data.both_strands,
                tomtom=tomtom,
            )
        atomic_write_json(stage / METRICS_FILE, metrics)
        write_index(stage, metrics)
    return metrics
