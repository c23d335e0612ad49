"""The whole parity suite: every check, in order, on one device, for one Flax port.

Every check returns :class:`~parity_tests.compare.Comparison` rows (quantity, max abs
diff, max rel diff, tolerance, pass). The pytest files assert that rows pass;
``dna-tutorial parity`` prints the same rows as a table. Weights always start in torch
(its default init) and reach the JAX port through ``jax_impl.convert``; batch orders are
drawn by the JAX port and fed to torch's ``DataLoader`` through a sampler. The checks
live by what they compare: ``data_checks``, ``model_checks``, ``training_checks`` and
``state_checks``, over ``pairs`` (the same model in both ports), ``ports`` (each Flax
port behind the same operations) and ``compare``; the NNX port is also held to Linen
(``port_checks``), mostly bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

from parity_tests.compare import Comparison, parity_precision
from parity_tests.data_checks import check_data
from parity_tests.model_checks import LINEN, MODEL_CHECKS
from parity_tests.port_checks import (
    check_nnx_against_linen,
    check_nnx_batchnorm_against_linen,
    check_nnx_epoch_against_linen,
)
from parity_tests.ports import Port
from parity_tests.registry import CASES, ModelCase
from parity_tests.state_checks import STATE_CHECKS
from parity_tests.training_checks import check_epoch, check_training_run


def run_parity(
    device: str = "cpu",
    cases: Sequence[ModelCase] = CASES,
    training: bool = True,
    port: Port = LINEN,
) -> list[Comparison]:
    """Every check, in order: data, each model case, state, then epochs and a training
    run; for the NNX port, then NNX against Linen."""
    with parity_precision(device) as (tdev, _):
        rows = check_data()
        for case in cases:
            for check in MODEL_CHECKS:
                rows += check(case, tdev, port=port)
        for state_check in STATE_CHECKS:
            rows += state_check(tdev, port=port)
        tutorial = [c for c in cases if c.seq_len == 8]
        if training:
            for case in tutorial:
                rows += check_epoch(case, tdev, port=port)
            rows += check_training_run(tdev, port=port)
        if port.name == "nnx":
            for case in cases:
                rows += check_nnx_against_linen(case, tdev)
            rows += check_nnx_batchnorm_against_linen(tdev)
            if training:
                for case in tutorial:
                    rows += check_nnx_epoch_against_linen(case, tdev)
    return rows
