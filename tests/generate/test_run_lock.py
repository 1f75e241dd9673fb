"""generate.run_lock: one holder per run folder, even when a holder lets go mid-acquire."""

from __future__ import annotations

import os
import types

import pytest

from generate import run_lock
from generate.run_lock import LOCK_NAME, RunLock, RunLockedError, run_is_live

pytestmark = pytest.mark.skipif(not run_lock.LOCKS_SUPPORTED, reason="needs fcntl.flock")


def test_a_lock_released_between_open_and_flock_is_not_taken_twice(tmp_path, monkeypatch):
    """The holder removes the lock file as it lets go. A taker that opened the old file just before
    must not end up holding a lock on that vanished file while a third process locks the new one."""
    first = RunLock(tmp_path).acquire()
    real = run_lock.fcntl
    calls = {"n": 0}

    def flock(fd, op):
        calls["n"] += 1
        if calls["n"] == 1:  # the holder finishes right after the taker opened the file
            first.release()
        return real.flock(fd, op)

    monkeypatch.setattr(
        run_lock,
        "fcntl",
        types.SimpleNamespace(flock=flock, LOCK_EX=real.LOCK_EX, LOCK_NB=real.LOCK_NB, LOCK_SH=real.LOCK_SH),
    )
    second = RunLock(tmp_path).acquire()
    assert second.held
    with pytest.raises(RunLockedError):
        RunLock(tmp_path).acquire()
    assert run_is_live(tmp_path)
    second.release()
    assert not run_is_live(tmp_path)


def test_a_lock_file_that_is_a_symlink_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(outside, run / LOCK_NAME)
    lock = RunLock(run).acquire()
    assert lock.held and not outside.exists()
    assert (run / LOCK_NAME).is_file() and not (run / LOCK_NAME).is_symlink()
    lock.release()
