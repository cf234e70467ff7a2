"""The directory lock (imcsim.io_lock) and the clean-up of temp files an interrupted atomic write left behind, with real
processes that hold the lock or die mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import imcsim
from imcsim.io_lock import LOCK_NAME, DirectoryLock, LockedError
from imcsim.io import write_atomic

SRC = str(Path(imcsim.__file__).resolve().parents[1])


def _python(code: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(cond, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_second_lock_is_refused_at_once_and_release_frees_it(tmp_path):
    d = tmp_path / "run"
    with DirectoryLock(d) as first:
        assert first.held and (d / LOCK_NAME).is_file() and first.took_over is None
        t0 = time.monotonic()
        with pytest.raises(LockedError, match=rf"run: run directory is in use by another process \(pid {os.getpid()}"):
            DirectoryLock(d).acquire()
        assert time.monotonic() - t0 < 1.0  # refused, not waited for
    assert not (d / LOCK_NAME).exists()  # a clean release leaves nothing behind
    with DirectoryLock(d, what="sweep store") as again:
        assert again.took_over is None


def test_lock_of_a_live_process_refuses_and_of_a_killed_one_is_taken_over(tmp_path):
    d = tmp_path / "store"
    holder = _python(f"""
        import sys, time
        from imcsim.io_lock import DirectoryLock
        DirectoryLock({str(d)!r}, what="sweep store").acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = rf"sweep store directory is in use by another process \(pid {holder.pid} "
        with pytest.raises(LockedError, match=busy):
            DirectoryLock(d, what="sweep store").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (d / LOCK_NAME).is_file()  # kill -9: no chance to clean up; the kernel dropped the flock
    with DirectoryLock(d, what="sweep store") as lock:
        assert lock.took_over is not None and f"pid {holder.pid} " in lock.took_over


def test_lock_refuses_a_path_that_cannot_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(LockedError, match="cannot create the run directory"):
        DirectoryLock(f / "sub").acquire()


def test_temp_file_of_a_write_killed_before_its_rename_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "metrics.json"
    # A real writer that dies (SIGKILL) between writing its temp file and the rename.
    proc = _python(f"""
        import os, signal
        import imcsim.io as io_mod
        io_mod.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
        io_mod.write_atomic({str(target)!r}, "half")
    """)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".metrics.json.{proc.pid}.") and left[0].endswith(".tmp"), left
    # A temp file of a live writer (this process) and another file's temp file are not touched.
    live = tmp_path / f".metrics.json.{os.getpid()}.abcd1234.tmp"
    other = tmp_path / ".metrics.json.bak.1.abcd1234.tmp"
    live.write_text("busy")
    other.write_text("other")
    write_atomic(target, "whole")
    assert target.read_text() == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".metrics.json.bak.1.abcd1234.tmp", live.name,
                                                                 "metrics.json"])
