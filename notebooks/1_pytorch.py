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
# # Modeling DNA sequences with PyTorch: the reference
#
# The tutorial *Modeling DNA sequences with PyTorch*, step by step, with this project's
# PyTorch port (`reference_torch/`). Its twin, `2_jax.ipynb`, takes the same steps with JAX
# and Flax: **cell n of one notebook is cell n of the other**, so open them side by side.
#
# Every cell that teaches a function shows that function's source from the package
# (`show(...)`), and every computation calls the package: what you read is what runs.
# The tutorial trains for 50 epochs; set the environment variable `DNA_TUTORIAL_EPOCHS`
# to train for fewer (the test suite uses 2).

# %%
import numpy as np
import torch
from torch import nn

from dna_tutorial.app import plots
from dna_tutorial.app.notebook import epochs, figures, image, show
from dna_tutorial.recipe import sample_seqs, score_classes, tutorial_split
from dna_tutorial.sequences import kmers
from dna_tutorial.spec import ACT_THRESH, CLASS_NAMES, NUM_LOGO_SEQS, SEED
from reference_torch import data, evaluate, filters, interpret, models, train

EPOCHS, FIGURES = epochs(), figures()
data.set_seed(SEED)
print(f"training for {EPOCHS} epochs; torch {torch.__version__}")

# %% [markdown]
# ## 1. Synthetic data
#
# Every 8-mer gets a score: the mean of its letters' points (A 20, C 17, G 14, T 11),
# plus 10 if it contains TAT and minus 10 if it contains GCG. A model that reads the
# sequence should find both motifs.

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
# One-hot encoding turns a sequence into an (L, 4) matrix; the split keeps 20% for the
# test set and 16% for validation. A `Dataset` hands out (one-hot, score) pairs and a
# `DataLoader` batches and shuffles them.

# %%
show(data.one_hot_encode, data.quick_split)

# %%
train_df, val_df, test_df = data.quick_split(df, tutorial_split(len(df)))
print(len(train_df), len(val_df), len(test_df))

# %%
show(data.SeqDatasetOHE, data.build_dataloaders)

# %%
train_dl, val_dl = data.build_dataloaders(train_df, val_df)
xb, yb = next(iter(train_dl))
print(xb.shape, xb.dtype, yb.shape)

# %% [markdown]
# ## 3. Models
#
# A linear model that sees every (position, letter) once, and a CNN: 32 filters of width
# 3 slide along the sequence, a ReLU, then a linear layer reads their outputs. In
# PyTorch a model is an object that creates and holds its parameters.

# %%
show(models.DNA_Linear, models.DNA_CNN)

# %%
linear, cnn = models.DNA_Linear(8), models.DNA_CNN(8)
for name, model in (("linear", linear), ("cnn", cnn)):
    print(name, sum(p.numel() for p in model.parameters()), "parameters")
cnn

# %% [markdown]
# ## 4. Training functions
#
# `loss_batch` computes one batch's loss and, given an optimizer, steps it;
# `train_step` is one epoch, `val_step` one pass over the validation set, `fit` the
# loop (with early stopping, which the tutorial's patience never triggers), and
# `run_model` the notebook's entry point (SGD, MSE).

# %%
show(train.loss_batch, train.train_step, train.val_step, train.fit, train.run_model)

# %% [markdown]
# ## 5. Running the models

# %%
data.set_seed(SEED)
linear = models.DNA_Linear(8)
linear_history = train.run_model(train_dl, val_dl, linear, epochs=EPOCHS, progress=False)
data.set_seed(SEED)
cnn = models.DNA_CNN(8)
cnn_history = train.run_model(train_dl, val_dl, cnn, epochs=EPOCHS, progress=False)
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
# R² on the test set, a parity plot, and the notebook's spot checks: sequences with
# neither motif, with TAT, with GCG and with both.

# %%
show(evaluate.parity_pred, evaluate.quick_seq_pred)

# %%
for name, model in (("linear", linear), ("cnn", cnn)):
    r2, table = evaluate.parity_pred(model, test_df)
    path = FIGURES / f"parity_{name}.png"
    image(plots.parity_plot(name, table["truth"].values, table["pred"].values, r2, path))

# %%
evaluate.quick_seq_pred({"linear": linear, "cnn": cnn}).round(2)

