"""The command line: ``dna-tutorial run | predict | parity | bench``.

A problem the user can fix (a file, an option, a checkpoint, a path) is one line on
stderr and exit status 2; anything else is a bug and keeps its traceback (``--debug``
shows tracebacks for the first kind too).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from pathlib import Path

from dna_tutorial import spec
from dna_tutorial.app.stop import exit_status, exit_with, signal_name, stop_signals
from dna_tutorial.config import FRAMEWORKS, RunConfig
from dna_tutorial.datafiles import ReadOptions
from dna_tutorial.dataset import SyntheticOptions
from dna_tutorial.errors import ConfigError, UserError
from dna_tutorial.options import (
    MAX_SEED,
    Choice,
    File,
    Int,
    Option,
    Switch,
    argument_type,
    declared,
    flag,
)
from dna_tutorial.outputs import KeptNotice
from dna_tutorial.results import headline

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line naming the option (argparse prints the
    whole usage first)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_options(parser, settings: type, names=None, helps=None, groups=None) -> None:
    """Add the options that the dataclass ``settings`` declares (only ``names``, if given)
    to ``parser``; ``helps`` overrides a help text. Each option's default is None, so that
    :func:`settings_from` knows what was given; the field's default applies otherwise."""
    groups = {} if groups is None else groups
    for field, opt in declared(settings):
        if names is not None and field.name not in names:
            continue
        if opt.group is not None and opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(opt.group)
        target = parser if opt.group is None else groups[opt.group]
        how: dict = {"dest": field.name, "default": None, "help": (helps or {}).get(field.name)}
        how["help"] = how["help"] or opt.help
        if isinstance(opt.kind, Switch):
            how.update(action="store_const", const=True)
        else:
            how.update(type=argument_type(opt.kind, field.name), metavar=_metavar(field, opt))
            if opt.nargs is not None:
                how["nargs"] = opt.nargs
            if opt.const is not None:
                how["const"] = opt.const
        target.add_argument(flag(field, opt), **how)


def _metavar(field, opt: Option):
    if opt.metavar is not None:
        return opt.metavar
    if isinstance(opt.kind, Choice):
        return "{" + ",".join(opt.kind.choices) + "}"
    return flag(field, opt).lstrip("-").replace("-", "_").upper()  # --lr LR, not LEARNING_RATE


def given(settings: type, args: argparse.Namespace) -> dict:
    """The fields of ``settings`` given on the command line, as the fields' values."""
    values = {}
    for field, opt in declared(settings):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if opt.nargs not in (None, "?"):
            value = tuple(value)
        values[field.name] = opt.to_field(value) if opt.to_field else value
    return values


def settings_from(settings: type, args: argparse.Namespace, **fixed):
    """An instance of ``settings`` from what the command line gave (defaults elsewhere)."""
    return settings(**{**given(settings, args), **fixed})


def _refuse_other_ports(args: argparse.Namespace, frameworks) -> None:
    """Options only some ports use are refused where none of them runs: a run that
    silently ignores an option it was given has not done what it was asked."""
    for field, opt in declared(RunConfig):
        unused = opt.ports and not set(opt.ports) & set(frameworks)
        if unused and field.name in given(RunConfig, args):
            ports = " and ".join(opt.ports)
            raise ConfigError(
                f"{flag(field, opt)} applies to the {ports} port{'s' * (len(opt.ports) > 1)}, "
                f"and this command runs {' and '.join(frameworks)}: drop it or add --framework "
                f"{' or '.join(opt.ports)}"
            )


def _refuse_unused(args: argparse.Namespace, cfg: RunConfig, synth: SyntheticOptions) -> None:
    """An option no model of the run would use is refused (``--adamw-lr`` without the
    deeper CNN): a setting that changes nothing was not what the user meant."""
    from dna_tutorial import registry

    if synth.planted is not None:
        task, has_classes = "multilabel", True
    elif args.data is not None:
        task, has_classes = args.task, args.task == "classify"
    else:  # the synthetic scores, with their three classes
        task, has_classes = "regress", True
    specs = [registry.get(n) for n in cfg.model_names(task, has_classes)]
    for field, opt in declared(RunConfig):
        used = opt.used_by is None or any(opt.used_by(spec) for spec in specs)
        if not used and field.name in given(RunConfig, args):
            raise ConfigError(
                f"{flag(field, opt)} applies to {opt.users}, and this run trains "
                f"{', '.join(s.name for s in specs)}: drop it or add --models"
            )


