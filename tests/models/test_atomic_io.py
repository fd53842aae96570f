"""atomic_path: a file is replaced whole or not at all, with the umask's mode, errors named."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from models.atomic_io import atomic_path, current_umask


def test_success_replaces_and_failure_keeps_the_earlier_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    # mkstemp creates 0600 files; a plain open() would give 0o666 & ~umask.
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        target = tmp_path / "out.txt"
        with atomic_path(target) as tmp:
            tmp.write_text("x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == mode == stat.S_IMODE(plain.stat().st_mode)


def test_os_error_names_the_destination_not_the_temporary(tmp_path):
    target = tmp_path / "results.csv"
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError(errno.EFBIG, "File too large")  # what a write past RLIMIT_FSIZE raises
    assert info.value.errno == errno.EFBIG and info.value.filename == str(target)
    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        open(tmp / "below-a-file", "w")  # noqa: SIM115 - fails with the temporary's name
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as info, atomic_path(blocker / "x.csv"):
        pass
    assert info.value.filename == str(blocker)  # mkdir's own name is kept
