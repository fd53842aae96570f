"""Atomic file replacement: write to a temporary file in the same folder, then rename.

An interrupted write therefore never leaves a truncated file in place of an earlier one.
Every layer writes through this helper (models save, Parquet caches, evaluation outputs).
Files get the mode a plain ``open(path, 'w')`` would give them (``0o666`` minus the process
umask, so 0644 under umask 022), not the 0600 of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "current_umask"]


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and restoring
    it (``os.umask``), which is not atomic with respect to other threads creating files.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with the destination as its file name when it names none or a temporary."""
    if exc.filename is not None:
        parts = Path(os.fsdecode(exc.filename)).parts
        if not any(p.startswith(f".{path.name}.") and p.endswith(".tmp") for p in parts):
            return exc
    strerror = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return OSError(exc.errno, strerror, str(path))


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Parameters
    ----------
    path : str or PathLike
        Final destination; its folder is created if missing.

    Yields
    ------
    Path
        Where the caller writes, created with mode ``0o666 & ~umask``. Removed if the block
        raises.

    Raises
    ------
    OSError
        Any failure to create, write or rename (disk full, file-size limit, permissions),
        with ``filename`` set to ``path`` when the original error named no file or only the
        temporary one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        named = _named(exc, path)
        if named is exc:
            raise
        raise named from exc
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
        finally:
            os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            named = _named(exc, path)
            if named is not exc:
                raise named from exc
        raise