def _add_out(p, default: str, what: str) -> None:
    p.add_argument(
        "--out",
        type=argument_type(File(), "path"),
        default=Path(default),
        help=f"{what} (default ./{default})",
    )


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole tutorial and write a report",
        description="Run the tutorial (score, encode, split, train linear and CNN models "
        "and the footnote-2 classifier, evaluate, inspect filters) in one or both ports and "
        "write metrics.json, plots and index.html to --out.",
    )
    groups: dict = {}
    add_options(p, RunConfig, groups=groups)
    _add_out(p, "report", "output directory; an earlier report there is replaced, anything "
             "else is refused")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print the notebook's 'E{epoch} | train loss | val loss' lines",
    )
    p.add_argument(
        "--no-tomtom",
        dest="tomtom",
        action="store_false",
        help="skip matching the filters to the known motifs with Tomtom (memelite compiles "
        "for about a minute the first time it runs)",
    )
    ckpt = p.add_argument_group("checkpoints")
    path = argument_type(File(), "path")
    ckpt.add_argument(
        "--checkpoint-dir",
        type=path,
        help="snapshot every model after each epoch into DIR/<framework>/<model>",
    )
    ckpt.add_argument(
        "--resume",
        type=path,
        metavar="DIR",
        help="continue the run checkpointed in DIR (same settings; --epochs may grow)",
    )
    add_options(p, SyntheticOptions, groups=groups)
    _add_data_options(p, with_task=True)
    p.set_defaults(handler=_cmd_run)


def _add_data_options(p, with_task: bool) -> None:
    title = declared(ReadOptions)[0][1].group
    data = p.add_argument_group(title)
    data.add_argument(
        "--data",
        type=argument_type(File(), "path"),
        metavar="FILE",
        help="sequences and targets; default: the tutorial's synthetic 8-mers",
    )
    add_options(p, ReadOptions, groups={title: data})
    if with_task:
        data.add_argument(
            "--task",
            type=argument_type(Choice(("regress", "classify")), "task"),
            default="regress",
            metavar="{regress,classify}",
            help="predict a score (MSE) or a class (cross-entropy, the classifier)",
        )


def _read_options(args: argparse.Namespace) -> dict:
    return dataclasses.asdict(settings_from(ReadOptions, args))


def _check_data_options(args: argparse.Namespace, synth: SyntheticOptions) -> None:
    """Refuse options that do not go together, before anything is read or trained."""
    file_only = [k for k in ("labels", "pad_to", "trim_to") if getattr(args, k) is not None]
    if args.data is not None and synth.seq_len is not None:
        raise ConfigError("--data and --seq-len both choose the data: give one")
    if args.data is None and (args.task == "classify" or file_only):
        raise ConfigError("--task classify, --labels, --pad-to and --trim-to need --data FILE")
    if synth.per_occurrence and synth.seq_len is None:
        raise ConfigError("--per-occurrence goes with --seq-len (the 8-mers follow the tutorial)")
    if synth.planted is not None and (args.data is not None or synth.per_occurrence):
        raise ConfigError("--planted makes its own data: leave out --data and --per-occurrence")
    alone = synth.seq_len is None and synth.planted is None
    if alone and "num_seqs" in given(SyntheticOptions, args):
        raise ConfigError("--num-seqs goes with --seq-len or --planted")


def _data_options(args: argparse.Namespace, synth: SyntheticOptions) -> dict:
    """How the data is read or made, for a checkpointed run's record (the files
    themselves are recorded by their checksums)."""
    read = {k: v for k, v in _read_options(args).items() if k != "labels"}
    return {"task": args.task, **read, **dataclasses.asdict(synth)}


