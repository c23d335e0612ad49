"""Steps 1-2 in JAX: vectorised scoring, codes, one-hot, splitting, batching, shuffling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dna_tutorial.sequences import kmers
from jax_impl.data import (
    Dataset,
    batch_indices,
    encode,
    gather_batch,
    one_hot_encode,
    score_seqs,
    shuffled_order,
    split_datasets,
)


def test_scores_of_hand_checked_sequences():
    seqs = ["AAAAAAAA", "ACAAAAAA", "TATAAAAA", "AAGCGAAA", "TATGCGAA", "TATATATA"]
    expected = [20.0, 19.625, 27.75, 8.125, 15.875, 25.5]
    np.testing.assert_array_equal(np.asarray(score_seqs(seqs)), np.float32(expected))


def test_scores_of_all_8mers_are_float32_and_in_range():
    scores = np.asarray(score_seqs(kmers(8)))
    assert scores.shape == (65_536,) and scores.dtype == np.float32
    assert scores.min() >= 2.5 and scores.max() <= 27.75


def test_motifs_are_found_at_the_ends_and_shorter_sequences_score():
    for seq, score in [
        ("AAAAATAT", (20 * 6 + 22) / 8 + 10),
        ("GCGAA", (45 + 40) / 5 - 10),
        ("TA", 15.5),
    ]:
        assert np.asarray(score_seqs([seq]))[0] == np.float32(score)


def test_scoring_and_encoding_give_the_shared_errors():
    with pytest.raises(ValueError, match="invalid letter 'N' at position 3"):
        score_seqs(["ACGN"])
    with pytest.raises(ValueError, match="sequence #1 'AXGT' has invalid letter 'X' at position 1"):
        one_hot_encode(["ACGT", "AXGT"])


def test_one_hot_has_acgt_channels_and_n_as_zeros():
    x = np.asarray(one_hot_encode(["ACGTN"]))
    assert x.shape == (1, 5, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.vstack([np.eye(4), np.zeros((1, 4))]))
    assert encode(["acgtn"]).dtype == jnp.int8


def test_split_sizes_and_gathered_batches():
    codes = encode(kmers(8))
    train, val, test = split_datasets(Dataset(codes, jnp.zeros((65_536, 1))), seed=17)
    assert (len(train), len(val), len(test)) == (41_942, 10_486, 13_108)
    batch = gather_batch(train, jnp.array([0, 5]), jnp.ones(2))
    assert batch.x.shape == (2, 8, 4) and batch.y.shape == (2, 1)


def test_batch_indices_pad_the_last_batch_and_mask_it():
    idx, mask = batch_indices(jnp.arange(10), 4)
    assert idx.shape == mask.shape == (3, 4)
    np.testing.assert_array_equal(idx[2], [8, 9, 0, 0])
    np.testing.assert_array_equal(mask.sum(axis=1), [4, 4, 2])


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 41_942])
def test_shuffled_order_is_a_permutation(n):
    order = np.asarray(shuffled_order(jax.random.key(0), n))
    assert order.dtype == np.int32
    np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_shuffled_order_is_deterministic_per_key_and_varies_across_keys():
    a = np.asarray(shuffled_order(jax.random.key(1), 500))
    b = np.asarray(shuffled_order(jax.random.key(1), 500))
    c = np.asarray(shuffled_order(jax.random.key(2), 500))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.9


@pytest.mark.parametrize("n", [5, 12])
def test_shuffled_order_puts_every_item_everywhere_uniformly(n):
    draws = 20_000
    orders = np.asarray(
        jax.vmap(lambda k: shuffled_order(k, n))(jax.random.split(jax.random.key(3), draws))
    )
    counts = np.stack([np.bincount(orders[:, pos], minlength=n) for pos in range(n)])
    expected = draws / n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = (n - 1) ** 2
    # chi-square with dof degrees of freedom: mean dof, sd sqrt(2 dof); allow 5 sd
    assert chi2 < dof + 5 * np.sqrt(2 * dof)


def test_shuffled_order_refuses_empty():
    with pytest.raises(ValueError, match="cannot shuffle 0 rows"):
        shuffled_order(jax.random.key(0), 0)


def test_per_occurrence_bonuses_count_every_motif():
    from jax_impl.data import score_codes

    codes = encode(["TATATAAA", "GCGCGTAT"])  # TAT twice; GCG twice and TAT once
    diff = np.asarray(score_codes(codes, per_occurrence=True)) - np.asarray(score_codes(codes))
    np.testing.assert_array_equal(diff, np.float32([10, -10]))
