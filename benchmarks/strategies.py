"""Every way this project trains and predicts, prepared as a callable that runs one pass.

A training pass is one epoch: shuffle, then one SGD step per batch over the whole training
set, the last batch short. An inference pass predicts every sequence once. Every callable
returns only after the device has finished (``block_until_ready`` in JAX,
``torch.cuda.synchronize`` or a host read in torch), so wall-clock times are honest.

Each strategy runs with each convolution **kernel** where that makes sense, so that a
speed-up can be split into what the strategy buys and what the kernel buys:

- ``conv``: the framework's own convolution, torch's ``nn.Conv1d`` or Flax's ``nn.Conv``;
- ``matmul``: one matmul over the k-wide windows with the dense kernel permuted instead of
  the activations (``jax_impl.fast``; in torch ``benchmarks.kernels``, the same maths).

Training strategies:

- ``torch-reference``: the tutorial's code as is, ``Dataset`` + ``DataLoader`` and
  ``reference_torch.train.train_step`` (a ``loss.item()`` per batch).
- ``torch-eager``: the same model and SGD on tensors already on the device, indexed by a
  ``randperm``, no per-batch host read: torch without the DataLoader.
- ``torch-compile``: ``torch-eager`` with ``torch.compile(model)``.
- ``torch-compile-step``: the whole step (forward, backward, SGD update) in one
  ``torch.compile``d function: torch's strongest compiled loop on a CPU.
- ``torch-cuda-graphs`` (GPU only): a whole step captured once as a CUDA graph and
  replayed per batch; the short last batch runs eagerly.
- ``torch-func-ensemble``: K models trained at once with ``torch.func`` (``vmap`` over
  ``grad`` of a ``functional_call``), each with its own shuffle.
- ``jax-textbook``: the lesson as written, ``jax_impl.train.train_step`` over the
  textbook loader (float one-hot batches, ``jax.random.permutation``).
- ``jax-jit-step``: ``jax_impl.scale.train_step_stepwise``, one compiled step per batch
  called from a Python loop.
- ``jax-fused-epoch``: ``jax_impl.train.train_step``, the epoch as one compiled call.
- ``jax-vmap-ensemble``: K models at once, ``vmap`` over the compiled epoch; throughput
  counts model-sequences.
- ``nnx-jit-step``: the NNX port's ``train_batch`` way, one ``nnx.jit`` call per batch
  with the model and optimizer passed as objects (NNX splits and merges them on every
  call, in Python).
- ``nnx-split-step``: the same step as a pure function under ``jax.jit``, the model and
  optimizer split once and their arrays carried between calls: NNX without its per-call
  object bookkeeping. The two differ in nothing else (same batches, same arithmetic).
- ``nnx-fused-epoch``: ``nnx_impl.train.train_step``, the epoch as one ``lax.scan``.

The three NNX strategies read the textbook loader, as ``jax-textbook`` does.

The JAX strategies other than ``jax-textbook`` read int8 codes and shuffle with the Feistel
permutation of ``jax_impl.fast``, whichever kernel they use, so that the kernel is the only
thing a ``conv`` / ``matmul`` pair changes.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import torch
from flax import nnx
from torch import nn

from benchmarks.kernels import MATMUL
from benchmarks.options import CONV_ONLY, ENSEMBLE_SIZE, GPU_ONLY
from dna_tutorial import registry
from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import decode_codes, encode_codes, kmers
from dna_tutorial.synthetic import synthetic_codes
from jax_impl import data as jdata
from jax_impl import fast, scale
from jax_impl import models as jmodels
from jax_impl import train as jtrain
from nnx_impl import models as nmodels
from nnx_impl import train as ntrain
from reference_torch import data as tdata
from reference_torch import models as tmodels
from reference_torch import train as ttrain

LR = 0.01


@dataclass(frozen=True)
class Workload:
    """What one measurement runs."""

    kind: str  # "train" or "infer"
    model: str  # a registered model, e.g. "linear" or "cnn"
    seq_len: int
    num_seqs: int
    batch_size: int

    def describe(self) -> str:
        return f"{self.kind} {self.model} L={self.seq_len} N={self.num_seqs:,} B={self.batch_size}"


class Skip(Exception):
    """This strategy cannot run here (e.g. CUDA graphs without a GPU)."""


@functools.lru_cache(maxsize=8)
def dataset(seq_len: int, num_seqs: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8 (N, L), scores float32 (N,)): the tutorial's training 8-mers when they
    fit, otherwise the synthetic task (``dna_tutorial.synthetic``) with the same rule."""
    if seq_len == 8 and num_seqs <= 41_942:
        seqs = kmers(8)
        codes = encode_codes(seqs)[tutorial_split(len(seqs)).train][:num_seqs]
    else:
        codes = synthetic_codes(num_seqs, seq_len, seed=num_seqs)
    return codes, tdata.score_codes(codes).numpy()


