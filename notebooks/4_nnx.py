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
# # Modeling DNA sequences with Flax NNX: objects on JAX
#
# The tutorial *Modeling DNA sequences with PyTorch*, step by step, with this project's
# Flax NNX port (`nnx_impl/`), the API Flax now teaches. It sits between its twins:
# `1_pytorch.ipynb` (objects, eager) and `2_jax.ipynb` (Flax Linen: pure functions);
# **cell n of each notebook is cell n of the others**. The prose here says what changed
# from the torch notebook and why; mostly, less than the Linen notebook changed.
#
# Every cell that teaches a function shows that function's source from the package
# (`show(...)`), and every computation calls the package: what you read is what runs.
# The tutorial trains for 50 epochs; set the environment variable `DNA_TUTORIAL_EPOCHS`
# to train for fewer (the test suite uses 2).

# %%
import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dna_tutorial.app import plots
from dna_tutorial.app.notebook import epochs, figures, image, show
from dna_tutorial.recipe import sample_seqs, score_classes, tutorial_split
from dna_tutorial.sequences import kmers
from dna_tutorial.spec import ACT_THRESH, CLASS_NAMES, NUM_LOGO_SEQS, SEED
from nnx_impl import data, evaluate, filters, interpret, models, train

EPOCHS, FIGURES = epochs(), figures()
key = data.set_seed(SEED)  # shuffling draws from a key; the models hold their own nnx.Rngs
print(f"training for {EPOCHS} epochs; jax {jax.__version__}, flax {flax.__version__}")

# %% [markdown]
# ## 1. Synthetic data
#
# The data steps are the Linen port's own (`nnx_impl.data` re-exports `jax_impl.data`):
# arrays in, arrays out, nothing for objects to add. The scores are identical to the
# torch port's (a parity row).

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
# The same split, so the same rows land in each part, and the same small `DataLoader`:
# a dataset, a batch size, shuffle or not; `batches(key)` draws an epoch's order.

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
# As in torch, a model is an object that holds its parameters: `__init__` takes the
# sizes and builds the layers (drawing their weights from an `nnx.Rngs`), `__call__`
# runs them. The parameters are `nnx.Param` attributes; `nnx.state` lists them.

# %%
show(models.DNA_Linear, models.DNA_CNN)

# %%
linear, cnn = models.DNA_Linear(8, rngs=nnx.Rngs(SEED)), models.DNA_CNN(8, rngs=nnx.Rngs(SEED))
for name, model in (("linear", linear), ("cnn", cnn)):
    params = nnx.state(model, nnx.Param)
    print(name, sum(p.size for p in jax.tree.leaves(params)), "parameters")
jax.tree.map(jnp.shape, nnx.state(cnn, nnx.Param))

# %% [markdown]
# ## 4. Training functions
#
# The same names and meanings, on objects: `loss_batch` steps the model in place through
# an `nnx.Optimizer`, as torch's `opt.step()` does. JAX adds a compile boundary, crossed
# two ways: `train_batch` is one step under `nnx.jit`; `train_step` compiles the whole
# epoch (`nnx.split` once, a `lax.scan` of pure steps under `jax.jit`, `nnx.update` once).

# %%
show(train.loss_batch, train.train_batch, train.train_step, train.val_step, train.fit,
     train.run_model)  # fmt: skip

# %% [markdown]
# ## 5. Running the models

# %%
key = data.set_seed(SEED)
linear = models.DNA_Linear(8, rngs=nnx.Rngs(SEED))
linear_history = train.run_model(train_dl, val_dl, linear, key, epochs=EPOCHS, progress=False)
cnn = models.DNA_CNN(8, rngs=nnx.Rngs(SEED))
cnn_history = train.run_model(train_dl, val_dl, cnn, key, epochs=EPOCHS, progress=False)
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
# The model carries its weights, as in torch: every function takes the model alone.

# %%
show(evaluate.parity_pred, evaluate.quick_seq_pred)

# %%
trained = {"linear": linear, "cnn": cnn}
for name, model in trained.items():
    r2, table = evaluate.parity_pred(model, test_df)
    path = FIGURES / f"parity_{name}.png"
    image(plots.parity_plot(name, table["truth"].values, table["pred"].values, r2, path))

# %%
evaluate.quick_seq_pred(trained).round(2)

# %% [markdown]
# ## 7. What the filters learned
#
# `nnx.Conv` keeps Flax's kernel layout, (k, 4, F) where torch has (F, 4, k);
# `filter_weights` returns the notebook's (F, 4, k) either way.

# %%
show(filters.filter_weights, filters.get_filter_activations)

# %%
image(plots.filter_heatmaps(filters.filter_weights(cnn), FIGURES / "weights.png"))
logo_seqs = sample_seqs(df["seq"].tolist(), NUM_LOGO_SEQS, seed=SEED)
counts = filters.get_filter_activations(logo_seqs, cnn, ACT_THRESH)
image(plots.filter_logos(counts, FIGURES / "logos.png"))

