"""The whole parity suite: every check, in order, on one device.

Every check returns :class:`~parity_tests.compare.Comparison` rows (quantity, max abs
diff, max rel diff, tolerance, pass). The pytest files assert that rows pass;
``dna-tutorial parity`` prints the same rows as a table. Weights always start in torch
(its default init) and reach the JAX port through ``jax_impl.convert``; batch orders are
drawn by the JAX port and fed to torch's ``DataLoader`` through a sampler. The checks
live by what they compare: ``data_checks``, ``model_checks``, ``training_checks`` and
``state_checks``, over ``pairs`` (the same model in both ports) and ``compare``.
"""

from __future__ import annotations

from collections.abc import Sequence

from parity_tests.compare import Comparison, parity_precision
from parity_tests.data_checks import check_data
from parity_tests.model_checks import MODEL_CHECKS
from parity_tests.registry import CASES, ModelCase
from parity_tests.state_checks import STATE_CHECKS
from parity_tests.training_checks import check_epoch, check_training_run


def run_parity(
    device: str = "cpu",
    cases: Sequence[ModelCase] = CASES,
    training: bool = True,
    variant: str = "fast",
) -> list[Comparison]:
    """Every check, in order: data, each model case, then epochs and a training run."""
    with parity_precision(device) as (tdev, _):
        rows = check_data()
        for case in cases:
            for check in MODEL_CHECKS:
                rows += check(case, tdev, variant=variant)
        for check in STATE_CHECKS:
            rows += check(tdev)
        if training:
            for case in [c for c in cases if c.seq_len == 8]:
                rows += check_epoch(case, tdev, variant=variant)
            rows += check_training_run(tdev, variant=variant)
    return rows
