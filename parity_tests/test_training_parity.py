"""Step 4 parity: a whole epoch of SGD and a short training run, with the same initial
weights and the same batch order in both ports."""

import pytest

from parity_tests.compare import assert_all_pass
from parity_tests.registry import TUTORIAL_CASES
from parity_tests.training_checks import check_epoch, check_training_run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", TUTORIAL_CASES, ids=str)
def test_one_epoch_of_sgd_agrees(case, cpu):
    assert_all_pass(check_epoch(case, cpu))


def test_a_short_training_run_gives_the_same_r2(cpu):
    rows = check_training_run(cpu, epochs=3)
    assert_all_pass(rows)
    assert [r.quantity.split(",")[0] for r in rows if "R²" in r.quantity] == [
        "linear fit",
        "cnn fit",
    ]
    assert any(r.quantity.startswith("linear fit, final lin.weight") for r in rows)
