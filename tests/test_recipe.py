"""The shared dataset recipe: the notebook's split, sampling and classes."""

import random

import numpy as np
import pytest

from dna_tutorial.recipe import (
    MIN_PART_ROWS,
    inverse_length,
    min_rows_for_split,
    quick_split_indices,
    sample_seqs,
    score_classes,
    tutorial_split,
)


def test_split_sizes_are_the_notebooks_64_16_20():
    split = tutorial_split(65_536, seed=17)
    assert split.sizes() == {"train": 41_942, "val": 10_486, "test": 13_108}


def test_split_parts_are_disjoint_sorted_and_cover_every_row():
    split = tutorial_split(1_000, seed=3)
    parts = [split.train, split.val, split.test]
    everything = np.concatenate(parts)
    assert len(everything) == len(set(everything.tolist())) == 1_000
    assert all((np.diff(p) > 0).all() for p in parts)


def test_split_reproduces_the_notebooks_global_random_calls():
    # The notebook: random.seed(17), then quick_split twice on DataFrames.
    random.seed(17)
    idxs = list(range(100))
    random.shuffle(idxs)
    full_train, test = sorted(idxs[:80]), sorted(idxs[80:])
    pos = list(range(80))
    random.shuffle(pos)
    train = sorted(full_train[i] for i in pos[:64])
    split = tutorial_split(100, seed=17)
    assert split.train.tolist() == train
    assert split.test.tolist() == test


def test_split_depends_on_the_seed_and_only_on_it():
    a, b, c = tutorial_split(500, seed=1), tutorial_split(500, seed=1), tutorial_split(500, 2)
    assert a.train.tolist() == b.train.tolist()
    assert a.train.tolist() != c.train.tolist()


def test_quick_split_cuts_at_the_floor_of_the_fraction():
    train, test = quick_split_indices(10, 0.75, random.Random(0))
    assert (len(train), len(test)) == (7, 3)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7])
def test_too_few_rows_are_refused_with_the_minimum(n):
    with pytest.raises(ValueError, match=f"need at least {min_rows_for_split()}"):
        tutorial_split(n)


def test_min_rows_is_the_first_count_that_splits():
    n = min_rows_for_split(0.8)
    assert min(tutorial_split(n).sizes().values()) == MIN_PART_ROWS
    with pytest.raises(ValueError):
        tutorial_split(n - 1)


def test_bad_split_fraction_is_refused():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        tutorial_split(100, split_frac=1.0)


def test_score_classes_follow_the_three_groups():
    scores = np.array([2.5, 8.125, 10.0, 11.0, 19.625, 20.0, 22.125, 27.75])
    np.testing.assert_array_equal(score_classes(scores), [0, 0, 0, 1, 1, 1, 2, 2])


def test_score_classes_refuse_nan():
    with pytest.raises(ValueError, match="NaN"):
        score_classes(np.array([1.0, np.nan]))


def test_sample_seqs_is_seeded_and_draws_with_replacement():
    seqs = ["A", "C", "G", "T"]
    assert sample_seqs(seqs, 50, seed=1) == sample_seqs(seqs, 50, seed=1)
    assert len(set(sample_seqs(seqs, 50, seed=1))) <= 4


def test_inverse_length_is_float32():
    assert inverse_length(8) == np.float32(0.125) and inverse_length(8).dtype == np.float32
