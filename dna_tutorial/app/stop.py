"""Stop signals: SIGTERM and SIGHUP end a command as Ctrl-C does.

``timeout`` ending a run, a closed terminal or a scheduler's stop would otherwise kill the
process where it stands, leaving its staging directory behind and the benchmark's measured
workloads unwritten. Inside :func:`stop_signals` each of SIGINT, SIGTERM and SIGHUP raises
:class:`Stopped` (a ``KeyboardInterrupt``) where the program is, so that every clean-up
that Ctrl-C runs (stages removed, locks released, partial results written) runs for them
too; a second signal during that clean-up is ignored rather than cutting it short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal raised where the program was; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(err: BaseException) -> str:
    """The signal that stopped the program: SIGINT for a plain ``KeyboardInterrupt``."""
    return signal.Signals(getattr(err, "signum", signal.SIGINT)).name


def exit_status(err: BaseException) -> int:
    """128 + the signal's number, as a shell reports a process a signal ended."""
    return 128 + signal.Signals(getattr(err, "signum", signal.SIGINT)).value


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within: SIGINT, SIGTERM and SIGHUP raise :class:`Stopped`; once one has, further
    ones are ignored, to the end of the process (its clean-up and exit). Otherwise the
    handlers of before are restored at the end. Outside the main thread (where handlers
    cannot be set) it does nothing."""

    stopped = []

    def stop(signum, frame):
        for other in SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        stopped.append(signum)
        raise Stopped(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum, handler in before.items():
        if handler in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(signum, stop)
    try:
        yield
    finally:
        if not stopped:  # once stopped, the process exits: later signals stay ignored
            for signum, handler in before.items():
                signal.signal(signum, handler)


def exit_with(code: int) -> NoReturn:
    """End the process with ``code``. After a stop (a status above 128) everything of
    ours is already cleaned up, so the interpreter's own shutdown is skipped: XLA's threads
    still compiling when a signal came crashed it (exit 139) in a third of the tries."""
    if code > 128:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
