"""Beyond step 7 in Flax NNX: which bases drive a prediction (attribution).

Every function takes one-hot sequences ``x`` (N, L, 4), float32, puts the model in eval
mode, and returns float32 (N, L, 4): one number per position and base, for output
``output`` of the model (the score; a class's logit; a label's logit).

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

import jax
import jax.numpy as jnp
from flax import nnx

from dna_tutorial.spec import ATTRIBUTION_BATCH_SIZE


def ism(
    model: nnx.Module, x: jax.Array, output: int = 0, batch_size: int = ATTRIBUTION_BATCH_SIZE
) -> jax.Array:
    """output(mutant) - output(reference) per position and base: float32 (N, L, 4).

    Row (p, b) of a sequence's 4 L mutants is the sequence with position p set to base b:
    16 L^2 floats in all, 6.4 GB at L = 10,000. So ``lax.map`` runs them in blocks of
    ``batch_size // 4`` positions (at least one), and XLA's buffers hold one block of
    ``batch_size`` rows. The last block's positions past the end repeat the last position
    (one compiled shape for every block); their outputs are dropped.
    """
    model.eval()
    return _ism(model, jnp.asarray(x, jnp.float32), output, batch_size)


@nnx.jit(static_argnames=("output", "batch_size"))
def _ism(model: nnx.Module, x: jax.Array, output: int, batch_size: int) -> jax.Array:
    length = x.shape[1]
    block = max(1, min(batch_size // 4, length))  # positions per model call
    num = -(-length // block)
    blocks = jnp.minimum(jnp.arange(num * block), length - 1).reshape(num, block)

    def effects(seq: jax.Array) -> jax.Array:  # (L, 4) -> (L, 4)
        ref = model(seq[None])[0, output]

        def mutant(p, b):
            return seq.at[p].set(jax.nn.one_hot(b, 4))

        by_base = jax.vmap(mutant, in_axes=(None, 0))

        def run(positions: jax.Array) -> jax.Array:  # (block,) -> (block, 4)
            mutants = jax.vmap(by_base, in_axes=(0, None))(positions, jnp.arange(4))
            out = model(mutants.reshape(4 * block, length, 4))[:, output]
            return out.reshape(block, 4)

        out = jax.lax.map(run, blocks).reshape(num * block, 4)[:length]
        # the reference base's "mutant" is the sequence itself: exactly 0
        return (out - ref) * (1 - seq)

    return jax.lax.map(effects, x)


def saliency(
    model: nnx.Module, x: jax.Array, output: int = 0, batch_size: int = ATTRIBUTION_BATCH_SIZE
) -> jax.Array:
    """Gradient of output ``output`` w.r.t. the one-hot input: float32 (N, L, 4).

    Each example's output depends only on its own row, so the gradient of the summed
    outputs holds every per-example gradient, and ``lax.map`` over batches of
    ``batch_size`` rows gives the same gradients with one batch's activations in memory.
    The last batch is padded with zero rows, whose gradients are dropped.
    """
    model.eval()
    return _saliency(model, jnp.asarray(x, jnp.float32), output, batch_size)


@nnx.jit(static_argnames=("output", "batch_size"))
def _saliency(model: nnx.Module, x: jax.Array, output: int, batch_size: int) -> jax.Array:
    n = x.shape[0]
    batch = max(1, min(batch_size, n))
    num = -(-n // batch)
    batches = jnp.pad(x, ((0, num * batch - n), (0, 0), (0, 0))).reshape(num, batch, *x.shape[1:])
    grad = jax.grad(lambda xb: model(xb)[:, output].sum())  # w.r.t. the input, not the model
    return jax.lax.map(grad, batches).reshape(num * batch, *x.shape[1:])[:n]


def grad_times_input(
    model: nnx.Module, x: jax.Array, output: int = 0, batch_size: int = ATTRIBUTION_BATCH_SIZE
) -> jax.Array:
    """Saliency at the observed bases, 0 elsewhere: float32 (N, L, 4)."""
    return saliency(model, x, output, batch_size) * x


def simplex_correction(attributions: jax.Array) -> jax.Array:
    """Attributions (..., 4) minus their mean over the bases: same shape and dtype."""
    return attributions - attributions.mean(axis=-1, keepdims=True)
