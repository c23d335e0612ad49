"""Step 4 in JAX: pure steps, the compiled epoch, fit and its guarantees."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.metrics import r2_score
from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from jax_impl.data import (
    DataLoader,
    SeqDatasetOHE,
    build_dataloaders,
    quick_split,
    score_seqs,
    set_seed,
)
from jax_impl.evaluate import predict
from jax_impl.models import build_model
from jax_impl.train import (
    create_train_state,
    cross_entropy_loss,
    fit,
    loss_batch,
    run_model,
    train_step,
    val_step,
)


def _frames(k: int):
    df = score_seqs(kmers(k))
    return quick_split(df, tutorial_split(len(df), seed=17))


def _datasets(k: int):
    return [SeqDatasetOHE(df) for df in _frames(k)]


@pytest.fixture(scope="module")
def six_mers():
    return _frames(6)  # 4,096 sequences: 2,620 / 656 / 820


@pytest.fixture(scope="module")
def six_mer_data(six_mers):
    return [SeqDatasetOHE(df) for df in six_mers]


def _state(model, data, tx=None, seed=0):
    return create_train_state(model, jax.random.key(seed), data.ohe_seqs[:1], tx)


class LossBatchTest(chex.TestCase):
    """``loss_batch`` gives the same new state compiled and run op by op."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_loss_batch_with_and_without_jit(self):
        train, _, _ = _datasets(5)
        state = _state(build_model("cnn", 5), train)
        xb, yb = train[jnp.arange(32)]
        step = self.variant(lambda s, x, y: loss_batch(s, x, y, step=True))
        new_state, loss, n = step(state, xb, yb)
        compiled = jax.jit(lambda s, x, y: loss_batch(s, x, y, step=True))
        expected_state, expected, _ = compiled(state, xb, yb)
        chex.assert_trees_all_close(new_state.params, expected_state.params, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(loss, expected, rtol=1e-6)
        assert int(new_state.step) == 1 and n == 32


def test_loss_batch_steps_only_when_asked_and_never_in_place(six_mer_data):
    train = six_mer_data[0]
    state = _state(build_model("cnn", 6), train)
    before = jax.tree.map(np.asarray, state.params)
    xb, yb = train[jnp.arange(8)]
    same, loss, n = loss_batch(state, xb, yb)
    assert same is state and n == 8
    pred = same.apply_fn(state.variables, xb)
    np.testing.assert_allclose(loss, jnp.mean((pred - yb) ** 2), rtol=1e-6)
    a, _, _ = loss_batch(state, xb, yb, step=True)
    b, _, _ = loss_batch(state, xb, yb, step=True)
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, state.params), before)  # unchanged
    chex.assert_trees_all_equal(a.params, b.params)
    assert not np.array_equal(
        np.asarray(a.params["conv_net"]["layers_0"]["kernel"]),
        before["conv_net"]["layers_0"]["kernel"],
    )


