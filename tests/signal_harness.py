"""Run the real ``compvqc`` entry point, pausing at one chosen moment until a signal arrives.

    python tests/signal_harness.py MOMENT READY_FD [compvqc arguments ...]

At MOMENT the process writes one line to the descriptor READY_FD and waits for SIGTERM/SIGINT,
then hands the signal to the handler that was installed there and carries on. A test reads the
line — an event, not a guess of how long anything takes — and sends the signal, so the signal
lands exactly where the test means it to:

* ``training``  right after the first checkpoint save inside the training loop;
* ``flush``     inside the flush of the queued checkpoints after training, with saves queued;
* ``output``    inside the atomic write of ``-o``, after the temporary is written, before the rename;
* ``call:MODULE:NAME``  when the function ``MODULE.NAME`` is first called (in the middle of a
  command's work: a compression, an evaluation, the demo's training);
* ``lock``      right after the first checkpoint save, to hold the run directory (no signal wait:
  it waits for a line on stdin instead, so a second trainer can be tried meanwhile).
"""

import os
import signal
import sys
import time

if __name__ == "__main__":  # (a spawned worker process imports this file again, with its own argv)
    MOMENT, READY = sys.argv[1], int(sys.argv[2])
    sys.argv = ["compvqc", *sys.argv[3:]]


def announce() -> None:
    os.write(READY, f"{MOMENT} {os.getpid()}\n".encode())


def pause_until_signalled() -> None:
    """Tell the test we are at MOMENT, wait for its signal, give it to the handler in place."""
    got = []
    previous = {s: signal.signal(s, lambda signum, _f: got.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    announce()
    while not got:
        time.sleep(0.001)  # woken by the signal's handler; polls an event, not a duration
    for s, h in previous.items():
        signal.signal(s, h)
    handler = previous[got[0]]
    if callable(handler):
        handler(got[0], None)
    else:  # pragma: no cover - default action
        signal.raise_signal(got[0])


def once(fn):
    done = []

    def wrapper(*a, **k):
        if not done:
            done.append(True)
            fn()
    return wrapper


def main() -> int:
    from compvqc.checkpoint import manager as mgr
    from compvqc.checkpoint import process_writer

    fire = once(pause_until_signalled)
    if MOMENT in ("training", "lock"):
        save = mgr.CheckpointManager.save

        def patched_save(self, *a, **k):
            path = save(self, *a, **k)
            if MOMENT == "training":
                fire()
            elif not getattr(patched_save, "held", False):
                patched_save.held = True
                self.flush()
                announce()
                sys.stdin.readline()
            return path
        mgr.CheckpointManager.save = patched_save
    elif MOMENT == "flush":
        flush = process_writer.ProcessWriter.flush

        def patched_flush(self):
            fire()  # inside the manager's deferred section, with the last saves still queued
            return flush(self)
        process_writer.ProcessWriter.flush = patched_flush
    elif MOMENT == "output":
        output = os.path.abspath(sys.argv[sys.argv.index("-o") + 1])
        replace = os.replace

        def patched_replace(src, dst, *a, **k):
            if os.path.abspath(dst) == output:
                fire()  # the temporary is complete, the rename not done
            return replace(src, dst, *a, **k)
        os.replace = patched_replace
    elif MOMENT.startswith("call:"):
        import importlib

        _, module, name = MOMENT.split(":")
        mod = importlib.import_module(module)
        real = getattr(mod, name)

        def patched_call(*a, **k):
            fire()
            return real(*a, **k)
        setattr(mod, name, patched_call)
    else:
        raise SystemExit(f"unknown moment {MOMENT!r}")
    from compvqc.cli import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
