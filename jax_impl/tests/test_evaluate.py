"""Step 6 in JAX: predictions from DNA strings, one batch at a time."""

import jax
import numpy as np

from dna_tutorial.sequences import kmers
from jax_impl import evaluate, fast
from jax_impl.data import one_hot_seqs
from jax_impl.models import build_model


def test_predict_seqs_encodes_one_batch_at_a_time(monkeypatch):
    model = build_model("cnn", 8)
    seqs = kmers(8)[:1000:37]  # 28 sequences
    variables = model.init(jax.random.key(0), one_hot_seqs(seqs[:1]))
    predict, rows = evaluate.predict, []
    whole = predict(model, variables, one_hot_seqs(seqs))

    def spy(model, variables, x, *args):
        rows.append(len(x))
        return predict(model, variables, x, *args)

    monkeypatch.setattr(evaluate, "predict", spy)
    chunked = evaluate.predict_seqs(model, variables, seqs, batch_size=10)
    assert rows == [10, 10, 8]  # never more than a batch of one-hot rows
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-6)


def test_fast_predict_seqs_encodes_one_batch_at_a_time(monkeypatch):
    model = fast.build_model("cnn", 8)
    seqs = kmers(8)[:1000:37]
    variables = model.init(jax.random.key(0), one_hot_seqs(seqs[:1]))
    encode, rows = fast.encode, []

    def spy(seqs):
        rows.append(len(seqs))
        return encode(seqs)

    monkeypatch.setattr(fast, "encode", spy)
    chunked = fast.predict_seqs(model, variables, seqs, batch_size=10)
    assert rows == [10, 10, 8]  # never more than a batch of int8 codes
    whole = evaluate.predict(build_model("cnn", 8), variables, one_hot_seqs(seqs))
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
