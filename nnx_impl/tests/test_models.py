"""Step 3 in NNX: shapes, options reaching the constructors, train/eval mode, BatchNorm's
statistics as variables of the module, and Linen's parameters at the same paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dna_tutorial.errors import ConfigError
from jax_impl import models as jmodels
from nnx_impl import convert
from nnx_impl.models import BatchNorm, build_model, conv_layer


def _one_hot(n, seq_len, seed=0):
    return jax.nn.one_hot(jax.random.randint(jax.random.key(seed), (n, seq_len), 0, 4), 4)


@pytest.mark.parametrize(
    ("name", "out"),
    [("linear", 1), ("cnn", 1), ("cnn2d", 1), ("classifier", 3), ("deep", 1)],
)
@pytest.mark.parametrize("seq_len", [8, 20])
def test_output_shapes(name, out, seq_len):
    model = build_model(name, seq_len, num_filters=5, kernel_size=4)
    model.eval()
    assert model(_one_hot(6, seq_len)).shape == (6, out)


def test_the_options_reach_the_constructor():
    """NNX's metaclass hides ``__init__``'s parameters from the class: options were once
    dropped silently, and every CNN had 32 filters of width 3."""
    conv = conv_layer(build_model("cnn", 8, num_filters=7, kernel_size=5))
    assert conv.kernel[...].shape == (5, 4, 7)
    assert build_model("classifier", 8, num_classes=4)(_one_hot(2, 8)).shape == (2, 4)


def test_a_model_the_port_lacks_is_one_line(monkeypatch):
    from dna_tutorial import registry

    spec = registry.get("cnn")
    monkeypatch.setitem(registry.MODELS, "cnn", type(spec)(**{**vars(spec), "nnx": None}))
    with pytest.raises(ConfigError, match="NNX port has no such model"):
        build_model("cnn", 8)


@pytest.mark.parametrize("name", ["linear", "cnn", "cnn2d", "classifier", "deep"])
def test_the_parameters_sit_at_linens_paths(name):
    linen = jmodels.build_model(name, 8)
    variables = linen.init(jax.random.key(0), jnp.zeros((1, 8, 4)))
    ours = convert.to_linen(build_model(name, 8))
    expected = {"batch_stats": {}, **variables}  # the Linen port's layout, BatchNorm or not
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, expected)


def test_train_and_eval_switch_dropout():
    model = build_model("deep", 30, dropout=(0.5, 0.5))
    x = _one_hot(16, 30)
    model.eval()
    assert np.array_equal(model(x), model(x))  # eval: deterministic
    model.train()
    assert not np.array_equal(model(x), model(x))  # train: a fresh mask each call


def test_batchnorm_keeps_torchs_running_statistics_in_the_module():
    bn = BatchNorm(3)
    x = jax.random.normal(jax.random.key(1), (64, 10, 3)) * 2.0 + 1.0
    bn.train()
    bn(x)
    flat = np.asarray(x).reshape(-1, 3)
    np.testing.assert_allclose(bn.mean[...], 0.1 * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.var[...], 0.9 + 0.1 * flat.var(0, ddof=1), rtol=1e-5)
    assert set(nnx.state(bn, nnx.BatchStat).keys()) == {"mean", "var"}
    bn.eval()
    before = np.asarray(bn.mean[...])
    bn(x)
    assert np.array_equal(bn.mean[...], before)  # eval mode reads, never updates
