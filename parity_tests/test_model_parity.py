"""Step 3-7 parity for every registered model at three shapes: forward outputs, losses,
gradients, one SGD step, attribution (ISM, saliency), filter activations and PWMs."""

import pytest

from parity_tests.compare import assert_all_pass
from parity_tests.model_checks import (
    check_attribution,
    check_filters,
    check_forward,
    check_loss_and_gradients,
    check_sgd_step,
)
from parity_tests.registry import CASES

CHECKS = [check_forward, check_loss_and_gradients, check_sgd_step, check_attribution]


def _tiered(cases):
    """The deeper CNN's longer shapes compile for seconds each: the full tier runs them,
    the fast tier keeps every model's first shape."""
    first = {}
    for case in cases:
        first.setdefault(case.name, case)
    return [
        case if first[case.name] is case else pytest.param(case, marks=pytest.mark.slow)
        for case in cases
    ]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", _tiered(CASES), ids=str)
def test_model_parity(case, check, cpu):
    assert_all_pass(check(case, cpu))


@pytest.mark.parametrize("case", _tiered([c for c in CASES if c.has_filters]), ids=str)
def test_filter_parity(case, cpu):
    assert_all_pass(check_filters(case, cpu))
