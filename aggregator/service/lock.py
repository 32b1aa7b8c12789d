"""One service per archive: the lock ``aggregator run`` holds for as long as it runs.

One-shot commands never take the lock and keep working beside the service.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import ServiceLockError


@contextlib.contextmanager
def service_lock(database: Path) -> Iterator[Path]:
    """Hold ``<database>.lock`` for as long as the service runs; fail at once if another holds it.

    An exclusive ``flock``: the kernel releases it when the process ends, however it ends, so a
    crash never leaves a stale lock. The file holds the pid, for the error message.
    """
    path = database.with_name(database.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ServiceLockError(f"cannot create the service lock {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise ServiceLockError(f"another aggregator service (pid {pid}) is already running on {database}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            # A lock file left behind names no process: `kill -HUP "$(cat ...)"` must not signal
            # whatever took the pid since. (A killed service leaves its pid; the flock is gone.)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