def _tutorial_data(args: argparse.Namespace, synth: SyntheticOptions, cfg: RunConfig):
    """The data ``run`` trains on: a user's file, the bigger synthetic task, or None
    (the tutorial's 8-mers). Its size is checked against memory before it is made."""
    from dna_tutorial import memory

    if args.data is not None:
        from dna_tutorial.datafiles import load_data

        return load_data(args.data, task=args.task, seed=cfg.seed, **_read_options(args))
    if synth.planted is not None:
        from dna_tutorial.dataset import planted_task
        from dna_tutorial.synthetic import motif_set

        length = synth.seq_len or 200
        memory.check_synthetic(synth.num_seqs, length)
        return planted_task(synth.num_seqs, length, motif_set(synth.planted), cfg.seed)
    if synth.seq_len is not None:
        from dna_tutorial.dataset import synthetic_task

        memory.check_synthetic(synth.num_seqs, synth.seq_len)
        return synthetic_task(synth.num_seqs, synth.seq_len, cfg.seed, synth.per_occurrence)
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    from dna_tutorial.app.pipeline import preflight, run

    cfg = settings_from(RunConfig, args)
    synth = settings_from(SyntheticOptions, args)
    _refuse_other_ports(args, cfg.frameworks)
    if args.resume and args.checkpoint_dir and args.resume != args.checkpoint_dir:
        raise ConfigError("--resume and --checkpoint-dir name different directories")
    checkpoints = args.resume or args.checkpoint_dir
    resume = args.resume is not None
    _check_data_options(args, synth)
    _refuse_unused(args, cfg, synth)
    how = _data_options(args, synth)
    preflight(cfg, args.out, checkpoints, resume, args.data, args.labels, how)
    if cfg.devices > 1 and cfg.device == "cpu":
        # Virtual CPU devices must be asked for before JAX starts its backend.
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={cfg.devices}".strip()
        )
    data = _tutorial_data(args, synth, cfg)
    start = time.perf_counter()
    metrics = run(
        cfg,
        args.out,
        data=data,
        progress=not args.quiet,
        verbose=args.verbose,
        checkpoints=checkpoints,
        resume=resume,
        data_file=args.data,
        labels=args.labels,
        tomtom=args.tomtom,
        data_options=how,
    )
    if not metrics:
        return 0  # a worker of a distributed run: the first process reports
    for fw in cfg.frameworks:
        for name, m in metrics[fw]["models"].items():
            kind, value = headline(m)
            score = f"{kind} " + ("-" if value is None else f"{value:.3f}")
            secs = metrics[fw]["timing"][name]["train_seconds"]
            print(f"{fw:5s} {name:10s} test {score}  ({secs:.1f} s training)")
    print(f"report: {args.out / 'index.html'}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict the sequences of a file with a checkpointed model (CSV on stdout)",
        description="Load the newest snapshot of a model checkpoint (DIR/<framework>/<model> "
        "from 'run --checkpoint-dir DIR') and write a CSV of predictions to stdout: id, seq "
        "and the predicted score, or the predicted class and each class's probability. "
        "Weights from either port load into either port.",
    )
    _add_checkpoint(p, "predict")
    _add_data_options(p, with_task=False)
    p.set_defaults(handler=_cmd_predict)


def _add_checkpoint(p, verb: str) -> None:
    """The options ``predict`` and ``explain`` share: the model, the port and the device."""
    p.add_argument(
        "--checkpoint",
        type=argument_type(File(), "path"),
        required=True,
        metavar="DIR",
        help="a model's checkpoint directory, e.g. ckpt/jax/cnn",
    )
    p.add_argument(
        "--framework",
        type=argument_type(Choice(FRAMEWORKS), "framework"),
        metavar="{" + ",".join(FRAMEWORKS) + "}",
        help=f"port to {verb} with (default: the one that trained the model)",
    )
    add_options(p, RunConfig, ["device", "jax_variant"], helps={"device": f"where to {verb}"})


def _no_targets(args: argparse.Namespace, command: str) -> None:
    """``predict`` and ``explain`` read sequences, not targets: a target option they would
    ignore is refused."""
    unused = [o for o in ("target_col", "labels") if o in given(ReadOptions, args)]
    if unused:
        name = "--" + unused[0].replace("_", "-")
        raise ConfigError(f"{name}: {command} reads the sequences only, no targets; drop it")


def _port_settings(args: argparse.Namespace) -> RunConfig:
    """The device and JAX implementation ``predict`` / ``explain`` run with; an option of
    one port is refused where the other would run (``--jax-impl`` for a torch model)."""
    cfg = settings_from(RunConfig, args)
    if any(opt.ports for field, opt in declared(RunConfig) if field.name in given(RunConfig, args)):
        framework = args.framework
        if framework is None:  # the port that trained the model
            from dna_tutorial.checkpoint import load_snapshot

            framework = load_snapshot(args.checkpoint, optimizer=False).meta["framework"]
        _refuse_other_ports(args, (framework,))
    return cfg


