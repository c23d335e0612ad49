"""Run both ports on the same inputs, weights and batch order; measure how far apart they are.

Every check returns :class:`Comparison` rows (quantity, max abs diff, max rel diff,
tolerance, pass). The pytest files assert that rows pass; ``dna-tutorial parity`` prints
the same rows as a table. Weights always start in torch (its default init) and reach the
JAX port through ``jax_impl.convert``; batch orders are drawn by the JAX port and fed to
torch's ``DataLoader`` through a sampler.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import linen
from torch import nn
from torch.utils.data import DataLoader

from dna_tutorial import registry
from dna_tutorial.metrics import r2_score
from dna_tutorial.recipe import score_classes, tutorial_split
from dna_tutorial.schedule import SCHEDULES
from dna_tutorial.sequences import decode_codes, kmers
from dna_tutorial.spec import ADAMW_LR
from dna_tutorial.synthetic import synthetic_codes
from jax_impl import convert
from jax_impl import data as jdata
from jax_impl import evaluate as jevaluate
from jax_impl import filters as jfilters
from jax_impl import interpret as jinterpret
from jax_impl import models as jmodels
from jax_impl import train as jtrain
from jax_impl.fast import VARIANTS
from parity_tests.registry import CASES, ModelCase
from parity_tests.tolerances import (
    EPOCH,
    EXACT,
    FORWARD,
    GRADIENT,
    LOSS,
    ONE_STEP,
    R2,
    TRAJECTORY,
    Tolerance,
)
from reference_torch import data as tdata
from reference_torch import evaluate as tevaluate
from reference_torch import filters as tfilters
from reference_torch import interpret as tinterpret
from reference_torch import models as tmodels
from reference_torch import train as ttrain

SEED = 17


@dataclass
class Comparison:
    """How far the torch value is from the JAX value of one quantity."""

    quantity: str
    max_abs: float
    max_rel: float
    tolerance: Tolerance
    passed: bool

    def as_dict(self) -> dict:
        row = asdict(self)
        row["tolerance"] = str(self.tolerance)
        return row

    def __str__(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return (
            f"{self.quantity}: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g}, "
            f"{self.tolerance} -> {verdict}"
        )


def assert_all_pass(rows: Sequence[Comparison]) -> None:
    """Fail with every row that did not pass (for the pytest files)."""
    failed = [str(r) for r in rows if not r.passed]
    assert rows, "the check compared nothing"
    assert not failed, "parity failures:\n" + "\n".join(failed)


def compare(quantity: str, torch_value, jax_value, tol: Tolerance) -> Comparison:
    """Compare two arrays elementwise under ``tol`` (``|a - b| <= tol.allowed(b)``).

    The relative difference of an element is ``|a - b| / max(|a|, |b|)`` (0 where both are
    0); the row reports the largest of each.
    """
    a = np.asarray(torch_value, dtype=np.float64)
    b = np.asarray(jax_value, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(f"{quantity} [shapes {a.shape} vs {b.shape}]", np.inf, np.inf, tol, False)
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    passed = bool(np.all(diff <= tol.allowed(b)))
    return Comparison(quantity, float(diff.max(initial=0)), float(rel.max(initial=0)), tol, passed)


def compare_params(
    quantity: str, case: ModelCase, torch_state, jax_variables, tol: Tolerance
) -> list[Comparison]:
    """One row per tensor: torch's against Flax variables mapped to torch's layout
    (tensors the other side lacks, like BatchNorm's batch counter, are skipped)."""
    as_torch = convert.flax_to_torch(case.name, jax_variables, case.kwargs)
    return [
        compare(f"{quantity} {key}", _np(torch_state[key]), as_torch[key], tol)
        for key in as_torch
        if key in torch_state and np.issubdtype(np.asarray(as_torch[key]).dtype, np.floating)
    ]


def _np(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Both frameworks at full float32 precision.

    On GPUs both default to TF32 for some float32 work (10-bit mantissas; torch for cuDNN
    convolutions, JAX for every matmul and convolution): this turns it off in torch
    (matmul and cuDNN) and sets JAX's default matmul precision to "highest". No effect on
    a CPU, where neither uses TF32. The benchmark runs under it too, so that its
    torch-vs-JAX ratios compare the same arithmetic."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with jax.default_matmul_precision("highest"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def parity_precision(device: str) -> Iterator[tuple[torch.device, jax.Device]]:
    """Both frameworks at full float32 precision (:func:`full_float32`) on ``device``
    ("cpu" or "cuda"). Yields (torch device, JAX device)."""
    platform = "gpu" if device == "cuda" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("parity on cuda needs a GPU that torch can see")
    try:
        jax_device = jax.devices(platform)[0]
    except RuntimeError as err:
        raise RuntimeError(f"parity on {device} needs a JAX {platform} device") from err
    with full_float32(), jax.default_device(jax_device):
        yield torch.device(device), jax_device


# --- Inputs ------------------------------------------------------------------------------


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` uniformly random ACGT strings of ``length``."""
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    return decode_codes(codes)


def torch_loss(case: ModelCase) -> nn.Module:
    return nn.MSELoss() if case.task == "regress" else nn.CrossEntropyLoss()


def jax_loss(case: ModelCase):
    return jtrain.mse_loss if case.task == "regress" else jtrain.cross_entropy_loss


def targets(case: ModelCase, seqs: Sequence[str]) -> np.ndarray:
    """The tutorial's targets for ``seqs``: scores (N, 1) float32 or classes (N,) int64."""
    scores = tdata.score_seqs(seqs)["score"].to_numpy().copy()  # writable, for torch
    return scores[:, None] if case.task == "regress" else score_classes(scores)


@dataclass
class ModelPair:
    case: ModelCase
    torch_model: nn.Module
    jax_model: linen.Module
    variables: dict  # the torch model's initial weights, as Flax variables


def model_pair(
    case: ModelCase, device: torch.device, seed: int = 0, variant: str = "fast"
) -> ModelPair:
    """A torch model with its default init, and the JAX model (built by ``variant``'s
    ``build_model``) holding the same weights."""
    torch.manual_seed(seed)
    model = tmodels.build_model(case.name, case.seq_len, **case.kwargs).to(device)
    state = {k: _np(v) for k, v in model.state_dict().items()}
    variables = convert.torch_to_flax(case.name, state, case.kwargs)
    jax_model = VARIANTS[variant].build_model(case.name, case.seq_len, **case.kwargs)
    return ModelPair(case, model, jax_model, jax.tree.map(jnp.asarray, variables))


def _jax_state(pair: ModelPair, lr: float = 0.01) -> jtrain.TrainState:
    xb = jnp.zeros((1, pair.case.seq_len, 4))
    tx = optax.sgd(lr)
    state = jtrain.create_train_state(
        pair.jax_model, jax.random.key(0), xb, tx, jax_loss(pair.case)
    )
    return state.replace(params=pair.variables["params"], batch_stats=pair.variables["batch_stats"])


# --- Checks on the data ------------------------------------------------------------------


def check_data() -> list[Comparison]:
    """Scores, one-hot encodings and split membership: identical, not merely close."""
    seqs, long = kmers(8), random_seqs(2000, 200, seed=1)
    kmer_frame = tdata.score_seqs(seqs)  # the reference's step 1; split below as well
    rows = [
        compare(
            "scores, all 65,536 8-mers", kmer_frame["score"], jdata.score_seqs(seqs)["score"], EXACT
        ),
        compare(
            "scores, 2,000 random 200-mers",
            tdata.score_seqs(long)["score"],
            jdata.score_seqs(long)["score"],
            EXACT,
        ),
    ]
    codes = synthetic_codes(20_000, 200, seed=2)
    for per in (False, True):
        rows.append(
            compare(
                f"synthetic task scores, 20,000 200-mers{', per occurrence' if per else ''}",
                tdata.score_codes(codes, per),
                jdata.score_codes(codes, per),
                EXACT,
            )
        )
    with_n = [s[:3] + "N" + s[4:] for s in random_seqs(500, 20, seed=2)]
    for name, batch in [("one-hot, all 65,536 8-mers", seqs), ("one-hot, 20-mers with N", with_n)]:
        rows.append(
            compare(
                name,
                tdata.one_hot_seqs(batch),
                jdata.one_hot_seqs(batch),
                EXACT,
            )
        )
    split = tutorial_split(len(seqs), seed=SEED)
    frames = tdata.quick_split(kmer_frame, split)
    parts = jdata.quick_split(jdata.score_seqs(seqs), split)
    for part, frame, jframe in zip(("train", "val", "test"), frames, parts):
        differ = np.asarray(frame["seq"]) != np.asarray(jframe["seq"])
        rows.append(
            Comparison(
                f"split membership, {part}: rows that differ, of {len(frame):,}",
                float(differ.sum()),
                float(differ.mean()),
                EXACT,
                not differ.any(),
            )
        )
    return rows


# --- Checks on one model ---------------------------------------------------------------


def check_forward(case: ModelCase, device: torch.device, variant: str = "fast") -> list[Comparison]:
    """Outputs for random real-valued inputs and for one-hot sequences."""
    pair = model_pair(case, device, variant=variant)
    rng = np.random.default_rng(3)
    inputs = {
        "random inputs": rng.normal(size=(64, case.seq_len, 4)).astype(np.float32),
        "one-hot inputs": np.asarray(jdata.one_hot_seqs(random_seqs(256, case.seq_len, 4))),
    }
    rows = []
    for label, x in inputs.items():
        ours = tevaluate.predict(pair.torch_model, x, device)
        theirs = jevaluate.predict(pair.jax_model, pair.variables, x)
        rows.append(compare(f"{case} forward, {label}", ours, theirs, FORWARD))
    return rows


def _batch(case: ModelCase, n: int = 96, seed: int = 5):
    seqs = random_seqs(n, case.seq_len, seed)
    x = tdata.one_hot_seqs(seqs)
    return x, targets(case, seqs)


@jax.jit
def _loss_and_grads(state: jtrain.TrainState, xb, yb):
    """The loss of a batch and its gradient, in training mode, without a step (compiled
    whole: op by op, the deeper CNN's gradient took hundreds of small compilations)."""

    def loss_of(params):
        pred, _ = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            xb,
            train=True,
            rngs={"dropout": jax.random.key(0)},
            mutable=["batch_stats"],
        )
        return state.loss_func(pred, yb)

    return jax.value_and_grad(loss_of)(state.params)


def _jax_targets(case: ModelCase, y: np.ndarray) -> jax.Array:
    return jnp.asarray(y, jnp.float32 if case.task == "regress" else jnp.int32)


def check_loss_and_gradients(
    case: ModelCase, device: torch.device, variant: str = "fast"
) -> list[Comparison]:
    """The loss of one batch and its gradient w.r.t. every parameter."""
    pair = model_pair(case, device, variant=variant)
    x, y = _batch(case)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    pair.torch_model.train()
    loss = torch_loss(case)(pair.torch_model(xt), yt)
    loss.backward()
    grads = {k: p.grad for k, p in pair.torch_model.named_parameters()}
    jloss, jgrads = _loss_and_grads(_jax_state(pair), jnp.asarray(x), _jax_targets(case, y))
    kind = "MSE" if case.task == "regress" else "cross-entropy"
    return [
        compare(f"{case} {kind} loss", _np(loss), jloss, LOSS),
        *compare_params(
            f"{case} gradient",
            case,
            grads,
            {"params": jgrads, "batch_stats": pair.variables["batch_stats"]},
            GRADIENT,
        ),
    ]


def check_sgd_step(
    case: ModelCase, device: torch.device, variant: str = "fast"
) -> list[Comparison]:
    """Parameters after one SGD step (lr 0.01) on the same batch."""
    pair = model_pair(case, device, variant=variant)
    x, y = _batch(case)
    opt = torch.optim.SGD(pair.torch_model.parameters(), lr=0.01)
    pair.torch_model.train()
    ttrain.loss_batch(
        pair.torch_model,
        torch_loss(case),
        torch.from_numpy(x).to(device),
        torch.from_numpy(y).to(device),
        opt=opt,
    )
    state, _, _ = jtrain.loss_batch(
        _jax_state(pair), jnp.asarray(x), _jax_targets(case, y), step=True, key=jax.random.key(0)
    )
    return compare_params(
        f"{case} one SGD step", case, pair.torch_model.state_dict(), state.variables, ONE_STEP
    )


def check_attribution(
    case: ModelCase, device: torch.device, variant: str = "fast"
) -> list[Comparison]:
    """ISM, saliency, gradient x input and the simplex-corrected saliency of the first
    output, for one-hot sequences: ISM subtracts outputs (forward tolerance), the others
    are input gradients (gradient tolerance)."""
    pair = model_pair(case, device, variant=variant)
    x, _ = _batch(case, n=32)
    xj = jnp.asarray(x)
    grads = tinterpret.saliency(pair.torch_model, x, device=device)
    jgrads = jinterpret.saliency(pair.jax_model, pair.variables, xj)
    return [
        compare(
            f"{case} ISM",
            tinterpret.ism(pair.torch_model, x, device=device),
            jinterpret.ism(pair.jax_model, pair.variables, xj),
            FORWARD,
        ),
        compare(f"{case} saliency", grads, jgrads, GRADIENT),
        compare(
            f"{case} gradient x input",
            tinterpret.grad_times_input(pair.torch_model, x, device=device),
            jinterpret.grad_times_input(pair.jax_model, pair.variables, xj),
            GRADIENT,
        ),
        compare(
            f"{case} saliency, simplex-corrected",
            tinterpret.simplex_correction(grads),
            jinterpret.simplex_correction(jgrads),
            GRADIENT,
        ),
    ]


def _threshold_between(a: np.ndarray, b: np.ndarray, quantile: float) -> float:
    """An activation threshold near ``quantile`` of ``a`` (low enough that a good share of
    positions fire with random weights) that lies midway between two activation values.

    One-hot inputs give each filter only a few distinct activations, each taken by many
    positions; a threshold equal to one of them would turn a 1-ulp difference between the
    ports into whole windows counted by one and not the other."""
    values = np.unique(np.concatenate([a.ravel(), b.ravel()]))
    i = min(np.searchsorted(values, np.quantile(a, quantile)), len(values) - 2)
    gaps = np.diff(values[i:])
    j = i + int(np.argmax(gaps > 1e-4 * max(1.0, abs(values[i]))))  # a gap wider than rounding
    return float((values[j] + values[j + 1]) / 2)


def check_filters(case: ModelCase, device: torch.device, variant: str = "fast") -> list[Comparison]:
    """First-layer weights, conv activations and activation PWM counts."""
    if not case.has_filters:
        return []
    pair = model_pair(case, device, variant=variant)
    seqs = random_seqs(500, case.seq_len, seed=6)
    x = tdata.one_hot_seqs(seqs)
    with torch.no_grad():
        acts = tfilters.conv_activations(pair.torch_model, torch.from_numpy(x).to(device))
    jacts = jfilters.conv_activations(pair.jax_model, pair.variables, jnp.asarray(x))
    thresh = _threshold_between(_np(acts), np.asarray(jacts), 0.8)
    counts = tfilters.get_filter_activations(seqs, pair.torch_model, thresh, device)
    jcounts = jfilters.get_filter_activations(seqs, pair.jax_model, pair.variables, thresh)
    return [
        compare(
            f"{case} filter weights",
            tfilters.filter_weights(pair.torch_model),
            jfilters.filter_weights(pair.variables),
            EXACT,
        ),
        compare(
            f"{case} conv activations", _np(acts), np.swapaxes(np.asarray(jacts), 1, 2), FORWARD
        ),
        compare(f"{case} PWM counts ({int(counts.sum()):,} letters)", counts, jcounts, EXACT),
    ]


# --- Checks on training ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def tutorial_data():
    """The tutorial's 8-mers scored, with their classes, and split: (torch frames, df)."""
    seqs = kmers(8)
    df = tdata.score_seqs(seqs)
    df["label"] = score_classes(df["score"].to_numpy())
    return tdata.quick_split(df, tutorial_split(len(seqs), seed=SEED)), df


def _jax_loaders(case: ModelCase, frames, variant: str, batch_size: int = 128):
    """``variant``'s (train, val) loaders over the tutorial's split."""
    target = "score" if case.task == "regress" else "label"
    return VARIANTS[variant].build_dataloaders(
        frames[0], frames[1], target_col=target, batch_size=batch_size
    )


def epoch_order(train_dl, key: jax.Array) -> np.ndarray:
    """The row order ``train_step(state, train_dl, key)`` visits (its shuffle key is the
    first half of ``key``'s split)."""
    return np.asarray(train_dl.order(jax.random.split(key)[0]))


class EpochOrders(torch.utils.data.Sampler):
    """Yields ``orders[e]`` in epoch e, so torch visits rows in the order JAX drew them."""

    def __init__(self, orders: Sequence[np.ndarray]):
        self.orders = [np.asarray(o).tolist() for o in orders]
        self.epoch = 0

    def __iter__(self):
        order = self.orders[self.epoch]
        self.epoch += 1
        return iter(order)

    def __len__(self) -> int:
        return len(self.orders[0])


def _torch_loaders(case, frames, orders, batch_size):
    target = "score" if case.task == "regress" else "label"
    train_ds = tdata.SeqDatasetOHE(frames[0], target_col=target)
    val_ds = tdata.SeqDatasetOHE(frames[1], target_col=target)
    return (
        DataLoader(train_ds, batch_size=batch_size, sampler=EpochOrders(orders)),
        DataLoader(val_ds, batch_size=batch_size),
    )


def check_epoch(
    case: ModelCase, device: torch.device, batch_size: int = 128, variant: str = "fast"
) -> list[Comparison]:
    """A whole epoch of SGD on the tutorial's training set, same weights, same batch order."""
    frames, _ = tutorial_data()
    train_dl, _ = _jax_loaders(case, frames, variant, batch_size)
    key = jax.random.key(0)
    torch_dl, _ = _torch_loaders(case, frames, [epoch_order(train_dl, key)], batch_size)
    pair = model_pair(case, device, variant=variant)
    opt = torch.optim.SGD(pair.torch_model.parameters(), lr=0.01)
    loss = ttrain.train_step(pair.torch_model, torch_dl, torch_loss(case), device, opt)
    state, jloss = jtrain.train_step(_jax_state(pair), train_dl, key)
    steps = -(-len(frames[0]) // batch_size)
    return [
        compare(f"{case} epoch train loss ({steps} SGD steps)", loss, jloss, EPOCH),
        *compare_params(
            f"{case} after one epoch,", case, pair.torch_model.state_dict(), state.variables, EPOCH
        ),
    ]


def check_training_run(
    device: torch.device, epochs: int = 3, variant: str = "fast"
) -> list[Comparison]:
    """``fit`` in both ports from the same weights with the same batch orders: per-epoch
    losses, final weights and test R^2, for the linear model and the CNN.

    The linear model is smooth, so its trajectory agrees to the epoch tolerance. The CNN's
    may not, after the first epoch: SGD drives some of its pre-activations onto ReLU's kink
    (on one-hot 8-mers a filter has only 64 distinct pre-activations, and one at 0 from
    above stays there), and float rounding then decides which side each port lands on. So
    for the CNN the losses are held to the trajectory tolerance and its weights are not
    compared; its test R^2 is still held to three decimals."""
    frames, _ = tutorial_data()
    key = jax.random.split(jdata.set_seed(SEED))[1]  # run_model's shuffle key
    rows = []
    for case, tol in ((ModelCase("linear"), EPOCH), (ModelCase("cnn"), TRAJECTORY)):
        train_dl, val_dl = _jax_loaders(case, frames, variant)
        orders = [epoch_order(train_dl, jax.random.fold_in(key, e)) for e in range(epochs)]
        pair = model_pair(case, device, variant=variant)
        history = ttrain.run_model(
            *_torch_loaders(case, frames, orders, 128),
            pair.torch_model,
            device,
            epochs=epochs,
            progress=False,
        )
        state, jhistory = jtrain.fit(
            epochs, _jax_state(pair), train_dl, val_dl, key, progress=False
        )
        seqs = list(frames[2]["seq"])
        r2 = r2_score(frames[2]["score"], tevaluate.predict_seqs(pair.torch_model, seqs, device))
        jpred = VARIANTS[variant].predict_seqs(pair.jax_model, state.variables, seqs)
        jr2 = r2_score(frames[2]["score"], jpred)
        name = f"{case.name} fit"
        rows += [
            compare(
                f"{name}, train loss per epoch ({epochs} epochs)",
                history.train,
                jhistory.train,
                tol,
            ),
            compare(
                f"{name}, val loss per epoch ({epochs} epochs)", history.val, jhistory.val, tol
            ),
        ]
        if tol is EPOCH:
            rows += compare_params(
                f"{name}, final", case, pair.torch_model.state_dict(), state.variables, EPOCH
            )
        rows.append(compare(f"{name}, test R² (torch {r2:.4f}, jax {jr2:.4f})", r2, jr2, R2))
    return rows


MODEL_CHECKS = (
    check_forward,
    check_loss_and_gradients,
    check_sgd_step,
    check_attribution,
    check_filters,
)


# --- State: where the frameworks' defaults differ ------------------------------------------


def check_batchnorm(device: torch.device) -> list[Comparison]:
    """torch's ``BatchNorm1d`` against the JAX port's ``BatchNorm`` (torch's conventions:
    the new batch weighs 0.1, the running variance is unbiased): train-mode outputs and
    running statistics over three batches, then eval-mode outputs."""
    rng = np.random.default_rng(7)
    batches = [rng.normal(2.0, 3.0, size=(16, 5, 11)).astype(np.float32) for _ in range(4)]
    bn = nn.BatchNorm1d(5).to(device)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, 5))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, 5))
    jbn = jmodels.BatchNorm()
    variables = {
        "params": {"scale": jnp.linspace(0.5, 1.5, 5), "bias": jnp.linspace(-1.0, 1.0, 5)},
        "batch_stats": {"mean": jnp.zeros(5), "var": jnp.ones(5)},
    }
    outs, jouts = [], []
    bn.train()
    for x in batches[:3]:
        with torch.no_grad():
            outs.append(_np(bn(torch.from_numpy(x).to(device))))
        y, new = jbn.apply(variables, jnp.swapaxes(x, 1, 2), train=True, mutable="batch_stats")
        variables = {**variables, **new}
        jouts.append(np.swapaxes(np.asarray(y), 1, 2))
    bn.eval()
    with torch.no_grad():
        eval_out = _np(bn(torch.from_numpy(batches[3]).to(device)))
    jeval = np.swapaxes(np.asarray(jbn.apply(variables, jnp.swapaxes(batches[3], 1, 2))), 1, 2)
    stats = variables["batch_stats"]
    return [
        compare(
            "BatchNorm, train-mode outputs (3 batches)", np.stack(outs), np.stack(jouts), FORWARD
        ),
        compare(
            "BatchNorm, running mean after 3 batches", _np(bn.running_mean), stats["mean"], FORWARD
        ),
        compare(
            "BatchNorm, running variance after 3 batches (unbiased)",
            _np(bn.running_var),
            stats["var"],
            FORWARD,
        ),
        compare("BatchNorm, eval-mode outputs", eval_out, jeval, FORWARD),
    ]


def check_maxpool(device: torch.device) -> list[Comparison]:
    """``MaxPool1d`` (floor mode, no padding) against ``nn.max_pool(..., 'VALID')``."""
    x = np.random.default_rng(8).normal(size=(6, 5, 23)).astype(np.float32)
    out = _np(nn.MaxPool1d(4)(torch.from_numpy(x).to(device)))
    jout = jmodels.nn.max_pool(jnp.swapaxes(x, 1, 2), (4,), strides=(4,), padding="VALID")
    return [
        compare(
            "max-pool 4 of 23 positions (floor)", out, np.swapaxes(np.asarray(jout), 1, 2), EXACT
        )
    ]


def _deep_case(**changes) -> ModelCase:
    example = dict(registry.get("deep").examples[0])
    example.update(changes)
    seq_len = example.pop("seq_len")
    return ModelCase("deep", seq_len, tuple(sorted(registry.hashable(example).items())))


def check_dropout(device: torch.device) -> list[Comparison]:
    """With dropout on (0.3 after blocks, 0.5 after dense layers), eval mode turns it off
    in both ports: equal outputs. (Train-mode masks come from two RNGs and cannot match;
    each port's tests check the fraction dropped and the 1/(1-p) scaling instead.)"""
    case = _deep_case(dropout=(0.3, 0.5))
    pair = model_pair(case, device)
    x = np.asarray(jdata.one_hot_seqs(random_seqs(64, case.seq_len, 9)))
    return [
        compare(
            f"{case.name} with dropout (0.3, 0.5), eval-mode outputs",
            tevaluate.predict(pair.torch_model, x, device),
            jevaluate.predict(pair.jax_model, pair.variables, x),
            FORWARD,
        )
    ]


def _moments(opt_state):
    adam = next(
        s
        for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda s: hasattr(s, "mu"))
        if hasattr(s, "mu")
    )
    return adam.mu, adam.nu


def check_adamw(device: torch.device, steps: int = 5) -> list[Comparison]:
    """AdamW as each port's run builds it (torch's default weight decay 1e-2 in both),
    ``steps`` steps on the deeper CNN in train mode: parameters, BatchNorm statistics and
    both moments. Decay placement: torch scales the weights by 1 - lr*wd before its step,
    optax adds wd*w to the update before scaling by lr; the same arithmetic."""
    case = _deep_case()
    pair = model_pair(case, device)
    opt, _ = ttrain.make_optimizer(pair.torch_model, "adamw", ADAMW_LR, epochs=3)
    tx = jtrain.make_optimizer("adamw", ADAMW_LR, epochs=3, steps_per_epoch=100)
    state = _jax_state(pair).replace(tx=tx, opt_state=tx.init(pair.variables["params"]))
    pair.torch_model.train()
    for step in range(steps):
        x, y = _batch(case, n=32, seed=20 + step)
        ttrain.loss_batch(
            pair.torch_model,
            torch_loss(case),
            torch.from_numpy(x).to(device),
            torch.from_numpy(y).to(device),
            opt,
        )
        state, _, _ = jtrain.loss_batch(state, jnp.asarray(x), _jax_targets(case, y), step=True)
    names = dict(pair.torch_model.named_parameters())
    mu, nu = _moments(state.opt_state)
    stats = state.variables["batch_stats"]
    moment = {
        "first": {k: opt.state[p]["exp_avg"] for k, p in names.items()},
        "second": {k: opt.state[p]["exp_avg_sq"] for k, p in names.items()},
    }
    rows = compare_params(
        f"{case.name} after {steps} AdamW steps,",
        case,
        pair.torch_model.state_dict(),
        state.variables,
        ONE_STEP,
    )
    for which, tree in (("first", mu), ("second", nu)):
        rows += compare_params(
            f"{case.name} AdamW {which} moment after {steps} steps,",
            case,
            moment[which],
            {"params": tree, "batch_stats": stats},
            GRADIENT,
        )
    return rows


def check_schedule(device: torch.device, epochs: int = 12) -> list[Comparison]:
    """The learning rate of every epoch: torch's ``LambdaLR`` stepped once per epoch
    against optax's schedule at the first step of each epoch, for each schedule (warm-up
    2 epochs, then cosine or constant)."""
    rows = []
    for schedule in SCHEDULES:
        how = {"warmup_epochs": 2, "epochs": epochs, "schedule": schedule}
        model = tmodels.build_model("deep", 8).to(device)
        opt, scheduler = ttrain.make_optimizer(model, "adamw", ADAMW_LR, **how)
        rates = []
        for _ in range(epochs):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        spe = 328  # the tutorial's steps per epoch
        rate = jtrain.learning_rate(ADAMW_LR, schedule, 2, epochs, spe)
        jrates = [float(rate(e * spe + spe - 1)) for e in range(epochs)]  # any step of epoch e
        label = f"AdamW learning rate per epoch (warm-up 2, {schedule}, {epochs} epochs)"
        rows.append(compare(label, rates, jrates, FORWARD))
    return rows


STATE_CHECKS = (check_batchnorm, check_maxpool, check_dropout, check_adamw, check_schedule)


def run_parity(
    device: str = "cpu",
    cases: Sequence[ModelCase] = CASES,
    training: bool = True,
    variant: str = "fast",
) -> list[Comparison]:
    """Every check, in order: data, each model case, then epochs and a training run."""
    with parity_precision(device) as (tdev, _):
        rows = check_data()
        for case in cases:
            for check in MODEL_CHECKS:
                rows += check(case, tdev, variant=variant)
        for check in STATE_CHECKS:
            rows += check(tdev)
        if training:
            for case in [c for c in cases if c.seq_len == 8]:
                rows += check_epoch(case, tdev, variant=variant)
            rows += check_training_run(tdev, variant=variant)
    return rows


def markdown_table(rows: Sequence[Comparison]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| quantity | max abs diff | max rel diff | tolerance | pass |",
        "|---|---:|---:|---|:---:|",
    ]
    lines += [
        f"| {r.quantity} | {r.max_abs:.3g} | {r.max_rel:.3g} | {r.tolerance} | "
        f"{'yes' if r.passed else '**NO**'} |"
        for r in rows
    ]
    return "\n".join(lines)


def text_table(rows: Sequence[Comparison]) -> str:
    """The rows as aligned plain text, for a terminal."""
    width = max(len(r.quantity) for r in rows)
    head = f"{'quantity':{width}}  {'max abs':>9}  {'max rel':>9}  {'tolerance':22}  pass"
    body = [
        f"{r.quantity:{width}}  {r.max_abs:9.3g}  {r.max_rel:9.3g}  {r.tolerance!s:22}  "
        f"{'yes' if r.passed else 'NO'}"
        for r in rows
    ]
    return "\n".join([head, "-" * len(head), *body])
