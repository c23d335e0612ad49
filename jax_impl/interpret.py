"""Beyond step 7 in JAX: which bases drive a prediction (attribution).

Every function takes one-hot sequences ``x`` (N, L, 4), float32, applies the model in
evaluation mode (``train=False``), and returns float32 (N, L, 4): one number per position
and base, for output ``output`` of the model (the score; a class's logit; a label's logit).

- ``ism``: in-silico saturation mutagenesis, output(mutant) - output(reference) for every
  single-base substitution. 0 at the reference base; positive where the substitution
  raises the output.
- ``saliency``: the gradient of the output w.r.t. the one-hot input, every base of every
  position (a linear model's saliency is its weights).
- ``grad_times_input``: the gradient at the observed bases, zero elsewhere.
- ``simplex_correction``: subtract the mean over the 4 bases at each position. A one-hot
  input lives on the simplex (the bases sum to 1), so only differences between bases
  matter; the correction removes the gradient's component off the simplex.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=("model", "output"))
def ism(model: nn.Module, variables, x: jax.Array, output: int = 0) -> jax.Array:
    """output(mutant) - output(reference) per position and base: float32 (N, L, 4).

    ``vmap`` builds each sequence's 4 L mutants, which run as one batch: row (p, b) is the
    sequence with position p set to base b.
    """
    length = x.shape[1]

    def effects(seq: jax.Array) -> jax.Array:  # (L, 4) -> (L, 4)
        def mutant(p, b):
            return seq.at[p].set(jax.nn.one_hot(b, 4))

        by_base = jax.vmap(mutant, in_axes=(None, 0))
        mutants = jax.vmap(by_base, in_axes=(0, None))(jnp.arange(length), jnp.arange(4))
        out = model.apply(variables, mutants.reshape(4 * length, length, 4))[:, output]
        ref = model.apply(variables, seq[None])[0, output]
        # the reference base's "mutant" is the sequence itself: exactly 0
        return (out.reshape(length, 4) - ref) * (1 - seq)

    return jax.lax.map(effects, x)


@functools.partial(jax.jit, static_argnames=("model", "output"))
def saliency(model: nn.Module, variables, x: jax.Array, output: int = 0) -> jax.Array:
    """Gradient of output ``output`` w.r.t. the one-hot input: float32 (N, L, 4).

    Each example's output depends only on its own row, so the gradient of the summed
    outputs holds every per-example gradient.
    """
    return jax.grad(lambda x: model.apply(variables, x)[:, output].sum())(x)


def grad_times_input(model: nn.Module, variables, x: jax.Array, output: int = 0) -> jax.Array:
    """Saliency at the observed bases, 0 elsewhere: float32 (N, L, 4)."""
    return saliency(model, variables, x, output) * x


def simplex_correction(attributions: jax.Array) -> jax.Array:
    """Attributions (..., 4) minus their mean over the bases: same shape and dtype."""
    return attributions - attributions.mean(axis=-1, keepdims=True)
