"""Every tolerance the parity suite applies, in one place.

A comparison passes when ``|torch - jax| <= atol + rtol * |jax|`` elementwise (NumPy's
``allclose``). Exact quantities (scores, encodings, split membership, filter counts) use
zero tolerance. Float32 reductions summed in a different order differ by a few units in
the last place (~1e-7 relative), so forward values are held to 1e-5 and quantities that
accumulate over many SGD steps to 1e-4, the bounds of ``../shared/DESIGN.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def __str__(self) -> str:
        return "exact" if self.rtol == self.atol == 0 else f"rtol {self.rtol:g}, atol {self.atol:g}"


EXACT = Tolerance(0.0, 0.0)
#: Model outputs, conv activations and saliency for the same inputs and weights.
FORWARD = Tolerance(1e-5, 1e-6)
#: Losses of the same outputs and targets.
LOSS = Tolerance(1e-5, 1e-6)
#: Gradients of every parameter (loss gradients sum over the batch: more rounding).
GRADIENT = Tolerance(1e-4, 1e-6)
#: Parameters after one SGD step.
ONE_STEP = Tolerance(1e-5, 1e-6)
#: Parameters and losses after a whole epoch of SGD (hundreds of steps).
EPOCH = Tolerance(1e-4, 1e-4)
#: Test R^2 after a short training run with the same weights and batch order: equal to
#: three decimals, i.e. within half a unit of the third.
R2 = Tolerance(0.0, 5e-4)
