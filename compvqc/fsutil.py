"""Atomic file writes: a crash at any instant leaves the old file or the new one, never a torn one.

Temporary file in the target's directory (same filesystem, so the rename is atomic), write,
fsync, ``os.replace``, then fsync the directory so the rename itself is durable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; ``durable=False`` skips the fsyncs.

    Without fsync the rename is still atomic against a crashed *process* (the page cache
    survives); only a power loss may lose the file. Use it for data that can be rebuilt, such
    as the checkpoint manager's ``latest`` pointer, whose loss restore already tolerates.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(directory)
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
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_bytes_bounded(path, limit: int, error: type[Exception], what: str = "file") -> bytes:
    """The bytes of ``path``, refusing files over ``limit``; every failure is one ``error`` line."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(f"{path}: {size} bytes exceeds the {limit}-byte limit of a {what}")
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
