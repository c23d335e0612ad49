"""The tutorial in JAX and Flax Linen: pure functions, state passed in and out, compiled.

- **The lesson** (six files; ``reference_torch`` has the same names in the same order):
  ``data`` (steps 1-2), ``models`` (step 3), ``train`` (steps 4-5), ``evaluate``
  (step 6), ``filters`` (step 7), ``interpret`` (attribution, beyond step 7). Textbook
  Flax: ``nn.Conv``, ``jax.random.permutation``, float one-hot batches.
- **The engine**: ``fast`` (the CPU engineering, tested equal to the lesson and chosen
  with ``--jax-impl fast``), ``scale`` (ensembles with ``vmap``, the stepwise loop, data
  parallelism on a mesh).
- **The driver**: ``run`` (``dna-tutorial run`` in this port: checkpoints, resume, a mesh).
- **Around it**: ``checkpoint`` (saving and restoring a train state), ``convert`` (torch
  layout <-> Flax variables, the torch-like initialisation).
"""
