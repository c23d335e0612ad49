"""Step 4 in JAX: pure train steps, the fused epoch, ensembles and compilation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.recipe import r2_score
from dna_tutorial.sequences import kmers
from jax_impl.data import Dataset, encode, gather_batch, score_codes, shuffled_order, split_datasets
from jax_impl.evaluate import predict_codes
from jax_impl.models import build_model
from jax_impl.train import (
    create_ensemble,
    create_train_state,
    cross_entropy_loss,
    fit,
    fit_ensemble,
    run_keys,
    run_model,
    train_epoch,
    train_epoch_stepwise,
    train_step,
    val_step,
)


def _datasets(k: int):
    codes = encode(kmers(k))
    return split_datasets(Dataset(codes, score_codes(codes)[:, None]), seed=17)


@pytest.fixture(scope="module")
def six_mers():
    return _datasets(6)  # 4,096 sequences: 2,620 / 656 / 820


def _batch(data, n=32):
    return gather_batch(data, jnp.arange(n), jnp.ones(n))


class TrainStepTest(chex.TestCase):
    """``train_step`` gives the same new state compiled and run op by op."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_train_step_with_and_without_jit(self):
        train, _, _ = _datasets(5)
        state = create_train_state(build_model("cnn", 5), jax.random.key(0), 5)
        step = self.variant(train_step.__wrapped__)  # the function before @jax.jit
        new_state, metrics = step(state, _batch(train))
        expected_state, expected = train_step(state, _batch(train))
        chex.assert_trees_all_close(new_state.params, expected_state.params, rtol=1e-6, atol=1e-7)
        chex.assert_trees_all_close(metrics, expected, rtol=1e-6)
        assert int(new_state.step) == 1


def test_train_step_is_pure(six_mers):
    train = six_mers[0]
    state = create_train_state(build_model("cnn", 6), jax.random.key(0), 6)
    params_before = jax.tree.map(np.asarray, state.params)
    a, _ = train_step(state, _batch(train))
    b, _ = train_step(state, _batch(train))
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, state.params), params_before)
    chex.assert_trees_all_equal(a.params, b.params)


def test_masked_rows_do_not_count(six_mers):
    train = six_mers[0]
    state = create_train_state(build_model("cnn", 6), jax.random.key(0), 6)
    full, _ = train_step(state, gather_batch(train, jnp.arange(8), jnp.ones(8)))
    padded, _ = train_step(
        state,
        gather_batch(
            train, jnp.r_[jnp.arange(8), jnp.zeros(4, int)], jnp.r_[jnp.ones(8), jnp.zeros(4)]
        ),
    )
    chex.assert_trees_all_close(full.params, padded.params, rtol=1e-6, atol=1e-7)


def test_fused_epoch_equals_the_python_loop_of_steps(six_mers):
    train = six_mers[0]
    state = create_train_state(build_model("cnn", 6), jax.random.key(0), 6)
    order = shuffled_order(jax.random.key(1), len(train))
    fused, fused_loss = train_epoch(state, train, order, 64)
    looped, looped_loss = train_epoch_stepwise(state, train, order, 64)
    assert int(fused.step) == int(looped.step) == 41  # ceil(2620 / 64)
    chex.assert_trees_all_close(fused.params, looped.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused_loss, looped_loss, rtol=1e-6)


def test_validation_loss_is_the_mean_over_all_rows(six_mers):
    _, val, _ = six_mers
    model = build_model("linear", 6)
    state = create_train_state(model, jax.random.key(0), 6)
    pred = predict_codes(model, state.params, val.codes)
    exact = float(jnp.mean((pred - val.y) ** 2))
    for batch_size in (64, 100, 4096):
        np.testing.assert_allclose(val_step(state, val, batch_size), exact, rtol=1e-5)


def test_fit_lowers_the_loss_and_reports_a_history(six_mers):
    train, val, _ = six_mers
    model = build_model("cnn", 6)
    untrained = val_step(create_train_state(model, run_keys(0)[0], 6), val, 128)
    state, history = run_model(train, val, model, seed=0, epochs=6, batch_size=32, progress=False)
    assert len(history.train) == len(history.val) == len(history.seconds) == 6
    assert history.val[0] < 0.1 * float(untrained) and history.val[-1] < history.val[0]
    assert int(state.step) == 6 * 82  # ceil(2620 / 32) steps per epoch


