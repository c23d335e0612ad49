"""The machine's limits, measured in the same run as the strategies they judge.

- the float32 matmul peak (GFLOP/s) of each framework: a square matmul large enough to
  run at full speed;
- the copy bandwidth (GB/s): an elementwise pass over an array far larger than the
  caches, counting the bytes read and written;
- the launch floor: a compiled loop of as many near-empty steps as an epoch has, what a
  fused epoch would take if every step cost only its dispatch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import torch

from benchmarks.timing import measure


def _jax_device(device: str) -> jax.Device:
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


def matmul_peak_gflops(device: str, size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Float32 matmul throughput of each framework on ``device`` (GFLOP/s, best of repeats)."""
    flops = 2 * size**3
    dev = torch.device(device)
    a = torch.rand(size, size, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def torch_mm():
        a @ a
        sync()

    peaks = {"torch": flops / measure(torch_mm, repeats).min_s / 1e9}
    with jax.default_device(_jax_device(device)):
        b = jnp.ones((size, size), jnp.float32)
        mm = jax.jit(lambda m: m @ m)
        peaks["jax"] = flops / measure(lambda: mm(b).block_until_ready(), repeats).min_s / 1e9
    return peaks


def copy_bandwidth_gbs(device: str, mib: int = 256, repeats: int = 5) -> dict[str, float]:
    """Bytes read plus bytes written per second by ``y = x + 1`` over ``mib`` MiB of
    float32, in each framework (GB/s, best of repeats).

    The JAX pass donates its input, so that the output reuses the input's memory: a fresh
    256 MiB buffer per call would measure the operating system's page faults instead."""
    n = mib * 2**20 // 4
    moved = 2 * 4 * n
    return {"torch": moved / _torch_copy_seconds(device, n, repeats) / 1e9,
            "jax": moved / _jax_copy_seconds(device, n, repeats) / 1e9}  # fmt: skip


def _torch_copy_seconds(device: str, n: int, repeats: int) -> float:
    dev = torch.device(device)
    x, y = torch.ones(n, device=dev), torch.empty(n, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def copy():
        torch.add(x, 1.0, out=y)
        sync()

    return measure(copy, repeats).min_s


def _jax_copy_seconds(device: str, n: int, repeats: int) -> float:
    with jax.default_device(_jax_device(device)):
        box = [jnp.ones(n, jnp.float32)]
        add = jax.jit(lambda v: v + 1.0, donate_argnums=0)

        def copy():
            box[0] = add(box[0])
            box[0].block_until_ready()

        return measure(copy, repeats).min_s


def launch_floor_seconds(steps: int, device: str, repeats: int = 5) -> float:
    """Seconds for a compiled ``lax.scan`` of ``steps`` near-empty steps on ``device``."""
    with jax.default_device(_jax_device(device)):
        loop = jax.jit(
            lambda x: jax.lax.scan(lambda c, _: (c * 1.0001 + 1.0, None), x, None, length=steps)[0]
        )
        x = jnp.ones(128, jnp.float32)
        return measure(lambda: loop(x).block_until_ready(), repeats).median_s
