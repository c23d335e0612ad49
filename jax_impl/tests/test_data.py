"""Steps 1-2 in JAX: vectorised scoring, one-hot, splitting and the functional DataLoader."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import encode_codes, kmers
from jax_impl.data import (
    DataLoader,
    SeqDatasetOHE,
    build_dataloaders,
    one_hot_encode,
    quick_split,
    score_codes,
    score_seqs,
    set_seed,
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
    x = np.asarray(one_hot_encode(["ACGTN", "acgtn"]))
    assert x.shape == (2, 5, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.vstack([np.eye(4), np.zeros((1, 4))]))
    np.testing.assert_array_equal(x[1], x[0])


def test_per_occurrence_bonuses_count_every_motif():
    codes = jnp.asarray(encode_codes(["TATATAAA", "GCGCGTAT"]))  # TAT x2; GCG x2 and TAT
    diff = np.asarray(score_codes(codes, per_occurrence=True)) - np.asarray(score_codes(codes))
    np.testing.assert_array_equal(diff, np.float32([10, -10]))


def test_set_seed_returns_a_key_and_the_same_seed_the_same_key():
    a, b = set_seed(17), set_seed(17)
    assert jax.random.key_data(a).tolist() == jax.random.key_data(b).tolist()
    assert jax.random.key_data(set_seed(18)).tolist() != jax.random.key_data(a).tolist()


def _dataset(n=10, length=4):
    seqs = kmers(length)[:n]
    return SeqDatasetOHE(one_hot_encode(seqs), score_seqs(seqs)[:, None])


def test_split_sizes_and_rows():
    seqs = kmers(8)
    data = SeqDatasetOHE(one_hot_encode(seqs), jnp.zeros((65_536, 1)))
    train, val, test = quick_split(data, tutorial_split(65_536, seed=17))
    assert (len(train), len(val), len(test)) == (41_942, 10_486, 13_108)
    x, y = train[jnp.array([0, 5])]
    assert x.shape == (2, 8, 4) and y.shape == (2, 1)


def test_batches_are_full_then_a_short_rest_as_in_torch():
    loader = DataLoader(_dataset(10), batch_size=4)
    batches = loader.batches()
    np.testing.assert_array_equal(batches.full, [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(batches.rest, [8, 9])
    even = DataLoader(_dataset(8), batch_size=4).batches()
    assert even.full.shape == (2, 4) and even.rest.shape == (0,)


def test_shuffled_batches_are_a_permutation_drawn_from_the_key():
    train_dl, val_dl = build_dataloaders(_dataset(10), _dataset(10), batch_size=3)
    a, b = train_dl.batches(jax.random.key(1)), train_dl.batches(jax.random.key(1))
    order = np.concatenate([np.ravel(a.full), a.rest])
    np.testing.assert_array_equal(np.sort(order), np.arange(10))
    np.testing.assert_array_equal(order, np.concatenate([np.ravel(b.full), b.rest]))
    other = train_dl.batches(jax.random.key(2))
    assert not np.array_equal(order, np.concatenate([np.ravel(other.full), other.rest]))
    assert not val_dl.shuffle  # validation in order, as the notebook's loader
    np.testing.assert_array_equal(np.ravel(val_dl.batches().full), np.arange(9))


def test_a_loader_is_data_for_jit_with_its_batch_size_static():
    loader = DataLoader(_dataset(10), batch_size=4)
    rows = jax.jit(lambda dl: dl.batches().full)(loader)
    assert rows.shape == (2, 4)
    with pytest.raises(ValueError, match="batch_size"):
        build_dataloaders(_dataset(), _dataset(), batch_size=0)
