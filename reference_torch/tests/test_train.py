"""Step 4 in the reference: the training stack."""

import math

import pytest
import torch
from torch import nn

from dna_tutorial.errors import NonFiniteLossError
from dna_tutorial.recipe import tutorial_split
from dna_tutorial.sequences import kmers
from reference_torch.data import build_dataloaders, quick_split, score_seqs, set_seed
from reference_torch.models import build_model
from reference_torch.train import fit, loss_batch, run_model, train_step, val_step


@pytest.fixture(scope="module")
def loaders():
    df = score_seqs(kmers(6))
    train, val, _ = quick_split(df, tutorial_split(len(df), seed=17))
    return build_dataloaders(train, val, batch_size=64)


def test_one_epoch_lowers_the_validation_loss(loaders):
    set_seed(0)
    model = build_model("cnn", 6)
    loss_func = nn.MSELoss()
    before = val_step(model, loaders[1], loss_func, "cpu")
    train_step(model, loaders[0], loss_func, "cpu", torch.optim.SGD(model.parameters(), lr=0.01))
    assert val_step(model, loaders[1], loss_func, "cpu") < 0.5 * before


def test_loss_batch_steps_only_with_an_optimiser():
    set_seed(0)
    model = build_model("linear", 4)
    xb, yb = torch.rand(8, 4, 4), torch.rand(8, 1)
    before = [p.clone() for p in model.parameters()]
    with torch.no_grad():
        expected = nn.MSELoss()(model(xb), yb).item()
    loss, n = loss_batch(model, nn.MSELoss(), xb, yb)
    assert (loss, n) == (pytest.approx(expected), 8)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    loss_batch(model, nn.MSELoss(), xb, yb, opt=torch.optim.SGD(model.parameters(), lr=0.1))
    assert not torch.equal(before[0], model.lin.weight)


def test_epoch_loss_is_weighted_by_batch_size(loaders):
    set_seed(0)
    model = build_model("linear", 6)
    weighted = val_step(model, loaders[1], nn.MSELoss(), "cpu")
    x = torch.cat([xb for xb, _ in loaders[1]])
    y = torch.cat([yb for _, yb in loaders[1]])
    with torch.no_grad():
        exact = nn.MSELoss()(model(x), y).item()
    assert weighted == pytest.approx(exact, rel=1e-5)


def test_run_model_records_a_history_per_epoch(loaders):
    set_seed(0)
    history = run_model(*loaders, build_model("cnn", 6), epochs=3, progress=False)
    assert len(history.train) == len(history.val) == len(history.seconds) == 3
    assert history.val[-1] < history.val[0] and not history.stopped_early


def test_early_stopping_after_patience_epochs(loaders):
    set_seed(0)
    model = build_model("linear", 6)
    # lr 0 never improves the validation loss after the first epoch
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(10, model, nn.MSELoss(), opt, *loaders, "cpu", patience=2, progress=False)
    assert len(history.val) == 3 and history.stopped_early


def test_fit_continues_a_history(loaders):
    set_seed(0)
    model = build_model("linear", 6)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = fit(2, model, nn.MSELoss(), opt, *loaders, "cpu", progress=False)
    history = fit(4, model, nn.MSELoss(), opt, *loaders, "cpu", progress=False, history=history)
    assert len(history.train) == 4


def test_divergence_halts_with_a_clear_error_and_keeps_good_weights(loaders):
    set_seed(0)
    model = build_model("cnn", 6)
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(NonFiniteLossError, match="non-finite"):
        fit(20, model, nn.MSELoss(), opt, *loaders, "cpu", progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bad_arguments_are_refused(loaders):
    model = build_model("linear", 6)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="patience"):
        fit(1, model, nn.MSELoss(), opt, *loaders, "cpu", patience=0)
    assert math.isfinite(val_step(model, loaders[1], nn.MSELoss(), "cpu"))
