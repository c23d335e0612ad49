"""``python -m dna_tutorial.app``: the command line (for ``torchrun ... -m dna_tutorial.app``)."""

from dna_tutorial.app.cli import console

console()
