"""The PyTorch port's driver for ``dna-tutorial run``: the tutorial's steps 1-7 over the
lesson's functions, with what an application adds around them (a device, checkpoints and
``--resume``, data-parallel training under ``torchrun``, chunked attribution), returning
plain results for the report. ``jax_impl.run`` is its twin: the same helpers, in the same
order (``diff reference_torch/run.py jax_impl/run.py`` shows only real differences).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

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
from reference_torch import checkpoint, distributed
from reference_torch.data import (
    SeqDatasetOHE,
    build_dataloaders,
    one_hot_seqs,
    quick_split,
    score_codes,
    score_seqs,
    set_seed,
)
from reference_torch.evaluate import predict_seqs, quick_seq_pred
from reference_torch.filters import filter_weights, get_filter_activations
from reference_torch.interpret import ism, saliency
from reference_torch.models import build_model
from reference_torch.train import LOSSES, History, make_optimizer, run_model


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` or ``"cuda"``, with a clear error when CUDA is asked for but absent."""
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda was requested but torch sees no CUDA device")
    return torch.device(name)


def tutorial_frame(data: TutorialData) -> pd.DataFrame:
    """Step 1 as a DataFrame (``dna_tutorial.dataset.data_frame``): the synthetic data is
    scored here with the tutorial's rule; a user's file brings its own targets."""
    if not data.synthetic:
        return data_frame(data)
    if data.seq_len == KMER_LENGTH and not data.per_occurrence:
        return data_frame(data, score_seqs(data.seqs)["score"].to_numpy())  # the notebook's loop
    return data_frame(data, score_codes(encode_codes(data.seqs), data.per_occurrence).numpy())


def optimizer_for(name: str, model: nn.Module, cfg: RunConfig):
    """``make_optimizer`` with the run's settings for model ``name``: (opt, scheduler)."""
    kind = registry.get(name).optimizer
    lr = cfg.learning_rate if kind == "sgd" else cfg.adamw_lr
    return make_optimizer(
        model, kind, lr, cfg.weight_decay, cfg.warmup_epochs, cfg.epochs, cfg.schedule
    )


def build_loaders(train_df: pd.DataFrame, val_df: pd.DataFrame, target: str, cfg: RunConfig):
    """(train loader, validation loader, the DistributedSampler or None)."""
    if not cfg.distributed:
        train_dl, val_dl = build_dataloaders(
            train_df, val_df, target_col=target, batch_size=cfg.batch_size
        )
        return train_dl, val_dl, None
    train_ds = SeqDatasetOHE(train_df, target_col=target)
    train_dl, sampler = distributed.distributed_loader(train_ds, cfg.batch_size, cfg.seed)
    val_dl = DataLoader(SeqDatasetOHE(val_df, target_col=target), batch_size=cfg.batch_size)
    return train_dl, val_dl, sampler


def train_model(
    name: str,
    model: nn.Module,
    loaders,
    device: torch.device,
    cfg: RunConfig,
    data: TutorialData,
    ckpt: Path | None,
    resume: bool,
    **fit_kwargs,
) -> History:
    """Train one model (steps 4-5), from its checkpoint when resuming, snapshotting each
    epoch when ``ckpt`` is set; data-parallel when its loader has a DistributedSampler."""
    train_dl, val_dl, sampler = loaders
    opt, scheduler = optimizer_for(name, model, cfg)
    history = None
    if ckpt is not None and resume and latest_snapshot(ckpt) is not None:
        history = checkpoint.restore(ckpt, model, opt, scheduler)
    meta = model_meta(name, data, cfg, str(device))
    if sampler is not None:
        sampler.set_epoch(len(history.train) if history else 0)

    def end_epoch(epoch: int, hist: History) -> None:
        if sampler is not None:  # shuffle anew next epoch; report the loss over all ranks
            sampler.set_epoch(epoch + 1)
            hist.train[-1] = distributed.mean_over_ranks(hist.train[-1], device)
        if ckpt is not None and distributed.is_main_process():
            checkpoint.save(ckpt, model, opt, hist, meta, scheduler)

    net = model if sampler is None else distributed.wrap(model, device)
    return run_model(
        train_dl,
        val_dl,
        net,
        device,
        epochs=cfg.epochs,
        loss_func=LOSSES[registry.get(name).task](),
        opt=opt,
        scheduler=scheduler,
        patience=cfg.patience,
        desc=f"torch {name}",
        history=history,
        on_epoch_end=end_epoch,
        **fit_kwargs,
    )


