"""Many seeds in every port: a model trained at the notebook's settings once per seed,
each seed drawing its initial weights and its batch orders in its own framework, or
(for the controlled runs) sharing them across frameworks.

Each port trains its seeds the way its stack does many small models best, with its own
lesson functions:

- **PyTorch**: a plain loop over seeds of ``run_model``. The loader is the one thing
  swapped: :class:`TensorBatches` holds the one-hot tensors and gathers each batch by
  indexing, drawing the epoch's order exactly as ``DataLoader(shuffle=True)`` does (the
  same calls on torch's global generator), so a run is bit for bit the lesson's.
- **Flax Linen**: every seed at once, ``jax.vmap`` of the lesson's ``train_step`` and
  ``val_step`` over a stacked ``TrainState``.
- **Flax NNX**: every seed at once, ``jax.vmap`` over the arrays of ``nnx.split``, each
  seed's model and optimizer merged inside and trained by the lesson's ``train_step``.

Seed ``s`` is each port's ``dna-tutorial run --seed s``: torch's ``set_seed(s)`` before the
model is built; JAX's ``split(set_seed(s))`` into the initialisation and shuffle keys.
The data split stays the tutorial's (seed 17): only the training run varies.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import torch
from flax import nnx

from dna_tutorial import registry
from dna_tutorial.config import FAST, RunConfig
from dna_tutorial.dataset import synthetic_kmers
from dna_tutorial.metrics import r2_score, roc_auc
from jax_impl import convert as jconvert
from jax_impl import run as jrun
from jax_impl import train as jtrain
from jax_impl.fast import VARIANTS
from nnx_impl import convert as nconvert
from nnx_impl import data as ndata
from nnx_impl import evaluate as nevaluate
from nnx_impl import models as nmodels
from nnx_impl import run as nrun
from nnx_impl import train as ntrain
from parity_tests.compare import as_numpy
from parity_tests.training_checks import epoch_order
from reference_torch import data as tdata
from reference_torch import evaluate as tevaluate
from reference_torch import models as tmodels
from reference_torch import run as trun
from reference_torch import train as ttrain

#: How a port's initial weights are drawn: its own default (torch's in torch, the
#: torch-like draw in both Flax ports), Flax's own initialisers (``--jax-init flax``), or
#: torch's weights for the same seed, copied.
OWN, FLAX_INIT, TORCH_WEIGHTS = "own", "flax", "torch weights"
#: Whose batch order torch visits: its own ``DataLoader`` shuffle, or the Linen port's.
JAX_ORDER = "jax order"


@dataclass
class SeedRun:
    """One seed's training: per-epoch losses and the test-set outputs (N, outputs)."""

    seed: int
    train: list[float]
    val: list[float]
    stopped_early: bool
    test_pred: np.ndarray


def target_of(name: str) -> str:
    return "score" if registry.get(name).task == "regress" else "label"


def metrics(run: SeedRun, name: str, test_df: pd.DataFrame) -> dict[str, float]:
    """What a run ends with: test R² (regression) or accuracy and AUROC (classes, one
    vs rest averaged), the last epoch's train and val loss, the epochs it ran and the
    epoch of its lowest validation loss (1-based)."""
    truth = test_df[target_of(name)].to_numpy()
    out: dict[str, float] = {}
    if registry.get(name).task == "regress":
        out["test R²"] = r2_score(truth, run.test_pred[:, 0])
    else:
        out["accuracy"] = float(np.mean(run.test_pred.argmax(1) == truth))
        logits = run.test_pred.astype(np.float64)
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        out["AUROC"] = float(
            np.mean([roc_auc(truth == c, probs[:, c]) for c in range(probs.shape[1])])
        )
    out["final train loss"] = run.train[-1]
    out["final val loss"] = run.val[-1]
    out["epochs"] = float(len(run.train))
    out["best epoch"] = float(int(np.argmin(run.val)) + 1)
    return out


def jax_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """A Flax port's (initialisation key, shuffle key) for ``--seed seed``."""
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    return init_key, shuffle_key


def model_options(cfg: RunConfig) -> dict:
    return {**cfg.model_options(), "num_classes": 3}


# --- PyTorch ------------------------------------------------------------------------------


