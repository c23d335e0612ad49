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
# # Two ports, one model: the converter, live parity, training over seeds, and speed
#
# What only this project shows: the same weights in PyTorch and in Flax, the two ports
# compared number for number, whether they train to the same place over many seeds, and
# the JAX port's speed taken apart. Companion to
# `1_pytorch.ipynb` and `2_jax.ipynb`.

# %%
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import torch
from IPython.display import display

import benchmarks
import parity_tests
from dna_tutorial.app.notebook import image, show
from dna_tutorial.config import TEXTBOOK
from jax_impl import convert
from jax_impl import models as jmodels
from parity_tests import model_checks, port_checks
from parity_tests.ports import Linen
from parity_tests.registry import ModelCase
from reference_torch import models as tmodels

# %% [markdown]
# ## 1. The converter round trip
#
# torch keeps a Conv1d weight as (F, 4, k) and a Linear weight as (out, in); Flax keeps
# (k, 4, F) and (in, out), and flattens the conv output length-major where torch
# flattens it channel-major, so the dense kernel's rows are permuted too. The one
# registry (`dna_tutorial.registry`) lists every parameter's layout; the converter reads
# it both ways.

# %%
show(convert.torch_to_flax)

# %%
torch.manual_seed(0)
torch_cnn = tmodels.build_model("cnn", 8)
state = {k: v.detach().numpy() for k, v in torch_cnn.state_dict().items()}
variables = convert.torch_to_flax("cnn", state)
back = convert.flax_to_torch("cnn", variables)
print("round trip exact:", all(np.array_equal(state[k], back[k]) for k in state))
jax.tree.map(np.shape, variables["params"])

# %%
x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (5, 8))]
with torch.no_grad():
    torch_out = torch_cnn(torch.from_numpy(x)).numpy()[:, 0]
jax_out = np.asarray(jmodels.build_model("cnn", 8).apply(variables, jnp.asarray(x)))[:, 0]
pd.DataFrame({"torch": torch_out, "jax": jax_out, "difference": torch_out - jax_out})

# %% [markdown]
# ## 2. Parity, live
#
# The parity suite's own checks, run here on the tutorial CNN: outputs, the loss and
# every gradient, one SGD step, and attribution, each against its stated tolerance
# (`parity_tests/tolerances.py`). The JAX side is the textbook port that the JAX notebook
# teaches; `dna-tutorial parity` runs every check against the fast engine, and
# `dna-tutorial parity --jax-impl textbook` against this one.

# %%
cpu = torch.device("cpu")
case = ModelCase("cnn", 8)
checks = (
    model_checks.check_forward,
    model_checks.check_loss_and_gradients,
    model_checks.check_sgd_step,
    model_checks.check_attribution,
)
rows = [row.as_dict() for check in checks for row in check(case, cpu, port=Linen(TEXTBOOK))]
pd.DataFrame(rows)

# %% [markdown]
# The NNX port against Linen's textbook port, on the same weights: two APIs over the same
# layers, so the outputs, the loss, every gradient, one SGD step (each compiled: NNX's with
# `nnx.jit`, Linen's with `jax.jit`), ISM and saliency are equal bit for bit (max abs 0).

# %%
pd.DataFrame([row.as_dict() for row in port_checks.check_nnx_against_linen(case, cpu)])

# %% [markdown]
# ## 3. Do they train to the same place?
#
# Parity holds the ports to the same step from the same weights. Users of both stacks ask
# something else: trained each with its own seed, do they end in the same place? `dna-tutorial
# parity --training` trains every model 30 times per port (10 for the deeper CNN), each seed
# drawing its own weights and batch order in its own framework, and tests the distributions:
# Welch's t-test of "the means differ" and TOST of "they lie within half of PyTorch's
# seed-to-seed sd". Controlled rows share the weights, the order or both, to say where a
# difference comes from. These are the committed results
# (`parity_tests/results/training-cpu.md` has every metric).

# %%
results = Path(parity_tests.__file__).parent / "results"
study_path = results / "training-cpu.json"
if study_path.exists():
    study = json.loads(study_path.read_text())
    print(study["command"], f"- {study['seconds']['total'] / 60:.0f} min on 2 CPU cores")
    display(pd.DataFrame(study["verdicts"]).T.fillna(""))
    headline = pd.DataFrame(
        {"model": name, **row}
        for name, result in study["models"].items()
        for row in result["rows"]
        if row["metric"] in ("test R²", "accuracy")
    )
    columns = ["model", "row", "b", "metric", "seeds", "difference", "p_differ", "margin",
               "p_equivalent", "correlation", "verdict"]  # fmt: skip
    display(headline[columns])
    image(results / "training-cpu-seeds.png")
else:
    print("not measured here yet: dna-tutorial parity --training writes", study_path)

# %% [markdown]
# What the committed run says: no port trains to a different place. Every mean difference is
# under 0.61 of PyTorch's seed-to-seed sd, and the few "differ" verdicts (0.04 < p < 0.05)
# do not survive a correction for the 26 comparisons made; with 30 seeds TOST has too
# little power to prove equivalence within half an sd, hence "cannot be told apart". The
# one real difference is Flax's own initialisation (the row "Flax's own initialisation"):
# the classifier ends about 0.011 more accurate, which is why the torch-like draws are the
# default. `docs/parity.md` reads the rows model by model.
#
# Same weights and the same batches leave only rounding. In float32 it grows through
# training where a ReLU sits on its kink; in float64 (both frameworks, the same code) it
# stays near float64's own rounding.

# %%
if study_path.exists():
    image(results / "training-cpu-divergence.png")

# %% [markdown]
# ## 4. Where the speed comes from
#
# The benchmark (`dna-tutorial bench`) times each training strategy with each
# convolution kernel and splits the JAX port's speed-up over the tutorial's code into
# factors that multiply to the whole: (a) dropping the `DataLoader`, (b) compiling the
# whole epoch into one call, (c) the kernel (a matmul over windows instead of XLA's
# convolution). These are the committed results: `benchmarks/results/cpu.json` (2 CPU
# cores) and, where one was measured, `gpu.json` (an NVIDIA H200). On the CPU most of the
# speed-up is the kernel; on the GPU it is the compiled loop, since an eager torch step
# there is mostly the host launching kernels one by one (the README's "On a GPU").

# %%
columns = ["batch_size", "dataloader", "fused_loop", "kernel", "total", "same_kernel",
           "best_vs_best", "torch_best", "jax_best"]  # fmt: skip
for device in ("cpu", "gpu"):
    path = Path(benchmarks.__file__).parent / "results" / f"{device}.json"
    if path.exists():
        results = json.loads(path.read_text())
        print(results["device_name"], "-", results["command"])
        display(pd.DataFrame(results.get("decomposition", []), columns=columns).round(1))
