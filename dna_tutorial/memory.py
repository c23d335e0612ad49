"""How much memory the work asked for needs, estimated from shapes before it starts.

Work that can be cut into pieces (predictions, filter logos, ISM mutants, saliency) is cut
into chunks of about :data:`CHUNK_BYTES` each, sized from the model's
:class:`~dna_tutorial.registry.Size`, so it fits by design. What cannot be cut (the data
set each port holds, one training batch with its gradients, the parameters and optimizer
state) is added up and held against the memory this machine has free: a run that would
not fit is refused before it starts, in one line naming the option to change.

The estimates are upper bounds on what each port allocates (tested against XLA's own
account of its compiled buffers), not exact figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dna_tutorial import registry
from dna_tutorial.errors import ConfigError

FLOAT = 4  # bytes of a float32
#: The working set one chunk of chunked work may take.
CHUNK_BYTES = 256 * 2**20
#: Bytes per example of a training step for each float a forward pass makes: the values
#: kept for the backward pass, their gradients and the compilers' temporaries.
TRAIN_FACTOR = 3 * FLOAT
#: Copies of the parameters a training run holds: weights, gradients, two AdamW moments.
PARAM_COPIES = 4
#: Bytes per sequence letter of the data set a port holds: the text and its integer codes
#: (1 byte each) and the one-hot float32 encoding (16 bytes).
DATA_BYTES_PER_BASE = 18
#: What the frameworks themselves take before any data (measured: ~0.6 GB for JAX, ~0.4 GB
#: for torch on CPU), and the share of the free memory a run may plan to fill.
RUNTIME_BYTES = 1 * 2**30
USABLE = 0.8


def gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def available_bytes() -> int:
    """Memory this process may still take: the kernel's estimate of available memory,
    within the control group's limit when one is set."""
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(free, 0)


def forward_bytes(name: str, seq_len: int, options: Mapping) -> int:
    """Bytes one example's forward pass makes (its input included)."""
    size = registry.get(name).size_at(seq_len, options)
    floats = 4 * seq_len + (size.floats if size else 64 * 4 * seq_len)
    return FLOAT * floats


def chunk_rows(name: str, seq_len: int, options: Mapping, backward: bool = False) -> int:
    """Examples per model call so that one call stays within :data:`CHUNK_BYTES`
    (a backward pass, e.g. saliency, keeps about three times a forward pass's values)."""
    per_row = forward_bytes(name, seq_len, options) * (TRAIN_FACTOR // FLOAT if backward else 1)
    return max(1, CHUNK_BYTES // per_row)


def training_bytes(name: str, seq_len: int, options: Mapping, batch_size: int) -> int:
    """One training step of ``batch_size`` examples: activations, their gradients and
    temporaries, plus every copy of the parameters."""
    size = registry.get(name).size_at(seq_len, options)
    per_row = forward_bytes(name, seq_len, options) * TRAIN_FACTOR // FLOAT
    params = size.params if size else 0
    return batch_size * per_row + PARAM_COPIES * FLOAT * params


def data_bytes(num_seqs: int, seq_len: int) -> int:
    """The data set as a port holds it (text, codes, one-hot)."""
    return num_seqs * (seq_len * DATA_BYTES_PER_BASE + 100)


def refuse_unless_fits(
    need: Mapping[str, int], advice: str, free: int | None = None, what: str = "this"
) -> None:
    """Raise :class:`ConfigError` if the parts of ``need`` (what -> bytes) add up to more
    than this machine can give; the message says ``what`` needs it, lists the largest
    parts and gives ``advice``."""
    free = available_bytes() if free is None else free
    total = RUNTIME_BYTES + sum(need.values())
    if total <= USABLE * free:
        return
    parts = ", ".join(f"{part}: {gb(n)}" for part, n in sorted(need.items(), key=lambda kv: -kv[1]))
    raise ConfigError(
        f"{what} needs about {gb(total)} of memory ({parts}); this machine has {gb(free)} free; "
        f"{advice}"
    )


def check_synthetic(num_seqs: int, seq_len: int) -> None:
    """Refuse a synthetic task too big to make, before it is made."""
    refuse_unless_fits(
        {f"{num_seqs:,} sequences of {seq_len:,} nt": data_bytes(num_seqs, seq_len)},
        "use a smaller --num-seqs or --seq-len",
    )


def check_training(
    names: tuple[str, ...],
    num_seqs: int,
    seq_len: int,
    options: Mapping,
    batch_size: int,
    train_rows: int,
    shorter: str | None = "--trim-to",
) -> None:
    """Refuse a run whose data and largest training step would not fit, naming the option
    that helps most: ``--batch-size`` when the step's batch is the trouble, the model's
    size when one example is too much already, else the data's size. ``shorter`` is the
    option that shortens the sequences (``--trim-to`` for a file, ``--seq-len`` for a
    synthetic task, None for the tutorial's 8-mers)."""
    shorten = f"shorter sequences ({shorter}) or " if shorter else ""
    batch = min(batch_size, train_rows)
    steps = {n: training_bytes(n, seq_len, options, batch) for n in names}
    widest = max(steps, key=lambda n: steps[n])
    data = data_bytes(num_seqs, seq_len)
    need = {
        f"the data ({num_seqs:,} x {seq_len:,} nt)": data,
        f"a training step of {widest} (batch {batch:,})": steps[widest],
        "chunked work": CHUNK_BYTES,
    }
    room = int(USABLE * available_bytes()) - RUNTIME_BYTES - data - CHUNK_BYTES
    one = training_bytes(widest, seq_len, options, 1)
    per_row = max(1, (steps[widest] - one) // max(batch - 1, 1))
    if one > room and one > data:
        advice = (
            f"one example's training step of {widest} needs {gb(one)} already: use "
            f"{shorten}a smaller model (--num-filters, --conv-blocks, --dense-units)"
        )
    elif steps[widest] >= data and room >= one:
        advice = f"use --batch-size {max(1, 1 + (room - one) // per_row):,} or less"
    else:
        advice = f"use {shorten}fewer sequences (--num-seqs, a smaller file)"
    refuse_unless_fits(need, advice)
