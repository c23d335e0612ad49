"""Wall-clock timing: warm-up apart from steady state, repeats, median and spread."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds of one strategy on one workload.

    ``warmup_s`` is the first call: compilation (JAX, ``torch.compile``), graph capture
    (CUDA graphs) or first-touch allocation, plus one run. ``times_s`` are the steady-state
    repeats after it.
    """

    warmup_s: float
    times_s: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def max_s(self) -> float:
        return max(self.times_s)


def measure_side_by_side(runs: Mapping[str, Callable[[], None]], repeats: int) -> dict[str, Timing]:
    """Time several callables in interleaved rounds: each is warmed up once, then every
    round times each of them once. A slow spell of the machine (another process, a
    thermal dip) then falls on all of them alike, which keeps their ratios honest."""
    if repeats < 1:
        raise ValueError(f"need repeats >= 1, got {repeats}")
    warmups = {}
    for name, run in runs.items():
        start = time.perf_counter()
        run()
        warmups[name] = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: Timing(warmups[name], times[name]) for name in runs}


def measure(run: Callable[[], None], repeats: int, warmups: int = 1) -> Timing:
    """Time ``run`` (which must return only once its device work is done: every strategy
    synchronises before returning) ``warmups`` times, then ``repeats`` times."""
    if repeats < 1 or warmups < 1:
        raise ValueError(f"need repeats >= 1 and warmups >= 1, got {repeats}, {warmups}")
    start = time.perf_counter()
    for _ in range(warmups):
        run()
    warmup = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return Timing(warmup, times)
