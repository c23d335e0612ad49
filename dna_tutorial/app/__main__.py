"""``python -m dna_tutorial.app``: the command line (for ``torchrun ... -m dna_tutorial.app``)."""

import sys

from dna_tutorial.app.cli import main

sys.exit(main())
