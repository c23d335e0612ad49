"""Step 1-2 parity: scores, one-hot encodings and split membership are identical."""

import pytest

from dna_tutorial.sequences import kmers
from jax_impl import data as jdata
from parity_tests.compare import assert_all_pass, compare
from parity_tests.data_checks import check_data
from parity_tests.tolerances import EXACT
from reference_torch import data as tdata


def test_scores_encodings_and_splits_are_identical():
    assert_all_pass(check_data())


@pytest.mark.parametrize("bad", ["ACGX", "acg-", "AC T"])
def test_both_ports_reject_bad_letters_with_the_same_message(bad):
    with pytest.raises(ValueError) as torch_err:
        tdata.one_hot_encode(bad)
    with pytest.raises(ValueError) as jax_err:
        jdata.one_hot_seqs([bad])
    assert str(torch_err.value) == str(jax_err.value)


def test_a_difference_is_noticed():
    seqs = kmers(3)
    scores = tdata.score_seqs(seqs)["score"].to_numpy().copy()
    scores[5] += 1e-6
    assert not compare("nudged scores", scores, jdata.score_seqs(seqs)["score"], EXACT).passed
