"""Where the frameworks' defaults differ: BatchNorm (momentum, unbiased running variance),
max-pooling, dropout in eval mode, AdamW's parameters and moments, and the schedule."""

import pytest

from parity_tests.compare import assert_all_pass
from parity_tests.state_checks import STATE_CHECKS, check_adamw


def _tiered(checks):
    """AdamW's five steps of the deeper CNN compile for seconds: the full tier's."""
    return [pytest.param(c, marks=pytest.mark.slow) if c is check_adamw else c for c in checks]


@pytest.mark.parametrize(
    "check", _tiered(STATE_CHECKS), ids=lambda c: c.__name__.removeprefix("check_")
)
def test_state_parity(check, cpu):
    assert_all_pass(check(cpu))
