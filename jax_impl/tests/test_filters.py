"""Step 7 in JAX: filter weights and activation counts on inputs whose answers
can be worked out by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.data import one_hot_encode
from jax_impl.filters import filter_weights, get_filter_activations
from jax_impl.models import build_model

TAT = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0], [1, 0, 1]], dtype=np.float32)  # (4, k)


def _hand_set(name):
    kernel = np.zeros((3, 4, 2), np.float32)  # (k, 4, F)
    kernel[:, :, 0] = TAT.T
    if name == "cnn2d":
        kernel = kernel.transpose(1, 0, 2)[:, :, None]  # (4, k, 1, F)
    conv = {"kernel": jnp.asarray(kernel), "bias": jnp.array([-1.5, 5.0])}
    dense = {"kernel": jnp.zeros((4 * 2, 1)), "bias": jnp.zeros(1)}
    return {"params": {"conv_net": {"layers_0": conv, "layers_3": dense}}}


@pytest.mark.parametrize("name", ["cnn", "cnn2d"])
def test_counts_collect_the_windows_where_each_filter_fires(name):
    model = build_model(name, 6, num_filters=2)
    counts = get_filter_activations(["TATAAA", "CCCCCC"], model, _hand_set(name), 1.0)
    assert counts.shape == (2, 3, 4) and counts.dtype == np.int64
    np.testing.assert_array_equal(counts[0], TAT.T)  # fires on the one TAT window
    windows = [
        np.asarray(one_hot_encode(s))[p : p + 3] for s in ["TATAAA", "CCCCCC"] for p in range(4)
    ]
    np.testing.assert_array_equal(counts[1], sum(windows))  # fires on all 8 windows


@pytest.mark.parametrize("name", ["cnn", "cnn2d"])
def test_filter_weights_are_filters_by_letters_by_positions(name):
    weights = filter_weights(_hand_set(name))
    assert weights.shape == (2, 4, 3)
    np.testing.assert_array_equal(weights[0], TAT)


def _random_seqs(n: int, seq_len: int) -> list[str]:
    return ["".join(s) for s in np.random.default_rng(0).choice(list("ACGT"), (n, seq_len))]


@pytest.mark.parametrize(("name", "seq_len"), [("cnn", 12), ("deep", 20)])
def test_counts_in_batches_add_up_to_the_counts_of_one_batch(name, seq_len):
    model = build_model(name, seq_len)
    seqs = _random_seqs(10, seq_len)
    variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, seq_len, 4)))
    whole = get_filter_activations(seqs, model, variables, 0.0, batch_size=len(seqs))
    assert whole.sum() > 0
    chunked = get_filter_activations(seqs, model, variables, 0.0, batch_size=4)  # 4, 4, 2 + pad
    np.testing.assert_array_equal(chunked, whole)
