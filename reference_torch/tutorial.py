"""The whole tutorial in PyTorch, steps 1-7, returning plain results for the report."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from dna_tutorial.checkpoint import latest_snapshot, model_dir, model_meta
from dna_tutorial.config import MODEL_TASKS, RunConfig
from dna_tutorial.dataset import TutorialData
from dna_tutorial.errors import DeviceUnavailableError
from dna_tutorial.recipe import sample_seqs, score_classes
from dna_tutorial.report import FilterResult, ModelResult, PortResult
from dna_tutorial.spec import KMER_LENGTH
from reference_torch import checkpoint
from reference_torch.data import build_dataloaders, quick_split, score_seqs, set_seed
from reference_torch.evaluate import predict_seqs, quick_seq_pred
from reference_torch.filters import filter_weights, get_filter_activations
from reference_torch.models import build_model
from reference_torch.train import run_model


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` or ``"cuda"``, with a clear error when CUDA is asked for but absent."""
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda was requested but torch sees no CUDA device")
    return torch.device(name)


def tutorial_frame(data: TutorialData) -> pd.DataFrame:
    """Step 1 as a DataFrame: ``seq``, ``score`` and, when classes exist, ``label``.

    The synthetic data is scored here with the tutorial's rule; a user's file brings its
    own targets.
    """
    if data.synthetic:
        df = score_seqs(data.seqs)
        df["label"] = score_classes(df["score"].to_numpy())
    elif data.task == "classify":
        df = pd.DataFrame({"seq": data.seqs, "label": data.targets})
    else:
        df = pd.DataFrame({"seq": data.seqs, "score": data.targets})
    return df


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
    start = time.perf_counter()
    df = tutorial_frame(data)
    train_df, val_df, test_df = quick_split(df, data.split)
    names = cfg.model_names(data.task, has_classes="label" in df)
    loaders = {}  # one pair of DataLoaders per target column, shared by its models
    data_seconds = time.perf_counter() - start

    models: dict[str, nn.Module] = {}
    results: dict[str, ModelResult] = {}
    for name in names:
        task = MODEL_TASKS[name]
        target = "score" if task == "regress" else "label"
        if target not in loaders:
            loaders[target] = build_dataloaders(
                train_df, val_df, target_col=target, batch_size=cfg.batch_size
            )
        set_seed(cfg.seed)  # each model starts from the seed, whatever ran before it
        model = build_model(
            name,
            data.seq_len,
            cfg.num_filters,
            cfg.kernel_size,
            num_classes=max(len(data.class_names), 1),
        ).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
        history, save = None, None
        if checkpoints is not None:
            ckpt = model_dir(checkpoints, "torch", name)
            meta = model_meta(name, data, cfg, str(device))
            if resume and latest_snapshot(ckpt) is not None:
                history = checkpoint.restore(ckpt, model, opt)

            def save(epoch, hist, ckpt=ckpt, model=model, opt=opt, meta=meta):
                checkpoint.save(ckpt, model, opt, hist, meta)

        history = run_model(
            *loaders[target],
            model,
            device,
            epochs=cfg.epochs,
            lossf=nn.MSELoss() if task == "regress" else nn.CrossEntropyLoss(),
            opt=opt,
            patience=cfg.patience,
            progress=progress,
            verbose=verbose,
            desc=f"torch {name}",
            history=history,
            on_epoch_end=save,
        )
        out = predict_seqs(model, list(test_df["seq"]), device)
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
        models[name] = model

    regressors = {n: m for n, m in models.items() if MODEL_TASKS[n] == "regress"}
    spot = None
    if data.synthetic and data.seq_len == KMER_LENGTH and regressors:
        spot = quick_seq_pred(regressors, device)
    logo_seqs = sample_seqs(data.seqs, cfg.num_logo_seqs, seed=cfg.seed)
    filters = [
        FilterResult(
            name,
            filter_weights(model),
            get_filter_activations(logo_seqs, model, cfg.act_thresh, device),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, model in models.items()
        if name != "linear"
    ]
    return PortResult(
        framework="torch",
        device=str(device),
        models=results,
        test_seqs=list(test_df["seq"]),
        scores=df["score"].to_numpy() if data.synthetic else None,
        spot_checks=spot,
        filters=filters,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
    )
