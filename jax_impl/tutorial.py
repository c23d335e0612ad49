"""The whole tutorial in JAX, steps 1-7, returning plain results for the report."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from dna_tutorial import memory, registry
from dna_tutorial.checkpoint import latest_snapshot, model_dir, model_meta
from dna_tutorial.config import RunConfig
from dna_tutorial.dataset import TutorialData, data_frame, target_column
from dna_tutorial.errors import DeviceUnavailableError
from dna_tutorial.insertion import attribution_seqs, insertion_effects
from dna_tutorial.recipe import sample_seqs
from dna_tutorial.results import Attribution, FilterResult, ModelResult, PortResult
from dna_tutorial.schedule import schedule_factor
from dna_tutorial.sequences import encode_codes
from dna_tutorial.spec import KMER_LENGTH
from jax_impl import checkpoint, scale
from jax_impl.convert import torch_init
from jax_impl.data import one_hot_encode, quick_split, score_codes, score_seqs, set_seed
from jax_impl.evaluate import quick_seq_pred
from jax_impl.fast import IMPLS
from jax_impl.filters import filter_weights, get_filter_activations
from jax_impl.interpret import ism, saliency
from jax_impl.train import (
    binary_cross_entropy_loss,
    create_train_state,
    cross_entropy_loss,
    fit,
    mse_loss,
)

#: The loss each task trains with: the notebook's MSE, footnote 2's cross-entropy, and
#: binary cross-entropy on logits for a multi-label task.
LOSSES = {
    "regress": mse_loss,
    "classify": cross_entropy_loss,
    "multilabel": binary_cross_entropy_loss,
}


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


def learning_rate(cfg: RunConfig, steps_per_epoch: int):
    """The deeper CNN's rate as a function of optax's step count: the schedule of epoch
    ``step // steps_per_epoch``, as torch steps its scheduler once per epoch."""

    def rate(step):
        epoch = step // steps_per_epoch
        factor = schedule_factor(epoch, cfg.schedule, cfg.warmup_epochs, cfg.epochs, jnp)
        return cfg.adamw_lr * factor

    return rate


def make_optimizer(name: str, cfg: RunConfig, steps_per_epoch: int):
    """The model's optax optimizer: the notebook's SGD, or AdamW with a warm-up and a
    cosine (or constant) schedule for the deeper CNN. The schedule's position is the step
    count optax keeps in the optimizer's state, so it is saved and restored with the rest
    of the state."""
    if registry.get(name).optimizer == "sgd":
        return optax.sgd(cfg.learning_rate)
    return optax.adamw(learning_rate(cfg, steps_per_epoch), weight_decay=cfg.weight_decay)


def attributions(
    trained: dict[str, tuple], data: TutorialData, seqs: list[str], cfg: RunConfig, predict
) -> list[Attribution]:
    """What each regression model learned, against the scoring rule: motif insertions,
    and ISM and saliency of ``seqs``. ``trained`` maps a name to (model, variables)."""
    x = one_hot_encode(seqs)
    explained = []
    for name, (model, variables) in trained.items():
        rows = _rows(name, data, cfg)
        effects = insertion_effects(
            lambda s: predict(model, variables, s, rows)[:, 0],  # noqa: B023 (called here)
            data.seq_len,
            seed=cfg.seed,
            per_occurrence=data.per_occurrence,
        )
        attribution = ism(model, variables, x, batch_size=rows)
        grads = saliency(model, variables, x, batch_size=_rows(name, data, cfg, True))
        explained.append(
            Attribution(name, effects, seqs, np.asarray(attribution), np.asarray(grads))
        )
    return explained


def _rows(name: str, data: TutorialData, cfg: RunConfig, backward: bool = False) -> int:
    """Examples per model call for chunked work, sized from memory."""
    options = {**cfg.model_options(), "num_classes": max(len(data.class_names), 1)}
    return memory.chunk_rows(name, data.seq_len, options, backward)