def test_same_seed_same_numbers_bit_for_bit(six_mers):
    train, val, _ = six_mers
    runs = [
        run_model(train, val, build_model("cnn", 6), seed=5, epochs=2, progress=False)
        for _ in range(2)
    ]
    assert runs[0][1].val == runs[1][1].val
    chex.assert_trees_all_equal(runs[0][0].params, runs[1][0].params)


@pytest.mark.parametrize("placed", [False, True], ids=["default", "device_put"])
def test_epochs_after_the_first_compile_nothing(six_mers, placed):
    train, val, _ = six_mers
    if placed:  # data committed to a device, the state not: still one compilation
        train, val = jax.device_put((train, val), jax.devices()[0])
    state = create_train_state(build_model("cnn", 6, num_filters=7), jax.random.key(0), 6)
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
            train,
            val,
            run_keys(0)[1],
            batch_size=50,
            progress=False,
            on_epoch_end=lambda epoch, s, h: epochs_done.append(epoch),
        )
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert epochs_done == [0, 1, 2, 3]
    assert any(epoch == 0 for epoch, _ in compiles)  # the listener does see compilations
    assert [c for c in compiles if c[0] > 0] == []  # none once the first epoch is done


def test_ensemble_member_k_equals_a_single_run_with_seed_k(six_mers):
    train, val, _ = six_mers
    model = build_model("cnn", 6)
    seeds = [3, 11, 42]
    states, keys = create_ensemble(model, seeds, 6)
    states, losses = fit_ensemble(2, states, train, val, keys, progress=False)
    assert losses.shape == (2, 2, 3)
    for k, seed in enumerate(seeds):
        single, history = run_model(train, val, model, seed=seed, epochs=2, progress=False)
        member = jax.tree.map(lambda leaf, k=k: leaf[k], states.params)
        chex.assert_trees_all_close(member, single.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[:, 1, k], history.val, rtol=1e-5)


def test_any_optax_optimiser_works(six_mers):
    train, val, _ = six_mers
    _, history = run_model(
        train, val, build_model("cnn", 6), seed=0, epochs=2, tx=optax.adam(1e-3), progress=False
    )
    assert history.val[-1] < history.val[0]


def test_divergence_halts_with_a_clear_error_keeping_the_last_good_state(six_mers):
    train, val, _ = six_mers
    state = create_train_state(build_model("cnn", 6), jax.random.key(0), 6, optax.sgd(1e6))
    with pytest.raises(NonFiniteLossError, match="non-finite") as err:
        fit(10, state, train, val, jax.random.key(0), progress=False)
    chex.assert_trees_all_equal(err.value.last_good.params, state.params)  # epoch 0 diverged


def test_early_stopping_after_patience_epochs(six_mers):
    train, val, _ = six_mers
    state = create_train_state(build_model("linear", 6), jax.random.key(0), 6, optax.sgd(0.0))
    _, history = fit(10, state, train, val, jax.random.key(0), patience=2, progress=False)
    assert len(history.val) == 3 and history.stopped_early


def test_classifier_learns_the_score_groups(six_mers):
    train, val, test = (
        Dataset(d.codes, (d.y[:, 0] > 20).astype(jnp.int32) + (d.y[:, 0] > 10).astype(jnp.int32))
        for d in six_mers
    )
    model = build_model("classifier", 6)
    state, history = run_model(
        train,
        val,
        model,
        seed=0,
        epochs=20,
        lr=0.1,
        batch_size=64,
        loss_fn=cross_entropy_loss,
        progress=False,
    )
    accuracy = float((predict_codes(model, state.params, test.codes).argmax(1) == test.y).mean())
    assert history.val[-1] < history.val[0] and accuracy > 0.9


@pytest.mark.slow
def test_cnn_reaches_r2_of_at_least_0_9_at_the_tutorials_defaults():
    train, val, test = _datasets(8)
    model = build_model("cnn", 8)
    state, _ = run_model(train, val, model, seed=17, progress=False)  # 50 epochs, lr 0.01, 128
    pred = predict_codes(model, state.params, test.codes)
    assert r2_score(test.y, pred) >= 0.9