# %% [markdown]
# ## 8. Conclusions
#
# The same conclusions as the torch notebook: the CNN finds the motifs wherever they
# sit, and its first-layer filters are only sometimes readable (Koo & Eddy 2019,
# reproduced in `experiments/results/koo_eddy.md`). Section 9 asks the question with
# numbers.

# %% [markdown]
# ## Footnote 1: a Conv2d does the same
#
# NNX convolves channels-last, as Linen does: the one-hot matrix becomes a (4, L, 1) image.

# %%
show(models.DNA_CNN2d)

# %%
cnn2d = models.DNA_CNN2d(8, rngs=nnx.Rngs(SEED))
train.run_model(train_dl, val_dl, cnn2d, key, epochs=EPOCHS, progress=False)
print(f"Conv2d test R²: {evaluate.parity_pred(cnn2d, test_df)[0]:.3f}")

# %% [markdown]
# ## Footnote 2: the scores as three classes
#
# A loss is a function (`train.cross_entropy_loss`), as in the Linen port.

# %%
show(models.DNA_CNNClassifier)

# %%
for frame in (train_df, val_df, test_df):
    frame["label"] = score_classes(frame["score"].to_numpy())
class_dl, class_val_dl = data.build_dataloaders(train_df, val_df, target_col="label")
classifier = models.DNA_CNNClassifier(8, rngs=nnx.Rngs(SEED))
train.run_model(
    class_dl, class_val_dl, classifier, key, epochs=EPOCHS, loss_func=train.cross_entropy_loss,
    progress=False,
)  # fmt: skip
logits = evaluate.predict_seqs(classifier, test_df["seq"].tolist())
confusion = np.zeros((3, 3), dtype=np.int64)
np.add.at(confusion, (test_df["label"].to_numpy(), logits.argmax(axis=1)), 1)
image(plots.confusion_plot(confusion, CLASS_NAMES, FIGURES / "confusion.png"))

# %% [markdown]
# ## 9. What did the CNN learn?
#
# ISM and saliency as in the Linen port (two `jax.vmap`s over the mutants, `jax.grad`
# with respect to the input), each under `nnx.jit` with the model passed in whole. The
# insertion test is the same framework-free code as in the torch notebook.

# %%
show(interpret.ism, interpret.saliency, interpret.simplex_correction)

# %%
from dna_tutorial.insertion import attribution_seqs, insertion_effects, insertion_table

spots = attribution_seqs(8, [])
x = data.one_hot_seqs(spots)
effects = np.asarray(interpret.ism(cnn, x))
image(plots.ism_maps(spots, effects, FIGURES / "ism.png", "cnn: ISM"))
grads = interpret.saliency(cnn, x)
corrected = np.asarray(interpret.simplex_correction(grads) * x)
image(plots.attribution_logos(spots[4:8], corrected[4:8], FIGURES / "attr.png", "cnn: saliency"))

# %%
for name, model in trained.items():
    predict = lambda s, m=model: evaluate.predict_seqs(m, s)[:, 0]
    print(name)
    print(insertion_table(insertion_effects(predict, 8)).round(2).to_string(index=False))

# %% [markdown]
# ## 10. The second lesson: a deeper CNN with state
#
# The same blocks, and the state where torch keeps it: BatchNorm's running statistics
# are `nnx.BatchStat` attributes of the model, updated in place in training mode (inside
# `nnx.jit`); dropout draws from the model's own `nnx.Rngs`; AdamW's moments live in the
# `nnx.Optimizer`, whose step count drives the schedule; `model.train()` and
# `model.eval()` set the mode.

# %%
from dna_tutorial.spec import ADAMW_LR, SCHEDULE, WARMUP_EPOCHS

show(models.ConvBlock, models.DNA_DeepCNN, train.make_optimizer)

# %%
deep = models.build_model("deep", 8)
opt = train.make_optimizer(deep, "adamw", ADAMW_LR, epochs=EPOCHS, steps_per_epoch=len(train_dl))
deep_history = train.run_model(train_dl, val_dl, deep, key, epochs=EPOCHS, opt=opt, progress=False)
print(f"deep test R²: {evaluate.parity_pred(deep, test_df)[0]:.3f}")

# %%
stats = deep.blocks[0].bn
print("running mean (nnx.BatchStat):", np.asarray(stats.mean[...][:4]))
print("AdamW's state:", [type(s).__name__ for s in opt.opt_state])
rate = train.learning_rate(ADAMW_LR, SCHEDULE, WARMUP_EPOCHS, EPOCHS, len(train_dl))
mode = "eval" if stats.use_running_average else "train"
print("learning rate now:", float(rate(opt.step[...])), "mode:", mode, "(an attribute)")
