"""The lesson's shape: the two ports' files pair up name for name, the framework-free core
imports no framework, and the walk-through names only what exists."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ("data", "models", "train", "evaluate", "filters", "interpret")
#: The lesson's three rungs: the packages whose lesson files pair up.
RUNGS = ("reference_torch", "nnx_impl", "jax_impl")
#: What only the Linen file defines, each a real functional-vs-object-oriented difference:
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
#: What only the NNX file defines: its data are the Linen port's; its model holds its state
#: like torch's (no TrainState), but its losses are still functions and one step crosses
#: the compile boundary with ``nnx.jit`` (``train_batch``).
NNX_ONLY = {
    **JAX_ONLY,
    "train": {
        "mse_loss",
        "cross_entropy_loss",
        "binary_cross_entropy_loss",
        "train_batch",
        "learning_rate",
    },
}
EXTRA = {"jax_impl": JAX_ONLY, "nnx_impl": NNX_ONLY}


def lesson_names(path: Path) -> list[str]:
    """Public functions and classes a file defines, in the order it defines them; a file
    that re-exports another's (``__all__``) names them in its ``__all__`` order."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    kinds = (ast.FunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


@pytest.mark.parametrize("port", ["jax_impl", "nnx_impl"])
@pytest.mark.parametrize("pair", PAIRS)
def test_each_pair_defines_the_same_lesson_names_in_the_same_order(pair, port):
    torch_names = lesson_names(ROOT / "reference_torch" / f"{pair}.py")
    names = lesson_names(ROOT / port / f"{pair}.py")
    only = EXTRA[port][pair]
    assert only <= set(names), "the allowlist names something that is gone"
    assert [n for n in names if n not in only] == torch_names


def test_the_nnx_data_file_is_the_linen_one():
    """NNX changes the model, not the data: its data.py re-exports every lesson name."""
    import jax_impl.data
    import nnx_impl.data

    assert lesson_names(ROOT / "nnx_impl" / "data.py") == lesson_names(
        ROOT / "jax_impl" / "data.py"
    )
    for name in nnx_impl.data.__all__:
        assert getattr(nnx_impl.data, name) is getattr(jax_impl.data, name)


def test_the_drivers_define_the_same_helpers_in_the_same_order():
    drivers = [lesson_names(ROOT / rung / "run.py") for rung in RUNGS]
    assert drivers[0] == drivers[1] == drivers[2] and len(drivers[0]) >= 6


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
UPPER_LAYERS = (*RUNGS, *APPLICATION)


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


def _modules(*packages: str) -> list[str]:
    return [
        f"{package}.{path.stem}"
        for package in packages
        for path in sorted((ROOT / package).glob("*.py"))
        if path.stem != "__init__"
    ]


def test_the_ports_import_nothing_of_the_application():
    ports = _modules(*RUNGS)
    assert len(ports) > 20 and _imports_above(ports, (), APPLICATION) == {}


def test_each_rung_imports_only_the_rungs_below_it():
    """PyTorch stands alone; Linen needs nothing of NNX; NNX builds on Linen's data and
    converter (and torch only as the reference a checkpoint's layout comes from)."""
    assert (
        _imports_above(_modules("reference_torch"), ("jax", "flax"), ("jax_impl", "nnx_impl")) == {}
    )
    assert _imports_above(_modules("jax_impl"), (), ("nnx_impl",)) == {}


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
        nnx_args = set(inspect.signature(registry.resolve(spec.nnx).__init__).parameters)
        for port, takes in (("torch", torch_args), ("jax", flax_args), ("nnx", nnx_args)):
            assert takes & run_options == set(spec.options), (name, port)


def test_the_walkthroughs_diff_sizes_are_the_files():
    """The table of ``diff`` sizes in docs/lesson.md is measured, not remembered."""
    table = r"^\| `(\w+)\.py` \| (\d+) \| (\d+) \| (\d+) \|$"
    rows = re.findall(table, WALKTHROUGH.read_text(), re.M)
    assert [name for name, *_ in rows] == ["models", "train", "evaluate", "filters", "interpret"]
    from dna_tutorial.app.figures import diff_lines

    for name, torch_linen, torch_nnx, nnx_linen in rows:
        t, n, j = (ROOT / p / f"{name}.py" for p in ("reference_torch", "nnx_impl", "jax_impl"))
        assert [diff_lines(t, j), diff_lines(t, n), diff_lines(n, j)] == [
            int(torch_linen),
            int(torch_nnx),
            int(nnx_linen),
        ], f"docs/lesson.md's diff sizes of {name}.py are stale"
