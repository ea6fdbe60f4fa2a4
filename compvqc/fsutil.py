"""Atomic file writes: a crash at any instant leaves the old file or the new one, never a torn one.

Temporary file in the target's directory (same filesystem, so the rename is atomic), write,
fsync, ``os.replace``, then fsync the directory so the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

from compvqc.errors import CompVQCError
from compvqc.signals import deferred


def atomic_write_bytes(path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; ``durable=False`` skips the fsyncs.

    Without fsync the rename is still atomic against a crashed *process* (the page cache
    survives); only a power loss may lose the file. Use it for data that can be rebuilt, such
    as the checkpoint manager's ``latest`` pointer, whose loss restore already tolerates.

    A SIGTERM/SIGINT during the write waits until the temporary is renamed or removed
    (:func:`compvqc.signals.deferred`), so an interrupted command never leaves one behind. An
    ``OSError`` names ``path``, never the hidden temporary.
    """
    path = Path(path)
    directory = path.parent  # never empty: the parent of a bare name is "."
    with deferred():
        try:
            fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=directory)
            try:
                os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    if durable:
                        os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(path)) from None
        if durable:
            _fsync_dir(directory)
    return path


def _prefix(path: Path) -> str:
    """Temporaries are ``.<name>.<pid>.<random>.tmp``: hidden, and traceable to their writer."""
    return f".{path.name}.{os.getpid()}."


def remove_stale_temporaries(path) -> None:
    """Remove the temporaries that writers of ``path`` left when they were killed (SIGKILL, a
    power loss): those of processes that no longer exist. A live writer's temporary stays."""
    path = Path(path)
    for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = p.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            p.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_output(path, *, force: bool = False) -> Path:
    """Refuse, before any long work, an output path that the final write would fail on.

    Checks what a demanding user hits: an empty name, a directory, an existing file without
    ``force`` (or a non-regular one even with it), a missing or unwritable folder; removes what
    killed writers of ``path`` left behind (:func:`remove_stale_temporaries`). Writability
    is probed by creating and removing a temporary there (``os.access`` cannot see a read-only
    filesystem for root, nor every ACL). Each failure is one ``CompVQCError`` naming ``path``.
    """
    if path is None or str(path) == "":
        raise CompVQCError("the output path is empty")
    path = Path(path)
    if path.is_dir():
        raise CompVQCError(f"{path}: is a directory")
    if path.exists() or path.is_symlink():
        if not force:
            raise CompVQCError(f"{path} exists (overwrite it with force, --force on the command line)")
        if not path.is_file():
            raise CompVQCError(f"{path}: not a regular file")
    directory = path.parent
    if not directory.is_dir():
        raise CompVQCError(f"{path}: directory {directory} not found")
    remove_stale_temporaries(path)
    with deferred():
        try:
            fd, probe = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=directory)
        except OSError as e:
            raise CompVQCError(f"{path}: cannot write in {directory} ({e.strerror or e})") from None
        os.close(fd)
        os.unlink(probe)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        with contextlib.suppress(OSError):  # pragma: no cover
            os.fsync(fd)
    finally:
        os.close(fd)


def read_bytes_bounded(path, limit: int, error: type[Exception], what: str = "file") -> bytes:
    """The bytes of ``path``, refusing files over ``limit``; every failure is one ``error`` line.

    Only regular files: a device (``/dev/zero``) or a pipe has no end and ``st_size`` 0, so the
    open is non-blocking (a FIFO without a writer would block it) and ``fstat`` of the open
    descriptor decides. The bound is the bytes actually read, at most ``limit + 1``, never
    ``st_size`` (a growing file, a filesystem reporting 0); ``st_size`` only sizes the first
    read, which then usually returns the whole file as the final ``bytes`` (no second copy).
    """
    import stat

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        chunks, total = [], 0
        while stat.S_ISREG(st.st_mode) and total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, max(st.st_size + 1 - total, 1 << 20)))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if stat.S_ISDIR(st.st_mode):  # (a read-only open of a directory succeeds)
        raise error(f"{path}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file")
    if total > limit:
        raise error(f"{path}: more than {limit} bytes, the limit of a {what}")
    return b"".join(chunks)
