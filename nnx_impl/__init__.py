"""The tutorial in Flax NNX: objects on JAX, the middle rung between PyTorch and Linen.

Like torch, an NNX model holds its parameters (``nnx.Param``) and statistics
(``nnx.BatchStat``) and is updated in place; like Linen, it runs on JAX and crosses a
compile boundary, either with ``nnx.jit`` or by ``nnx.split`` into a graph and arrays, a
pure function under ``jax.jit``, and ``nnx.merge`` back.

- **The lesson** (six files; the same names in the same order as ``reference_torch`` and
  ``jax_impl``): ``data`` (the Linen port's, re-exported: NNX changes the model, not the
  data), ``models``, ``train``, ``evaluate``, ``filters``, ``interpret``.
- **The driver**: ``run`` (``dna-tutorial run --framework nnx``).
- **Around it**: ``checkpoint``, ``convert`` (NNX state <-> the Linen variables, so one
  converter and one registry serve both Flax rungs).
"""