def run_tutorial(
    data: TutorialData,
    cfg: RunConfig,
    progress: bool = True,
    verbose: bool = False,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> PortResult:
    """Score, split, train every configured model, evaluate it and look at its filters.

    ``cfg.jax_impl`` picks the lesson as written (``textbook``) or with ``jax_impl.fast``'s
    engineering (``fast``). With ``checkpoints`` every model is snapshotted after each
    epoch under ``checkpoints/jax/<model>``; with ``resume`` a model continues from it.
    """
    device = resolve_device(cfg.device)
    with jax.default_device(device):
        return _run(data, cfg, device, progress, verbose, checkpoints, resume)


def _mesh(cfg: RunConfig):
    """The device mesh for data-parallel training, or None for one device."""
    if cfg.distributed:
        scale.initialize()
        return scale.make_mesh()
    return scale.make_mesh(cfg.devices) if cfg.devices > 1 else None


def _run(data, cfg, device, progress, verbose, checkpoints, resume) -> PortResult:
    mesh = _mesh(cfg)
    impl = IMPLS[cfg.jax_impl]
    start = time.perf_counter()
    df = tutorial_frame(data)
    train_df, val_df, test_df = quick_split(df, data.split)
    names = cfg.model_names(data.task, has_classes=bool(data.class_names))
    loaders = {}  # one pair of loaders per task, shared by its models
    data_seconds = time.perf_counter() - start

    trained, results = {}, {}
    for name in names:
        task = registry.get(name).task
        target = target_column(task, data.class_names)
        if task not in loaders:
            loaders[task] = impl.build_dataloaders(
                train_df, val_df, target_col=target, batch_size=cfg.batch_size
            )
        train_dl, val_dl = loaders[task]
        model = impl.build_model(
            name,
            data.seq_len,
            **cfg.model_options(),
            num_classes=max(len(data.class_names), 1),
        )
        # run_model's steps spelled out, so that a checkpoint can replace the fresh state.
        init_key, shuffle_key = jax.random.split(set_seed(cfg.seed))
        xb, _ = train_dl.batch(jnp.arange(1))
        opt = make_optimizer(name, cfg, steps_per_epoch=-(-len(train_df) // cfg.batch_size))
        state = create_train_state(model, init_key, xb, opt, LOSSES[task])
        if cfg.weight_init == "torch":
            state = state.replace(params=torch_init(state.params, init_key))
        history, save = None, None
        if checkpoints is not None:
            ckpt = model_dir(checkpoints, "jax", name)
            meta = model_meta(name, data, cfg, str(device))
            if resume and latest_snapshot(ckpt) is not None:
                state, history = checkpoint.restore(ckpt, state)

            def save(epoch, state, hist, ckpt=ckpt, meta=meta):
                if jax.process_index() == 0:
                    checkpoint.save(ckpt, state, hist, meta)

        if mesh is not None:
            state, (train_dl, val_dl) = scale.data_parallel(state, (train_dl, val_dl), mesh)
        state, history = fit(
            cfg.epochs,
            state,
            train_dl,
            val_dl,
            shuffle_key,
            patience=cfg.patience,
            progress=progress,
            verbose=verbose,
            desc=f"jax {name}",
            history=history,
            on_epoch_end=save,
        )
        variables = jax.device_get(state.variables)
        out = impl.predict_seqs(model, variables, list(test_df["seq"]), _rows(name, data, cfg))
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
        trained[name] = (model, variables)

    regressors = {n: mv for n, mv in trained.items() if registry.get(n).task == "regress"}
    spot = None
    if data.synthetic and data.seq_len == KMER_LENGTH and regressors:
        spot = quick_seq_pred(regressors)
    logo_seqs = sample_seqs(data.seqs, cfg.num_logo_seqs, seed=cfg.seed)
    filters = [
        FilterResult(
            name,
            filter_weights(variables),
            get_filter_activations(
                logo_seqs, model, variables, cfg.act_thresh, _rows(name, data, cfg)
            ),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, (model, variables) in trained.items()
        if registry.get(name).has_filters
    ]
    explained = []
    if data.synthetic and regressors:
        seqs = attribution_seqs(data.seq_len, list(test_df["seq"]))
        explained = attributions(regressors, data, seqs, cfg, impl.predict_seqs)
    return PortResult(
        framework="jax",
        device=str(device),
        models=results,
        test_seqs=list(test_df["seq"]),
        scores=df["score"].to_numpy() if data.synthetic else None,
        spot_checks=spot,
        filters=filters,
        attributions=explained,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
        main_process=jax.process_index() == 0,
    )
