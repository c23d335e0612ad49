"""Step 6 in the reference: predictions from DNA strings, one batch at a time."""

import numpy as np
import torch

from dna_tutorial.sequences import kmers
from reference_torch import evaluate
from reference_torch.data import one_hot_seqs
from reference_torch.models import build_model


def test_predict_seqs_encodes_one_batch_at_a_time(monkeypatch):
    torch.manual_seed(0)
    model = build_model("cnn", 8)
    seqs = kmers(8)[:1000:37]  # 28 sequences
    predict, rows = evaluate.predict, []
    whole = predict(model, one_hot_seqs(seqs))

    def spy(model, x, *args):
        rows.append(len(x))
        return predict(model, x, *args)

    monkeypatch.setattr(evaluate, "predict", spy)
    chunked = evaluate.predict_seqs(model, seqs, batch_size=10)
    assert rows == [10, 10, 8]  # never more than a batch of one-hot rows
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)
