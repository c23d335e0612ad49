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
    assert isinstance(model, DNA_CNNClassifier) and model.outputs == 5
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


@pytest.mark.slow  # the deeper CNN's compiles take seconds; the parity rows cover it fast
def test_deep_cnn_shapes_state_and_modes():
    model = build_model("deep", 8)  # blocks (32, 7, 2), (64, 5, 2): 8 -> 4 -> 2 positions
    variables = _init(model, 8)
    assert set(variables) == {"params", "batch_stats"}
    assert variables["params"]["head_0"]["dense"]["kernel"].shape == (2 * 64, 128)
    x = _one_hot(16, 8)
    evaluated = model.apply(variables, x)  # eval mode: running statistics, no dropout
    assert evaluated.shape == (16, 1)
    out, new = model.apply(
        variables, x, train=True, rngs={"dropout": jax.random.key(1)}, mutable="batch_stats"
    )
    moved = jax.tree.map(
        lambda a, b: float(jnp.abs(a - b).max()), new["batch_stats"], variables["batch_stats"]
    )
    assert min(jax.tree.leaves(moved)) > 0  # every BatchNorm updated its statistics
    again = model.apply(
        variables, x, train=True, rngs={"dropout": jax.random.key(2)}, mutable="batch_stats"
    )[0]
    assert not np.allclose(out, again)  # another dropout key, other masks
    multi = build_model("deep_multilabel", 8, num_classes=5)
    assert multi.apply(_init(multi, 8), x).shape == (16, 5)


def test_dropout_keeps_the_right_fraction_and_scales_by_one_over_keep():
    import flax.linen as nn

    x = jnp.ones((200, 500))
    y = nn.Dropout(0.3).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(y) != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.7, rtol=1e-6)


def test_the_ports_batchnorm_follows_torch_where_flax_differs():
    import flax.linen as nn

    from jax_impl.models import BatchNorm

    x = jax.random.normal(jax.random.key(0), (6, 3)) * 2 + 1
    ours = BatchNorm().init(jax.random.key(0), x)
    _, ours = BatchNorm().apply(ours, x, train=True, mutable="batch_stats")
    flax = nn.BatchNorm(momentum=0.9).init(jax.random.key(0), x, use_running_average=True)
    _, flax = nn.BatchNorm(momentum=0.9).apply(
        flax, x, use_running_average=False, mutable="batch_stats"
    )
    np.testing.assert_allclose(ours["batch_stats"]["mean"], flax["batch_stats"]["mean"], rtol=1e-6)
    unbiased = 0.9 + 0.1 * np.var(np.asarray(x), axis=0, ddof=1)  # torch's update
    np.testing.assert_allclose(ours["batch_stats"]["var"], unbiased, rtol=1e-5)
    assert not np.allclose(flax["batch_stats"]["var"], unbiased, rtol=1e-3)  # Flax: biased
