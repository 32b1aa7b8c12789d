"""One service per archive: the lock ``aggregator run`` holds for as long as it runs.

Two exclusive ``flock`` locks, taken without waiting; the kernel releases both when the process
ends, however it ends, so a crash never leaves a stale lock:

- ``<archive>.lock`` beside the archive's real file (symbolic links resolved, as SQLite resolves
  them for its journal), holding the pid: for the error message and ``kill -HUP "$(cat ...)"``;
- the archive file itself, so that a hard link or another mount of the same file meets the same
  lock. ``flock`` locks never interfere with the POSIX locks SQLite takes on the file; the
  descriptor is closed only when the service is done with the archive, because closing any
  descriptor of a file drops the POSIX locks this process's SQLite connections hold on it.

One-shot commands never take the lock and keep working beside the service.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import ServiceLockError


def lock_path(database: Path) -> Path:
    """``<archive>.lock`` beside the real file of the archive, whichever path names it."""
    real = database.resolve()
    return real.with_name(real.name + ".lock")


@contextlib.contextmanager
def service_lock(database: Path) -> Iterator[Path]:
    """Hold the archive's service lock for the duration; fail at once if another service holds it.

    Yields the lock file's path. Raises ServiceLockError naming the other service's pid.
    """
    path = lock_path(database)
    with contextlib.ExitStack() as stack:
        fd = _open(path, "the service lock", stack, os.O_RDWR)
        if not _try_lock(fd):
            pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise ServiceLockError(f"another aggregator service (pid {pid}) is already running on {database}")
        if not _try_lock(_open(database.resolve(), "the archive", stack, os.O_RDONLY)):
            raise ServiceLockError(
                f"another aggregator service is already running on {database}, through another path to the same"
                " file (a hard link or another mount of it): its pid is in the .lock file beside that path"
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            # A lock file left behind names no process: `kill -HUP "$(cat ...)"` must not signal
            # whatever took the pid since. (A killed service leaves its pid; the flock is gone.)
            os.ftruncate(fd, 0)


def _open(path: Path, what: str, stack: contextlib.ExitStack, mode: int) -> int:
    """Open (creating it if need be) a file to lock; closed when ``stack`` closes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, mode | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ServiceLockError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    stack.callback(os.close, fd)
    return fd


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
