"""The whole tutorial in JAX, steps 1-7, returning plain results for the report."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dna_tutorial import registry
from dna_tutorial.checkpoint import latest_snapshot, model_dir, model_meta
from dna_tutorial.config import RunConfig
from dna_tutorial.dataset import TutorialData
from dna_tutorial.errors import DeviceUnavailableError
from dna_tutorial.recipe import sample_seqs, score_classes
from dna_tutorial.results import FilterResult, ModelResult, PortResult
from dna_tutorial.spec import KMER_LENGTH
from jax_impl import checkpoint, fast, scale
from jax_impl.data import quick_split, score_codes, set_seed
from jax_impl.evaluate import quick_seq_pred
from jax_impl.fast import IMPLS
from jax_impl.filters import filter_weights, get_filter_activations
from jax_impl.train import create_train_state, cross_entropy_loss, fit, mse_loss

#: The loss each task trains with (the notebook's MSE, footnote 2's cross-entropy).
LOSSES = {"regress": mse_loss, "classify": cross_entropy_loss}


def resolve_device(name: str) -> jax.Device:
    """The first JAX device of the kind asked for, with a clear error when there is none."""
    platform = "gpu" if name == "cuda" else "cpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as err:
        raise DeviceUnavailableError(
            f"--device {name} was requested but JAX sees no {platform}"
        ) from err


def tutorial_targets(data: TutorialData) -> tuple[dict[str, jax.Array], np.ndarray | None]:
    """Step 1's targets by kind, and the scores when computed here.

    The synthetic data is scored here with the tutorial's rule (vectorised); a user's file
    brings its own targets. ``"score"`` maps to (N, 1) float32 and ``"label"`` to (N,)
    int32, whichever exist.
    """
    targets, scores = {}, None
    if data.synthetic:
        codes = fast.encode(data.seqs)
        scores = np.asarray(score_codes(codes, data.per_occurrence))
        targets["score"] = jnp.asarray(scores)[:, None]
        targets["label"] = jnp.asarray(score_classes(scores), jnp.int32)
    elif data.task == "classify":
        targets["label"] = jnp.asarray(data.targets, jnp.int32)
    else:
        targets["score"] = jnp.asarray(data.targets, jnp.float32)[:, None]
    return targets, scores


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
    start = time.perf_counter()
    targets, scores = tutorial_targets(data)
    impl = IMPLS[cfg.jax_impl]
    x = impl.encode(data.seqs)
    names = cfg.model_names(data.task, has_classes="label" in targets)
    data_seconds = time.perf_counter() - start

    trained, results = {}, {}
    for name in names:
        task = registry.get(name).task
        target = "score" if task == "regress" else "label"
        train, val, test = quick_split(impl.dataset(x, targets[target]), data.split)
        train_dl, val_dl = impl.build_dataloaders(train, val, cfg.batch_size)
        model = impl.build_model(
            name,
            data.seq_len,
            **cfg.model_options(),
            num_classes=max(len(data.class_names), 1),
            weight_init=cfg.weight_init,
        )
        # run_model's steps spelled out, so that a checkpoint can replace the fresh state.
        init_key, shuffle_key = jax.random.split(set_seed(cfg.seed))
        xb, _ = train_dl.batch(jnp.arange(1))
        tx = optax.sgd(cfg.learning_rate)
        state = create_train_state(model, init_key, xb, tx, LOSSES[task])
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
        out = np.asarray(impl.predict(model, variables, x[data.split.test]))
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
            get_filter_activations(logo_seqs, model, variables, cfg.act_thresh),
            len(logo_seqs),
            cfg.act_thresh,
        )
        for name, (model, variables) in trained.items()
        if registry.get(name).has_filters
    ]
    return PortResult(
        framework="jax",
        device=str(device),
        models=results,
        test_seqs=[data.seqs[i] for i in data.split.test],
        scores=scores,
        spot_checks=spot,
        filters=filters,
        seconds={"data_seconds": data_seconds, "total_seconds": time.perf_counter() - start},
        main_process=jax.process_index() == 0,
    )
