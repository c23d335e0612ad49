"""Step 3-7 parity for every registered model at three shapes: forward outputs, losses,
gradients, one SGD step, saliency, filter activations and PWMs."""

import pytest

from parity_tests.harness import (
    assert_all_pass,
    check_filters,
    check_forward,
    check_loss_and_gradients,
    check_saliency,
    check_sgd_step,
)
from parity_tests.registry import CASES

CHECKS = [check_forward, check_loss_and_gradients, check_sgd_step, check_saliency]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_model_parity(case, check, cpu):
    assert_all_pass(check(case, cpu))


@pytest.mark.parametrize("case", [c for c in CASES if c.has_filters], ids=str)
def test_filter_parity(case, cpu):
    assert_all_pass(check_filters(case, cpu))
