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
from parity_tests.registry import CASES, ModelCase

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


#: Checks whose compiled gradient of the deeper CNN takes 5-10 s: the full tier's.
DEEP_IN_FULL_TIER = {check_loss_and_gradients, check_sgd_step}


def _model_checks():
    for param in _tiered(CASES):
        case = param if isinstance(param, ModelCase) else param.values[0]
        marks = () if isinstance(param, ModelCase) else param.marks
        for check in CHECKS:
            deep = case.name.startswith("deep") and check in DEEP_IN_FULL_TIER
            yield pytest.param(
                case,
                check,
                id=f"{case}-{check.__name__.removeprefix('check_')}",
                marks=(*marks, pytest.mark.slow) if deep else marks,
            )


@pytest.mark.parametrize(("case", "check"), list(_model_checks()))
def test_model_parity(case, check, cpu):
    assert_all_pass(check(case, cpu))


@pytest.mark.parametrize("case", _tiered([c for c in CASES if c.has_filters]), ids=str)
def test_filter_parity(case, cpu):
    assert_all_pass(check_filters(case, cpu))
