"""Step 7 in the reference: filter weights and activation counts on inputs
whose answers can be worked out by hand."""

import numpy as np
import pytest
import torch

from reference_torch.data import one_hot_encode
from reference_torch.filters import filter_weights, get_filter_activations
from reference_torch.models import DNA_CNN, DNA_CNN2d, build_model

TAT = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0], [1, 0, 1]], dtype=np.float32)  # (4, k)


def _hand_set(model):
    conv = model.conv_net[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([-1.5, 5.0]))
        w0 = torch.from_numpy(TAT)
        conv.weight[0] = w0 if conv.weight.ndim == 3 else w0.unsqueeze(0)
    return model


@pytest.mark.parametrize("cls", [DNA_CNN, DNA_CNN2d])
def test_counts_collect_the_windows_where_each_filter_fires(cls):
    model = _hand_set(cls(6, num_filters=2))
    counts = get_filter_activations(["TATAAA", "CCCCCC"], model, act_thresh=1.0)
    assert counts.shape == (2, 3, 4) and counts.dtype == np.int64
    # filter 0 scores 3 - 1.5 on TAT only: one window, T then A then T
    np.testing.assert_array_equal(counts[0], TAT.T)
    # filter 1 always fires: every window's letters, 8 windows in all
    expected = sum(one_hot_encode(s)[p : p + 3] for s in ["TATAAA", "CCCCCC"] for p in range(4))
    np.testing.assert_array_equal(counts[1], expected)


@pytest.mark.parametrize("cls", [DNA_CNN, DNA_CNN2d])
def test_filter_weights_are_filters_by_letters_by_positions(cls):
    weights = filter_weights(_hand_set(cls(6, num_filters=2)))
    assert weights.shape == (2, 4, 3)
    np.testing.assert_array_equal(weights[0], TAT)


def _random_seqs(n: int, seq_len: int) -> list[str]:
    return ["".join(s) for s in np.random.default_rng(0).choice(list("ACGT"), (n, seq_len))]


@pytest.mark.parametrize(("name", "seq_len"), [("cnn", 12), ("deep", 20)])
def test_counts_in_batches_add_up_to_the_counts_of_one_batch(name, seq_len):
    torch.manual_seed(0)
    model = build_model(name, seq_len)  # in training mode, as built
    seqs = _random_seqs(10, seq_len)
    whole = get_filter_activations(seqs, model, act_thresh=0.0, batch_size=len(seqs))
    assert whole.sum() > 0
    np.testing.assert_array_equal(get_filter_activations(seqs, model, 0.0, batch_size=4), whole)
