"""``jax_impl.scale``: ensembles equal single runs, the stepwise loop equals the compiled
epoch, and the pieces of data parallelism that one device can check. (Training on 4
devices is checked in parity_tests/test_data_parallel.py, in a process that has them.)"""

import types

import chex
import jax
import numpy as np
import pytest

from dna_tutorial.errors import ConfigError
from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from jax_impl import fast, scale
from jax_impl.data import quick_split, score_seqs, set_seed
from jax_impl.train import create_train_state, run_model, train_step


@pytest.fixture(scope="module")
def loaders():
    train, val, _ = quick_split(score_seqs(kmers(6)), tutorial_split(4096, seed=17))
    return fast.build_dataloaders(train, val, batch_size=128)


@pytest.mark.slow
def test_ensemble_member_k_equals_a_single_run_from_key_k(loaders):
    model = fast.build_model("cnn", 6)
    xb, _ = loaders[0].batch(np.arange(1))
    keys = jax.numpy.stack([set_seed(s) for s in (3, 11, 42)])
    states, shuffle_keys = scale.create_ensemble(model, keys, xb)
    states, losses = scale.fit_ensemble(2, states, *loaders, shuffle_keys, progress=False)
    assert losses.shape == (2, 2, 3)
    for k, seed in enumerate((3, 11, 42)):
        single, history = run_model(*loaders, model, set_seed(seed), epochs=2, progress=False)
        member = jax.tree.map(lambda leaf, k=k: leaf[k], states.params)
        chex.assert_trees_all_close(member, single.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[:, 1, k], history.val, rtol=1e-5)


def test_the_stepwise_loop_equals_the_compiled_epoch(loaders):
    train_dl = loaders[0]
    state = create_train_state(
        fast.build_model("cnn", 6), jax.random.key(0), train_dl.batch(np.arange(1))[0]
    )
    key = jax.random.key(1)
    compiled, loss = train_step(state, train_dl, key)
    stepwise, step_loss = scale.train_step_stepwise(state, train_dl, key)
    assert int(compiled.step) == int(stepwise.step) == 21  # ceil(2620 / 128)
    chex.assert_trees_all_close(compiled.params, stepwise.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, step_loss, rtol=1e-6)


def test_a_mesh_of_the_available_devices():
    mesh = scale.make_mesh()
    assert mesh.size == len(jax.devices()) and mesh.axis_names == (scale.DATA_AXIS,)
    with pytest.raises(ConfigError, match=r"asked for 64 devices but JAX sees .*device_count=64"):
        scale.make_mesh(64)


def test_data_parallel_wraps_the_loaders_and_refuses_uneven_batches(loaders):
    mesh = scale.make_mesh(1)
    state = create_train_state(
        fast.build_model("cnn", 6), jax.random.key(0), loaders[0].batch(np.arange(1))[0]
    )
    placed, (train_dl, _) = scale.data_parallel(state, loaders, mesh)
    assert isinstance(train_dl, scale.ShardedLoader)
    new, loss = train_step(placed, train_dl, jax.random.key(1))
    reference, expected = train_step(state, loaders[0], jax.random.key(1))
    chex.assert_trees_all_close(new.params, reference.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    three = types.SimpleNamespace(size=3)  # the check comes before the mesh is used
    with pytest.raises(ConfigError, match="batch size 128 does not split evenly over 3"):
        scale.data_parallel(state, loaders, three)


def test_initialize_reads_torchrun_variables(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    scale.initialize()
    assert calls == [("10.0.0.1:29501", 4, 2)]


def test_initialize_is_a_no_op_for_one_process(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append(a))
    for var in ("MASTER_ADDR", "WORLD_SIZE", "RANK", "JAX_COORDINATOR_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    scale.initialize()
    assert calls == []
