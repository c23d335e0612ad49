"""The lesson's shape: the two ports' files pair up name for name, the framework-free core
imports no framework, and the walk-through names only what exists."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ("data", "models", "train", "evaluate", "filters", "interpret")
#: What only the JAX file defines, each a real functional-vs-object-oriented difference:
#: its DataLoader is a description it writes itself (torch imports one); state travels in
#: a TrainState that one function creates; losses are functions, not nn.Module objects.
JAX_ONLY = {
    "data": {"targets_array", "DataLoader"},
    "models": {"BatchNorm"},  # torch's conventions, where Flax's nn.BatchNorm differs
    "train": {
        "mse_loss",
        "cross_entropy_loss",
        "binary_cross_entropy_loss",
        "TrainState",
        "create_train_state",
        "learning_rate",  # the deeper CNN's schedule as a function of optax's step count
    },
    "evaluate": set(),
    "filters": set(),
    "interpret": set(),
}


def lesson_names(path: Path) -> list[str]:
    """Public functions and classes a file defines, in the order it defines them."""
    tree = ast.parse(path.read_text())
    kinds = (ast.FunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


@pytest.mark.parametrize("pair", PAIRS)
def test_each_pair_defines_the_same_lesson_names_in_the_same_order(pair):
    torch_names = lesson_names(ROOT / "reference_torch" / f"{pair}.py")
    jax_names = lesson_names(ROOT / "jax_impl" / f"{pair}.py")
    assert JAX_ONLY[pair] <= set(jax_names), "the allowlist names something that is gone"
    assert [n for n in jax_names if n not in JAX_ONLY[pair]] == torch_names


def test_the_drivers_define_the_same_helpers_in_the_same_order():
    torch_names = lesson_names(ROOT / "reference_torch" / "run.py")
    jax_names = lesson_names(ROOT / "jax_impl" / "run.py")
    assert torch_names == jax_names and len(torch_names) >= 6


def test_the_name_order_check_notices_a_missing_or_moved_name(tmp_path):
    (tmp_path / "a.py").write_text("def fit(): ...\ndef train_step(): ...\nclass History: ...\n")
    (tmp_path / "b.py").write_text("class History: ...\ndef fit(): ...\ndef _helper(): ...\n")
    assert lesson_names(tmp_path / "a.py") == ["fit", "train_step", "History"]
    assert lesson_names(tmp_path / "b.py") != lesson_names(tmp_path / "a.py")


#: The framework-free core: what both ports and the application build on.
CORE = (
    "dna_tutorial.spec",
    "dna_tutorial.sequences",
    "dna_tutorial.recipe",
    "dna_tutorial.datafiles",
    "dna_tutorial.outputs",
    "dna_tutorial.weights",
    "dna_tutorial.checkpoint",
    "dna_tutorial.synthetic",
    "dna_tutorial.dataset",
    "dna_tutorial.registry",
    "dna_tutorial.results",
    "dna_tutorial.errors",
    "dna_tutorial.config",
    "dna_tutorial.provenance",
    "dna_tutorial.pwm",
    "dna_tutorial.metrics",
    "dna_tutorial.schedule",
    "dna_tutorial.jaspar",
    "dna_tutorial.insertion",
    "dna_tutorial.tomtom",
    "dna_tutorial.options",
    "dna_tutorial.memory",
)
FORBIDDEN = ("torch", "jax", "flax", "optax", "matplotlib", "altair", "logomaker")
APPLICATION = ("dna_tutorial.app", "parity_tests", "benchmarks", "experiments")
UPPER_LAYERS = ("reference_torch", "jax_impl", *APPLICATION)


def _imports_above(modules: list[str], forbidden_roots: tuple, forbidden: tuple) -> dict:
    """Per module, what importing it (in a fresh interpreter) pulled in from the layers
    it must not import: {module: [offending modules]}; empty if none."""
    probe = (
        "import importlib, json, sys\n"
        "found = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    bad = [m for m in sys.modules if m.split('.')[0] in {forbidden_roots!r}"
        f" or m.startswith({forbidden!r})]\n"
        "    if bad: found[name] = sorted(bad)[:5]\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout)


def test_the_core_imports_no_framework_and_nothing_above_it():
    assert _imports_above(list(CORE), FORBIDDEN, UPPER_LAYERS) == {}


def test_the_ports_import_nothing_of_the_application():
    ports = [
        f"{package}.{path.stem}"
        for package in ("reference_torch", "jax_impl")
        for path in sorted((ROOT / package).glob("*.py"))
        if path.stem != "__init__"
    ]
    assert len(ports) > 12 and _imports_above(ports, (), APPLICATION) == {}


def test_every_core_module_is_listed():
    on_disk = {p.stem for p in (ROOT / "dna_tutorial").glob("*.py") if p.stem != "__init__"}
    assert on_disk == {name.rsplit(".", 1)[1] for name in CORE}


WALKTHROUGH = ROOT / "docs" / "lesson.md"


def test_the_walkthrough_covers_every_pair_in_order():
    text = WALKTHROUGH.read_text()
    positions = [text.find(f"## {i}. `{pair}.py`") for i, pair in enumerate(PAIRS, start=1)]
    assert -1 not in positions and positions == sorted(positions)


def test_the_registry_says_which_run_options_each_model_takes():
    """``ModelSpec.options`` decides which options a run refuses as unused: it must be
    what both ports' constructors take."""
    import dataclasses
    import inspect

    from dna_tutorial import config, registry

    run_options = {f.name for f in dataclasses.fields(config.RunConfig)}
    for name, spec in registry.MODELS.items():
        torch_args = set(inspect.signature(registry.resolve(spec.torch)).parameters)
        flax_args = {f.name for f in dataclasses.fields(registry.resolve(spec.jax))}
        for port, takes in (("torch", torch_args), ("jax", flax_args)):
            assert takes & run_options == set(spec.options), (name, port)
