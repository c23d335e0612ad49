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
from torch import nn
from torch.utils.data import DataLoader

from dna_tutorial.recipe import r2_score, score_classes, tutorial_split
from dna_tutorial.sequences import decode_codes, kmers
from dna_tutorial.synthetic import synthetic_codes
from jax_impl import convert
from jax_impl import data as jdata
from jax_impl import evaluate as jevaluate
from jax_impl import filters as jfilters
from jax_impl import models as jmodels
from jax_impl import train as jtrain
from parity_tests.registry import CASES, ModelCase
from parity_tests.tolerances import EPOCH, EXACT, FORWARD, GRADIENT, LOSS, ONE_STEP, R2, Tolerance
from reference_torch import data as tdata
from reference_torch import evaluate as tevaluate
from reference_torch import filters as tfilters
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
    """Compare two arrays elementwise under ``tol`` (``|a - b| <= atol + rtol * |b|``).

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
    passed = bool(np.all(diff <= tol.atol + tol.rtol * np.abs(b)))
    return Comparison(quantity, float(diff.max(initial=0)), float(rel.max(initial=0)), tol, passed)


def compare_params(quantity: str, model: str, torch_state, jax_tree, tol) -> list[Comparison]:
    """One row per parameter: torch tensors against a Flax tree mapped to torch's layout."""
    as_torch = convert.flax_to_torch(model, jax_tree)
    return [
        compare(f"{quantity} {key}", _np(torch_state[key]), as_torch[key], tol) for key in as_torch
    ]


