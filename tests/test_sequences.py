"""The shared sequence helpers: k-mers, validation messages and integer codes."""

import numpy as np
import pytest

from dna_tutorial.sequences import check_lengths, count_motif, decode_codes, encode_codes, kmers


def test_kmers_are_all_4_to_the_k_in_lexicographic_order():
    assert kmers(2) == [a + b for a in "ACGT" for b in "ACGT"]
    eight = kmers(8)
    assert len(eight) == 65_536 == len(set(eight))
    assert eight[0] == "AAAAAAAA" and eight[1] == "AAAAAAAC" and eight[-1] == "TTTTTTTT"


def test_kmers_rejects_nonpositive_k():
    with pytest.raises(ValueError, match="positive"):
        kmers(0)


def test_codes_follow_the_alphabet_order_and_n_is_four():
    codes = encode_codes(["ACGTN", "TTTTA"])
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, [[0, 1, 2, 3, 4], [3, 3, 3, 3, 0]])
    assert decode_codes(codes) == ["ACGTN", "TTTTA"]


def test_lowercase_is_read_as_uppercase():
    np.testing.assert_array_equal(encode_codes(["acgtn"]), encode_codes(["ACGTN"]))


@pytest.mark.parametrize(
    ("seqs", "message"),
    [
        (["ACGT", "ACXT"], r"sequence #1 'ACXT' has invalid letter 'X' at position 2"),
        (["ACG-"], r"invalid letter '-' at position 3"),
        (["ACGé"], r"invalid letter 'é' at position 3"),
        (["AC T"], r"invalid letter ' ' at position 2"),
        ([], r"no sequences"),
        (["ACGT", ""], r"sequence #1 is empty"),
        (["ACGT", "ACG"], r"same length: sequence #0 has 4, sequence #1 'ACG' has 3"),
    ],
)
def test_bad_sequences_raise_errors_naming_the_problem(seqs, message):
    with pytest.raises(ValueError, match=message):
        encode_codes(seqs)


def test_n_can_be_refused_for_scoring():
    with pytest.raises(ValueError, match=r"invalid letter 'N' at position 1.*A, C, G, T "):
        encode_codes(["AN"], allow_unknown=False)


def test_long_sequences_are_shortened_in_messages():
    with pytest.raises(ValueError) as err:
        encode_codes(["A" * 100 + "Z"])
    assert "..." in str(err.value) and "position 100" in str(err.value)


def test_check_lengths_returns_the_common_length():
    assert check_lengths(["AC", "GT"]) == 2


def test_count_motif_counts_overlapping_occurrences():
    np.testing.assert_array_equal(
        count_motif(["TATAT", "AAAA", "tat", "GCGCG"], "TAT"), [2, 0, 1, 0]
    )
    assert count_motif(["GCGCG"], "GCG")[0] == 2
