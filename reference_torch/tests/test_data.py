"""Steps 1-2 in the reference: scoring, one-hot encoding, splitting and loading."""

import numpy as np
import pytest
import torch

from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from reference_torch.data import (
    SeqDatasetOHE,
    build_dataloaders,
    one_hot_encode,
    quick_split,
    score_seqs,
)


def split_frames(df, seed):
    return quick_split(df, tutorial_split(len(df), seed=seed))


@pytest.mark.parametrize(
    ("seq", "score"),
    [
        ("AAAAAAAA", 20.0),
        ("ACAAAAAA", 19.625),  # (7*20 + 17) / 8
        ("TTTTTTTT", 11.0),
        ("TATAAAAA", (20 * 6 + 11 * 2) / 8 + 10),  # TAT: +10
        ("AAGCGAAA", (20 * 5 + 17 + 14 * 2) / 8 - 10),  # GCG: -10
        ("TATGCGAA", (20 * 3 + 11 * 2 + 17 + 14 * 2) / 8),  # both cancel
        ("TATATATA", (20 * 4 + 11 * 4) / 8 + 10),  # several TATs count once
    ],
)
def test_scores_of_hand_checked_sequences(seq, score):
    assert score_seqs([seq])["score"].item() == pytest.approx(score, abs=0)


def test_scores_of_all_8mers_fall_in_three_groups():
    df = score_seqs(kmers(8))
    assert len(df) == 65_536 and df["score"].dtype == np.float32
    with_tat = df["seq"].str.contains("TAT") & ~df["seq"].str.contains("GCG")
    with_gcg = df["seq"].str.contains("GCG") & ~df["seq"].str.contains("TAT")
    assert (df.loc[with_tat, "score"] > 20).all() and (df.loc[with_gcg, "score"] < 10).all()
    assert df.loc[~with_tat & ~with_gcg, "score"].between(11, 20).all()


def test_scoring_refuses_n_and_bad_letters():
    with pytest.raises(ValueError, match="invalid letter 'N'"):
        score_seqs(["ACGN"])
    with pytest.raises(ValueError, match="invalid letter 'U' at position 0"):
        score_seqs(["UCGA"])


def test_one_hot_has_acgt_channels_and_n_as_zeros():
    x = one_hot_encode("ACGTN")
    assert x.shape == (5, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x, np.vstack([np.eye(4), np.zeros((1, 4))]))


def test_one_hot_accepts_lowercase_and_names_bad_letters():
    np.testing.assert_array_equal(one_hot_encode("acgt"), np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="invalid letter 'X' at position 2"):
        one_hot_encode("ACXT")


def test_split_frames_are_the_notebooks_sizes_and_disjoint():
    train, val, test = split_frames(score_seqs(kmers(8)), seed=17)
    assert (len(train), len(val), len(test)) == (41_942, 10_486, 13_108)
    assert not set(train["seq"]) & set(val["seq"]) and not set(train["seq"]) & set(test["seq"])


def test_dataset_yields_one_hot_and_targets_of_the_right_dtype():
    df = score_seqs(["ACGT", "TTTT"])
    ds = SeqDatasetOHE(df)
    x, y = ds[1]
    assert len(ds) == 2 and x.shape == (4, 4) and y.shape == (1,) and y.dtype == torch.float32
    df["label"] = np.array([0, 2])
    _, label = SeqDatasetOHE(df, target_col="label")[1]
    assert label.dtype == torch.int64 and label.item() == 2


def test_dataset_refuses_mixed_lengths():
    df = score_seqs(["ACGT"])
    df.loc[1] = ["ACG", 1.0]
    with pytest.raises(ValueError, match="same length"):
        SeqDatasetOHE(df)


def test_dataloaders_batch_and_shuffle_training_only():
    train, val, _ = split_frames(score_seqs(kmers(4)), seed=0)
    train_dl, val_dl = build_dataloaders(train, val, batch_size=32)
    xb, yb = next(iter(train_dl))
    assert xb.shape == (32, 4, 4) and yb.shape == (32, 1)
    first, again = next(iter(val_dl))[1], next(iter(val_dl))[1]
    assert torch.equal(first, again)  # validation is not shuffled
    with pytest.raises(ValueError, match="batch_size"):
        build_dataloaders(train, val, batch_size=0)


def test_vectorised_scoring_equals_the_notebooks_loop():
    from dna_tutorial.sequences import encode_codes
    from reference_torch.data import score_codes

    seqs = kmers(8)
    np.testing.assert_array_equal(
        score_codes(encode_codes(seqs)).numpy(), score_seqs(seqs)["score"].to_numpy()
    )


def test_per_occurrence_bonuses_count_every_motif():
    from dna_tutorial.sequences import encode_codes
    from reference_torch.data import score_codes

    codes = encode_codes(["TATATAAA", "GCGCGTAT"])  # TAT twice; GCG twice and TAT once
    once = score_codes(codes).numpy()
    each = score_codes(codes, per_occurrence=True).numpy()
    np.testing.assert_array_equal(each - once, np.float32([10, -10]))
