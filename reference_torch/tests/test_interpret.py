"""Attribution in the reference: hand-checked on a linear model, and cross-checked against
tangermeme, which implements ISM and saliency for torch models with (N, 4, L) inputs."""

import resource

import numpy as np
import pytest
import torch
from torch import nn

from reference_torch.data import one_hot_seqs
from reference_torch.interpret import grad_times_input, ism, saliency, simplex_correction
from reference_torch.models import DNA_Linear, build_model

SEQS = ["ACGTA", "TTTTT"]


def _linear() -> tuple[DNA_Linear, np.ndarray]:
    model = DNA_Linear(5)
    weights = np.arange(20, dtype=np.float32).reshape(5, 4) % 7 - 3  # (L, 4), by hand
    with torch.no_grad():
        model.lin.weight.copy_(torch.from_numpy(weights.reshape(1, 20)))
    return model, weights


def test_a_linear_models_attributions_are_its_weights():
    model, w = _linear()
    x = one_hot_seqs(SEQS)
    np.testing.assert_array_equal(saliency(model, x), np.stack([w, w]))
    np.testing.assert_array_equal(grad_times_input(model, x), x * w)
    # ISM: swapping base ref for base b at p changes the output by w[p, b] - w[p, ref]
    expected = w[None] - (x * w).sum(-1, keepdims=True)
    np.testing.assert_allclose(ism(model, x), expected, atol=1e-5)
    assert (ism(model, x)[x == 1] == 0).all()  # the reference base: exactly 0
    corrected = simplex_correction(saliency(model, x))
    np.testing.assert_allclose(corrected.sum(-1), 0, atol=1e-6)
    np.testing.assert_allclose(corrected, np.stack([w, w]) - w.mean(-1, keepdims=True))


class _LengthLast(nn.Module):
    """tangermeme's layout, (N, 4, L), in front of a model that reads (N, L, 4)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 2, 1))


@pytest.mark.parametrize(("name", "seq_len"), [("cnn", 8), ("classifier", 8), ("deep", 20)])
def test_ism_and_saliency_agree_with_tangermeme(name, seq_len):
    from tangermeme.saliency import saliency as tm_saliency
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    torch.manual_seed(0)
    model = build_model(name, seq_len).eval()
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (6, seq_len))]  # (N, L, 4)
    xt = torch.from_numpy(x).permute(0, 2, 1)  # (N, 4, L)
    wrapped = _LengthLast(model).eval()
    output = 1 if name == "classifier" else 0

    y0, y_hat = saturation_mutagenesis(
        wrapped, xt, raw_outputs=True, device="cpu", fast=False
    )  # (N, out), (N, 4, L, out)
    theirs = (y_hat[..., output] - y0[:, None, None, output]).permute(0, 2, 1).numpy()
    np.testing.assert_allclose(ism(model, x, output), theirs, rtol=1e-5, atol=1e-6)

    def tm(**kwargs) -> np.ndarray:
        a = tm_saliency(wrapped, xt, target=output, device="cpu", **kwargs)
        return a.permute(0, 2, 1).numpy()

    grads = saliency(model, x, output)
    plain = tm(hypothetical=True, gradient_correction=False)
    np.testing.assert_allclose(grads, plain, rtol=1e-5, atol=1e-7)
    corrected = tm(hypothetical=True, gradient_correction=True)
    np.testing.assert_allclose(simplex_correction(grads), corrected, rtol=1e-5, atol=1e-7)
    by_input = tm(hypothetical=False, gradient_correction=False)
    np.testing.assert_allclose(grad_times_input(model, x, output), by_input, rtol=1e-5, atol=1e-7)


def _one_hot(n: int, seq_len: int) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (n, seq_len))]


CASES = [("cnn", 11), ("deep", 20)]


def _case(name: str, seq_len: int) -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(0)
    return build_model(name, seq_len), _one_hot(5, seq_len)


@pytest.mark.parametrize(("name", "seq_len"), CASES)
def test_ism_in_blocks_of_positions_equals_one_call(name, seq_len):
    model, x = _case(name, seq_len)
    whole = ism(model, x, batch_size=4 * seq_len)  # every mutant of a sequence in one call
    assert (whole[x == 1] == 0).all()
    for batch_size in (4, 28):  # one position a call; seven, the last call short
        blocks = ism(model, x, batch_size=batch_size)
        np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-6)
        assert (blocks[x == 1] == 0).all()


@pytest.mark.parametrize(("name", "seq_len"), CASES)
def test_saliency_in_batches_equals_one_pass(name, seq_len):
    model, x = _case(name, seq_len)
    grads = saliency(model, x, batch_size=len(x))
    np.testing.assert_allclose(saliency(model, x, batch_size=2), grads, rtol=1e-5, atol=1e-7)
    by_input = grad_times_input(model, x, batch_size=2)
    np.testing.assert_allclose(by_input, grads * x, rtol=1e-5, atol=1e-7)


def _ism_peak_growth_gb(model: nn.Module, seq_len: int, batch_size: int) -> float:
    x = _one_hot(1, seq_len)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the process's peak
    effects = ism(model, x, batch_size=batch_size)
    assert effects.shape == (1, seq_len, 4) and (effects[x == 1] == 0).all()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20


def test_ism_of_a_long_sequence_holds_one_block_of_mutants():
    # all 40,000 mutants of a 10,000-nt sequence at once would take 6.4 GB
    assert _ism_peak_growth_gb(DNA_Linear(10_000), 10_000, batch_size=256) < 1.5
