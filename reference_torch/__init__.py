"""The tutorial in PyTorch: object-oriented, stateful modules updated in place.

- **The lesson** (six files; ``jax_impl`` has the same names in the same order):
  ``data`` (steps 1-2), ``models`` (step 3), ``train`` (steps 4-5), ``evaluate``
  (step 6), ``filters`` (step 7), ``interpret`` (attribution, beyond step 7).
- **The driver**: ``run`` (``dna-tutorial run`` in this port: checkpoints, resume, DDP).
- **Around it**: ``checkpoint`` (saving and restoring mid-training), ``distributed``
  (``DistributedDataParallel`` under ``torchrun``).
"""
