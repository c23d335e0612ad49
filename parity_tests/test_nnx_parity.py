"""The Flax NNX port held to PyTorch by the same checks as Linen, and to Linen itself on
the same weights (forward, loss, gradients, ISM, saliency, BatchNorm and a whole epoch:
bit for bit). The fast tier keeps each model's first shape and NNX against Linen."""

import pytest

from parity_tests.compare import assert_all_pass
from parity_tests.model_checks import MODEL_CHECKS, check_filters
from parity_tests.port_checks import (
    check_nnx_against_linen,
    check_nnx_batchnorm_against_linen,
    check_nnx_epoch_against_linen,
)
from parity_tests.ports import NNX
from parity_tests.registry import CASES, TUTORIAL_CASES
from parity_tests.state_checks import STATE_CHECKS
from parity_tests.test_state_parity import _tiered as _state_tiered
from parity_tests.training_checks import check_epoch, check_training_run

PORT = NNX()


def _name(check) -> str:
    return check.__name__.removeprefix("check_")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "check"),
    [
        pytest.param(case, check, id=f"{case}-{_name(check)}")
        for case in TUTORIAL_CASES
        for check in MODEL_CHECKS
        if check is not check_filters or case.has_filters
    ],
)
def test_nnx_model_parity(case, check, cpu):
    """Each model at the tutorial's shape; at its other shapes NNX is held to Linen bit for
    bit below, and to torch by ``dna-tutorial parity --framework nnx`` (its committed table)."""
    assert_all_pass(check(case, cpu, port=PORT))


def _first_cnn(cases):
    """The fast tier holds NNX to Linen on the tutorial CNN; the full tier on every case."""
    return [
        c if str(c) == "cnn (L=8, F=32, k=3)" else pytest.param(c, marks=pytest.mark.slow)
        for c in cases
    ]


@pytest.mark.parametrize("case", _first_cnn(CASES), ids=str)
def test_nnx_computes_what_linen_computes(case, cpu):
    rows = check_nnx_against_linen(case, cpu)
    assert_all_pass(rows)
    assert all(r.max_abs == 0 and str(r.tolerance) == "exact" for r in rows)


def test_nnx_batchnorm_is_linens(cpu):
    assert_all_pass(check_nnx_batchnorm_against_linen(cpu))


@pytest.mark.parametrize("check", _state_tiered(STATE_CHECKS), ids=_name)
def test_nnx_state_parity(check, cpu):
    assert_all_pass(check(cpu, port=PORT))


@pytest.mark.slow
@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=str)
def test_an_nnx_epoch_agrees_with_torch_and_is_linens(case, cpu):
    assert_all_pass(check_epoch(case, cpu, port=PORT))
    assert_all_pass(check_nnx_epoch_against_linen(case, cpu))


@pytest.mark.slow
def test_a_short_nnx_training_run_gives_the_same_r2(cpu):
    assert_all_pass(check_training_run(cpu, epochs=3, port=PORT))