def _np(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


@contextlib.contextmanager
def parity_precision(device: str) -> Iterator[tuple[torch.device, jax.Device]]:
    """Both frameworks at full float32 precision on ``device`` ("cpu" or "cuda").

    On GPUs both default to TF32 for float32 matmuls and convolutions (10-bit mantissas):
    parity turns that off in torch (matmul and cuDNN) and sets JAX's default matmul
    precision to "highest". Yields (torch device, JAX device).
    """
    platform = "gpu" if device == "cuda" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("parity on cuda needs a GPU that torch can see")
    try:
        jax_device = jax.devices(platform)[0]
    except RuntimeError as err:
        raise RuntimeError(f"parity on {device} needs a JAX {platform} device") from err
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with jax.default_matmul_precision("highest"), jax.default_device(jax_device):
            yield torch.device(device), jax_device
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


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
    jax_model: jmodels.nn.Module
    params: dict  # the torch model's initial weights, in Flax's layout


def model_pair(case: ModelCase, device: torch.device, seed: int = 0) -> ModelPair:
    """A torch model with its default init, and the JAX model holding the same weights."""
    torch.manual_seed(seed)
    model = tmodels.build_model(
        case.name, case.seq_len, case.num_filters, case.kernel_size, case.num_classes
    ).to(device)
    params = convert.torch_to_flax(case.name, {k: _np(v) for k, v in model.state_dict().items()})
    jax_model = jmodels.build_model(
        case.name, case.seq_len, case.num_filters, case.kernel_size, case.num_classes
    )
    return ModelPair(case, model, jax_model, jax.tree.map(jnp.asarray, params))


def _jax_state(pair: ModelPair, lr: float = 0.01) -> jtrain.TrainState:
    state = jtrain.create_train_state(
        pair.jax_model, jax.random.key(0), pair.case.seq_len, optax.sgd(lr), jax_loss(pair.case)
    )
    return state.replace(params=pair.params)


# --- Checks on the data ------------------------------------------------------------------


def check_data() -> list[Comparison]:
    """Scores, one-hot encodings and split membership: identical, not merely close."""
    seqs, long = kmers(8), random_seqs(2000, 200, seed=1)
    kmer_frame = tdata.score_seqs(seqs)  # the reference's step 1; split below as well
    rows = [
        compare("scores, all 65,536 8-mers", kmer_frame["score"], jdata.score_seqs(seqs), EXACT),
        compare(
            "scores, 2,000 random 200-mers",
            tdata.score_seqs(long)["score"],
            jdata.score_seqs(long),
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
                np.stack([tdata.one_hot_encode(s) for s in batch]),
                jdata.one_hot_encode(batch),
                EXACT,
            )
        )
    frames = tdata.split_frames(kmer_frame, seed=SEED)
    parts = jdata.quick_split(
        jdata.Dataset(jdata.encode(seqs), jnp.zeros(len(seqs))),
        tutorial_split(len(seqs), seed=SEED),
    )
    for part, frame, ds in zip(("train", "val", "test"), frames, parts):
        differ = np.asarray(frame["seq"]) != np.asarray(decode_codes(np.asarray(ds.codes)))
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


def check_forward(case: ModelCase, device: torch.device) -> list[Comparison]:
    """Outputs for random real-valued inputs and for one-hot sequences."""
    pair = model_pair(case, device)
    rng = np.random.default_rng(3)
    inputs = {
        "random inputs": rng.normal(size=(64, case.seq_len, 4)).astype(np.float32),
        "one-hot inputs": np.asarray(jdata.one_hot_encode(random_seqs(256, case.seq_len, 4))),
    }
    rows = []
    for label, x in inputs.items():
        ours = tevaluate.predict(pair.torch_model, x, device)
        theirs = jevaluate.predict(pair.jax_model, pair.params, jnp.asarray(x))
        rows.append(compare(f"{case} forward, {label}", ours, theirs, FORWARD))
    return rows


def _batch(case: ModelCase, n: int = 96, seed: int = 5):
    seqs = random_seqs(n, case.seq_len, seed)
    x = np.stack([tdata.one_hot_encode(s) for s in seqs])
    return x, targets(case, seqs)


def check_loss_and_gradients(case: ModelCase, device: torch.device) -> list[Comparison]:
    """The loss of one batch and its gradient w.r.t. every parameter."""
    pair = model_pair(case, device)
    x, y = _batch(case)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    loss = torch_loss(case)(pair.torch_model(xt), yt)
    loss.backward()
    grads = {k: p.grad for k, p in pair.torch_model.named_parameters()}
    state = _jax_state(pair)
    batch = jdata.make_batch(
        jnp.asarray(x), jnp.asarray(y, jnp.float32 if case.task == "regress" else jnp.int32)
    )
    (jloss, _), jgrads = jax.value_and_grad(jtrain.loss_batch, has_aux=True)(
        state.params, state, batch
    )
    kind = "MSE" if case.task == "regress" else "cross-entropy"
    return [
        compare(f"{case} {kind} loss", _np(loss), jloss, LOSS),
        *compare_params(f"{case} gradient", case.name, grads, jgrads, GRADIENT),
    ]


def check_sgd_step(case: ModelCase, device: torch.device) -> list[Comparison]:
    """Parameters after one SGD step (lr 0.01) on the same batch."""
    pair = model_pair(case, device)
    x, y = _batch(case)
    opt = torch.optim.SGD(pair.torch_model.parameters(), lr=0.01)
    ttrain.loss_batch(
        pair.torch_model,
        torch_loss(case),
        torch.from_numpy(x).to(device),
        torch.from_numpy(y).to(device),
        opt=opt,
    )
    batch = jdata.make_batch(
        jnp.asarray(x), jnp.asarray(y, jnp.float32 if case.task == "regress" else jnp.int32)
    )
    state, _ = jtrain.train_step(_jax_state(pair), batch)
    return compare_params(
        f"{case} one SGD step", case.name, pair.torch_model.state_dict(), state.params, ONE_STEP
    )


def check_saliency(case: ModelCase, device: torch.device) -> list[Comparison]:
    """Gradient of the first output w.r.t. the one-hot input."""
    pair = model_pair(case, device)
    x, _ = _batch(case, n=64)
    return [
        compare(
            f"{case} saliency",
            tevaluate.saliency(pair.torch_model, x, device=device),
            jevaluate.saliency(pair.jax_model, pair.params, jnp.asarray(x)),
            FORWARD,
        )
    ]


def check_filters(case: ModelCase, device: torch.device) -> list[Comparison]:
    """First-layer weights, conv activations and activation PWM counts."""
    if not case.has_conv:
        return []
    pair = model_pair(case, device)
    seqs = random_seqs(500, case.seq_len, seed=6)
    x = np.stack([tdata.one_hot_encode(s) for s in seqs])
    with torch.no_grad():
        acts = tfilters.conv_activations(pair.torch_model, torch.from_numpy(x).to(device))
    jacts = jfilters.conv_activations(pair.jax_model, pair.params, jnp.asarray(x))
    # Lower the threshold so that a good share of positions fire with random weights.
    thresh = float(np.quantile(_np(acts), 0.8))
    counts = tfilters.get_filter_activations(seqs, pair.torch_model, thresh, device)
    jcounts = jfilters.get_filter_activations(seqs, pair.jax_model, pair.params, thresh)
    return [
        compare(
            f"{case} filter weights",
            tfilters.filter_weights(pair.torch_model),
            jfilters.filter_weights(pair.params),
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
    """The tutorial's 8-mers split both ways: (torch frames, JAX codes, scores)."""
    seqs = kmers(8)
    df = tdata.score_seqs(seqs)
    df["label"] = score_classes(df["score"].to_numpy())
    return tdata.split_frames(df, seed=SEED), df


def _jax_parts(case: ModelCase, df) -> tuple[jdata.Dataset, ...]:
    codes = jdata.encode(list(df["seq"]))
    y = (
        jnp.asarray(df["score"].to_numpy())[:, None]
        if case.task == "regress"
        else jnp.asarray(df["label"].to_numpy(), jnp.int32)
    )
    return jdata.quick_split(jdata.Dataset(codes, y), tutorial_split(len(df), seed=SEED))


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


def check_epoch(case: ModelCase, device: torch.device, batch_size: int = 128) -> list[Comparison]:
    """A whole epoch of SGD on the tutorial's training set, same weights, same batch order."""
    frames, df = tutorial_data()
    train, _, _ = _jax_parts(case, df)
    order = jdata.shuffled_order(jax.random.key(0), len(train))
    train_dl, _ = _torch_loaders(case, frames, [np.asarray(order)], batch_size)
    pair = model_pair(case, device)
    opt = torch.optim.SGD(pair.torch_model.parameters(), lr=0.01)
    loss = ttrain.train_step(pair.torch_model, train_dl, torch_loss(case), device, opt)
    state, jloss = jtrain.train_epoch(_jax_state(pair), train, order, batch_size)
    steps = -(-len(train) // batch_size)
    return [
        compare(f"{case} epoch train loss ({steps} SGD steps)", loss, jloss, EPOCH),
        *compare_params(
            f"{case} after one epoch,",
            case.name,
            pair.torch_model.state_dict(),
            state.params,
            EPOCH,
        ),
    ]


def check_training_run(device: torch.device, epochs: int = 3) -> list[Comparison]:
    """``fit`` in both ports from the same CNN weights with the same batch orders:
    per-epoch losses, final weights and test R^2."""
    case = ModelCase("cnn")
    frames, df = tutorial_data()
    train, val, test = _jax_parts(case, df)
    key = jtrain.run_keys(SEED)[1]
    orders = [
        np.asarray(jdata.shuffled_order(jtrain.epoch_key(key, e), len(train)))
        for e in range(epochs)
    ]
    pair = model_pair(case, device)
    history = ttrain.run_model(
        *_torch_loaders(case, frames, orders, 128),
        pair.torch_model,
        device,
        epochs=epochs,
        progress=False,
    )
    state, jhistory = jtrain.fit(epochs, _jax_state(pair), train, val, key, progress=False)
    r2 = r2_score(
        frames[2]["score"], tevaluate.predict_seqs(pair.torch_model, list(frames[2]["seq"]), device)
    )
    jr2 = r2_score(
        np.asarray(test.y),
        np.asarray(jevaluate.predict_codes(pair.jax_model, state.params, test.codes)),
    )
    return [
        compare(
            f"cnn fit, train loss per epoch ({epochs} epochs)", history.train, jhistory.train, EPOCH
        ),
        compare(f"cnn fit, val loss per epoch ({epochs} epochs)", history.val, jhistory.val, EPOCH),
        *compare_params(
            "cnn fit, final", "cnn", pair.torch_model.state_dict(), state.params, EPOCH
        ),
        compare(f"cnn fit, test R² (torch {r2:.4f}, jax {jr2:.4f})", r2, jr2, R2),
    ]


MODEL_CHECKS = (
    check_forward,
    check_loss_and_gradients,
    check_sgd_step,
    check_saliency,
    check_filters,
)


def run_parity(
    device: str = "cpu", cases: Sequence[ModelCase] = CASES, training: bool = True
) -> list[Comparison]:
    """Every check, in order: data, each model case, then epochs and a training run."""
    with parity_precision(device) as (tdev, _):
        rows = check_data()
        for case in cases:
            for check in MODEL_CHECKS:
                rows += check(case, tdev)
        if training:
            for case in [c for c in cases if c.seq_len == 8]:
                rows += check_epoch(case, tdev)
            rows += check_training_run(tdev)
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
