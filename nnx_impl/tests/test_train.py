"""Step 4 in NNX: one step as ``nnx.jit`` runs it, a whole epoch through
``nnx.split``/``nnx.merge``, the same results with graph mode on and off, and ``fit``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.sequences import kmers
from jax_impl import data as jdata
from nnx_impl import convert
from nnx_impl import train as ntrain
from nnx_impl.models import build_model


@pytest.fixture(scope="module")
def loaders():
    seqs = kmers(8)[::64]
    df = jdata.score_seqs(seqs)
    split = len(df) * 4 // 5
    return jdata.build_dataloaders(df[:split], df[split:], batch_size=64)


def _params(model):
    return jax.tree.map(np.asarray, convert.to_linen(model))


def test_a_step_moves_the_weights_and_lowers_the_loss(loaders):
    train_dl, _ = loaders
    model = build_model("cnn", 8)
    opt = ntrain.make_optimizer(model, "sgd", 0.05)
    xb, yb = train_dl.batch(jnp.arange(64))
    model.train()
    first = float(ntrain.train_batch(model, opt, ntrain.mse_loss, xb, yb))
    for _ in range(20):
        last = float(ntrain.train_batch(model, opt, ntrain.mse_loss, xb, yb))
    assert last < first


def test_an_epoch_compiled_whole_is_the_steps_one_by_one(loaders):
    """train_step (split, one jax.jit over a lax.scan, merge) against train_batch per step
    in the same order: two programs, the same arithmetic to a few ulps."""
    train_dl, _ = loaders
    key = jax.random.key(3)
    whole, steps = build_model("cnn", 8), build_model("cnn", 8)
    opt_whole = ntrain.make_optimizer(whole, "sgd", 0.01)
    opt_steps = ntrain.make_optimizer(steps, "sgd", 0.01)
    ntrain.train_step(whole, train_dl, ntrain.mse_loss, opt_whole, key)
    steps.train()
    for batches in train_dl.batches(jax.random.split(key)[0]):
        for idx in batches:
            ntrain.train_batch(steps, opt_steps, ntrain.mse_loss, *train_dl.batch(idx))
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        _params(whole),
        _params(steps),
    )


@pytest.mark.parametrize("name", ["cnn", pytest.param("deep", marks=pytest.mark.slow)])
def test_graph_mode_and_tree_mode_train_alike(loaders, name):
    """``nnx.set_graph_mode(False)`` treats modules as pytrees: the same epoch, bit for bit."""
    train_dl, _ = loaders
    results = []
    for graph in (True, False):
        with nnx.set_graph_mode(graph):
            model = build_model(name, 8)
            opt = ntrain.make_optimizer(model, "sgd", 0.01)
            loss = ntrain.train_step(model, train_dl, ntrain.mse_loss, opt, jax.random.key(0))
            results.append((float(loss), _params(model)))
    assert results[0][0] == results[1][0]
    jax.tree.map(np.testing.assert_array_equal, results[0][1], results[1][1])


def test_fit_stops_on_a_non_finite_loss_with_the_last_good_weights(loaders):
    train_dl, val_dl = loaders
    model = build_model("linear", 8)
    opt = ntrain.make_optimizer(model, "sgd", 1e6)  # diverges within an epoch or two
    with pytest.raises(NonFiniteLossError, match="last good epoch"):
        ntrain.fit(20, model, ntrain.mse_loss, opt, train_dl, val_dl, jax.random.key(0),
                   progress=False)  # fmt: skip
    assert all(np.isfinite(a).all() for a in jax.tree.leaves(_params(model)))


def test_fit_is_deterministic_and_resumes_where_it_stopped(loaders):
    train_dl, val_dl = loaders

    def run(epochs, model=None, opt=None, history=None):
        model = model or build_model("cnn", 8)
        opt = opt or ntrain.make_optimizer(model, "sgd", 0.01)
        history = ntrain.fit(epochs, model, ntrain.mse_loss, opt, train_dl, val_dl,
                             jax.random.key(1), progress=False, history=history)  # fmt: skip
        return model, opt, history

    whole = run(4)
    model, opt, history = run(2)
    resumed = run(4, model, opt, history)
    assert resumed[2].train == whole[2].train and resumed[2].val == whole[2].val
    jax.tree.map(np.testing.assert_array_equal, _params(resumed[0]), _params(whole[0]))
