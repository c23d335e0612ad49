# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Modeling DNA sequences with JAX: the functional port
#
# The tutorial *Modeling DNA sequences with PyTorch*, step by step, with this project's
# JAX/Flax port (`jax_impl/`, the lesson as written). Its twin, `1_pytorch.ipynb`, takes the
# same steps with PyTorch: **cell n of one notebook is cell n of the other**. The prose
# here says what changed from the torch notebook and why.
#
# Every cell that teaches a function shows that function's source from the package
# (`show(...)`), and every computation calls the package: what you read is what runs.
# The tutorial trains for 50 epochs; set the environment variable `DNA_TUTORIAL_EPOCHS`
# to train for fewer (the test suite uses 2).

# %%
import jax
import jax.numpy as jnp
import numpy as np

from dna_tutorial.app import plots
from dna_tutorial.app.notebook import epochs, figures, image, show
from dna_tutorial.recipe import sample_seqs, score_classes, tutorial_split
from dna_tutorial.sequences import kmers
from dna_tutorial.spec import ACT_THRESH, CLASS_NAMES, NUM_LOGO_SEQS, SEED
from jax_impl import data, evaluate, filters, interpret, models, train

EPOCHS, FIGURES = epochs(), figures()
key = data.set_seed(SEED)  # no global state: a key, passed to whatever needs randomness
print(f"training for {EPOCHS} epochs; jax {jax.__version__}")

# %% [markdown]
# ## 1. Synthetic data
#
# The same rule, vectorised: letters are looked up in an array and motifs found with
# array comparisons instead of Python's `in`. The scores are identical to the torch
# port's (a parity row).

# %%
show(data.score_seqs)

# %%
df = data.score_seqs(kmers(8))
print(f"{len(df):,} sequences")
df.head()

# %%
image(plots.score_histogram(df["score"].to_numpy(), FIGURES / "scores.png"))

# %% [markdown]
# ## 2. Preparing the data
#
# The split is the same recipe, so the same rows land in each part. There is no
# `DataLoader` to import: `jax_impl.data.DataLoader` is a small description (a dataset, a
# batch size, shuffle or not) whose `batches(key)` draws an epoch's order from a key.

# %%
show(data.one_hot_encode, data.quick_split)

# %%
train_df, val_df, test_df = data.quick_split(df, tutorial_split(len(df)))
print(len(train_df), len(val_df), len(test_df))

# %%
show(data.SeqDatasetOHE, data.build_dataloaders)

# %%
train_dl, val_dl = data.build_dataloaders(train_df, val_df)
xb, yb = train_dl.batch(jnp.arange(train_dl.batch_size))
print(xb.shape, xb.dtype, yb.shape)

# %% [markdown]
# ## 3. Models
#
# A Flax module is a frozen dataclass that only describes the computation: `init`
# creates the parameters as a separate nested dict, `apply` runs the model on them.

# %%
show(models.DNA_Linear, models.DNA_CNN)

# %%
linear, cnn = models.DNA_Linear(8), models.DNA_CNN(8)
for name, model in (("linear", linear), ("cnn", cnn)):
    params = model.init(key, xb)["params"]
    print(name, sum(p.size for p in jax.tree.leaves(params)), "parameters")
jax.tree.map(jnp.shape, cnn.init(key, xb)["params"])

# %% [markdown]
# ## 4. Training functions
#
# The same names and meanings, as functions of a `TrainState` (parameters, optimizer
# state, step): `loss_batch` returns a new state instead of stepping in place,
# `train_step` compiles the epoch's loop with `jax.lax.scan`, `run_model` takes a key.

# %%
show(train.loss_batch, train.train_step, train.val_step, train.fit, train.run_model)

# %% [markdown]
# ## 5. Running the models

# %%
key = data.set_seed(SEED)
linear = models.DNA_Linear(8)
linear_state, linear_history = train.run_model(
    train_dl, val_dl, linear, key, epochs=EPOCHS, progress=False
)
cnn = models.DNA_CNN(8)
cnn_state, cnn_history = train.run_model(train_dl, val_dl, cnn, key, epochs=EPOCHS, progress=False)
print(f"final validation loss: linear {linear_history.val[-1]:.3f}, cnn {cnn_history.val[-1]:.3f}")

# %%
histories = {
    name: {"train": h.train, "val": h.val, "task": "regress"}
    for name, h in (("linear", linear_history), ("cnn", cnn_history))
}
image(plots.loss_curves(histories, FIGURES / "losses.png"))

# %% [markdown]
# ## 6. Test-set predictions
#
# The model and its variables travel separately: every function takes both.

# %%
show(evaluate.parity_pred, evaluate.quick_seq_pred)

# %%
trained = {"linear": (linear, linear_state.variables), "cnn": (cnn, cnn_state.variables)}
for name, (model, variables) in trained.items():
    r2, table = evaluate.parity_pred(model, variables, test_df)
    path = FIGURES / f"parity_{name}.png"
    image(plots.parity_plot(name, table["truth"].values, table["pred"].values, r2, path))

# %%
evaluate.quick_seq_pred(trained).round(2)

# %% [markdown]
# ## 7. What the filters learned
#
# Flax stores a convolution's kernel as (k, 4, F) where torch has (F, 4, k);
# `filter_weights` returns the notebook's (F, 4, k) either way.

