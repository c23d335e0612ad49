"""Attribution in JAX, hand-checked on a linear model (the parity suite holds it to the
reference, which is cross-checked against tangermeme)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl import fast
from jax_impl.data import one_hot_seqs
from jax_impl.interpret import grad_times_input, ism, saliency, simplex_correction
from jax_impl.models import DNA_Linear, build_model

SEQS = ["ACGTA", "TTTTT"]


def _linear() -> tuple[DNA_Linear, dict, np.ndarray]:
    model = DNA_Linear(5)
    weights = np.arange(20, dtype=np.float32).reshape(5, 4) % 7 - 3  # (L, 4), by hand
    params = {"lin": {"kernel": jnp.asarray(weights.reshape(20, 1)), "bias": jnp.zeros(1)}}
    return model, {"params": params}, weights


def test_a_linear_models_attributions_are_its_weights():
    model, variables, w = _linear()
    x = one_hot_seqs(SEQS)
    np.testing.assert_array_equal(saliency(model, variables, x), np.stack([w, w]))
    np.testing.assert_array_equal(grad_times_input(model, variables, x), x * w)
    # ISM: swapping base ref for base b at p changes the output by w[p, b] - w[p, ref]
    expected = w[None] - (np.asarray(x) * w).sum(-1, keepdims=True)
    effects = np.asarray(ism(model, variables, x))
    np.testing.assert_allclose(effects, expected, atol=1e-5)
    assert effects.shape == (2, 5, 4) and (effects[np.asarray(x) == 1] == 0).all()
    corrected = simplex_correction(saliency(model, variables, x))
    np.testing.assert_allclose(corrected.sum(-1), 0, atol=1e-6)
    np.testing.assert_allclose(corrected, np.stack([w, w]) - w.mean(-1, keepdims=True))


def _one_hot(n: int, seq_len: int) -> jax.Array:
    return jax.nn.one_hot(np.random.default_rng(1).integers(0, 4, (n, seq_len)), 4)


CASES = [
    (build_model, "cnn", 11),
    pytest.param(build_model, "deep", 20, marks=pytest.mark.slow),  # seconds of compiling
    (fast.build_model, "cnn", 11),
]
IDS = ["cnn", "deep", "fast-cnn"]


def _case(build, name: str, seq_len: int) -> tuple[nn.Module, dict, jax.Array]:
    model, x = build(name, seq_len), _one_hot(5, seq_len)
    return model, jax.jit(model.init)(jax.random.key(0), x), x


@pytest.mark.parametrize(("build", "name", "seq_len"), CASES, ids=IDS)
def test_ism_in_blocks_of_positions_equals_one_call(build, name, seq_len):
    model, variables, x = _case(build, name, seq_len)
    ref = np.asarray(x) == 1
    whole = np.asarray(ism(model, variables, x, batch_size=4 * seq_len))  # one call a sequence
    assert (whole[ref] == 0).all()
    for batch_size in (4, 28):  # one position a call; seven, the last block padded
        blocks = np.asarray(ism(model, variables, x, batch_size=batch_size))
        np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-6)
        assert (blocks[ref] == 0).all()


@pytest.mark.parametrize(("build", "name", "seq_len"), CASES[:2], ids=IDS[:2])
def test_saliency_in_batches_equals_one_pass(build, name, seq_len):
    model, variables, x = _case(build, name, seq_len)
    grads = saliency(model, variables, x, batch_size=len(x))
    chunked = saliency(model, variables, x, batch_size=2)  # the last batch padded
    np.testing.assert_allclose(chunked, grads, rtol=1e-5, atol=1e-7)
    by_input = grad_times_input(model, variables, x, batch_size=2)
    np.testing.assert_allclose(by_input, grads * x, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("build", [build_model, fast.build_model], ids=["textbook", "fast"])
def test_ism_of_a_long_sequence_compiles_to_one_block_of_buffers(build):
    seq_len = 10_000
    model = build("cnn", seq_len)
    x = jax.ShapeDtypeStruct((1, seq_len, 4), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)

    def temp_gb(batch_size: int) -> float:
        compiled = ism.lower(model, variables, x, batch_size=batch_size).compile()
        return compiled.memory_analysis().temp_size_in_bytes / 1e9

    # 256 rows of conv output (32 filters x 9,998 positions) are 330 MB: with the ReLU's, 0.66 GB
    assert temp_gb(256) < 1.0
    assert temp_gb(4 * seq_len) > 50  # all 40,000 mutants in one call: about 100 GB
