"""The notebooks: their .ipynb files match their jupytext sources and hold no outputs,
the three tutorial notebooks pair cell for cell, and every notebook runs top to bottom
(slow: with 2 epochs of training, ``DNA_TUTORIAL_EPOCHS=2``)."""

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("1_pytorch", "2_jax", "3_parity_and_speed", "4_nnx")
#: The tutorial in each port: PyTorch, Flax Linen, Flax NNX.
TUTORIALS = ("1_pytorch", "2_jax", "4_nnx")


def _read(name: str):
    import jupytext
    import nbformat

    return jupytext.read(NOTEBOOKS / f"{name}.py"), nbformat.read(
        NOTEBOOKS / f"{name}.ipynb", as_version=4
    )


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_is_its_py_source_with_no_outputs(name):
    """The .py (jupytext percent) is what reviewers read and diff; the .ipynb is what
    Jupyter opens. ``jupytext --sync notebooks/*.py`` after editing keeps them one."""
    source, notebook = _read(name)
    assert [c.source for c in notebook.cells] == [c.source for c in source.cells], (
        f"notebooks/{name}.ipynb differs from {name}.py: run jupytext --sync notebooks/*.py"
    )
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "strip the outputs"


def _headings(cells) -> list:
    return [[line for line in c.source.splitlines() if line.startswith("#")][:1]
            for c in cells if c.cell_type == "markdown"]  # fmt: skip


@pytest.mark.parametrize("name", TUTORIALS[1:])
def test_the_tutorial_notebooks_pair_cell_for_cell(name):
    torch_cells, cells = _read("1_pytorch")[0].cells, _read(name)[0].cells
    assert [c.cell_type for c in torch_cells] == [c.cell_type for c in cells]
    assert _headings(torch_cells)[1:] == _headings(cells)[1:]  # every section but the title


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    _, notebook = _read(name)
    # Run it where Jupyter does, in its folder beside its siblings (a copy), so that a
    # notebook source named like a package it imports (once `jax.py`) shadows it here too.
    folder = shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("DNA_TUTORIAL_EPOCHS", "2")  # the kernel inherits the environment
    monkeypatch.setenv("TMPDIR", str(temp))
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    if name == "3_parity_and_speed":  # tables, not figures: parity rows and the decomposition
        assert all(column in html for column in ("max_abs", "passed", "fused_loop"))
    else:
        assert images >= 8
    # the figures' folders go with the kernel (it has exited once execute returns)
    assert not list(temp.glob("dna-tutorial-notebook-*"))