class TensorBatches:
    """``DataLoader(dataset, batch_size, shuffle)`` over tensors held in memory.

    Each ``iter`` makes the calls on torch's global generator that ``DataLoader`` makes (a
    base seed for its workers, then ``RandomSampler``'s seed when shuffling), so dropout
    and the orders draw what they would; ``orders`` instead visits ``orders[e]`` in epoch
    e (another framework's order). The batches are the rows ``DataLoader`` would stack."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        orders: Sequence[np.ndarray] | None = None,
    ):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.orders, self.epoch = shuffle, orders, 0

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def _order(self) -> torch.Tensor:
        torch.empty((), dtype=torch.int64).random_()  # DataLoader's base seed
        if self.orders is not None:
            self.epoch += 1
            return torch.tensor(np.asarray(self.orders[self.epoch - 1]), dtype=torch.int64)
        if not self.shuffle:
            return torch.arange(len(self.x))
        generator = torch.Generator()
        generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        return torch.randperm(len(self.x), generator=generator)

    def __iter__(self):
        for idx in self._order().split(self.batch_size):
            yield self.x[idx], self.y[idx]


_DATASETS: dict[tuple[int, str], tuple[pd.DataFrame, tdata.SeqDatasetOHE]] = {}


def _dataset(df: pd.DataFrame, target: str) -> tdata.SeqDatasetOHE:
    # encoded once per frame (the frame is held, so its id stays its own)
    key = (id(df), target)
    if key not in _DATASETS:
        _DATASETS[key] = (df, tdata.SeqDatasetOHE(df, target_col=target))
    return _DATASETS[key][1]


def torch_batches(
    df: pd.DataFrame, target: str, batch_size: int, shuffle: bool = False, orders=None
) -> TensorBatches:
    ds = _dataset(df, target)
    return TensorBatches(ds.ohe_seqs, ds.labels, batch_size, shuffle, orders)


def torch_weights(name: str, cfg: RunConfig, seed: int) -> dict:
    """Torch's initial weights for ``seed``, as Linen variables."""
    tdata.set_seed(seed)
    model = tmodels.build_model(name, 8, **model_options(cfg))
    state = {k: as_numpy(v) for k, v in model.state_dict().items()}
    return jconvert.torch_to_flax(name, state, model_options(cfg))


def _torch_worker_init() -> None:
    torch.set_num_threads(1)  # two workers on two cores; the tutorial's steps are small


def _torch_seed(name: str, cfg: RunConfig, seed: int, order: str) -> SeedRun:
    return torch_seeds(name, cfg, tutorial_frames(), [seed], order)[0]


def torch_seeds_in_workers(
    pool, name: str, cfg: RunConfig, seeds: Sequence[int], order: str = OWN
) -> list:
    """:func:`torch_seeds` on the tutorial's frames, one seed per task of ``pool`` (made
    by :func:`torch_pool`): futures of :class:`SeedRun`."""
    return [pool.submit(_torch_seed, name, cfg, seed, order) for seed in seeds]


def torch_pool(workers: int):
    """Processes that train torch seeds side by side, one thread each."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # JAX's threads do not survive a fork
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_torch_worker_init)


def torch_seeds(
    name: str,
    cfg: RunConfig,
    frames: tuple[pd.DataFrame, ...],
    seeds: Sequence[int],
    order: str = OWN,
    variant: str = FAST,
) -> list[SeedRun]:
    """Train ``name`` once per seed with the lesson's ``run_model``; ``order=JAX_ORDER``
    visits the batches in the order the Linen port (``variant``) draws for the seed."""
    train_df, val_df, test_df = frames
    target = target_of(name)
    val_dl = torch_batches(val_df, target, cfg.batch_size)
    if order == JAX_ORDER:
        jax_dl = VARIANTS[variant].build_dataloaders(
            train_df, val_df, target_col=target, batch_size=cfg.batch_size
        )[0]
    runs = []
    for seed in seeds:
        orders = None
        if order == JAX_ORDER:
            key = jax_keys(seed)[1]
            orders = [epoch_order(jax_dl, jax.random.fold_in(key, e)) for e in range(cfg.epochs)]
        train_dl = torch_batches(train_df, target, cfg.batch_size, shuffle=True, orders=orders)
        tdata.set_seed(seed)
        model = tmodels.build_model(name, 8, **model_options(cfg))
        opt, scheduler = trun.optimizer_for(name, model, cfg)
        history = ttrain.run_model(
            train_dl,  # type: ignore[arg-type]  (a loader by duck typing)
            val_dl,  # type: ignore[arg-type]
            model,
            epochs=cfg.epochs,
            loss_func=ttrain.LOSSES[registry.get(name).task](),
            opt=opt,
            scheduler=scheduler,
            patience=cfg.patience,
            progress=False,
        )
        pred = tevaluate.predict_seqs(model, list(test_df["seq"]), "cpu")
        runs.append(SeedRun(seed, history.train, history.val, history.stopped_early, pred))
    return runs


# --- Many seeds at once in JAX --------------------------------------------------------------


def stack(trees: Sequence) -> object:
    """Pytrees of one structure as one pytree with a leading seed axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree, i: int):
    return jax.tree.map(lambda leaf: leaf[i], tree)


