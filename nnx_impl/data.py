"""Steps 1-2 in Flax NNX: the Linen port's data, unchanged.

NNX changes where a model keeps its state, not how JAX holds data: the sequences are
device arrays one-hot encoded up front, the ``DataLoader`` is a description of an epoch's
batches (index arrays drawn from an explicit key), and compiled functions take the
dataset as a pytree. So this file re-exports ``jax_impl.data``, name for name, and the
three ports' ``data.py`` still pair up (``diff`` shows the Linen port's file against the
torch one).
"""

from jax_impl.data import (
    DataLoader,
    SeqDatasetOHE,
    build_dataloaders,
    one_hot_encode,
    one_hot_seqs,
    quick_split,
    score_codes,
    score_seqs,
    set_seed,
    targets_array,
)

__all__ = [  # noqa: RUF022 (the lesson's order, as reference_torch/data.py defines them)
    "set_seed",
    "score_seqs",
    "score_codes",
    "one_hot_encode",
    "one_hot_seqs",
    "quick_split",
    "targets_array",
    "SeqDatasetOHE",
    "DataLoader",
    "build_dataloaders",
]