# %%
show(filters.filter_weights, filters.get_filter_activations)

# %%
image(plots.filter_heatmaps(filters.filter_weights(cnn_state.variables), FIGURES / "weights.png"))
logo_seqs = sample_seqs(df["seq"].tolist(), NUM_LOGO_SEQS, seed=SEED)
counts = filters.get_filter_activations(logo_seqs, cnn, cnn_state.variables, ACT_THRESH)
image(plots.filter_logos(counts, FIGURES / "logos.png"))

# %% [markdown]
# ## 8. Conclusions
#
# The same conclusions as the torch notebook: the CNN finds the motifs wherever they
# sit, and its first-layer filters are only sometimes readable (Koo & Eddy 2019,
# reproduced in both ports in `experiments/results/koo_eddy.md`). Section 9 asks the
# question with numbers.

# %% [markdown]
# ## Footnote 1: a Conv2d does the same
#
# Flax convolves channels-last: the one-hot matrix becomes a (4, L, 1) image.

# %%
show(models.DNA_CNN2d)

# %%
cnn2d = models.DNA_CNN2d(8)
cnn2d_state, _ = train.run_model(train_dl, val_dl, cnn2d, key, epochs=EPOCHS, progress=False)
print(f"Conv2d test R²: {evaluate.parity_pred(cnn2d, cnn2d_state.variables, test_df)[0]:.3f}")

# %% [markdown]
# ## Footnote 2: the scores as three classes
#
# A loss is a function here (`train.cross_entropy_loss`), not an `nn.Module`.

# %%
show(models.DNA_CNNClassifier)

# %%
for frame in (train_df, val_df, test_df):
    frame["label"] = score_classes(frame["score"].to_numpy())
class_dl, class_val_dl = data.build_dataloaders(train_df, val_df, target_col="label")
classifier = models.DNA_CNNClassifier(8)
class_state, _ = train.run_model(
    class_dl, class_val_dl, classifier, key, epochs=EPOCHS, loss_func=train.cross_entropy_loss,
    progress=False,
)  # fmt: skip
logits = evaluate.predict_seqs(classifier, class_state.variables, test_df["seq"].tolist())
confusion = np.zeros((3, 3), dtype=np.int64)
np.add.at(confusion, (test_df["label"].to_numpy(), logits.argmax(axis=1)), 1)
image(plots.confusion_plot(confusion, CLASS_NAMES, FIGURES / "confusion.png"))

# %% [markdown]
# ## 9. What did the CNN learn?
#
# ISM builds the mutants with two `jax.vmap`s over (position, base) instead of indexing
# a batch in place, and saliency is `jax.grad` of the summed outputs with respect to the
# input. The insertion test is the same framework-free code as in the torch notebook.

# %%
show(interpret.ism, interpret.saliency, interpret.simplex_correction)

# %%
from dna_tutorial.insertion import attribution_seqs, insertion_effects, insertion_table

spots = attribution_seqs(8, [])
x = data.one_hot_seqs(spots)
effects = np.asarray(interpret.ism(cnn, cnn_state.variables, x))
image(plots.ism_maps(spots, effects, FIGURES / "ism.png", "cnn: ISM"))
grads = interpret.saliency(cnn, cnn_state.variables, x)
corrected = np.asarray(interpret.simplex_correction(grads) * x)
image(plots.attribution_logos(spots[4:8], corrected[4:8], FIGURES / "attr.png", "cnn: saliency"))

# %%
for name, (model, variables) in trained.items():
    predict = lambda s, m=model, v=variables: evaluate.predict_seqs(m, v, s)[:, 0]
    print(name)
    print(insertion_table(insertion_effects(predict, 8)).round(2).to_string(index=False))

# %% [markdown]
# ## 10. The second lesson: a deeper CNN with state
#
# The same blocks. The state lives elsewhere: BatchNorm's running statistics are the
# `batch_stats` collection, returned by every training-mode call and carried in the
# `TrainState`; dropout draws from a key per step; AdamW's moments are optax's state in
# the `TrainState`, and the schedule is a function of its step count; the mode is the
# `train` argument of every call.

# %%
from dna_tutorial.spec import ADAMW_LR, SCHEDULE, WARMUP_EPOCHS

show(models.ConvBlock, models.DNA_DeepCNN, train.make_optimizer)

# %%
deep = models.build_model("deep", 8)
opt = train.make_optimizer("adamw", ADAMW_LR, epochs=EPOCHS, steps_per_epoch=len(train_dl))
deep_state, deep_history = train.run_model(
    train_dl, val_dl, deep, key, epochs=EPOCHS, opt=opt, progress=False
)
print(f"deep test R²: {evaluate.parity_pred(deep, deep_state.variables, test_df)[0]:.3f}")

# %%
stats = deep_state.batch_stats["blocks_0"]["bn"]
print("running mean (batch_stats):", np.asarray(stats["mean"][:4]))
print("AdamW's state:", [type(s).__name__ for s in deep_state.opt_state])
rate = train.learning_rate(ADAMW_LR, SCHEDULE, WARMUP_EPOCHS, EPOCHS, len(train_dl))
print("learning rate now:", float(rate(deep_state.step)), "mode: an argument")