def _where_running(running: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    return jnp.where(running.reshape(-1, *[1] * (new.ndim - 1)), new, old)


def _vmapped_fit(train, val, states, keys, epochs: int, patience: int):
    """``fit``'s loop for every seed at once: ``train(states, epoch_keys) -> (states,
    losses)`` and ``val(states) -> losses``, both over the seed axis. A seed that stops
    early keeps its state while the others train on. Returns (states, train losses (S,
    E), val losses (S, E), epochs run (S,))."""
    n = len(keys)
    train_losses, val_losses = np.full((n, epochs), np.nan), np.full((n, epochs), np.nan)
    running = np.ones(n, bool)
    best, since = np.full(n, np.inf), np.zeros(n, int)
    ran = np.zeros(n, int)
    fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))
    for epoch in range(epochs):
        new, losses = train(states, fold(keys, epoch))
        vals = np.asarray(val(new))
        states = jax.tree.map(functools.partial(_where_running, jnp.asarray(running)), new, states)
        train_losses[running, epoch] = np.asarray(losses)[running]
        val_losses[running, epoch] = vals[running]
        ran[running] += 1
        better = vals < best
        best = np.where(running & better, vals, best)
        since = np.where(better, 0, since + 1)
        running &= since < patience
        if not running.any():
            break
    return states, train_losses, val_losses, ran


def _runs(seeds, train_losses, val_losses, ran, epochs, preds) -> list[SeedRun]:
    return [
        SeedRun(
            seed,
            train_losses[i, : ran[i]].tolist(),
            val_losses[i, : ran[i]].tolist(),
            bool(ran[i] < epochs),
            preds[i],
        )
        for i, seed in enumerate(seeds)
    ]


def linen_seeds(
    name: str,
    cfg: RunConfig,
    frames: tuple[pd.DataFrame, ...],
    seeds: Sequence[int],
    init: str = OWN,
    variant: str = FAST,
) -> list[SeedRun]:
    """Train ``name`` for every seed at once in the Linen port (``variant``): ``jax.vmap``
    of the lesson's ``train_step`` and ``val_step``. ``init`` is :data:`OWN` (the
    torch-like draw, the default of ``run``), :data:`FLAX_INIT` or :data:`TORCH_WEIGHTS`."""
    train_df, val_df, test_df = frames
    impl = VARIANTS[variant]
    model = impl.build_model(name, 8, **model_options(cfg))
    train_dl, val_dl = impl.build_dataloaders(
        train_df, val_df, target_col=target_of(name), batch_size=cfg.batch_size
    )
    tx = jrun.optimizer_for(name, cfg, steps_per_epoch=len(train_dl))  # one for every seed
    loss_func = jtrain.LOSSES[registry.get(name).task]
    xb, _ = train_dl.batch(jnp.arange(1))
    states, keys = [], []
    for seed in seeds:
        init_key, shuffle_key = jax_keys(seed)
        state = jtrain.create_train_state(model, init_key, xb, tx, loss_func)
        if init == OWN:
            state = state.replace(params=jconvert.torch_init(state.params, init_key))
        elif init == TORCH_WEIGHTS:
            w = jax.tree.map(jnp.asarray, torch_weights(name, cfg, seed))
            state = state.replace(params=w["params"], batch_stats=w.get("batch_stats", {}))
        states.append(state)
        keys.append(shuffle_key)
    train = jax.jit(jax.vmap(jtrain.train_step, in_axes=(0, None, 0)))
    val = jax.jit(jax.vmap(jtrain.val_step, in_axes=(0, None)))
    final, tl, vl, ran = _vmapped_fit(
        lambda s, k: train(s, train_dl, k),
        lambda s: val(s, val_dl),
        stack(states),
        jnp.stack(keys),
        cfg.epochs,
        cfg.patience,
    )
    seqs = list(test_df["seq"])
    preds = [impl.predict_seqs(model, unstack(final, i).variables, seqs) for i in range(len(seeds))]
    return _runs(seeds, tl, vl, ran, cfg.epochs, preds)


