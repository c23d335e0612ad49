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
    one_hot_seqs,
    quick_split,
    score_codes,
    score_seqs,
    set_seed,
)


def test_scores_of_hand_checked_sequences():
    seqs = ["AAAAAAAA", "ACAAAAAA", "TATAAAAA", "AAGCGAAA", "TATGCGAA", "tatatata"]
    expected = [20.0, 19.625, 27.75, 8.125, 15.875, 25.5]
    df = score_seqs(seqs)
    np.testing.assert_array_equal(df["score"], np.float32(expected))
    assert list(df.columns) == ["seq", "score"] and df["seq"].iloc[-1] == "TATATATA"


def test_scores_of_all_8mers_are_float32_and_in_range():
    scores = score_seqs(kmers(8))["score"].to_numpy()
    assert scores.shape == (65_536,) and scores.dtype == np.float32
    assert scores.min() >= 2.5 and scores.max() <= 27.75


def test_motifs_are_found_at_the_ends_and_shorter_sequences_score():
    for seq, score in [
        ("AAAAATAT", (20 * 6 + 22) / 8 + 10),
        ("GCGAA", (45 + 40) / 5 - 10),
        ("TA", 15.5),
    ]:
        assert score_seqs([seq])["score"][0] == np.float32(score)


def test_scoring_and_encoding_give_the_shared_errors():
    with pytest.raises(ValueError, match="invalid letter 'N' at position 3"):
        score_seqs(["ACGN"])
    with pytest.raises(ValueError, match="sequence #1 'AXGT' has invalid letter 'X' at position 1"):
        one_hot_seqs(["ACGT", "AXGT"])


def test_one_hot_has_acgt_channels_and_n_as_zeros():
    x = np.asarray(one_hot_seqs(["ACGTN", "acgtn"]))
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


def _frame(n=10, length=4):
    return score_seqs(kmers(length)[:n])


def test_split_sizes_and_datasets():
    train, val, test = quick_split(score_seqs(kmers(8)), tutorial_split(65_536, seed=17))
    assert (len(train), len(val), len(test)) == (41_942, 10_486, 13_108)
    data = SeqDatasetOHE(train)
    x, y = data[jnp.array([0, 5])]
    assert len(data) == 41_942 and x.shape == (2, 8, 4) and y.shape == (2, 1)
    np.testing.assert_array_equal(x[1], one_hot_encode(train["seq"][5]))
    train["label"] = np.arange(len(train)) % 3
    _, labels = SeqDatasetOHE(train, target_col="label")[jnp.array([4])]
    assert labels.dtype == jnp.int32 and labels.shape == (1,) and int(labels[0]) == 1


def test_a_dataset_is_a_pytree_that_compiled_functions_take():
    data = SeqDatasetOHE(_frame())
    leaves = jax.tree_util.tree_leaves(data)
    assert [leaf.shape for leaf in leaves] == [(10, 4, 4), (10, 1)]
    total = jax.jit(lambda d: d[jnp.arange(3)][1].sum())(data)
    np.testing.assert_allclose(total, _frame()["score"][:3].sum(), rtol=1e-6)


def test_batches_are_full_then_a_short_rest_as_in_torch():
    full, rest = DataLoader(SeqDatasetOHE(_frame(10)), batch_size=4).batches()
    np.testing.assert_array_equal(full, [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(rest, [[8, 9]])
    (even,) = DataLoader(SeqDatasetOHE(_frame(8)), batch_size=4).batches()
    assert even.shape == (2, 4)


def _order(batches):
    return np.concatenate([np.ravel(b) for b in batches])


def test_shuffled_batches_are_a_permutation_drawn_from_the_key():
    train_dl, val_dl = build_dataloaders(_frame(10), _frame(10), batch_size=3)
    order = _order(train_dl.batches(jax.random.key(1)))
    np.testing.assert_array_equal(np.sort(order), np.arange(10))
    np.testing.assert_array_equal(order, _order(train_dl.batches(jax.random.key(1))))
    assert not np.array_equal(order, _order(train_dl.batches(jax.random.key(2))))
    assert not val_dl.shuffle  # validation in order, as the notebook's loader
    np.testing.assert_array_equal(_order(val_dl.batches()), np.arange(10))


def test_a_loader_is_data_for_jit_with_its_batch_size_static():
    loader = DataLoader(SeqDatasetOHE(_frame(10)), batch_size=4)
    rows = jax.jit(lambda dl: dl.batches()[0])(loader)
    assert rows.shape == (2, 4)
    with pytest.raises(ValueError, match="batch_size"):
        build_dataloaders(_frame(), _frame(), batch_size=0)