def test_an_epoch_is_every_batch_in_order_then_the_short_one(six_mer_data):
    train = six_mer_data[0]
    state = _state(build_model("cnn", 6), train)
    loader = DataLoader(train, batch_size=64)  # unshuffled: 40 full batches and 60 rows
    epoch, epoch_loss = train_step(state, loader, jax.random.key(1))
    looped, losses, sizes = state, [], []
    for start in range(0, len(train), 64):
        rows = jnp.arange(start, min(start + 64, len(train)))
        looped, loss, n = loss_batch(looped, *train[rows], step=True)
        losses.append(float(loss))
        sizes.append(n)
    assert int(epoch.step) == int(looped.step) == 41 and sizes[-1] == 60
    chex.assert_trees_all_close(epoch.params, looped.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(epoch_loss, np.average(losses, weights=sizes), rtol=1e-5)


def test_validation_loss_is_the_mean_over_all_rows(six_mer_data):
    _, val, _ = six_mer_data
    model = build_model("linear", 6)
    state = _state(model, val)
    exact = float(jnp.mean((predict(model, state.variables, val.ohe_seqs) - val.labels) ** 2))
    for batch_size in (64, 100, 4096):
        loss = val_step(state, DataLoader(val, batch_size))
        np.testing.assert_allclose(loss, exact, rtol=1e-5)


def test_run_model_lowers_the_loss_and_reports_a_history(six_mers):
    model = build_model("cnn", 6)
    train_dl, val_dl = build_dataloaders(*six_mers[:2], batch_size=32)
    untrained = val_step(_state(model, train_dl.dataset), val_dl)
    state, history = run_model(train_dl, val_dl, model, set_seed(0), epochs=6, progress=False)
    assert len(history.train) == len(history.val) == len(history.seconds) == 6
    assert history.val[0] < 0.1 * float(untrained) and history.val[-1] < history.val[0]
    assert int(state.step) == 6 * 82  # ceil(2620 / 32) steps per epoch


def test_same_seed_same_numbers_bit_for_bit(six_mers):
    train_dl, val_dl = build_dataloaders(*six_mers[:2])
    runs = [
        run_model(train_dl, val_dl, build_model("cnn", 6), set_seed(5), epochs=2, progress=False)
        for _ in range(2)
    ]
    assert runs[0][1].val == runs[1][1].val
    chex.assert_trees_all_equal(runs[0][0].params, runs[1][0].params)
    other = run_model(
        train_dl, val_dl, build_model("cnn", 6), set_seed(6), epochs=2, progress=False
    )
    assert other[1].val != runs[0][1].val


def test_epochs_after_the_first_compile_nothing(six_mers):
    train_dl, val_dl = build_dataloaders(*six_mers[:2], batch_size=50)
    state = _state(build_model("cnn", 6, num_filters=7), train_dl.dataset)
    compiles: list[tuple[int, str]] = []
    epochs_done = []

    def listener(name, secs, **kwargs):
        if name.startswith("/jax/core/compile"):
            compiles.append((len(epochs_done), name))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        fit(
            4,
            state,
            train_dl,
            val_dl,
            jax.random.key(0),
            progress=False,
            on_epoch_end=lambda epoch, s, h: epochs_done.append(epoch),
        )
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert epochs_done == [0, 1, 2, 3]
    assert any(epoch == 0 for epoch, _ in compiles)  # the listener does see compilations
    assert [c for c in compiles if c[0] > 0] == []  # none once the first epoch is done


def test_any_optax_optimiser_works(six_mers):
    train_dl, val_dl = build_dataloaders(*six_mers[:2])
    _, history = run_model(
        train_dl,
        val_dl,
        build_model("cnn", 6),
        set_seed(0),
        epochs=2,
        opt=optax.adam(1e-3),
        progress=False,
    )
    assert history.val[-1] < history.val[0]


def test_divergence_halts_with_a_clear_error_keeping_the_last_good_state(six_mers):
    train_dl, val_dl = build_dataloaders(*six_mers[:2])
    state = _state(build_model("cnn", 6), train_dl.dataset, optax.sgd(1e6))
    with pytest.raises(NonFiniteLossError, match="non-finite") as err:
        fit(10, state, train_dl, val_dl, jax.random.key(0), progress=False)
    chex.assert_trees_all_equal(err.value.last_good.params, state.params)  # epoch 0 diverged


def test_early_stopping_after_patience_epochs(six_mers):
    train_dl, val_dl = build_dataloaders(*six_mers[:2])
    state = _state(build_model("linear", 6), train_dl.dataset, optax.sgd(0.0))
    _, history = fit(10, state, train_dl, val_dl, jax.random.key(0), patience=2, progress=False)
    assert len(history.val) == 3 and history.stopped_early
    with pytest.raises(ValueError, match="patience"):
        fit(1, state, train_dl, val_dl, jax.random.key(0), patience=0)


def test_the_classifier_learns_the_score_groups(six_mers):
    train, val, test = (
        df.assign(label=(df["score"] > 20).astype(int) + (df["score"] > 10).astype(int))
        for df in six_mers
    )
    model = build_model("classifier", 6)
    state, history = run_model(
        *build_dataloaders(train, val, target_col="label", batch_size=64),
        model,
        set_seed(0),
        epochs=20,
        lr=0.1,
        loss_func=cross_entropy_loss,
        progress=False,
    )
    test_ds = SeqDatasetOHE(test, target_col="label")
    pred = predict(model, state.variables, test_ds.ohe_seqs).argmax(1)
    assert history.val[-1] < history.val[0] and float((pred == test_ds.labels).mean()) > 0.9


@pytest.mark.slow
def test_cnn_reaches_r2_of_at_least_0_9_at_the_tutorials_defaults():
    train, val, test = _frames(8)
    model = build_model("cnn", 8)
    train_dl, val_dl = build_dataloaders(train, val)
    state, _ = run_model(train_dl, val_dl, model, set_seed(17), progress=False)  # 50 epochs
    test_ds = SeqDatasetOHE(test)
    assert r2_score(test_ds.labels, predict(model, state.variables, test_ds.ohe_seqs)) >= 0.9
