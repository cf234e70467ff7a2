"""An exclusive lock on a directory (a run directory, a sweep store), held for the life of the process's work in it.

The lock is an advisory ``fcntl.flock`` on a small file inside the directory (``.imcsim.lock`` by default) that holds
the owner's pid, host and start time. The kernel drops a flock when its process dies, however it dies (``kill -9``
included), so a lock file whose flock nobody holds is *stale*: the next locker takes it over and reports the previous
owner (see :attr:`DirectoryLock.took_over`). A second process that asks while the owner lives is refused at once
with :class:`LockedError` naming the directory and the owner's pid; nothing waits.

Usage::

    with DirectoryLock(run_dir) as lock:     # LockedError when another process holds it
        if lock.took_over:                   # the previous owner died without releasing it
            print(f"note: {lock.took_over}")
        ...                                  # work in run_dir

Locking is per process and per open file: two :class:`DirectoryLock` objects in the same process on the same
directory exclude each other too. POSIX only (``fcntl``); on file systems without flock (some network mounts)
acquiring raises :class:`LockedError` explaining why.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from imcsim.errors import ImcsimError

__all__ = ["LOCK_NAME", "LockedError", "DirectoryLock"]

LOCK_NAME = ".imcsim.lock"


class LockedError(ImcsimError):
    """A directory is locked by another live process (or cannot be locked at all)."""


def _describe(owner: dict[str, Any]) -> str:
    """``pid 123 on host, since 2026-01-01 10:00:00 UTC`` from a lock file's JSON (fields may be missing)."""
    parts = [f"pid {owner.get('pid', '?')}"]
    if owner.get("host"):
        parts.append(f"on {owner['host']}")
    if isinstance(owner.get("since"), (int, float)):
        parts.append("since " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(owner["since"])))
    return " ".join(parts)


class DirectoryLock:
    """Exclusive, non-blocking lock on ``directory`` (created when missing) through ``directory/name``.

    Attributes:
        directory: the locked directory.
        path: the lock file.
        what: what the directory holds, for messages (``run``, ``sweep store``).
        took_over: after :meth:`acquire`, a one-line description of the dead owner whose stale lock was taken over,
            or None.
    """

    def __init__(self, directory: str | Path, name: str = LOCK_NAME, what: str = "run",
                 subject: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / name
        self.what = what
        # Messages name the locked thing: the directory itself, or a file in it (a sweep store) when given.
        self._label = f"{subject}: {what}" if subject is not None else f"{self.directory}: {what} directory"
        self.took_over: str | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "DirectoryLock":
        """Take the lock; :class:`LockedError` when another process (or another lock object) holds it, or when the
        directory cannot be created or written."""
        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LockedError(f"{self.directory}: cannot create the {self.what} directory "
                              f"({exc.strerror or exc})") from None
        for _ in range(10):  # retried only when the lock file was replaced between open and flock (see below)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockedError(f"{self.directory}: cannot lock the {self.what} directory "
                                  f"({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                owner = _read_owner(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise LockedError(f"{self._label} is in use by another process "
                                      f"({_describe(owner)}); wait for it to finish or use another directory") \
                        from None
                raise LockedError(f"{self._label}: cannot lock it ({exc.strerror or exc})") from None
            # The holder may have released and unlinked the file between our open and our flock: then we hold a
            # lock on a file nobody else will open. Keep it only if the path still names our file.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            owner = _read_owner(fd)
            self.took_over = f"took over the stale lock of {_describe(owner)}, which is gone" if owner else None
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}) + "\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
            self._fd = fd
            return self
        raise LockedError(f"{self._label}: cannot lock it (its lock file keeps changing)")

    def release(self) -> None:
        """Drop the lock and remove the lock file (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)  # while still locked: a waiter that opened the old file notices (samestat above)
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_owner(fd: int) -> dict[str, Any]:
    """The owner record of an open lock file ({} when empty or unreadable: a lock file from a crash mid-write)."""
    try:
        data = os.pread(fd, 4096, 0)
        owner = json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}
