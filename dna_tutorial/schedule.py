"""The deeper model's learning-rate schedules, written once for both ports.

``cosine`` (the default), per epoch: a linear warm-up from ``peak / warmup`` to ``peak``
over the first ``warmup`` epochs, then a cosine from ``peak`` down to 0 at the end of the
last epoch. torch steps a ``LambdaLR`` once per epoch with it; optax evaluates it at
``step // steps_per_epoch``, so both ports train each epoch at the same rate.
``constant`` keeps the peak rate after the warm-up (if any), as Koo & Eddy's Adam does.
``xp`` is the array module to compute with (NumPy, or ``jax.numpy`` inside a compiled
step).
"""

from __future__ import annotations

import math

import numpy as np


def warmup_cosine(epoch, peak: float, warmup: int, total: int, xp=np):
    """The learning rate of ``epoch`` (0-based) of ``total``."""
    if total < 1 or warmup < 0:
        raise ValueError(f"need total >= 1 and warmup >= 0, got {total} and {warmup}")
    epoch = xp.asarray(epoch, dtype=xp.float32)
    ramp = peak * (epoch + 1) / max(warmup, 1)
    progress = (epoch - warmup) / max(total - warmup, 1)
    decay = 0.5 * peak * (1 + xp.cos(math.pi * xp.clip(progress, 0.0, 1.0)))
    return xp.where(epoch < warmup, ramp, decay)


#: The schedules ``--schedule`` names.
SCHEDULES = ("cosine", "constant")


def schedule_factor(epoch, schedule: str, warmup: int, total: int, xp=np):
    """The share of the peak rate that ``schedule`` gives ``epoch``: 0 to 1."""
    if schedule == "constant":
        epoch = xp.asarray(epoch, dtype=xp.float32)
        return xp.where(epoch < warmup, (epoch + 1) / max(warmup, 1), 1.0)
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")
    return warmup_cosine(epoch, 1.0, warmup, total, xp)
