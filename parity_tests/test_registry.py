"""A model defined here alone (a torch class, a Flax class, a spec) gets every parity row,
both ports' training, checkpoints and the report, with no edit anywhere else."""

import flax.linen as fnn
import pytest
import torch
from torch import nn

from dna_tutorial import registry
from dna_tutorial.app.cli import main
from dna_tutorial.registry import ModelSpec, Param
from parity_tests.compare import assert_all_pass
from parity_tests.model_checks import MODEL_CHECKS
from parity_tests.registry import ModelCase, cases
from parity_tests.training_checks import check_epoch


class TinyTorch(nn.Module):
    """Conv1d, ReLU, the mean over positions, Linear: a different shape of CNN."""

    def __init__(self, seq_len: int, num_filters: int = 6, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(4, num_filters, kernel_size)
        self.head = nn.Linear(num_filters, 1)

    def conv_activations(self, xb):
        return self.conv(xb.permute(0, 2, 1))

    def forward(self, xb):
        return self.head(torch.relu(self.conv_activations(xb)).mean(dim=2))


class TinyFlax(fnn.Module):
    seq_len: int
    num_filters: int = 6
    kernel_size: int = 3

    def setup(self):
        self.conv = fnn.Conv(self.num_filters, (self.kernel_size,), padding="VALID")
        self.head = fnn.Dense(1)

    def conv_activations(self, xb):
        return self.conv(xb)

    def __call__(self, xb, train: bool = False):
        return self.head(fnn.relu(self.conv(xb)).mean(axis=1))


SPEC = ModelSpec(
    "tiny",
    "regress",
    TinyTorch,
    TinyFlax,
    lambda _: [
        Param("conv.weight", ("params", "conv", "kernel"), "conv1d"),
        Param("conv.bias", ("params", "conv", "bias")),
        Param("head.weight", ("params", "head", "kernel"), "dense"),
        Param("head.bias", ("params", "head", "bias")),
    ],
    summary="defined in a test",
)


@pytest.fixture
def tiny():
    registry.register(SPEC)
    yield SPEC
    registry.unregister("tiny")


@pytest.mark.parametrize("check", MODEL_CHECKS, ids=lambda c: c.__name__)
def test_an_extra_model_gets_every_parity_row(tiny, check, cpu):
    found = cases(["tiny"])
    assert [str(c) for c in found] == [
        "tiny (L=8, F=32, k=3)",
        "tiny (L=13, F=5, k=4)",
        "tiny (L=100, F=16, k=7)",
    ]
    for case in found:
        rows = check(case, cpu)
        assert_all_pass(rows)


@pytest.mark.slow
def test_an_extra_model_trains_an_epoch_alike_in_both_ports(tiny, cpu):
    # At its own 6 filters. With 32, SGD parks one filter's pre-activation on ReLU's kink
    # (a one-hot 8-mer gives a filter 64 distinct values) and rounding decides its side:
    # on one CPU that filter's weights parted by 1.7e-4 while every other agreed to 1e-6.
    case = ModelCase("tiny", 8, (("kernel_size", 3), ("num_filters", 6)))
    assert_all_pass(check_epoch(case, cpu))


@pytest.mark.slow
def test_an_extra_model_runs_through_the_command_line(tiny, tmp_path, capsys):
    out, ckpt = tmp_path / "r", tmp_path / "ckpt"
    argv = ["run", "--models", "tiny", "--epochs", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 2  # no NNX class: refused before any work
    assert "NNX port has no such model" in capsys.readouterr().err
    assert not out.exists()
    argv += ["--framework", "both"]
    assert main([*argv, "--checkpoint-dir", str(ckpt)]) == 0
    assert "tiny" in capsys.readouterr().out
    assert (out / "torch" / "logos_tiny.png").is_file() and (
        out / "jax" / "parity_tiny.png"
    ).is_file()
    seqs = out / "torch" / "spot_checks.csv"  # a CSV with a seq column
    assert main(["predict", "--checkpoint", str(ckpt / "jax" / "tiny"), "--data", str(seqs)]) == 0


def test_the_registry_refuses_what_it_cannot_serve():
    with pytest.raises(ValueError, match="unknown task"):
        ModelSpec("x", "cluster", TinyTorch, TinyFlax, lambda _: [])
    with pytest.raises(ValueError, match="unknown layout"):
        Param("w", ("params", "w"), "transpose")
    with pytest.raises(ValueError, match="channels_from goes with"):
        Param("w", ("params", "w"), "dense", channels_from="v")
    with pytest.raises(ValueError, match="unknown model 'tiny'"):
        registry.get("tiny")
