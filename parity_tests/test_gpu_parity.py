"""The whole parity suite on a GPU, TF32 off in torch and highest precision in JAX.

Skipped unless both torch and JAX see a CUDA device (never the case in CI).
"""

import jax
import pytest
import torch

from parity_tests.compare import assert_all_pass
from parity_tests.harness import run_parity


def _jax_has_gpu() -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and _jax_has_gpu()),
    reason="needs a CUDA device visible to both torch and JAX",
)
def test_parity_on_gpu():
    assert_all_pass(run_parity("cuda"))
