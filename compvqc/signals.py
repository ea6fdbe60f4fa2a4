"""SIGTERM and SIGINT as exceptions in the CLI, and short sections that a signal must not cut.

Python runs a signal handler in the main thread between two bytecodes, so a handler that raises
can stop a program anywhere. The CLI wants that (a SIGTERM during data loading or a transpile
should end the command at once, with one line and exit 143), but a few sections must finish
first: an atomic file write (its temporary must be renamed or removed) and the flush of queued
checkpoints. ``deferred()`` marks such a section: a signal that arrives inside it is recorded,
and re-delivered (``signal.raise_signal``) to whatever handler was installed before, once the
section is over. Being transparent to the handler, it composes with a library user's own
handlers, with the training loop's ``catch_signals`` (which only sets a flag) and with the
default action (the process dies, but after the file is whole).

Nothing here runs at import time: importing compvqc never replaces a handler. ``handled()``
installs the raising handlers for the length of a CLI command; the console entry point installs
them first thing, before any heavy import (see ``compvqc.cli.run``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from compvqc.errors import Terminated

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _raise(signum, _frame):
    raise Terminated(signum)


def install() -> dict:
    """Install the raising handlers (main thread only); returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _raise) for s in SIGNALS}


def restore(previous: dict) -> None:
    for s, h in previous.items():
        if h is not None:  # None: a handler installed from C, which Python cannot put back
            signal.signal(s, h)


@contextlib.contextmanager
def handled():
    """SIGTERM/SIGINT raise :class:`~compvqc.errors.Terminated` inside the block."""
    previous = install()
    try:
        yield
    finally:
        restore(previous)


@contextlib.contextmanager
def deferred():
    """Hold SIGTERM/SIGINT until the block ends, then deliver them to the previous handlers.

    Off the main thread it does nothing: handlers run only in the main thread, never inside a
    section another thread is running.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def record(signum, _frame):
        received.append(signum)

    previous = {}
    try:
        for s in SIGNALS:
            if (h := signal.getsignal(s)) is not None:  # None: a handler from C, which restore cannot put back
                previous[s] = h
                signal.signal(s, record)
        yield
    finally:
        restore(previous)
        for s in dict.fromkeys(received):  # each signal once, in order of arrival
            signal.raise_signal(s)


def ignore() -> None:
    """Ignore SIGTERM/SIGINT from now on (a finished command that is only exiting)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def report(e: Terminated) -> int:
    """The CLI's one line for an interrupted command; returns its exit code, 128 + signum."""
    try:
        name = signal.Signals(e.signum).name
    except ValueError:
        name = f"signal {e.signum}"
    print(f"compvqc: interrupted by {name}", file=sys.stderr)
    return 128 + e.signum


def catches(pid: int, signum: int = signal.SIGTERM) -> bool:
    """Whether process ``pid`` has a handler installed for ``signum`` (Linux: the kernel's
    ``SigCgt`` mask in ``/proc/<pid>/status``; False where that cannot be read). What the tests
    and ``benchmarks/signals.py`` use to tell the start-up window from the rest of a run."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False
