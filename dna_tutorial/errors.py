"""The errors a user can fix, and nothing else.

Every class here derives from :class:`UserError`: the command line prints such an error as
one line naming the file, line or option, and exits with status 2. Any other exception is
a bug in this project and keeps its traceback. (``--debug`` shows tracebacks for user
errors too.) Each class also derives from the built-in type a library caller would expect
(``ValueError``, ``OSError``, ``RuntimeError``), so code that catches those keeps working.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a file, an option, a checkpoint, a path."""


class ConfigError(UserError, ValueError):
    """Options that do not fit together or lie outside their range."""


class DataFileError(UserError, ValueError):
    """A problem in a data file; the message names the file and where."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, damaged, incomplete or belongs to another run."""


class OutputError(UserError, OSError):
    """An output path that cannot be written, or that this project must not replace."""


class BusyError(UserError, RuntimeError):
    """Another run holds the directory this run wants to write."""


class DeviceUnavailableError(UserError, RuntimeError):
    """A device was asked for (e.g. ``--device cuda``) that the framework cannot see."""


class NonFiniteLossError(UserError, RuntimeError):
    """Training produced a NaN or infinite loss.

    ``last_good`` holds what training had before the bad epoch, where the port cannot
    keep it in place: the JAX port's train state (a torch model keeps its own weights).
    """

    def __init__(self, message: str, last_good=None):
        super().__init__(message)
        self.last_good = last_good
