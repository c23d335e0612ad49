"""Every way this project trains and predicts, prepared as a callable that runs one pass.

A training pass is one epoch: shuffle, then one SGD step per batch over the whole
training set, the last batch short. An inference pass predicts every sequence once.
Every callable returns only after the device has finished (``block_until_ready`` in JAX,
``torch.cuda.synchronize`` or a host read in torch), so wall-clock times are honest.

Training strategies, slowest to fastest on CPU:

- ``torch-reference``: the tutorial's code as is, ``Dataset`` + ``DataLoader`` and
  ``reference_torch.train.train_step`` (a ``loss.item()`` per batch).
- ``torch-eager``: the same model and SGD on tensors already on the device, indexed by a
  ``randperm``, no per-batch host read: torch without the DataLoader.
- ``torch-compile``: ``torch-eager`` with ``torch.compile(model)``.
- ``torch-cuda-graphs`` (GPU only): a whole step (forward, backward, SGD) captured once as
  a CUDA graph and replayed per batch; the short last batch runs eagerly.
- ``jax-jit-step``: ``jax_impl.train.train_epoch_stepwise``, one compiled step per batch
  called from a Python loop.
- ``jax-fused-epoch``: shuffle and ``jax_impl.train.train_epoch`` in one compiled call.
- ``jax-vmap-ensemble``: K models trained at once by ``vmap`` over the fused epoch;
  throughput counts model-sequences.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import torch
from torch import nn

from benchmarks.options import ENSEMBLE_SIZE, GPU_ONLY
from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import decode_codes, encode_codes, kmers
from dna_tutorial.synthetic import synthetic_codes
from jax_impl import fast, scale
from jax_impl import train as jtrain
from jax_impl.fast import IMPLS
from reference_torch import data as tdata
from reference_torch import models as tmodels
from reference_torch import train as ttrain


@dataclass(frozen=True)
class Workload:
    """What one measurement runs."""

    kind: str  # "train" or "infer"
    model: str  # "linear" or "cnn"
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


def _torch_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("no CUDA device visible to torch")
    return torch.device(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _torch_setup(w: Workload, device: torch.device):
    codes, scores = dataset(w.seq_len, w.num_seqs)
    x = nn.functional.one_hot(torch.from_numpy(codes).long(), 4).float().to(device)
    y = torch.from_numpy(scores).unsqueeze(1).to(device)
    torch.manual_seed(0)
    model = tmodels.build_model(w.model, w.seq_len).to(device)
    return x, y, model


def torch_train(name: str, w: Workload, device: str) -> Callable[[], None]:
    """One training epoch of a torch strategy."""
    dev = _torch_device(device)
    if name == "torch-reference":
        codes, scores = dataset(w.seq_len, w.num_seqs)
        df = pd.DataFrame({"seq": decode_codes(codes), "score": scores})
        train_dl, _ = tdata.build_dataloaders(df, df.iloc[:1], batch_size=w.batch_size)
        torch.manual_seed(0)
        model = tmodels.build_model(w.model, w.seq_len).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        # train_step reads every batch's loss back to the host: it synchronises itself.
        return lambda: ttrain.train_step(model, train_dl, nn.MSELoss(), dev, opt)

    x, y, model = _torch_setup(w, dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    if name == "torch-cuda-graphs":
        if dev.type != "cuda":
            raise Skip("CUDA graphs need a GPU")
        return _cuda_graph_epoch(model, opt, loss_fn, x, y, w.batch_size, dev)
    forward = torch.compile(model) if name == "torch-compile" else model

    def epoch() -> None:
        total = torch.zeros((), device=dev)
        for idx in torch.randperm(len(x), device=dev).split(w.batch_size):
            loss = loss_fn(forward(x[idx]), y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += loss.detach() * len(idx)
        total.item()  # one host read per epoch, which also waits for the device

    return epoch


def _cuda_graph_epoch(model, opt, loss_fn, x, y, batch_size, dev) -> Callable[[], None]:
    """Capture forward + backward + SGD for full batches once, then replay per batch."""
    static_x, static_y = x[:batch_size].clone(), y[:batch_size].clone()
    stream = torch.cuda.Stream(dev)
    stream.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(stream):  # warm up on a side stream, as capture requires
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream(dev).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = loss_fn(model(static_x), static_y)
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
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
        _sync(dev)

    return epoch


def torch_infer(name: str, w: Workload, device: str) -> Callable[[], None]:
    """Predict every sequence once, in batches, with a torch strategy."""
    dev = _torch_device(device)
    x, _, model = _torch_setup(w, dev)
    model.eval()
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


def _jax_setup(w: Workload, device: str, impl: str = "fast"):
    platform = "gpu" if device == "cuda" else "cpu"
    try:
        jax_device = jax.devices(platform)[0]
    except RuntimeError as err:
        raise Skip(f"no JAX {platform} device") from err
    codes, scores = dataset(w.seq_len, w.num_seqs)
    chosen = IMPLS[impl]
    df = pd.DataFrame({"seq": decode_codes(codes), "score": scores})
    with jax.default_device(jax_device):
        loader, _ = chosen.build_dataloaders(df, df.iloc[:1], batch_size=w.batch_size)
    return loader, chosen.build_model(w.model, w.seq_len), jax_device


@jax.jit
def _ensemble_epoch(states, loader, keys):
    return jax.vmap(jtrain.train_step, in_axes=(0, None, 0))(states, loader, keys)


def jax_train(name: str, w: Workload, device: str) -> Callable[[], None]:
    """One training epoch of a JAX strategy."""
    loader, model, jax_device = _jax_setup(w, device)
    xb, _ = loader.batch(jnp.arange(1))
    with jax.default_device(jax_device):
        key = jax.random.key(0)
        if name == "jax-vmap-ensemble":
            keys = jax.random.split(key, ENSEMBLE_SIZE)
            states, _ = scale.create_ensemble(model, keys, xb, optax.sgd(0.01))
            box = [states]

            def run() -> None:
                box[0], losses = _ensemble_epoch(box[0], loader, keys)
                losses.block_until_ready()

            return run
        state = jtrain.create_train_state(model, key, xb, optax.sgd(0.01))
        box = [state]
        step = scale.train_step_stepwise if name == "jax-jit-step" else jtrain.train_step
        if name in ("jax-jit-step", "jax-fused-epoch"):

            def run() -> None:
                box[0], loss = step(box[0], loader, key)
                loss.block_until_ready()

            return run
    raise ValueError(f"unknown JAX training strategy {name!r}")


def jax_infer(name: str, w: Workload, device: str) -> Callable[[], None]:
    """Predict every sequence once with the batched prediction of the fast engine."""
    loader, model, jax_device = _jax_setup(w, device)
    with jax.default_device(jax_device):
        variables = model.init(jax.random.key(0), jnp.zeros((1, w.seq_len, 4)))

    def infer() -> None:
        fast.predict_codes(model, variables, loader.dataset.codes, w.batch_size).block_until_ready()

    return infer


def prepare(name: str, w: Workload, device: str) -> Callable[[], None]:
    """The callable for strategy ``name`` on workload ``w`` (raises :class:`Skip`)."""
    if name in GPU_ONLY and device != "cuda":
        raise Skip("GPU only")
    if w.kind == "train":
        return (torch_train if name.startswith("torch") else jax_train)(name, w, device)
    return (torch_infer if name.startswith("torch") else jax_infer)(name, w, device)
