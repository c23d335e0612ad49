"""``python -m benchmarks``: ``dna-tutorial bench`` (see :mod:`benchmarks.runner`), with the
command line's one-line errors and its handling of stop signals."""

import sys

from dna_tutorial.app.cli import main
from dna_tutorial.app.stop import exit_with

exit_with(main(["bench", *sys.argv[1:]]))
