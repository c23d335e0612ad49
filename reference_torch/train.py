"""Step 4 in PyTorch: the notebook's training stack.

``run_model -> fit -> train_step / val_step -> loss_batch``: objects that hold their own
state (the model's parameters, the optimiser's buffers, the loader's shuffling) and are
updated in place, batch by batch, from Python.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.schedule import schedule_factor
from dna_tutorial.spec import (
    EPOCHS,
    LEARNING_RATE,
    PATIENCE,
    SCHEDULE,
    WARMUP_EPOCHS,
    WEIGHT_DECAY,
)

LossFunc = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The loss each task trains with: the notebook's MSE, footnote 2's cross-entropy, and
#: binary cross-entropy on logits for a multi-label task.
LOSSES = {
    "regress": nn.MSELoss,
    "classify": nn.CrossEntropyLoss,
    "multilabel": nn.BCEWithLogitsLoss,
}


@dataclass
class History:
    """Per-epoch losses and wall-clock seconds, the same shape in both ports."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False


def loss_batch(
    model: nn.Module,
    loss_func: LossFunc,
    xb: torch.Tensor,
    yb: torch.Tensor,
    opt: torch.optim.Optimizer | None = None,
) -> tuple[float, int]:
    """Loss of one batch, and an optimiser step when ``opt`` is given: (loss, batch size)."""
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def _weighted_mean(losses: list[float], sizes: list[int]) -> float:
    # The epoch loss weights each batch mean by its size, so a short last batch counts less.
    return float(np.sum(np.multiply(losses, sizes)) / np.sum(sizes))


def train_step(
    model: nn.Module,
    train_dl: DataLoader,
    loss_func: LossFunc,
    device: torch.device | str,
    opt: torch.optim.Optimizer,
) -> float:
    """One epoch of optimisation over ``train_dl``; returns the size-weighted mean loss."""
    model.train()
    losses, sizes = [], []
    for xb, yb in train_dl:
        loss, n = loss_batch(model, loss_func, xb.to(device), yb.to(device), opt=opt)
        losses.append(loss)
        sizes.append(n)
    return _weighted_mean(losses, sizes)


def val_step(
    model: nn.Module, val_dl: DataLoader, loss_func: LossFunc, device: torch.device | str
) -> float:
    """The size-weighted mean loss over ``val_dl``, without gradients."""
    model.eval()
    losses, sizes = [], []
    with torch.no_grad():
        for xb, yb in val_dl:
            loss, n = loss_batch(model, loss_func, xb.to(device), yb.to(device))
            losses.append(loss)
            sizes.append(n)
    return _weighted_mean(losses, sizes)


def fit(
    epochs: int,
    model: nn.Module,
    loss_func: LossFunc,
    opt: torch.optim.Optimizer,
    train_dl: DataLoader,
    val_dl: DataLoader,
    device: torch.device | str,
    patience: int = PATIENCE,
    progress: bool = True,
    verbose: bool = False,
    desc: str = "torch",
    history: History | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> History:
    """Train for ``epochs`` epochs, stopping early after ``patience`` epochs without a new
    best validation loss. Prints the notebook's ``E{epoch} | train loss | val loss`` lines
    when ``verbose``; shows a progress bar when ``progress``.

    ``history`` continues an earlier run (its epochs count towards ``epochs``);
    ``on_epoch_end(epoch, history)`` runs after each epoch, e.g. to save a checkpoint;
    ``scheduler`` (a learning-rate schedule) steps after each epoch.

    Raises
    ------
    NonFiniteLossError
        If a train or validation loss is NaN or infinite. The epoch's update is undone so
        that the model holds the weights of the last epoch with finite losses.
    """
    if epochs < 0 or patience < 1:
        raise ValueError(f"need epochs >= 0 and patience >= 1, got {epochs} and {patience}")
    history = history or History()
    if history.stopped_early:  # a resumed run that had already stopped stays stopped
        return history
    best = min(history.val, default=math.inf)
    since_best = len(history.val) - 1 - history.val.index(best) if history.val else 0
    start = len(history.train)
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        tick = time.perf_counter()
        last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}
        train_loss = train_step(model, train_dl, loss_func, device, opt)
        val_loss = val_step(model, val_dl, loss_func, device)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            model.load_state_dict(last_good)
            raise NonFiniteLossError(
                f"epoch {epoch}: loss became non-finite (train {train_loss}, val {val_loss}); "
                "try a smaller learning rate. The model keeps the last good epoch's weights."
            )
        history.train.append(train_loss)
        history.val.append(val_loss)
        history.seconds.append(time.perf_counter() - tick)
        if scheduler is not None:
            scheduler.step()
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        if verbose:
            tqdm.write(f"E{epoch} | train loss: {train_loss:.3f} | val loss: {val_loss:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if val_loss < best:
            best, since_best = val_loss, 0
        else:
            since_best += 1
            if since_best >= patience:
                history.stopped_early = True
                break
    return history


def run_model(
    train_dl: DataLoader,
    val_dl: DataLoader,
    model: nn.Module,
    device: torch.device | str = "cpu",
    lr: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    loss_func: LossFunc | None = None,
    opt: torch.optim.Optimizer | None = None,
    **fit_kwargs,
) -> History:
    """The notebook's entry point: SGD(lr) and MSELoss unless given, then :func:`fit`."""
    model.to(device)
    opt = opt or torch.optim.SGD(model.parameters(), lr=lr)
    loss_func = loss_func or nn.MSELoss()
    return fit(epochs, model, loss_func, opt, train_dl, val_dl, device, **fit_kwargs)


def make_optimizer(
    model: nn.Module,
    kind: str = "sgd",
    lr: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    warmup_epochs: int = WARMUP_EPOCHS,
    epochs: int = EPOCHS,
    schedule: str = SCHEDULE,
):
    """The optimizer a model trains with, and the scheduler ``fit`` steps after each epoch
    (or None): the notebook's ``SGD(lr)``, or (``kind="adamw"``) the deeper CNN's AdamW
    with a warm-up and a cosine (or constant) schedule of its peak rate ``lr``."""
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr), None
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def factor(epoch: int) -> float:
        return float(schedule_factor(epoch, schedule, warmup_epochs, epochs))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