def kernels(model: str, strategy: str) -> tuple[str | None, ...]:
    """The kernels ``strategy`` can run ``model`` with: ``conv`` and ``matmul`` where the
    model has a matmul twin in that framework (torch: ``benchmarks.kernels``; JAX: the
    fast engine), else its only one (``None`` for a model without a conv layer)."""
    if model == "linear":
        return (None,)
    if strategy in CONV_ONLY:
        return ("conv",)
    twin = model in MATMUL if strategy.startswith("torch") else registry.get(model).fast
    return ("conv", "matmul") if twin else ("conv",)


# --- torch ------------------------------------------------------------------------------


def _torch_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("no CUDA device visible to torch")
    return torch.device(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_model(w: Workload, kernel: str | None, seed: int = 0) -> nn.Module:
    """The workload's model with ``kernel``, initialised from ``seed``."""
    torch.manual_seed(seed)
    model = tmodels.build_model(w.model, w.seq_len)
    if kernel == "matmul":
        twin = MATMUL[w.model](w.seq_len)
        twin.load_state_dict(model.state_dict())
        model = twin
    return model


def _torch_tensors(w: Workload, device: torch.device):
    codes, scores = dataset(w.seq_len, w.num_seqs)
    x = nn.functional.one_hot(torch.from_numpy(codes).long(), 4).float().to(device)
    y = torch.from_numpy(scores).unsqueeze(1).to(device)
    return x, y


def torch_train(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """One training epoch of a torch strategy."""
    dev = _torch_device(device)
    if name == "torch-reference":
        codes, scores = dataset(w.seq_len, w.num_seqs)
        df = pd.DataFrame({"seq": decode_codes(codes), "score": scores})
        train_dl, _ = tdata.build_dataloaders(df, df.iloc[:1], batch_size=w.batch_size)
        model = torch_model(w, kernel).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        # train_step reads every batch's loss back to the host: it synchronises itself.
        return lambda: ttrain.train_step(model, train_dl, nn.MSELoss(), dev, opt)
    x, y = _torch_tensors(w, dev)
    if name == "torch-func-ensemble":
        return _torch_func_ensemble(w, kernel, x, y, dev)
    model = torch_model(w, kernel).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_func = nn.MSELoss()
    if name == "torch-cuda-graphs":
        if dev.type != "cuda":
            raise Skip("CUDA graphs need a GPU")
        return _cuda_graph_epoch(model, opt, loss_func, x, y, w.batch_size, dev)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        loss = loss_func(forward(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.detach()

    forward = torch.compile(model) if name == "torch-compile" else model
    if name == "torch-compile-step":
        step = torch.compile(step)

    def epoch() -> None:
        total = torch.zeros((), device=dev)
        for idx in torch.randperm(len(x), device=dev).split(w.batch_size):
            total += step(x[idx], y[idx]) * len(idx)
        total.item()  # one host read per epoch, which also waits for the device

    return epoch


def _torch_func_ensemble(w, kernel, x, y, dev) -> Callable[[], None]:
    """K models, each with its own shuffle, trained by ``torch.func``: vmap over grad."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    if any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in torch_model(w, kernel).modules()
    ):
        raise Skip("torch.func's vmap cannot update BatchNorm's running statistics in place")
    members = [torch_model(w, kernel, seed=k).to(dev) for k in range(ENSEMBLE_SIZE)]
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    loss_func = nn.MSELoss()

    def loss(p, b, xb, yb):
        return loss_func(functional_call(base, (p, b), (xb,)), yb)

    grads = vmap(grad(loss), in_dims=(0, 0, 0, 0))

    def epoch() -> None:
        orders = torch.stack([torch.randperm(len(x), device=dev) for _ in range(ENSEMBLE_SIZE)])
        for idx in orders.split(w.batch_size, dim=1):  # (K, B) rows, one order per member
            g = grads(params, buffers, x[idx], y[idx])
            with torch.no_grad():
                for key, value in params.items():
                    value -= LR * g[key]
        _sync(dev)

    return epoch


def _cuda_graph_epoch(model, opt, loss_func, x, y, batch_size, dev) -> Callable[[], None]:
    """Capture forward + backward + SGD for full batches once, then replay per batch."""
    static_x, static_y = x[:batch_size].clone(), y[:batch_size].clone()
    stream = torch.cuda.Stream(dev)
    stream.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(stream):  # warm up on a side stream, as capture requires
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_func(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream(dev).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = loss_func(model(static_x), static_y)
        static_loss.backward()
        opt.step()

    def epoch() -> None:
        for idx in torch.randperm(len(x), device=dev).split(batch_size):
            if len(idx) == batch_size:
                static_x.copy_(x[idx])
                static_y.copy_(y[idx])
                graph.replay()
            else:  # the short last batch has another shape: run it eagerly
                for p in model.parameters():
                    p.grad = None
                loss_func(model(x[idx]), y[idx]).backward()
                opt.step()
        _sync(dev)

    return epoch


def torch_infer(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """Predict every sequence once, in batches, with a torch strategy."""
    dev = _torch_device(device)
    x, _ = _torch_tensors(w, dev)
    model = torch_model(w, kernel).to(dev).eval()
    if name == "torch-cuda-graphs":
        if dev.type != "cuda":
            raise Skip("CUDA graphs need a GPU")
        static_x = x[: w.batch_size].clone()
        with torch.no_grad():
            model(static_x)  # warm-up before capture
            torch.cuda.synchronize(dev)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = model(static_x)

        def infer() -> None:
            with torch.no_grad():
                for chunk in x.split(w.batch_size):
                    if len(chunk) == w.batch_size:
                        static_x.copy_(chunk)
                        graph.replay()
                        static_out.sum()
                    else:
                        model(chunk)
            _sync(dev)

        return infer
    forward = torch.compile(model) if name == "torch-compile" else model

    def infer() -> None:
        with torch.no_grad():
            outs = [forward(chunk) for chunk in x.split(w.batch_size)]
        torch.cat(outs).sum().item()

    return infer


# --- JAX ----------------------------------------------------------------------------------


def _jax_device(device: str) -> jax.Device:
    platform = "gpu" if device == "cuda" else "cpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as err:
        raise Skip(f"no JAX {platform} device") from err


def jax_model(w: Workload, kernel: str | None):
    """The workload's Flax model with ``kernel`` (``matmul``: the fast layers)."""
    build = fast.build_model if kernel == "matmul" else jmodels.build_model
    return build(w.model, w.seq_len)


def _jax_loader(w: Workload, textbook: bool):
    codes, scores = dataset(w.seq_len, w.num_seqs)
    df = pd.DataFrame({"seq": decode_codes(codes), "score": scores})
    build = jdata.build_dataloaders if textbook else fast.build_dataloaders
    loader, _ = build(df, df.iloc[:1], batch_size=w.batch_size)
    return loader


@jax.jit
def _ensemble_epoch(states, loader, keys):
    return jax.vmap(jtrain.train_step, in_axes=(0, None, 0))(states, loader, keys)


def jax_train(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """One training epoch of a JAX strategy."""
    with jax.default_device(_jax_device(device)):
        loader = _jax_loader(w, textbook=name == "jax-textbook")
        model = jax_model(w, kernel)
        xb, _ = loader.batch(jnp.arange(1))
        key = jax.random.key(0)
        if name == "jax-vmap-ensemble":
            keys = jax.random.split(key, ENSEMBLE_SIZE)
            states, _ = scale.create_ensemble(model, keys, xb, optax.sgd(LR))
            box = [states]

            def run() -> None:
                box[0], losses = _ensemble_epoch(box[0], loader, keys)
                losses.block_until_ready()

            return run
        box = [jtrain.create_train_state(model, key, xb, optax.sgd(LR))]
        step = scale.train_step_stepwise if name == "jax-jit-step" else jtrain.train_step

        def run() -> None:
            box[0], loss = step(box[0], loader, key)
            loss.block_until_ready()

        return run


def jax_infer(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """Predict every sequence once: the fast engine's batched, compiled prediction."""
    with jax.default_device(_jax_device(device)):
        loader = _jax_loader(w, textbook=False)
        model = jax_model(w, kernel)
        variables = model.init(jax.random.key(0), jnp.zeros((1, w.seq_len, 4)))

    def infer() -> None:
        codes = loader.dataset.codes
        fast.predict_codes(model, variables, codes, w.batch_size).block_until_ready()

    return infer


def _nnx_step(loader, model, opt, idx: jax.Array) -> jax.Array:
    return ntrain.loss_batch(model, ntrain.mse_loss, *loader.batch(idx), opt)[0]


def nnx_train(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """One training epoch of an NNX strategy."""
    with jax.default_device(_jax_device(device)):
        loader = _jax_loader(w, textbook=True)
        model = nmodels.build_model(w.model, w.seq_len)
        opt = ntrain.make_optimizer(model, "sgd", LR)
        model.train()
        key = jax.random.key(0)
        if name == "nnx-fused-epoch":
            return lambda: ntrain.train_step(
                model, loader, ntrain.mse_loss, opt, key
            ).block_until_ready()
        if name == "nnx-jit-step":
            step = nnx.jit(functools.partial(_nnx_step, loader))

            def run() -> None:
                for batches in loader.batches(key):
                    for idx in batches:
                        loss = step(model, opt, idx)
                loss.block_until_ready()

            return run
        graphdef, state = nnx.split((model, opt))

        @jax.jit
        def pure_step(state, idx):
            model, opt = nnx.merge(graphdef, state)
            loss = _nnx_step(loader, model, opt, idx)
            return nnx.state((model, opt)), loss

        box = [state]

        def run_split() -> None:
            for batches in loader.batches(key):
                for idx in batches:
                    box[0], loss = pure_step(box[0], idx)
            loss.block_until_ready()

        return run_split


def prepare(name: str, kernel: str | None, w: Workload, device: str) -> Callable[[], None]:
    """The callable for strategy ``name`` with ``kernel`` on workload ``w`` (raises
    :class:`Skip`)."""
    if name in GPU_ONLY and device != "cuda":
        raise Skip("GPU only")
    if w.kind == "train":
        train = {"torch": torch_train, "jax": jax_train, "nnx": nnx_train}[name.split("-")[0]]
        return train(name, kernel, w, device)
    return (torch_infer if name.startswith("torch") else jax_infer)(name, kernel, w, device)
