"""What the notebooks (``notebooks/``) need besides the package they teach: the package's
own source, shown as highlighted code, and the report's figures, shown inline.

A notebook cell that teaches a function calls :func:`show` on it rather than copying it,
so a notebook cannot drift from the code it explains.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

from dna_tutorial.spec import EPOCHS

#: Epochs the notebooks train for: the tutorial's 50 unless ``DNA_TUTORIAL_EPOCHS`` says
#: otherwise (the test suite runs the notebooks with 2).
EPOCHS_VARIABLE = "DNA_TUTORIAL_EPOCHS"


def epochs() -> int:
    """The number of epochs a notebook trains for (see ``EPOCHS_VARIABLE``)."""
    return int(os.environ.get(EPOCHS_VARIABLE, EPOCHS))


def show(*objects) -> None:
    """Display the source of functions or classes, highlighted, one block each."""
    from IPython.display import Code, display

    for obj in objects:
        display(Code(inspect.getsource(obj), language="python"))


#: The notebooks' figure folders, held so that each lives as long as its kernel.
_FOLDERS: list[tempfile.TemporaryDirectory] = []


def figures() -> Path:
    """A fresh temporary folder for a notebook's figures (the package draws to files),
    removed when the kernel exits."""
    folder = tempfile.TemporaryDirectory(prefix="dna-tutorial-notebook-")
    _FOLDERS.append(folder)
    return Path(folder.name)


def image(path: str | Path) -> None:
    """Display a PNG the package drew."""
    from IPython.display import Image, display

    display(Image(filename=str(path)))
