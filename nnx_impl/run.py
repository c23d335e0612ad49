"""The NNX port's driver for ``dna-tutorial run``: the tutorial's steps 1-7 over the
lesson's functions, with what an application adds around them (a device, checkpoints and
``--resume``, chunked attribution), returning plain results for the report.
``reference_torch.run`` and ``jax_impl.run`` are its twins: the same helpers, in the same
order. Data-parallel training is the one thing the NNX port does not do yet (the command
line refuses ``--devices`` and ``--distributed`` for it).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from dna_tutorial import memory, registry
from dna_tutorial.checkpoint import latest_snapshot, model_dir, model_meta
from dna_tutorial.config import RunConfig
from dna_tutorial.dataset import TutorialData, data_frame, target_column
from dna_tutorial.errors import DeviceUnavailableError
from dna_tutorial.insertion import attribution_seqs, insertion_effects
from dna_tutorial.recipe import sample_seqs
from dna_tutorial.results import Attribution, FilterResult, ModelResult, PortResult
from dna_tutorial.sequences import encode_codes
from dna_tutorial.spec import KMER_LENGTH
from nnx_impl import checkpoint
from nnx_impl.convert import torch_init
from nnx_impl.data import (
    build_dataloaders,
    one_hot_seqs,
    quick_split,
    score_codes,
    score_seqs,
    set_seed,
)
from nnx_impl.evaluate import predict_seqs, quick_seq_pred
from nnx_impl.filters import filter_weights, get_filter_activations
from nnx_impl.interpret import ism, saliency
from nnx_impl.models import build_model
from nnx_impl.train import LOSSES, History, fit, make_optimizer


def resolve_device(name: str) -> jax.Device:
    """The first JAX device of the kind asked for, with a clear error when there is none."""
    platform = "gpu" if name == "cuda" else "cpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as err:
        raise DeviceUnavailableError(
            f"--device {name} was requested but JAX sees no {platform}"
        ) from err


def tutorial_frame(data: TutorialData) -> pd.DataFrame:
    """Step 1 as a DataFrame (``dna_tutorial.dataset.data_frame``): the synthetic data is
    scored here with the tutorial's rule; a user's file brings its own targets."""
    if not data.synthetic:
        return data_frame(data)
    if data.seq_len == KMER_LENGTH and not data.per_occurrence:
        return data_frame(data, score_seqs(data.seqs)["score"].to_numpy())
    codes = jnp.asarray(encode_codes(data.seqs))
    return data_frame(data, np.asarray(score_codes(codes, data.per_occurrence)))


def optimizer_for(
    name: str, model: nnx.Module, cfg: RunConfig, steps_per_epoch: int
) -> nnx.Optimizer:
    """``make_optimizer`` with the run's settings for model ``name``."""
    kind = registry.get(name).optimizer
    lr = cfg.learning_rate if kind == "sgd" else cfg.adamw_lr
    return make_optimizer(
        model, kind, lr, cfg.weight_decay, cfg.warmup_epochs, cfg.epochs, cfg.schedule,
        steps_per_epoch,
    )  # fmt: skip


def build_loaders(train_df: pd.DataFrame, val_df: pd.DataFrame, target: str, cfg: RunConfig):
    """(train loader, validation loader): the lesson's, as the Linen port's textbook ones."""
    return build_dataloaders(train_df, val_df, target_col=target, batch_size=cfg.batch_size)


def train_model(
    name: str,
    model: nnx.Module,
    loaders,
    device: jax.Device,
    cfg: RunConfig,
    data: TutorialData,
    ckpt: Path | None,
    resume: bool,
    **fit_kwargs,
) -> History:
    """Train one model (steps 4-5), from its checkpoint when resuming, snapshotting each
    epoch when ``ckpt`` is set; ``model`` is trained in place."""
    train_dl, val_dl = loaders
    init_key, shuffle_key = jax.random.split(set_seed(cfg.seed))  # the Linen port's keys
    if cfg.weight_init == "torch":
        torch_init(model, init_key)
    opt = optimizer_for(name, model, cfg, steps_per_epoch=len(train_dl))
    history = None
    if ckpt is not None and resume and latest_snapshot(ckpt) is not None:
        history = checkpoint.restore(ckpt, model, opt)
    meta = model_meta(name, data, cfg, str(device))

    def end_epoch(epoch: int, hist: History) -> None:
        if ckpt is not None:
            checkpoint.save(ckpt, model, opt, hist, meta)

    return fit(
        cfg.epochs,
        model,
        LOSSES[registry.get(name).task],
        opt,
        train_dl,
        val_dl,
        shuffle_key,
        patience=cfg.patience,
        desc=f"nnx {name}",
        history=history,
        on_epoch_end=end_epoch,
        **fit_kwargs,
    )


