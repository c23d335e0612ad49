"""Step 3 in JAX: shapes, the two CNN implementations, initialisation, the registry."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.models import DNA_CNN, MODELS, DNA_CNN2d, build_model


def _init(model, seq_len, seed=0):
    return model.init(jax.random.key(seed), jnp.zeros((1, seq_len, 4)))["params"]


def _one_hot(n, seq_len, seed=0):
    return jax.nn.one_hot(jax.random.randint(jax.random.key(seed), (n, seq_len), 0, 4), 4)


@pytest.mark.parametrize(
    ("name", "out"), [("linear", 1), ("cnn", 1), ("cnn2d", 1), ("classifier", 3)]
)
@pytest.mark.parametrize("seq_len", [8, 20])
def test_output_shapes(name, out, seq_len):
    model = build_model(name, seq_len, num_filters=5, kernel_size=4)
    params = _init(model, seq_len)
    assert model.apply({"params": params}, _one_hot(6, seq_len)).shape == (6, out)


def test_parameters_are_plain_pytrees_with_flax_layouts():
    params = _init(build_model("cnn", 8), 8)
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {
        "conv": {"kernel": (3, 4, 32), "bias": (32,)},
        "dense": {"kernel": (6 * 32, 1), "bias": (1,)},
    }


@pytest.mark.parametrize("seq_len,filters,k", [(8, 32, 3), (15, 7, 5)])
def test_matmul_cnn_equals_flax_conv_with_the_same_parameters(seq_len, filters, k):
    fast = build_model("cnn", seq_len, filters, k, conv_impl="matmul")
    xla = build_model("cnn", seq_len, filters, k, conv_impl="xla")
    params = _init(xla, seq_len)
    x = jax.random.normal(jax.random.key(1), (9, seq_len, 4))  # not only one-hot inputs
    np.testing.assert_allclose(
        fast.apply({"params": params}, x), xla.apply({"params": params}, x), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        fast.apply({"params": params}, x, method=DNA_CNN.conv_activations),
        xla.apply({"params": params}, x, method=DNA_CNN.conv_activations),
        rtol=1e-5,
        atol=1e-6,
    )


def test_conv2d_variant_equals_conv1d_with_the_same_weights():
    cnn, cnn2d = build_model("cnn", 8), build_model("cnn2d", 8)
    params = _init(cnn, 8)
    params2d = {
        "conv": {
            "kernel": params["conv"]["kernel"].transpose(1, 0, 2)[:, :, None],
            "bias": params["conv"]["bias"],
        },
        "dense": params["dense"],
    }  # (k, 4, F) -> (4, k, 1, F)
    x = _one_hot(50, 8)
    np.testing.assert_allclose(
        cnn.apply({"params": params}, x), cnn2d.apply({"params": params2d}, x), rtol=1e-6, atol=1e-6
    )
    assert isinstance(cnn2d, DNA_CNN2d)


def test_torch_like_init_draws_within_one_over_sqrt_fan_in():
    params = _init(build_model("cnn", 8, weight_init="torch"), 8)
    conv_bound, dense_bound = 1 / math.sqrt(4 * 3), 1 / math.sqrt(32 * 6)
    for leaf, bound in [
        (params["conv"]["kernel"], conv_bound),
        (params["conv"]["bias"], conv_bound),
        (params["dense"]["kernel"], dense_bound),
    ]:
        assert float(jnp.abs(leaf).max()) <= bound
        assert float(jnp.abs(leaf).max()) > 0.8 * bound  # uniform: the edges get used
    flax = _init(build_model("cnn", 8, weight_init="flax"), 8)
    assert float(jnp.abs(flax["conv"]["bias"]).max()) == 0.0  # Flax's zero biases


def test_registry_and_errors():
    assert set(MODELS) == {"linear", "cnn", "cnn2d", "classifier"}
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn", 8)
    with pytest.raises(ValueError, match="unknown weight_init"):
        build_model("cnn", 8, weight_init="xavier")
    with pytest.raises(ValueError, match=r"kernel_size must be in 1\.\.seq_len=4"):
        _init(build_model("cnn", 4, kernel_size=5), 4)
    with pytest.raises(ValueError, match="unknown conv_impl"):
        _init(build_model("cnn", 8, conv_impl="fft"), 8)