# %% [markdown]
# ## 7. What the filters learned
#
# The first layer's weights as heatmaps, then each filter's position weight matrix:
# the letters of the windows where it fires above a threshold, drawn as a logo.

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
# The CNN beats the linear model because a filter can respond to TAT or GCG wherever it
# sits; a linear model can only weigh letters at fixed positions. Some filters' logos
# show TAT or GCG, others a mixture: first-layer filters are not always readable (Koo &
# Eddy 2019, reproduced in `experiments/results/koo_eddy.md`). Section 9 asks the
# question with numbers.

# %% [markdown]
# ## Footnote 1: a Conv2d does the same
#
# A (4, k) kernel sliding over the (4, L) "image" of the one-hot matrix can only move
# along the sequence: it is a Conv1d.

# %%
show(models.DNA_CNN2d)

# %%
data.set_seed(SEED)
cnn2d = models.DNA_CNN2d(8)
train.run_model(train_dl, val_dl, cnn2d, epochs=EPOCHS, progress=False)
print(f"Conv2d test R²: {evaluate.parity_pred(cnn2d, test_df)[0]:.3f}")

# %% [markdown]
# ## Footnote 2: the scores as three classes
#
# GCG pushes a score to 10 or below, TAT above 20: three classes, learned with
# cross-entropy.

# %%
show(models.DNA_CNNClassifier)

# %%
for frame in (train_df, val_df, test_df):
    frame["label"] = score_classes(frame["score"].to_numpy())
class_dl, class_val_dl = data.build_dataloaders(train_df, val_df, target_col="label")
data.set_seed(SEED)
classifier = models.DNA_CNNClassifier(8)
train.run_model(
    class_dl,
    class_val_dl,
    classifier,
    epochs=EPOCHS,
    loss_func=nn.CrossEntropyLoss(),
    progress=False,
)
predicted = evaluate.predict_seqs(classifier, test_df["seq"].tolist()).argmax(axis=1)
confusion = np.zeros((3, 3), dtype=np.int64)
np.add.at(confusion, (test_df["label"].to_numpy(), predicted), 1)
image(plots.confusion_plot(confusion, CLASS_NAMES, FIGURES / "confusion.png"))

# %% [markdown]
# ## 9. What did the CNN learn?
#
# Attribution asks which bases drive a prediction. In-silico saturation mutagenesis (ISM)
# changes every base to every other and records the change in output; saliency is the
# gradient with respect to the input. Because the truth is known (+10 for TAT, -10 for
# GCG), it can also be checked: write each motif into backgrounds that hold neither, at
# every position, and compare the predicted shift with the rule's.

# %%
show(interpret.ism, interpret.saliency, interpret.simplex_correction)

# %%
from dna_tutorial.insertion import attribution_seqs, insertion_effects, insertion_table

spots = attribution_seqs(8, [])
x = data.one_hot_seqs(spots)
image(plots.ism_maps(spots, interpret.ism(cnn, x), FIGURES / "ism.png", "cnn: ISM"))
corrected = interpret.simplex_correction(interpret.saliency(cnn, x)) * x
image(plots.attribution_logos(spots[4:8], corrected[4:8], FIGURES / "attr.png", "cnn: saliency"))

# %%
for name, model in (("linear", linear), ("cnn", cnn)):
    effects = insertion_effects(lambda s, m=model: evaluate.predict_seqs(m, s)[:, 0], 8)
    print(name)
    print(insertion_table(effects).round(2).to_string(index=False))

# %% [markdown]
# ## 10. The second lesson: a deeper CNN with state
#
# Blocks of convolution, BatchNorm, ReLU, max-pooling and dropout, then dense layers.
# Besides its weights this model holds state: BatchNorm's running statistics (buffers,
# updated in place in training mode), dropout's randomness (the global generator),
# AdamW's moments and the learning-rate schedule's position (the optimizer and the
# scheduler), and a train or eval mode (a flag in every module).

# %%
from dna_tutorial.spec import ADAMW_LR

show(models.ConvBlock, models.DNA_DeepCNN, train.make_optimizer)

# %%
data.set_seed(SEED)
deep = models.build_model("deep", 8)
opt, scheduler = train.make_optimizer(deep, "adamw", ADAMW_LR, epochs=EPOCHS)
deep_history = train.run_model(
    train_dl, val_dl, deep, epochs=EPOCHS, opt=opt, scheduler=scheduler, progress=False
)
print(f"deep test R²: {evaluate.parity_pred(deep, test_df)[0]:.3f}")

# %%
bn = deep.blocks[0].bn
print("running mean (a buffer):", bn.running_mean[:4])
print("AdamW's state per parameter:", sorted(opt.state[bn.weight]))
print("learning rate now:", scheduler.get_last_lr(), "mode:", "train" if deep.training else "eval")