def nnx_seeds(
    name: str,
    cfg: RunConfig,
    frames: tuple[pd.DataFrame, ...],
    seeds: Sequence[int],
    init: str = OWN,
) -> list[SeedRun]:
    """Train ``name`` for every seed at once in the NNX port: each seed's model and
    optimizer ``nnx.split`` into arrays, stacked, and ``jax.vmap`` of a function that
    merges one seed's and runs the lesson's ``train_step`` (or ``val_step``) on it."""
    train_df, val_df, test_df = frames
    train_dl, val_dl = ndata.build_dataloaders(
        train_df, val_df, target_col=target_of(name), batch_size=cfg.batch_size
    )
    loss_func = ntrain.LOSSES[registry.get(name).task]
    graphdef, states, keys = None, [], []
    for seed in seeds:
        init_key, shuffle_key = jax_keys(seed)
        model = nmodels.build_model(name, 8, seed=seed, **model_options(cfg))
        if init == OWN:
            nconvert.torch_init(model, init_key)
        elif init == TORCH_WEIGHTS:
            nconvert.from_linen(model, jax.tree.map(jnp.asarray, torch_weights(name, cfg, seed)))
        opt = nrun.optimizer_for(name, model, cfg, steps_per_epoch=len(train_dl))
        split = nnx.split((model, opt))
        graphdef = graphdef or split[0]  # every seed's graph is the first's
        states.append(split[1])
        keys.append(shuffle_key)

    def train_one(state, key):
        model, opt = nnx.merge(graphdef, state)
        loss = ntrain.train_step(model, train_dl, loss_func, opt, key)
        return nnx.state((model, opt)), loss

    def val_one(state):
        model, _ = nnx.merge(graphdef, state)
        return ntrain.val_step(model, val_dl, loss_func)

    final, tl, vl, ran = _vmapped_fit(
        jax.jit(jax.vmap(train_one)),
        jax.jit(jax.vmap(val_one)),
        stack(states),
        jnp.stack(keys),
        cfg.epochs,
        cfg.patience,
    )
    seqs = list(test_df["seq"])
    preds = []
    for i in range(len(seeds)):
        model, _ = nnx.merge(graphdef, unstack(final, i))
        model.eval()
        preds.append(nevaluate.predict_seqs(model, seqs))
    return _runs(seeds, tl, vl, ran, cfg.epochs, preds)


@functools.lru_cache(maxsize=1)
def tutorial_frames() -> tuple[pd.DataFrame, ...]:
    """The tutorial's 8-mers scored, with their classes, split as ``run`` splits them."""
    data = synthetic_kmers()
    return tdata.quick_split(trun.tutorial_frame(data), data.split)


def single_run(port: str, name: str, cfg: RunConfig, frames, seed: int) -> SeedRun:
    """Seed ``seed`` alone through the port's ``train_model``, the path of ``dna-tutorial
    run --seed seed`` with its real loaders: what the ensemble paths are checked against."""
    data, cfg = synthetic_kmers(), cfg.replace(seed=seed)
    train_df, val_df, test_df = frames
    target, seqs = target_of(name), list(test_df["seq"])
    if port == "torch":
        loaders = trun.build_loaders(train_df, val_df, target, cfg)
        tdata.set_seed(seed)
        model = tmodels.build_model(name, 8, **model_options(cfg))
        history = trun.train_model(
            name, model, loaders, torch.device("cpu"), cfg, data, None, False, progress=False
        )
        pred = tevaluate.predict_seqs(model, seqs, "cpu")
    elif port == "jax":
        impl = VARIANTS[cfg.jax_variant]
        model = impl.build_model(name, 8, **model_options(cfg))
        loaders = jrun.build_loaders(train_df, val_df, target, cfg, None)
        device = jax.devices("cpu")[0]
        state, history = jrun.train_model(
            name, model, loaders, device, cfg, data, None, False, progress=False
        )
        pred = impl.predict_seqs(model, state.variables, seqs)
    else:
        model = nmodels.build_model(name, 8, seed=seed, **model_options(cfg))
        loaders = nrun.build_loaders(train_df, val_df, target, cfg)
        device = jax.devices("cpu")[0]
        history = nrun.train_model(
            name, model, loaders, device, cfg, data, None, False, progress=False
        )
        model.eval()
        pred = nevaluate.predict_seqs(model, seqs)
    return SeedRun(seed, history.train, history.val, history.stopped_early, np.asarray(pred))
