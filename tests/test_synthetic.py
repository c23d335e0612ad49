"""The generalised synthetic task: deterministic, streamed, bounded."""

import numpy as np
import pytest

from dna_tutorial.synthetic import BLOCK_ROWS, random_codes, synthetic_codes


def test_rows_do_not_depend_on_the_chunk_size():
    whole = synthetic_codes(10_000, 30, seed=4)
    for chunk in (1_000, BLOCK_ROWS, 7_777):
        np.testing.assert_array_equal(
            np.concatenate(list(random_codes(10_000, 30, 4, chunk))), whole
        )


def test_chunks_are_bounded_and_the_codes_uniform():
    chunks = list(random_codes(20_000, 50, seed=1, chunk_rows=8_192))
    assert [len(c) for c in chunks] == [8_192, 8_192, 3_616]
    codes = np.concatenate(chunks)
    assert codes.dtype == np.uint8 and set(np.unique(codes)) == {0, 1, 2, 3}
    np.testing.assert_allclose(np.bincount(codes.ravel()) / codes.size, 0.25, atol=0.005)


def test_seeds_and_lengths_give_different_data():
    a = synthetic_codes(100, 40, seed=1)
    assert (a != synthetic_codes(100, 40, seed=2)).mean() > 0.5
    assert synthetic_codes(5, 7, seed=1).shape == (5, 7)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match=">= 1"):
        next(random_codes(0, 10))
