"""Attribution in JAX, hand-checked on a linear model (the parity suite holds it to the
reference, which is cross-checked against tangermeme)."""

import jax.numpy as jnp
import numpy as np

from jax_impl.data import one_hot_encode
from jax_impl.interpret import grad_times_input, ism, saliency, simplex_correction
from jax_impl.models import DNA_Linear

SEQS = ["ACGTA", "TTTTT"]


def _linear() -> tuple[DNA_Linear, dict, np.ndarray]:
    model = DNA_Linear(5)
    weights = np.arange(20, dtype=np.float32).reshape(5, 4) % 7 - 3  # (L, 4), by hand
    params = {"lin": {"kernel": jnp.asarray(weights.reshape(20, 1)), "bias": jnp.zeros(1)}}
    return model, {"params": params}, weights


def test_a_linear_models_attributions_are_its_weights():
    model, variables, w = _linear()
    x = one_hot_encode(SEQS)
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