def attributions(
    models: dict[str, nnx.Module], data: TutorialData, seqs: list[str], cfg: RunConfig
) -> list[Attribution]:
    """What each regression model learned, against the scoring rule: motif insertions,
    and ISM and saliency of ``seqs``, in chunks that fit in memory."""
    x = one_hot_seqs(seqs)
    explained = []
    for name, model in models.items():
        rows = _rows(name, data, cfg)
        effects = insertion_effects(
            lambda s: predict_seqs(model, s, rows)[:, 0],  # noqa: B023 (called here)
            data.seq_len,
            seed=cfg.seed,
            per_occurrence=data.per_occurrence,
        )
        attribution = ism(model, x, batch_size=rows)
        grads = saliency(model, x, batch_size=_rows(name, data, cfg, True))
        explained.append(
            Attribution(name, effects, seqs, np.asarray(attribution), np.asarray(grads))
        )
    return explained


def _on_its_device(run_tutorial):
    """JAX places arrays on its default device: make it the one ``cfg.device`` names."""

    @functools.wraps(run_tutorial)
    def on_device(data: TutorialData, cfg: RunConfig, *args, **kwargs) -> PortResult:
        with jax.default_device(resolve_device(cfg.device)):
            return run_tutorial(data, cfg, *args, **kwargs)

    return on_device


@_on_its_device
def run_tutorial(
    data: TutorialData,
    cfg: RunConfig,
    progress: bool = True,
    verbose: bool = False,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> PortResult:
    """Score, split, train every configured model, evaluate it and look at its filters.

    With ``checkpoints`` every model is snapshotted after each epoch under
    ``checkpoints/nnx/<model>``; with ``resume`` a model continues from its snapshot.
    """
    device = resolve_device(cfg.device)
    start = time.perf_counter()
    df = tutorial_frame(data)
    train_df, val_df, test_df = quick_split(df, data.split)
    names = cfg.model_names(data.task, has_classes=bool(data.class_names))
    loaders = {}  # one set of loaders per task, shared by its models
    data_seconds = time.perf_counter() - start

    trained: dict[str, nnx.Module] = {}
    results: dict[str, ModelResult] = {}
    for name in names:
        task = registry.get(name).task
        target = target_column(task, data.class_names)
        if task not in loaders:
            loaders[task] = build_loaders(train_df, val_df, target, cfg)
        model = build_model(
            name,
            data.seq_len,
            seed=cfg.seed,  # the model's nnx.Rngs: Flax's init, and dropout's stream
            **cfg.model_options(),
            num_classes=max(len(data.class_names), 1),
        )
        ckpt = None if checkpoints is None else model_dir(checkpoints, "nnx", name)
        history = train_model(
            name,
            model,
            loaders[task],
            device,
            cfg,
            data,
            ckpt,
            resume,
            progress=progress,
            verbose=verbose,
        )
        out = predict_seqs(model, list(test_df["seq"]), _rows(name, data, cfg))
        results[name] = ModelResult(
            name=name,
            task=task,
            train_loss=history.train,
            val_loss=history.val,
            epoch_seconds=history.seconds,
            stopped_early=history.stopped_early,
            test_truth=test_df[target].to_numpy(),
            test_pred=out[:, 0] if task == "regress" else out,
        )
        trained[name] = model

    regressors = {n: m for n, m in trained.items() if registry.get(n).task == "regress"}
    spot = None
    if data.synthetic and data.seq_len == KMER_LENGTH and regressors:
        spot = quick_seq_pred(regressors)
    logo_seqs = sample_seqs(data.seqs, cfg.num_logo_seqs, seed=cfg.seed)
    filters = [
        FilterResult(
            name,
            filter_weights(model),
            get_filter_activations(logo_seqs, model, cfg.act_thresh, _rows(name, data, cfg)),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, model in trained.items()
        if registry.get(name).has_filters
    ]
    explained = []
    if data.synthetic and regressors:
        seqs = attribution_seqs(data.seq_len, list(test_df["seq"]))
        explained = attributions(regressors, data, seqs, cfg)
    return PortResult(
        framework="nnx",
        device=str(device),
        models=results,
        test_seqs=list(test_df["seq"]),
        scores=df["score"].to_numpy() if data.synthetic else None,
        spot_checks=spot,
        filters=filters,
        attributions=explained,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
        main_process=True,
    )


def _rows(name: str, data: TutorialData, cfg: RunConfig, backward: bool = False) -> int:
    """Examples per model call for chunked work, sized from memory."""
    options = {**cfg.model_options(), "num_classes": max(len(data.class_names), 1)}
    return memory.chunk_rows(name, data.seq_len, options, backward)
