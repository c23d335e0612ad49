"""``jax_impl.fast`` equals the textbook lesson it replaces: the CNN's layers, the int8
dataset, the Feistel shuffle and a whole epoch, within the parity tolerances."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from jax_impl import fast
from jax_impl.data import DataLoader, SeqDatasetOHE, one_hot_seqs, quick_split, score_seqs
from jax_impl.evaluate import predict
from jax_impl.models import build_model
from jax_impl.train import create_train_state, train_step, val_step
from parity_tests.tolerances import EPOCH, FORWARD, GRADIENT


def _close(a, b, tol):
    chex.assert_trees_all_close(a, b, rtol=tol.rtol, atol=tol.atol)


def _variables(seq_len, filters, k, name="cnn"):
    model = build_model(name, seq_len, num_filters=filters, kernel_size=k)
    return model.init(jax.random.key(0), jnp.zeros((1, seq_len, 4)))


@pytest.mark.parametrize("name", ["cnn", "classifier"])
@pytest.mark.parametrize(
    ("seq_len", "filters", "k"), [(8, 32, 3), pytest.param(15, 7, 5, marks=pytest.mark.slow)]
)
def test_fast_layers_equal_nn_conv_and_dense(name, seq_len, filters, k):
    textbook = build_model(name, seq_len, num_filters=filters, kernel_size=k)
    quick = fast.build_model(name, seq_len, num_filters=filters, kernel_size=k)
    assert type(quick).__module__ == "jax_impl.fast" and isinstance(quick, type(textbook))
    variables = _variables(seq_len, filters, k, name)
    assert jax.tree.map(jnp.shape, quick.init(jax.random.key(0), jnp.zeros((1, seq_len, 4)))) == (
        jax.tree.map(jnp.shape, variables)
    )
    x = jax.random.normal(jax.random.key(1), (9, seq_len, 4))  # not only one-hot inputs
    _close(quick.apply(variables, x), textbook.apply(variables, x), FORWARD)
    _close(
        quick.apply(variables, x, method="conv_activations"),
        textbook.apply(variables, x, method="conv_activations"),
        FORWARD,
    )

    def grads(model):
        return jax.grad(lambda v: jnp.sum(model.apply(v, x) ** 2))(variables)

    _close(grads(quick), grads(textbook), GRADIENT)


def test_models_without_fast_layers_stay_textbook():
    assert type(fast.build_model("linear", 8)) is type(build_model("linear", 8))
    assert type(fast.build_model("cnn2d", 8)) is type(build_model("cnn2d", 8))


def test_the_codes_dataset_gives_the_one_hot_rows():
    df = score_seqs(["ACGTA", "TTGCA", "AAAAA"])
    df.loc[0, "seq"] = "ACGTN"
    codes, ohe = fast.SeqDatasetCodes(df), SeqDatasetOHE(df)
    assert codes.codes.dtype == jnp.int8 and codes.codes.shape == (3, 5)
    idx = jnp.array([2, 0])
    chex.assert_trees_all_equal(codes[idx], ohe[idx])
    assert len(codes) == 3 and len(jax.tree_util.tree_leaves(codes)) == 2


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 41_942])
def test_shuffled_order_is_a_permutation(n):
    order = np.asarray(fast.shuffled_order(jax.random.key(0), n))
    assert order.dtype == np.int32
    np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_shuffled_order_is_deterministic_per_key_and_varies_across_keys():
    a = np.asarray(fast.shuffled_order(jax.random.key(1), 500))
    b = np.asarray(fast.shuffled_order(jax.random.key(1), 500))
    c = np.asarray(fast.shuffled_order(jax.random.key(2), 500))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.9


@pytest.mark.parametrize("n", [5, 12])
def test_shuffled_order_puts_every_item_everywhere_uniformly(n):
    draws = 20_000
    orders = np.asarray(
        jax.vmap(lambda k: fast.shuffled_order(k, n))(jax.random.split(jax.random.key(3), draws))
    )
    counts = np.stack([np.bincount(orders[:, pos], minlength=n) for pos in range(n)])
    expected = draws / n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = (n - 1) ** 2
    # chi-square with dof degrees of freedom: mean dof, sd sqrt(2 dof); allow 5 sd
    assert chi2 < dof + 5 * np.sqrt(2 * dof)


def test_shuffled_order_refuses_empty():
    with pytest.raises(ValueError, match="cannot shuffle 0 rows"):
        fast.shuffled_order(jax.random.key(0), 0)


def _order(batches):
    return np.concatenate([np.ravel(b) for b in batches])


def test_the_fast_loader_shuffles_with_feistel_and_keeps_the_batches_shape():
    df = score_seqs(kmers(3))
    train_dl, val_dl = fast.build_dataloaders(df, df, batch_size=10)
    key = jax.random.key(4)
    full, rest = train_dl.batches(key)
    np.testing.assert_array_equal(_order([full, rest]), fast.shuffled_order(key, 64))
    assert full.shape == (6, 10) and rest.shape == (1, 4)
    np.testing.assert_array_equal(_order(val_dl.batches()), np.arange(64))


def test_one_fast_epoch_equals_one_textbook_epoch_on_the_same_batches():
    train_df, val_df, _ = quick_split(score_seqs(kmers(6)), tutorial_split(4096, seed=17))
    train, val = SeqDatasetOHE(train_df), SeqDatasetOHE(val_df)
    ftrain, fval = fast.SeqDatasetCodes(train_df), fast.SeqDatasetCodes(val_df)
    textbook, quick = build_model("cnn", 6), fast.build_model("cnn", 6)
    state = create_train_state(textbook, jax.random.key(0), train.ohe_seqs[:1])
    fstate = state.replace(apply_fn=quick.apply)
    key = jax.random.key(1)
    a, loss_a = train_step(state, DataLoader(train, 64), key)  # unshuffled: the same batches
    b, loss_b = train_step(fstate, fast.DataLoader(ftrain, 64), key)
    _close(b.params, a.params, EPOCH)
    _close(loss_b, loss_a, EPOCH)
    _close(val_step(b, fast.DataLoader(fval, 64)), val_step(a, DataLoader(val, 64)), EPOCH)


def test_predict_seqs_equals_the_textbook_predictions():
    variables = _variables(8, 32, 3)
    seqs = kmers(8)[:1000:7]
    _close(
        fast.predict_seqs(fast.build_model("cnn", 8), variables, seqs, batch_size=50),
        predict(build_model("cnn", 8), variables, one_hot_seqs(seqs)),
        FORWARD,
    )


def test_both_implementations_are_offered_under_their_names():
    assert set(fast.VARIANTS) == {"textbook", "fast"}
    df = score_seqs(["ACGT", "TTTT", "GGGG"])
    for variant in fast.VARIANTS.values():
        train_dl, _ = variant.build_dataloaders(df, df, batch_size=2)
        xb, yb = train_dl.batch(jnp.arange(2))
        assert xb.shape == (2, 4, 4) and xb.dtype == jnp.float32 and yb.shape == (2, 1)
        model = variant.build_model("cnn", 4)
        state = create_train_state(model, jax.random.key(0), xb)
        assert variant.predict_seqs(model, state.variables, ["ACGT"]).shape == (1, 1)


def test_long_sequences_in_big_batches_run_in_pieces_with_the_same_maths():
    length, n = 300, 256  # 38 KB of conv output a row: 4 pieces of 64 rows
    assert fast.chunk_rows(n, 4 * 32 * (length - 2)) == 64
    assert fast.chunk_rows(982, 4 * 32 * (length - 2)) == 982  # no power of two fits: whole
    assert fast.chunk_rows(128, 4 * 32 * 6) == 128  # small activations: whole
    textbook, quick = build_model("cnn", length), fast.build_model("cnn", length)
    variables = textbook.init(jax.random.key(0), jnp.zeros((1, length, 4)))
    x = jax.nn.one_hot(jax.random.randint(jax.random.key(1), (n, length), 0, 4), 4)
    _close(quick.apply(variables, x), textbook.apply(variables, x), FORWARD)

    def grads(model):  # of a mean-squared loss, as in training
        return jax.grad(lambda v: jnp.mean(model.apply(v, x) ** 2))(variables)

    _close(grads(quick), grads(textbook), GRADIENT)
