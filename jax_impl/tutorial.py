"""The whole tutorial in JAX, steps 1-7, returning plain results for the report."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from dna_tutorial.checkpoint import latest_snapshot, model_dir, model_meta
from dna_tutorial.config import MODEL_TASKS, RunConfig
from dna_tutorial.dataset import TutorialData
from dna_tutorial.errors import DeviceUnavailableError
from dna_tutorial.recipe import sample_seqs, score_classes
from dna_tutorial.report import FilterResult, ModelResult, PortResult
from dna_tutorial.spec import KMER_LENGTH
from jax_impl import checkpoint, distributed
from jax_impl.data import Dataset, encode, quick_split, score_codes
from jax_impl.evaluate import predict_codes, quick_seq_pred
from jax_impl.filters import filter_weights, get_filter_activations
from jax_impl.models import build_model, has_conv
from jax_impl.train import create_train_state, cross_entropy_loss, fit, mse_loss, run_keys


def resolve_device(name: str) -> jax.Device:
    """The first JAX device of the kind asked for, with a clear error when there is none."""
    platform = "gpu" if name == "cuda" else "cpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as err:
        raise DeviceUnavailableError(
            f"--device {name} was requested but JAX sees no {platform}"
        ) from err


def tutorial_datasets(
    data: TutorialData,
) -> tuple[jax.Array, dict[str, jax.Array], np.ndarray | None]:
    """Step 1 as arrays: (codes (N, L) int8, targets by kind, scores if computed here).

    The synthetic data is scored here with the tutorial's rule (vectorised); a user's file
    brings its own targets. ``targets`` maps ``"score"`` to (N, 1) float32 and
    ``"label"`` to (N,) int32, whichever exist.
    """
    codes = encode(data.seqs)
    scores = None
    targets = {}
    if data.synthetic:
        scores = np.asarray(score_codes(codes, data.per_occurrence))
        targets["score"] = jnp.asarray(scores)[:, None]
        targets["label"] = jnp.asarray(score_classes(scores), jnp.int32)
    elif data.task == "classify":
        targets["label"] = jnp.asarray(data.targets, jnp.int32)
    else:
        targets["score"] = jnp.asarray(data.targets, jnp.float32)[:, None]
    return codes, targets, scores


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
    ``checkpoints/jax/<model>``; with ``resume`` a model continues from its snapshot.
    """
    device = resolve_device(cfg.device)
    with jax.default_device(device):
        return _run(data, cfg, device, progress, verbose, checkpoints, resume)


def _mesh(cfg: RunConfig) -> Mesh | None:
    """The device mesh for data-parallel training, or None for one device."""
    if cfg.distributed:
        distributed.initialize()
        return distributed.make_mesh()
    return distributed.make_mesh(cfg.devices) if cfg.devices > 1 else None


def _run(data, cfg, device, progress, verbose, checkpoints, resume) -> PortResult:
    mesh = _mesh(cfg)
    start = time.perf_counter()
    codes, targets, scores = tutorial_datasets(data)
    names = cfg.model_names(data.task, has_classes="label" in targets)
    test_idx = data.split.test
    data_seconds = time.perf_counter() - start

    models, results = {}, {}
    for name in names:
        task = MODEL_TASKS[name]
        target = "score" if task == "regress" else "label"
        train, val, test = quick_split(Dataset(codes, targets[target]), data.split)
        model = build_model(
            name,
            data.seq_len,
            cfg.num_filters,
            cfg.kernel_size,
            num_classes=max(len(data.class_names), 1),
            weight_init=cfg.weight_init,
        )
        # run_model's steps spelled out, so that a checkpoint can replace the fresh state.
        init_key, shuffle_key = run_keys(cfg.seed)
        loss_fn = mse_loss if task == "regress" else cross_entropy_loss
        state = create_train_state(
            model, init_key, data.seq_len, optax.sgd(cfg.learning_rate), loss_fn
        )
        history, save = None, None
        if checkpoints is not None:
            ckpt = model_dir(checkpoints, "jax", name)
            meta = model_meta(name, data, cfg, str(device))
            if resume and latest_snapshot(ckpt) is not None:
                state, history = checkpoint.restore(ckpt, state)

            def save(epoch, state, hist, ckpt=ckpt, meta=meta):
                if jax.process_index() == 0:
                    checkpoint.save(ckpt, state, hist, meta)

        state, history = fit(
            cfg.epochs,
            state,
            train,
            val,
            shuffle_key,
            batch_size=cfg.batch_size,
            patience=cfg.patience,
            progress=progress,
            verbose=verbose,
            desc=f"jax {name}",
            history=history,
            on_epoch_end=save,
            mesh=mesh,
        )
        out = np.asarray(predict_codes(model, state.params, test.codes))
        truth = np.asarray(test.y)
        results[name] = ModelResult(
            name=name,
            task=task,
            train_loss=history.train,
            val_loss=history.val,
            epoch_seconds=history.seconds,
            stopped_early=history.stopped_early,
            test_truth=truth[:, 0] if task == "regress" else truth.astype(np.int64),
            test_pred=out[:, 0] if task == "regress" else out,
        )
        models[name] = (model, state.params)

    regressors = {n: mp for n, mp in models.items() if MODEL_TASKS[n] == "regress"}
    spot = None
    if data.synthetic and data.seq_len == KMER_LENGTH and regressors:
        spot = quick_seq_pred(regressors)
    logo_seqs = sample_seqs(data.seqs, cfg.num_logo_seqs, seed=cfg.seed)
    filters = [
        FilterResult(
            name,
            filter_weights(params),
            get_filter_activations(logo_seqs, model, params, cfg.act_thresh),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, (model, params) in models.items()
        if has_conv(model)
    ]
    return PortResult(
        framework="jax",
        device=str(device),
        models=results,
        test_seqs=[data.seqs[i] for i in test_idx],
        scores=scores,
        spot_checks=spot,
        filters=filters,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
        main_process=jax.process_index() == 0,
    )
