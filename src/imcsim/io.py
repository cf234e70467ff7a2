"""Writing result files safely (a reader never sees a half-written file) and JSON that every parser accepts."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from imcsim.errors import OutputError

__all__ = ["write_atomic", "json_safe", "dumps_json"]


def _umask() -> int:
    """The process umask (os.umask can only be read by setting it; set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically: a temp file in the same directory, then
    ``os.replace``.

    The file gets the permissions a plain ``open(path, "w")`` would give it (an existing file keeps its mode, a new
    one ``0o666`` less the umask), not the owner-only mode of :func:`tempfile.mkstemp`. A path that exists but is
    not a regular file (``/dev/stdout``, ``/dev/null``, a FIFO) is written into, not replaced. Raises
    :class:`~imcsim.errors.OutputError` naming the path when its directory does not exist or the file cannot be written.
    """
    if not str(path).strip():  # Path("") is ".", which would read as a directory
        raise OutputError("output path is empty")
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: directory '{parent}' does not exist")
    if p.is_dir():
        raise OutputError(f"{p}: is a directory, not a file")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if p.exists() and not p.is_file():  # /dev/stdout, /dev/null, a FIFO: write into it, never replace it
        try:
            with open(p, "wb") as f:
                f.write(payload)
        except OSError as exc:
            raise OutputError(f"{p}: cannot write ({exc.strerror or exc})") from None
        return Path(path)
    if p.is_symlink() and p.exists():  # a link to a regular file: replace its target, as open() would; keep the link
        p = Path(os.path.realpath(p))
        parent = p.parent
    try:
        mode = p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask()
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = None, None
    try:
        _remove_stale_temps(parent, p.name)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "wb") as f:
            fd = None
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return Path(path)


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Delete the temp files an interrupted :func:`write_atomic` of ``parent/name`` left behind.

    Temp files are named ``.NAME.PID.RANDOM.tmp``: one whose writer process is gone (or of the older
    ``.NAME.RANDOM.tmp`` form, which names no writer) is stale; a live writer's is left alone.
    """
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")  # mkstemp: 8 random chars
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is None or (m.group(1) is not None and _alive(int(m.group(1)))):
            continue
        try:
            os.unlink(parent / entry)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this host)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists, owned by someone else (or not a pid at all: keep it, to be safe)
    return True


def json_safe(obj: Any) -> Any:
    """``obj`` with what strict JSON cannot hold replaced: numpy scalars and arrays become Python numbers and lists,
    infinities the strings ``"inf"`` / ``"-inf"`` (an ideal bandwidth, an unbounded ratio) and NaN ``null``."""
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalars and arrays
        obj = obj.tolist()
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (see :func:`json_safe`), ending in a newline; never ``NaN`` or ``Infinity``."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False) + "\n"
