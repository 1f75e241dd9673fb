"""Is a ``running`` run still alive? An advisory lock held by the process that runs it.

A run's process holds an exclusive ``flock`` on ``<run folder>/.lock`` from the moment the run's
first metadata is written until its final metadata is (:class:`RunLock`). A reader that finds
``status: running`` in metadata.json asks :func:`run_is_live`: if the lock can be taken, nobody
holds it, so the process died (SIGKILL, a crash, a power cut) and the run is ``interrupted``.

Why ``flock``: the kernel drops the lock when the holder dies, however it dies, so there is no pid
to go stale or be reused. ``flock`` locks belong to an open file, not to a process, so the service,
where many runs live in one process, holds one lock per run, and a reader in that same process
still sees them as held. Where ``fcntl`` does not exist (Windows is not a target), no lock is taken
and readers cannot tell: a ``running`` run is reported as running.

The lock file starts with a dot: it is never listed or served as one of the run's files. It is
removed when the run settles; one left behind by a killed run is harmless (nobody holds it).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "RunLockedError", "run_is_live", "LOCK_NAME", "LOCKS_SUPPORTED"]

LOCK_NAME = ".lock"
LOCKS_SUPPORTED = fcntl is not None


class RunLockedError(RuntimeError):
    """Another live process (or another run object in this one) holds the run's lock."""


class RunLock:
    """The exclusive lock of one run folder, held from :meth:`acquire` until :meth:`release`.

    ``name``: the lock file's name in ``folder`` (another one for another kind of work, such as the
    run catalog's build in the outputs folder)."""

    def __init__(self, folder: Path, name: str = LOCK_NAME) -> None:
        self.folder = Path(folder)
        self.name = name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock without waiting; :class:`RunLockedError` if someone holds it."""
        if fcntl is None or self._fd is not None:
            return self
        path = self.folder / self.name
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError:
                if not path.is_symlink():
                    raise
                # Never ours (we only make regular files): following it would lock, or create, a
                # file outside the run folder.
                path.unlink(missing_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLockedError(f"run {self.folder.name} is being written by a live process") from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, path):
                self._fd = fd
                return self
            # The holder let go (and removed the file) between our open and our flock: what we
            # locked is gone, and a newcomer would lock a new file at the path. Start again.
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file and let go. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Unlinked while still held, so a reader never takes a lock on a file about to vanish
            # and then mistakes a finishing run for a dead one (readers re-read metadata anyway).
            (self.folder / self.name).unlink(missing_ok=True)
        finally:
            os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def run_is_live(folder: Path, name: str = LOCK_NAME) -> bool:
    """True if a live process holds the run's lock (``name``: another lock file of the folder), or
    if locks are not supported here."""
    if fcntl is None:
        return True
    try:
        fd = os.open(Path(folder) / name, os.O_RDONLY)
    except FileNotFoundError:
        return False  # settled (lock removed) or never locked: nobody is writing it
    except OSError:
        return True  # cannot tell: do not call it interrupted
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the file drops the shared lock taken just now
    return False