def _cmd_predict(args: argparse.Namespace) -> int:
    from dna_tutorial.app.predict import predict_file

    if args.data is None:
        raise ConfigError("--data FILE is required: the sequences to predict")
    _no_targets(args, "predict")
    cfg = _port_settings(args)
    table, meta = predict_file(
        args.checkpoint,
        args.data,
        args.framework,
        cfg.device,
        cfg.jax_variant,
        **_read_options(args),
    )
    try:
        table.to_csv(sys.stdout, index=False, float_format="%.6g")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`predict ... | head`): nothing went wrong. Point stdout
        # at /dev/null so that Python's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(
        f"predicted {len(table):,} sequences with {meta['model']} ({meta['framework']}-trained, "
        f"{meta['epoch']} epochs, seed {meta['seed']}) in {args.framework or meta['framework']}",
        file=sys.stderr,
    )
    return 0


def _add_explain(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="which bases drive a checkpointed model's predictions (ISM, saliency, logos)",
        description="For the sequences of a file, with the newest snapshot of a model "
        "checkpoint: in-silico saturation mutagenesis and saliency arrays "
        "(attributions.npz), attribution logos and ISM maps of the first sequences, and for "
        "a model trained on the tutorial's synthetic scores the motif insertion table "
        "against the scoring rule (insertions.csv). Weights from either port explain in "
        "either port.",
    )
    _add_checkpoint(p, "explain")
    _add_out(p, "explanation", "directory to write into; replaced only if it holds an earlier "
             "explanation")  # fmt: skip
    p.add_argument(
        "--output",
        type=argument_type(Int(0), "index"),
        default=0,
        metavar="K",
        help="which model output to explain: a class or label index (default 0)",
    )
    p.add_argument(
        "--max-seqs",
        type=argument_type(Int(), "count"),
        default=spec.MAX_EXPLAINED,
        metavar="N",
        help=f"explain the file's first N sequences (default {spec.MAX_EXPLAINED}; ISM runs "
        "4 x length mutants of each)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_options(p, with_task=False)
    p.set_defaults(handler=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from dna_tutorial.app.explain import explain

    if args.data is None:
        raise ConfigError("--data FILE is required: the sequences to explain")
    _no_targets(args, "explain")
    cfg = _port_settings(args)
    start = time.perf_counter()
    summary = explain(
        args.checkpoint,
        args.data,
        args.out,
        args.framework,
        cfg.device,
        cfg.jax_variant,
        output=args.output,
        max_seqs=args.max_seqs,
        show=not args.quiet,
        **_read_options(args),
    )
    print(
        f"explained {summary['num_seqs']:,} of {summary['of_seqs']:,} sequences with "
        f"{summary['model']} in {summary['explained_in']}: {args.out} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for row in summary.get("insertions", []):
        print(
            f"  insert {row['inserted']:14s} truth {row['truth']:+6.1f}  model "
            f"{row['mean']:+6.2f} +- {row['sd']:.2f}"
        )
    return 0


def _add_parity(sub) -> None:
    p = sub.add_parser(
        "parity",
        help="compare the ports and print a table of differences",
        description="Run PyTorch and a Flax port on the same inputs, weights and batch orders: "
        "scores, encodings, splits, forward outputs, losses, gradients, SGD steps, an epoch, a "
        "short training run, filters, ISM and gradients w.r.t. the input, and the deeper CNN's "
        "state; for Flax NNX, also NNX against Linen. Prints the tables and writes "
        "parity-cpu.{json,md} (Linen) and parity-cpu-nnx.{json,md} (parity-gpu* with --device "
        "cuda) to --out. Exits 1 if any quantity is outside its tolerance.",
    )
    add_options(
        p,
        RunConfig,
        ["frameworks", "device", "jax_variant"],
        helps={
            "frameworks": "the Flax port held to PyTorch: jax (Linen), nnx or all (the default)",
            "device": "run the ports here (cuda: TF32 off in torch, 'highest' in JAX)",
        },
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="only the tutorial's model shapes and no training run; with --training, 3 seeds "
        "of one epoch (files named *-quick)",
    )
    p.add_argument(
        "--training",
        action="store_true",
        help="instead of the tables: do the ports train to the same place? Every model "
        "trained with 30 seeds per port (10 for the deeper CNN), controlled runs and the "
        "float32/float64 divergence curve; writes training-cpu.{json,md} and its figures "
        "(long: every seed of every port; --quick for a check)",
    )
    _add_out(p, "parity-report", "where to write the parity-cpu* or parity-gpu* tables")
    p.set_defaults(handler=_cmd_parity)


def _both_ports_see(device: str) -> None:
    """Refuse a device that either framework cannot see, before any output is created."""
    if device != "cpu":
        from jax_impl.run import resolve_device as jax_device
        from reference_torch.run import resolve_device as torch_device

        torch_device(device)
        jax_device(device)


def _cmd_parity(args: argparse.Namespace) -> int:
    from parity_tests.report import run_and_write

    cfg = settings_from(RunConfig, args)
    if args.training:
        from parity_tests.seed_study import run_and_write as study

        if cfg.device != "cpu":
            raise ConfigError("--training --device cuda: the seed study runs on the CPU only")
        return study(args.out, quick=args.quick)
    flax_ports = tuple(fw for fw in cfg.frameworks if fw != "torch")
    if not flax_ports:
        raise ConfigError("--framework: parity holds a Flax port to PyTorch: jax, nnx or all")
    _both_ports_see(cfg.device)
    return run_and_write(
        cfg.device, args.out, quick=args.quick, jax_variant=cfg.jax_variant, flax_ports=flax_ports
    )


def _add_bench(sub) -> None:
    from benchmarks.options import build_parser as bench_parser

    p = sub.add_parser(
        "bench",
        help="measure training and inference throughput of every strategy",
        description="Time torch eager (the reference and on tensors), torch.compile, CUDA "
        "graphs (GPU), JAX jit per step, the fused JAX epoch and a vmap ensemble, over sweeps "
        "of batch size, sequence length and dataset size, in one run; same as "
        "'python -m benchmarks'.",
    )
    bench_parser(p)
    p.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.runner import main_from_args

    _both_ports_see(args.device)
    return main_from_args(args)


def _add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a published result in both ports (koo-eddy)",
        description="koo-eddy: Koo & Eddy (2019), 'Representation learning of genomic "
        "sequence motifs with convolutional neural networks'. Regenerates their synthetic "
        "data, trains their CNN variants (first-layer max-pool 2, 4, 25, 50) in both ports, "
        "measures AUROC/AUPR and the share of first-layer filters that Tomtom matches to the "
        "planted motifs, and writes koo_eddy.{md,json} and koo_eddy_logos.png. About 40 "
        "minutes on 2 CPU cores; --quick takes a minute.",
    )
    p.add_argument("experiment", choices=("koo-eddy",))
    _add_out(p, "experiments/results", "directory to write the results into, beside what it "
             "holds")  # fmt: skip
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny data, 2 epochs, 2 variants (files named koo_eddy-quick.*)",
    )
    p.add_argument(
        "--seeds",
        type=argument_type(Int(0, MAX_SEED), "seed"),
        nargs="+",
        metavar="S",
        help="training seeds (default: 0)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_reproduce)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from experiments import koo_eddy

    setup = koo_eddy.QUICK if args.quick else koo_eddy.FULL
    if args.seeds and len(set(args.seeds)) < len(args.seeds):
        raise ConfigError(f"--seeds {' '.join(map(str, args.seeds))}: each seed once")
    if args.seeds:
        setup = replace(setup, seeds=tuple(args.seeds))
    koo_eddy.run(args.out, setup, progress=not args.quiet)
    print(f"written: {', '.join(str(args.out / n) for n in koo_eddy.file_names(setup))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="dna-tutorial",
        description="'Modeling DNA sequences with PyTorch', in PyTorch and in JAX/Flax.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback for every error, not one line"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_predict(sub)
    _add_explain(sub)
    _add_parity(sub)
    _add_bench(sub)
    _add_reproduce(sub)
    return parser


def _one_line_notes(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, KeptNotice):
        print(f"dna-tutorial: note: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a path in a message must never crash a run
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _one_line_notes
    try:
        with stop_signals():
            return args.handler(args)
    except UserError as err:
        if args.debug:
            raise
        print(f"dna-tutorial {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        print(f"dna-tutorial {args.command}: stopped by {signal_name(err)}", file=sys.stderr)
        return exit_status(err)
    finally:
        warnings.showwarning = _show_warning


def console() -> None:
    """The ``dna-tutorial`` command (``python -m dna_tutorial.app``)."""
    exit_with(main())


if __name__ == "__main__":
    console()
