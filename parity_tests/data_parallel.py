"""Data-parallel training against single-device training, in each framework and across.

One small problem, fixed by its seed: 2,048 of the tutorial's 8-mers, a torch-initialised
CNN, and for every epoch the global batch order that torch's ``DistributedSampler``
draws (``randperm`` seeded with ``seed + epoch``). Then, from the same weights and order:

- torch, one process: the reference ``train_step`` over a ``DataLoader`` of that order;
- torch DDP, W processes under ``torchrun``: ``reference_torch.distributed``;
- JAX, one device: ``jax_impl.train.train_step`` over rows in that order;
- JAX, D devices: the same call with each batch split over a mesh.

Each writes its final weights (torch layout) and per-epoch losses to an ``.npz``. The JAX
runs need the devices to exist before JAX starts, and DDP needs its processes, so the
tests launch this module as a script::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m parity_tests.data_parallel jax OUT
    torchrun --standalone --nproc_per_node=2 -m parity_tests.data_parallel torch-ddp OUT
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dna_tutorial.sequences import encode_codes, kmers

NUM_SEQS, BATCH, EPOCHS, SEED, LR = 2048, 128, 2, 17, 0.01


def problem() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[np.ndarray]]:
    """(codes (N, 8), scores (N,), initial CNN weights in torch layout, order per epoch)."""
    import torch

    from reference_torch.data import score_codes
    from reference_torch.models import build_model

    codes = encode_codes(kmers(8))[np.random.default_rng(SEED).permutation(65_536)[:NUM_SEQS]]
    scores = score_codes(codes).numpy()
    torch.manual_seed(SEED)
    weights = {k: v.numpy() for k, v in build_model("cnn", 8).state_dict().items()}
    orders = []
    for epoch in range(EPOCHS):  # what DistributedSampler(shuffle=True, seed=SEED) draws
        g = torch.Generator().manual_seed(SEED + epoch)
        orders.append(torch.randperm(NUM_SEQS, generator=g).numpy())
    return codes, scores, weights, orders


def _frame(codes, scores):
    import pandas as pd

    from dna_tutorial.sequences import decode_codes

    return pd.DataFrame({"seq": decode_codes(codes), "score": scores})


def _torch_dataset(codes, scores):
    from reference_torch.data import SeqDatasetOHE

    return SeqDatasetOHE(_frame(codes, scores))


def train_torch(ddp: bool) -> dict[str, np.ndarray]:
    """The reference's train_step each epoch, in one process or as a DDP replica."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from reference_torch import distributed
    from reference_torch.models import build_model
    from reference_torch.train import train_step

    codes, scores, weights, orders = problem()
    dataset = _torch_dataset(codes, scores)
    model = build_model("cnn", 8)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    device = torch.device("cpu")
    losses = []
    if ddp:
        distributed.setup("cpu")
        loader, sampler = distributed.distributed_loader(dataset, BATCH, SEED)
        net = distributed.wrap(model, device)
    for epoch in range(EPOCHS):
        if ddp:
            sampler.set_epoch(epoch)
            loss = distributed.mean_over_ranks(
                train_step(net, loader, nn.MSELoss(), device, opt), device
            )
        else:
            loader = DataLoader(dataset, batch_size=BATCH, sampler=orders[epoch].tolist())
            loss = train_step(model, loader, nn.MSELoss(), device, opt)
        losses.append(loss)
    return {
        **{k: v.detach().numpy() for k, v in model.state_dict().items()},
        "losses": np.array(losses),
    }


def train_jax(devices: int) -> dict[str, np.ndarray]:
    """``train_step`` each epoch over the same orders, on one device or split over a mesh.

    Each epoch's order is given by presenting the rows in that order to an unshuffled
    loader, so JAX's batches are exactly the global batches DDP assembles."""
    import jax
    import jax.numpy as jnp
    import optax

    from jax_impl import convert, scale
    from jax_impl.data import DataLoader, SeqDatasetOHE
    from jax_impl.models import build_model
    from jax_impl.train import create_train_state, train_step

    codes, scores, weights, orders = problem()
    model = build_model("cnn", 8)
    frame = _frame(codes, scores)
    state = create_train_state(model, jax.random.key(0), jnp.zeros((1, 8, 4)), optax.sgd(LR))
    params = convert.torch_to_flax("cnn", weights)["params"]
    state = state.replace(params=jax.tree.map(jnp.asarray, params))
    mesh = scale.make_mesh(devices) if devices > 1 else None
    losses = []
    for order in orders:
        loader = DataLoader(SeqDatasetOHE(frame.iloc[order]), BATCH)  # rows in `order`
        if mesh is not None:
            state, (loader,) = scale.data_parallel(state, [loader], mesh)
        state, loss = train_step(state, loader, jax.random.key(0))
        losses.append(float(loss))
    return {
        **convert.flax_to_torch("cnn", jax.device_get(state.variables)),
        "losses": np.array(losses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=("torch", "torch-ddp", "jax"))
    parser.add_argument("out", type=Path, help="where to write the .npz (one file per run)")
    parser.add_argument("--devices", type=int, default=4, help="JAX: the mesh's size")
    args = parser.parse_args(argv)
    if args.which == "jax":
        for count in (1, args.devices):
            np.savez(args.out.with_name(f"{args.out.stem}-{count}.npz"), **train_jax(count))
        return 0
    result = train_torch(ddp=args.which == "torch-ddp")
    from reference_torch.distributed import is_main_process, teardown

    if is_main_process():
        np.savez(args.out, **result)
    teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
