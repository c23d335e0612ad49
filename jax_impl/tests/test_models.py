"""Step 3 in JAX: shapes, the Conv2d variant, initialisation and the registry."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dna_tutorial import registry
from jax_impl.convert import torch_init
from jax_impl.models import DNA_CNN2d, DNA_CNNClassifier, build_model, conv_layer


def _init(model, seq_len, seed=0):
    return model.init(jax.random.key(seed), jnp.zeros((1, seq_len, 4)))


def _one_hot(n, seq_len, seed=0):
    return jax.nn.one_hot(jax.random.randint(jax.random.key(seed), (n, seq_len), 0, 4), 4)


@pytest.mark.parametrize(
    ("name", "out"), [("linear", 1), ("cnn", 1), ("cnn2d", 1), ("classifier", 3)]
)
@pytest.mark.parametrize("seq_len", [8, 20])
def test_output_shapes(name, out, seq_len):
    model = build_model(name, seq_len, num_filters=5, kernel_size=4)
    variables = _init(model, seq_len)
    assert model.apply(variables, _one_hot(6, seq_len)).shape == (6, out)


def test_parameters_are_plain_pytrees_with_flax_layouts():
    variables = _init(build_model("cnn", 8), 8)
    assert jax.tree.map(jnp.shape, variables) == {
        "params": {
            "conv_net": {  # torch's conv_net.0 and conv_net.3
                "layers_0": {"kernel": (3, 4, 32), "bias": (32,)},
                "layers_3": {"kernel": (6 * 32, 1), "bias": (1,)},
            }
        }
    }


def test_the_conv_is_valid_not_same_padded():
    variables = _init(build_model("cnn", 8), 8)
    acts = build_model("cnn", 8).apply(variables, _one_hot(2, 8), method="conv_activations")
    assert acts.shape == (2, 6, 32)  # P = L - k + 1, as torch's Conv1d without padding


def test_conv2d_variant_equals_conv1d_with_the_same_weights():
    cnn, cnn2d = build_model("cnn", 8), build_model("cnn2d", 8)
    variables = _init(cnn, 8)
    conv = variables["params"]["conv_net"]["layers_0"]
    variables2d = jax.tree.map(lambda a: a, variables)
    variables2d["params"]["conv_net"]["layers_0"] = {
        "kernel": conv["kernel"].transpose(1, 0, 2)[:, :, None],  # (k, 4, F) -> (4, k, 1, F)
        "bias": conv["bias"],
    }
    x = _one_hot(50, 8)
    np.testing.assert_allclose(
        cnn.apply(variables, x), cnn2d.apply(variables2d, x), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        cnn.apply(variables, x, method="conv_activations"),
        cnn2d.apply(variables2d, x, method="conv_activations"),
        rtol=1e-6,
        atol=1e-6,
    )
    assert isinstance(cnn2d, DNA_CNN2d)


def test_the_classifier_has_one_logit_per_class():
    model = build_model("classifier", 8, num_classes=5)
    assert isinstance(model, DNA_CNNClassifier) and model.out_features == 5
    assert model.apply(_init(model, 8), _one_hot(3, 8)).shape == (3, 5)


def test_torch_like_init_draws_within_one_over_sqrt_fan_in():
    params = _init(build_model("cnn", 8), 8)["params"]
    assert float(jnp.abs(params["conv_net"]["layers_0"]["bias"]).max()) == 0.0  # Flax's zeros
    torch_like = torch_init(params, jax.random.key(1))["conv_net"]
    conv_bound, dense_bound = 1 / math.sqrt(4 * 3), 1 / math.sqrt(32 * 6)
    for leaf, bound in [
        (torch_like["layers_0"]["kernel"], conv_bound),
        (torch_like["layers_0"]["bias"], conv_bound),
        (torch_like["layers_3"]["kernel"], dense_bound),
        (torch_like["layers_3"]["bias"], dense_bound),
    ]:
        assert float(jnp.abs(leaf).max()) <= bound
        assert float(jnp.abs(leaf).max()) > 0.8 * bound or leaf.size == 1  # uniform: edges used
    assert jax.tree.map(jnp.shape, torch_like) == jax.tree.map(jnp.shape, params["conv_net"])


def test_options_a_model_does_not_declare_are_not_passed():
    model = build_model("linear", 8, num_filters=7, kernel_size=5, num_classes=3)
    assert model.apply(_init(model, 8), _one_hot(2, 8)).shape == (2, 1)


def test_registry_and_errors():
    assert {"linear", "cnn", "cnn2d", "classifier"} <= set(registry.names())
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn", 8)
    with pytest.raises(ValueError, match=r"kernel_size must be in 1\.\.seq_len=4"):
        _init(build_model("cnn", 4, kernel_size=5), 4)
    with pytest.raises(ValueError, match="no convolution"):
        conv_layer(_init(build_model("linear", 8), 8)["params"])