def attributions(
    models: dict[str, nn.Module], data: TutorialData, seqs: list[str], cfg: RunConfig, device
) -> list[Attribution]:
    """What each regression model learned, against the scoring rule: motif insertions,
    and ISM and saliency of ``seqs``, in chunks that fit in memory."""
    x = one_hot_seqs(seqs)
    explained = []
    for name, model in models.items():
        rows = _rows(name, data, cfg)
        effects = insertion_effects(
            lambda s: predict_seqs(model, s, device, rows)[:, 0],  # noqa: B023 (called here)
            data.seq_len,
            seed=cfg.seed,
            per_occurrence=data.per_occurrence,
        )
        attribution = ism(model, x, device=device, batch_size=rows)
        grads = saliency(model, x, device=device, batch_size=_rows(name, data, cfg, True))
        explained.append(Attribution(name, effects, seqs, attribution, grads))
    return explained


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
    ``checkpoints/torch/<model>``; with ``resume`` a model continues from its snapshot.
    """
    device = resolve_device(cfg.device)
    if cfg.distributed:
        distributed.setup(cfg.device)
    start = time.perf_counter()
    df = tutorial_frame(data)
    train_df, val_df, test_df = quick_split(df, data.split)
    names = cfg.model_names(data.task, has_classes=bool(data.class_names))
    loaders = {}  # one set of loaders per task, shared by its models
    data_seconds = time.perf_counter() - start

    trained: dict[str, nn.Module] = {}
    results: dict[str, ModelResult] = {}
    for name in names:
        task = registry.get(name).task
        target = target_column(task, data.class_names)
        if task not in loaders:
            loaders[task] = build_loaders(train_df, val_df, target, cfg)
        set_seed(cfg.seed)  # each model starts from the seed, whatever ran before it
        model = build_model(
            name,
            data.seq_len,
            **cfg.model_options(),
            num_classes=max(len(data.class_names), 1),
        ).to(device)
        ckpt = None if checkpoints is None else model_dir(checkpoints, "torch", name)
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
        out = predict_seqs(model, list(test_df["seq"]), device, _rows(name, data, cfg))
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
        spot = quick_seq_pred(regressors, device)
    logo_seqs = sample_seqs(data.seqs, cfg.num_logo_seqs, seed=cfg.seed)
    filters = [
        FilterResult(
            name,
            filter_weights(model),
            get_filter_activations(
                logo_seqs, model, cfg.act_thresh, device, _rows(name, data, cfg)
            ),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, model in trained.items()
        if registry.get(name).has_filters
    ]
    explained = []
    if data.synthetic and regressors:
        seqs = attribution_seqs(data.seq_len, list(test_df["seq"]))
        explained = attributions(regressors, data, seqs, cfg, device)
    main_process = distributed.is_main_process()
    distributed.teardown()  # every rank is done: leave the group before any exits
    return PortResult(
        framework="torch",
        device=str(device),
        models=results,
        test_seqs=list(test_df["seq"]),
        scores=df["score"].to_numpy() if data.synthetic else None,
        spot_checks=spot,
        filters=filters,
        attributions=explained,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
        main_process=main_process,
    )


def _rows(name: str, data: TutorialData, cfg: RunConfig, backward: bool = False) -> int:
    """Examples per model call for chunked work, sized from memory."""
    options = {**cfg.model_options(), "num_classes": max(len(data.class_names), 1)}
    return memory.chunk_rows(name, data.seq_len, options, backward)
