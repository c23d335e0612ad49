"""Errors that mean "the input or the run went wrong", shown to users as one line."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss.

    ``last_good`` holds what training had before the bad epoch, where the port cannot
    keep it in place: the JAX port's train state (a torch model keeps its own weights).
    """

    def __init__(self, message: str, last_good=None):
        super().__init__(message)
        self.last_good = last_good


class DeviceUnavailableError(RuntimeError):
    """A device was asked for (e.g. ``--device cuda``) that the framework cannot see."""


#: What the command line reports as one line with exit status 2 (ValueError covers bad
#: sequences, labels, options and files' contents; OSError missing or unreadable files).
USER_ERRORS = (ValueError, OSError, NonFiniteLossError, DeviceUnavailableError)
