"""The command line: ``dna-tutorial run | predict | parity | bench``.

A problem the user can fix (a file, an option, a checkpoint, a path) is one line on
stderr and exit status 2; anything else is a bug and keeps its traceback (``--debug``
shows tracebacks for the first kind too).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dna_tutorial import registry, spec
from dna_tutorial.config import FRAMEWORKS, JAX_IMPLS, MAX_SEED, RunConfig
from dna_tutorial.errors import ConfigError, UserError
from dna_tutorial.results import headline
from dna_tutorial.schedule import SCHEDULES

EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {MAX_SEED}, got {value}")
    return value


def _block(text: str) -> tuple[int, int, int]:
    try:
        block = tuple(int(v) for v in text.split(":"))
    except ValueError:
        block = ()
    if len(block) != 3 or min(block) < 1:
        raise argparse.ArgumentTypeError(f"expected filters:width:pool, got {text!r}")
    return block


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {value}")
    return value


def _frameworks(choice: str) -> tuple[str, ...]:
    return FRAMEWORKS if choice == "both" else (choice,)


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole tutorial and write a report",
        description="Run the tutorial (score, encode, split, train linear and CNN models "
        "and the footnote-2 classifier, evaluate, inspect filters) in one or both ports and "
        "write metrics.json, plots and index.html to --out.",
    )
    p.add_argument(
        "--framework",
        choices=(*FRAMEWORKS, "both"),
        default="both",
        help="which port to run (default: both, side by side)",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=spec.EPOCHS,
        help=f"training epochs per model (default {spec.EPOCHS})",
    )
    p.add_argument("--seed", type=_seed, default=spec.SEED, help=f"seed (default {spec.SEED})")
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=spec.BATCH_SIZE,
        help=f"training batch size (default {spec.BATCH_SIZE})",
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=spec.LEARNING_RATE,
        help=f"SGD learning rate (default {spec.LEARNING_RATE})",
    )
    p.add_argument(
        "--patience",
        type=_positive_int,
        default=spec.PATIENCE,
        help="stop after this many epochs without a better validation loss",
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=registry.names(),
        help="models to train (default: linear, cnn and classifier)",
    )
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)"
    )
    p.add_argument(
        "--jax-init",
        choices=("torch", "flax"),
        default="torch",
        help="JAX weight init: like PyTorch's defaults (default) or Flax's",
    )
    _add_jax_impl(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        help="output directory (default ./report); an earlier report there is replaced, "
        "anything else is refused",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print the notebook's 'E{epoch} | train loss | val loss' lines",
    )
    ckpt = p.add_argument_group("checkpoints")
    ckpt.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="snapshot every model after each epoch into DIR/<framework>/<model>",
    )
    ckpt.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run checkpointed in DIR (same settings; --epochs may grow)",
    )
    scale = p.add_argument_group("scaling out")
    scale.add_argument(
        "--devices",
        type=_positive_int,
        default=1,
        metavar="N",
        help="JAX: train data-parallel over N local devices (on CPU, N virtual devices)",
    )
    scale.add_argument(
        "--distributed",
        action="store_true",
        help="one process per device: torch DDP under torchrun, or a multi-host "
        "JAX mesh (jax.distributed); pick one --framework",
    )
    synth = p.add_argument_group("a bigger synthetic task than the 8-mers")
    synth.add_argument(
        "--seq-len",
        type=_positive_int,
        metavar="L",
        help="random sequences of length L scored by the tutorial's rule",
    )
    synth.add_argument(
        "--num-seqs",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="how many (default 100,000; with --seq-len)",
    )
    synth.add_argument(
        "--per-occurrence",
        action="store_true",
        help="count a motif's bonus at every occurrence (with --seq-len)",
    )
    synth.add_argument(
        "--planted",
        nargs="?",
        const="tutorial",
        metavar="MOTIFS",
        help="instead of scores: which motifs each sequence holds (a multi-label task, "
        "trained by deep_multilabel). MOTIFS: 'tutorial' (TAT and GCG, the default) or "
        "'jaspar:MA0079.3,MA0083.3,...' (JASPAR 2024 PWMs; needs the [motifs] extra); "
        "with --seq-len (default 200)",
    )
    deep = p.add_argument_group("the deeper CNN (--models deep or deep_multilabel)")
    deep.add_argument(
        "--conv-blocks",
        nargs="+",
        type=_block,
        metavar="F:W:P",
        help="convolution blocks as filters:width:pool, e.g. 32:7:2 64:5:2 (the default)",
    )
    deep.add_argument(
        "--dense-units", nargs="*", type=_positive_int, metavar="N", help="hidden dense layers"
    )
    deep.add_argument(
        "--dropout",
        nargs=2,
        type=_rate,
        metavar=("CONV", "DENSE"),
        help=f"dropout after each block and each dense layer (default {spec.DEEP_DROPOUT})",
    )
    deep.add_argument(
        "--adamw-lr",
        type=_positive_float,
        default=spec.ADAMW_LR,
        help=f"AdamW's peak learning rate (default {spec.ADAMW_LR})",
    )
    deep.add_argument(
        "--weight-decay",
        type=float,
        default=spec.WEIGHT_DECAY,
        help=f"AdamW's decoupled weight decay (default {spec.WEIGHT_DECAY}, torch's)",
    )
    deep.add_argument(
        "--warmup-epochs",
        type=int,
        default=spec.WARMUP_EPOCHS,
        help="epochs of linear warm-up before the cosine decay",
    )
    deep.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=spec.SCHEDULE,
        help=f"after the warm-up: cosine decay to 0 or the constant peak rate (default "
        f"{spec.SCHEDULE})",
    )
    p.add_argument(
        "--no-tomtom",
        dest="tomtom",
        action="store_false",
        help="skip matching the filters to the known motifs with Tomtom (memelite compiles "
        "for about a minute the first time it runs)",
    )
    _add_data_options(p, with_task=True)
    p.set_defaults(handler=_cmd_run)


def _add_jax_impl(p) -> None:
    p.add_argument(
        "--jax-impl",
        choices=JAX_IMPLS,
        default="fast",
        help="JAX: the lesson as written ('textbook': nn.Conv, jax.random.permutation) or "
        "with the CPU engineering of jax_impl/fast.py ('fast', default; the same maths)",
    )


def _add_data_options(p, with_task: bool) -> None:
    data = p.add_argument_group("your own data (CSV, TSV or FASTA, optionally gzipped)")
    data.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="sequences and targets; default: the tutorial's synthetic 8-mers",
    )
    if with_task:
        data.add_argument(
            "--task",
            choices=("regress", "classify"),
            default="regress",
            help="predict a score (MSE) or a class (cross-entropy, the classifier)",
        )
    data.add_argument("--seq-col", default="seq", help="sequence column (default 'seq')")
    data.add_argument(
        "--target-col",
        default="score",
        help="target column, or the FASTA header key (default 'score')",
    )
    data.add_argument("--id-col", default="id", help="id column, if any (default 'id')")
    data.add_argument(
        "--labels",
        type=Path,
        metavar="TABLE",
        help="for FASTA: a CSV/TSV table of id and target columns",
    )
    data.add_argument(
        "--pad-to", type=_positive_int, metavar="L", help="pad shorter sequences with N to length L"
    )
    data.add_argument(
        "--trim-to",
        type=_positive_int,
        metavar="L",
        help="cut longer sequences to their first L letters",
    )


def _read_options(args: argparse.Namespace) -> dict:
    return {
        "seq_col": args.seq_col,
        "target_col": args.target_col,
        "id_col": args.id_col,
        "labels": args.labels,
        "pad_to": args.pad_to,
        "trim_to": args.trim_to,
    }


def _check_data_options(args: argparse.Namespace) -> None:
    """Refuse options that do not go together, before anything is read or trained."""
    file_only = [k for k in ("labels", "pad_to", "trim_to") if getattr(args, k) is not None]
    if args.data is not None and args.seq_len is not None:
        raise ConfigError("--data and --seq-len both choose the data: give one")
    if args.data is None and (args.task == "classify" or file_only):
        raise ConfigError("--task classify, --labels, --pad-to and --trim-to need --data FILE")
    if args.per_occurrence and args.seq_len is None:
        raise ConfigError("--per-occurrence goes with --seq-len (the 8-mers follow the tutorial)")
    if args.planted is not None and (args.data is not None or args.per_occurrence):
        raise ConfigError("--planted makes its own data: leave out --data and --per-occurrence")


def _deep_options(args: argparse.Namespace) -> dict:
    """The deeper CNN's options that were given (the others keep RunConfig's defaults)."""
    given = {
        "conv_blocks": args.conv_blocks and tuple(args.conv_blocks),
        "dense_units": None if args.dense_units is None else tuple(args.dense_units),
        "dropout": args.dropout and tuple(args.dropout),
    }
    return {k: v for k, v in given.items() if v is not None}


def _tutorial_data(args: argparse.Namespace):
    """The data ``run`` trains on: a user's file, the bigger synthetic task, or None
    (the tutorial's 8-mers)."""
    if args.data is not None:
        from dna_tutorial.io import load_data

        return load_data(args.data, task=args.task, seed=args.seed, **_read_options(args))
    if args.planted is not None:
        from dna_tutorial.dataset import planted_task
        from dna_tutorial.synthetic import motif_set

        length = args.seq_len or 200
        return planted_task(args.num_seqs, length, motif_set(args.planted), args.seed)
    if args.seq_len is not None:
        from dna_tutorial.dataset import synthetic_task

        return synthetic_task(args.num_seqs, args.seq_len, args.seed, args.per_occurrence)
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    from dna_tutorial.app.pipeline import preflight, run

    cfg = RunConfig(
        frameworks=_frameworks(args.framework),
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        models=tuple(args.models or ()),
        device=args.device,
        weight_init=args.jax_init,
        jax_impl=args.jax_impl,
        devices=args.devices,
        distributed=args.distributed,
        adamw_lr=args.adamw_lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        schedule=args.schedule,
        **_deep_options(args),
    )
    if args.resume and args.checkpoint_dir and args.resume != args.checkpoint_dir:
        raise ConfigError("--resume and --checkpoint-dir name different directories")
    checkpoints = args.resume or args.checkpoint_dir
    resume = args.resume is not None
    _check_data_options(args)
    preflight(cfg, args.out, checkpoints, resume, args.data, args.labels)
    if args.devices > 1 and args.device == "cpu" and "jax" in cfg.frameworks:
        # Virtual CPU devices must be asked for before JAX starts its backend.
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={args.devices}".strip()
        )
    data = _tutorial_data(args)
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
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        metavar="DIR",
        help="a model's checkpoint directory, e.g. ckpt/jax/cnn",
    )
    p.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        help="port to predict with (default: the one that trained the model)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    _add_jax_impl(p)
    _add_data_options(p, with_task=False)
    p.set_defaults(handler=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from dna_tutorial.app.predict import predict_file

    if args.data is None:
        raise ConfigError("--data FILE is required: the sequences to predict")
    table, meta = predict_file(
        args.checkpoint,
        args.data,
        args.framework,
        args.device,
        args.jax_impl,
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
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        metavar="DIR",
        help="a model's checkpoint directory, e.g. ckpt/jax/cnn",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("explanation"),
        help="directory to write into; replaced only if it holds an earlier explanation "
        "(default ./explanation)",
    )
    p.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        help="port to explain with (default: the one that trained the model)",
    )
    p.add_argument(
        "--output",
        type=int,
        default=0,
        metavar="K",
        help="which model output to explain: a class or label index (default 0)",
    )
    p.add_argument(
        "--max-seqs",
        type=_positive_int,
        default=spec.MAX_EXPLAINED,
        metavar="N",
        help=f"explain the file's first N sequences (default {spec.MAX_EXPLAINED}; ISM runs "
        "4 x length mutants of each)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_jax_impl(p)
    _add_data_options(p, with_task=False)
    p.set_defaults(handler=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from dna_tutorial.app.explain import explain

    if args.data is None:
        raise ConfigError("--data FILE is required: the sequences to explain")
    start = time.perf_counter()
    summary = explain(
        args.checkpoint,
        args.data,
        args.out,
        args.framework,
        args.device,
        args.jax_impl,
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
        help="compare the two ports and print a table of differences",
        description="Run both ports on the same inputs, weights and batch orders: scores, "
        "encodings, splits, forward outputs, losses, gradients, SGD steps, an epoch, a short "
        "training run, filters, ISM and gradients w.r.t. the input, and the deeper CNN's state. "
        "Prints the table and writes parity-cpu.{json,md} (parity-gpu with --device cuda) to "
        "--out. Exits 1 if any quantity is outside its tolerance.",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="run both ports here (cuda: TF32 off in torch, 'highest' in JAX)",
    )
    p.add_argument(
        "--quick", action="store_true", help="only the tutorial's model shapes and no training run"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("parity-report"),
        help="where to write parity-cpu.{json,md} or parity-gpu (default ./parity-report)",
    )
    _add_jax_impl(p)
    p.set_defaults(handler=_cmd_parity)


def _cmd_parity(args: argparse.Namespace) -> int:
    from parity_tests.report import run_and_write

    return run_and_write(args.device, args.out, quick=args.quick, jax_impl=args.jax_impl)


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
    p.add_argument(
        "--out",
        type=Path,
        default=Path("experiments/results"),
        help="directory to write the results into, beside what it holds "
        "(default ./experiments/results)",
    )
    p.add_argument("--quick", action="store_true", help="tiny data, 2 epochs, 2 variants")
    p.add_argument(
        "--seeds", type=_seed, nargs="+", metavar="S", help="training seeds (default: 0)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_reproduce)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from experiments import koo_eddy

    setup = koo_eddy.QUICK if args.quick else koo_eddy.FULL
    if args.seeds:
        setup = replace(setup, seeds=tuple(args.seeds))
    koo_eddy.run(args.out, setup, progress=not args.quiet)
    print(f"written: {', '.join(str(args.out / n) for n in koo_eddy.NAMES)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as err:
        if args.debug:
            raise
        print(f"dna-tutorial {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
