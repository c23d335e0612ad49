"""Memory bounded by design: the estimates the command line plans with hold against what
XLA compiles, and work too big for the machine is refused before it starts."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dna_tutorial import memory, registry
from dna_tutorial.errors import ConfigError
from jax_impl import fast, models
from jax_impl.train import create_train_state, loss_batch

#: Every registered model at a shape of its own and at a long one.
CASES = [
    ("linear", 500, {}),
    ("cnn", 600, {}),
    ("cnn", 300, {"num_filters": 64, "kernel_size": 9}),
    ("cnn2d", 300, {}),
    ("classifier", 300, {"num_classes": 3}),
    ("deep", 400, {}),
    ("deep", 300, {"conv_blocks": ((16, 5, 1), (24, 3, 4)), "dense_units": (32, 8)}),
    ("deep_multilabel", 300, {"num_classes": 4}),
]


def _compiled_bytes(compiled) -> int:
    stats = compiled.memory_analysis()
    return stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes


def _cases():
    """Each case in both builds; the deeper CNN's compile takes seconds, so only its default
    shape in the fast build runs in the fast tier."""
    for build, label in ((models.build_model, "textbook"), (fast.build_model, "fast")):
        for name, seq_len, options in CASES:
            heavy = name.startswith("deep") and (label == "textbook" or options)
            marks = [pytest.mark.slow] if heavy else []
            yield pytest.param(
                build, name, seq_len, options, marks=marks, id=f"{name}-{seq_len}-{label}-{options}"
            )


@pytest.mark.parametrize(("build", "name", "seq_len", "options"), list(_cases()))
def test_the_estimates_bound_what_xla_compiles(build, name, seq_len, options):
    batch = 16
    model = build(name, seq_len, **options)
    xb = jnp.zeros((batch, seq_len, 4))
    forward = jax.jit(lambda v, x: model.apply(v, x)).lower(
        jax.eval_shape(model.init, jax.random.key(0), xb[:1]), xb
    )
    predicted = batch * memory.forward_bytes(name, seq_len, options)
    assert _compiled_bytes(forward.compile()) <= predicted

    state = create_train_state(model, jax.random.key(0), xb[:1])
    yb = jnp.zeros((batch, 1))
    key = jax.random.key(1)  # dropout's masks, where the model has dropout
    step = jax.jit(lambda s, x, y: loss_batch(s, x, y, True, key)[:2]).lower(state, xb, yb)
    planned = memory.training_bytes(name, seq_len, options, batch)
    compiled = _compiled_bytes(step.compile())
    assert compiled <= planned
    assert planned < 8 * compiled  # an upper bound, not a guess far off (1.8-5.3x here)


def test_chunks_hold_one_chunks_worth():
    rows = memory.chunk_rows("cnn", 10_000, {})
    assert rows >= 1 and rows * memory.forward_bytes("cnn", 10_000, {}) <= memory.CHUNK_BYTES
    assert memory.chunk_rows("cnn", 10_000, {}, backward=True) < rows
    assert memory.chunk_rows("cnn", 8, {}) > 10_000  # the tutorial's 8-mers: one call


def test_work_that_does_not_fit_is_refused_naming_what_to_change(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * 10**9)
    with pytest.raises(ConfigError, match=r"use a smaller --num-seqs or --seq-len"):
        memory.check_synthetic(100_000, 100_000)
    memory.check_synthetic(100_000, 200)
    deep = registry.get("deep")
    options = {"conv_blocks": ((64, 7, 1),), "dense_units": (8,)}
    assert deep.size_at(20_000, options).params > 10_000_000
    with pytest.raises(ConfigError, match=r"use --batch-size \d+ or less") as err:
        memory.check_training(("deep",), 500, 20_000, options, 512, 320)
    assert "a training step of deep (batch 320)" in str(err.value)
    with pytest.raises(ConfigError, match=r"one example's training step of cnn needs"):
        memory.check_training(("cnn",), 40, 100_000, {"num_filters": 100_000}, 8, 25)
    with pytest.raises(ConfigError, match=r"use shorter sequences \(--trim-to\) or fewer"):
        memory.check_training(("linear",), 10**6, 1_000, {}, 8, 640_000)


def _peak_rss_gb(argv: list[str], cwd) -> tuple[float, subprocess.CompletedProcess]:
    """Peak resident memory of ``dna-tutorial *argv`` run in a child process of its own."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)\n"
        "sys.stderr.write(done.stderr)\n"
    )
    cli = [sys.executable, "-m", "dna_tutorial.app", *argv]
    done = subprocess.run(
        [sys.executable, "-c", probe, *cli], capture_output=True, text=True, cwd=cwd
    )
    kib, code = done.stdout.split()
    return int(kib) / 2**20, subprocess.CompletedProcess(cli, int(code), "", done.stderr)


@pytest.mark.slow
def test_run_predict_and_explain_stay_bounded_on_10000_nt_sequences(tmp_path):
    """Before: the run's filter logos asked JAX for 21 GB, explaining one sequence 102 GB
    (torch 6.4 GB): ISM ran all 40,000 mutants at once. Each now stays within 3 GB."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 10_000)) for _ in range(15)]
    data = tmp_path / "long.csv"
    data.write_text("id,seq,score\n" + "".join(f"s{i},{s},{i % 7}\n" for i, s in enumerate(seqs)))
    run = ["run", "--quiet", "--no-tomtom", "--models", "cnn", "--num-filters", "4"]
    run += ["--epochs", "1", "--batch-size", "8", "--data", str(data), "--out", "r"]
    run += ["--checkpoint-dir", "ck"]
    for argv in (
        [*run, "--framework", "jax"],
        ["explain", "--quiet", "--checkpoint", "ck/jax/cnn", "--data", str(data), "--max-seqs",
         "1", "--out", "e"],
        ["explain", "--quiet", "--checkpoint", "ck/jax/cnn", "--framework", "torch", "--data",
         str(data), "--max-seqs", "1", "--out", "t"],
        ["predict", "--checkpoint", "ck/jax/cnn", "--data", str(data)],
    ):  # fmt: skip
        peak, done = _peak_rss_gb(argv, tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert peak < 3, f"{argv[0]} peaked at {peak:.1f} GB"
