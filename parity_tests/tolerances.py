"""Every tolerance the parity suite applies, in one place.

A comparison passes when ``|torch - jax| <= atol + rtol * |jax|`` elementwise (NumPy's
``allclose``), plus, for gradients, a share of the tensor's largest entry. Exact quantities
(scores, encodings, split membership, filter counts) use zero tolerance. Float32
reductions summed in a different order differ by a few units in the last place (~1e-7
relative), so forward values are held to 1e-5 and quantities that accumulate over many SGD
steps to 1e-4, the bounds of ``../shared/DESIGN.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """``|a - b| <= atol + rtol * |b| + peak * max|b|`` for every element. ``peak`` lets an
    entry near zero of a tensor whose other entries are large differ by rounding of the
    size of those (a sum with cancellation)."""

    rtol: float
    atol: float
    peak: float = 0.0

    def allowed(self, reference: np.ndarray) -> np.ndarray:
        reference = np.abs(reference)
        return self.atol + self.rtol * reference + self.peak * reference.max(initial=0)

    def __str__(self) -> str:
        if self.rtol == self.atol == self.peak == 0:
            return "exact"
        text = f"rtol {self.rtol:g}, atol {self.atol:g}"
        return text + (f", {self.peak:g} of the peak" if self.peak else "")


EXACT = Tolerance(0.0, 0.0)
#: Model outputs, conv activations and ISM effects for the same inputs and weights.
FORWARD = Tolerance(1e-5, 1e-6)
#: Losses of the same outputs and targets.
LOSS = Tolerance(1e-5, 1e-6)
#: Gradients of every parameter (loss gradients sum over the batch: more rounding, and
#: BatchNorm's scale gradient sums terms that cancel, so an entry near zero may differ by
#: 1e-5 of the tensor's largest entry).
GRADIENT = Tolerance(1e-4, 1e-6, peak=1e-5)
#: Parameters after one SGD step.
ONE_STEP = Tolerance(1e-5, 1e-6)
#: Parameters and losses after a whole epoch of SGD (hundreds of steps).
EPOCH = Tolerance(1e-4, 1e-4)
#: Per-epoch losses of a ReLU network over several epochs. After the first epoch SGD can
#: park a pre-activation on ReLU's kink (0 from above), where float rounding decides on which
#: side each port lands; the trajectories then part by a little (measured: 2e-4 relative
#: on training losses, 1.2e-3 on validation losses after 3 epochs of the CNN).
TRAJECTORY = Tolerance(1e-2, 1e-3)
#: Test R^2 after a short training run with the same weights and batch order: equal to
#: three decimals, i.e. within half a unit of the third.
R2 = Tolerance(0.0, 5e-4)
