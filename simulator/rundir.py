"""An output directory as a transaction: one run at a time, all outputs or none, nothing foreign.

Layout of an output directory ``OUT`` (besides the result files, see :mod:`simulator.run`)::

    OUT/.tradealloc/lock            the run lock: pid, host and start of the holder (JSON)
    OUT/.tradealloc/outputs.json    the files of the committed output set, with checksums
    OUT/.tradealloc/staging-<id>/   the next output set while a run writes it
    OUT/.tradealloc/commit.json     present only while a finished set is being swapped in
    OUT/parts/manifest.json         fingerprint of the run the parts belong to, and every
                                    part file with its size and SHA-256 (simulator.parts)

- **Lock** (:class:`RunLock`): an exclusive ``flock`` on ``.tradealloc/lock`` held for the
  whole run.  A second run into the same directory fails at once with one line naming the
  holder (pid, host, start time).  The kernel drops the lock when its holder dies, so the
  lock left by a killed run is stale: the next run takes it over with a
  :class:`StaleLockWarning` naming the dead holder.
- **Fingerprint** (:func:`run_fingerprint`): a hash of what determines the results - the
  scenario (output and execution settings excluded), the seed, tradealloc's version and
  source code, the source files of plugin strategies and the contents of the data files
  (size and SHA-256, cached per file by path, size, mtime, ctime and inode so a large file is
  hashed once).  ``--resume`` continues only parts with an identical fingerprint.
- **All or nothing** (:class:`Staging`): a run writes its complete output set into a
  staging directory inside ``OUT``; nothing visible changes until it is finished.  The
  commit first records its plan (``commit.json``: files to move in, files of the previous
  set to delete), then renames every file into place (``run.json`` last) and deletes what
  the previous set had and the new one lacks.  A failure before the plan is recorded (disk
  full, file-size limit, kill) leaves the previous set untouched; a kill during the renames
  is completed by the next command that opens the directory (:func:`recover`), so no mix of
  two sets survives.  Only files listed in ``outputs.json`` or the parts manifest - files
  tradealloc wrote - are ever deleted, and an output is deleted only while its contents are
  still those recorded.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from models.errors import InvalidParameterError

from .outputs import atomic_write_text, file_sha256

__all__ = [
    "INTERNAL_DIR",
    "DirectoryLockedError",
    "Fingerprint",
    "RecoveryWarning",
    "RunDirectoryError",
    "RunLock",
    "Staging",
    "StaleLockWarning",
    "cached_file_digest",
    "holds_results",
    "record_outputs",
    "recorded_outputs",
    "recover",
    "run_fingerprint",
]

INTERNAL_DIR = ".tradealloc"
_LOCK = "lock"
_COMMIT = "commit.json"
_OUTPUTS = "outputs.json"
_STAGING_PREFIX = "staging-"
_CACHE_ENTRIES = 2000


class RunDirectoryError(InvalidParameterError):
    """The output directory cannot be used as asked (locked, or parts of another run)."""


class DirectoryLockedError(RunDirectoryError):
    """Another live run holds the output directory's lock."""


class StaleLockWarning(UserWarning):
    """The lock of a run that ended without releasing it was taken over."""


class RecoveryWarning(UserWarning):
    """An interrupted commit of an output set was completed."""


def _internal(out_dir: Path) -> Path:
    return Path(out_dir) / INTERNAL_DIR


# --------------------------------------------------------------------------- lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def _holder_text(holder: dict) -> str:
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
        f"{holder.get('started_utc', '?')}"
    )


class RunLock:
    """Exclusive lock on an output directory for the duration of a run.

    Parameters
    ----------
    out_dir : path
        The output directory; created (with ``.tradealloc/``) if missing.

    Raises
    ------
    DirectoryLockedError
        From :meth:`acquire` when another live process holds the lock: one line naming its
        pid, host and start time.

    Notes
    -----
    The lock is an ``fcntl.flock`` on ``.tradealloc/lock``; the file also records the
    holder for messages.  ``flock`` is released by the kernel when the holder dies, so a
    killed run never blocks the next one.  Where ``flock`` is unavailable, the recorded pid
    is checked instead (a dead local pid is stale; a holder on another host is live).
    """

    def __init__(self, out_dir) -> None:
        self.out_dir = Path(out_dir)
        self.path = _internal(self.out_dir) / _LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> RunLock:
        """Take the lock (see the class docstring) and record this process as holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                locked = self._flock(fd)
                if not locked:
                    holder = self._read(fd)
                    raise DirectoryLockedError(
                        f"output directory {str(self.out_dir)!r} is in use by another run "
                        f"({_holder_text(holder)}); wait for it to end or choose another "
                        "--out"
                    )
                # The file may have been unlinked by its previous holder after we opened it.
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - only under a storm of competing runs
            raise DirectoryLockedError(
                f"output directory {str(self.out_dir)!r} is in use by other runs"
            )
        # A released lock is removed, so a recorded holder is a run that ended without
        # releasing it (killed): its lock is stale and taken over.
        previous = self._read(fd)
        if previous.get("pid") is not None:
            local = previous.get("host") == socket.gethostname()
            try:
                dead = local and not _pid_alive(int(previous["pid"]))
            except (TypeError, ValueError):
                dead = False
            state = "that process is no longer running" if dead else "it no longer holds the lock"
            warnings.warn(
                f"took over the stale lock of {str(self.out_dir)!r} left by a run that ended "
                f"without releasing it ({_holder_text(previous)}; {state})",
                StaleLockWarning,
                stacklevel=2,
            )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def _flock(self, fd: int) -> bool:
        """True when this process now holds the lock on ``fd``."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self._pid_check(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return self._pid_check(fd)
            raise
        return True

    def _pid_check(self, fd: int) -> bool:
        holder = self._read(fd)
        pid = holder.get("pid")
        if pid is None:
            return True
        if holder.get("host") != socket.gethostname():
            return False
        return not _pid_alive(int(pid))

    @staticmethod
    def _read(fd: int) -> dict:
        try:
            data = os.pread(fd, 4096, 0)
            holder = json.loads(data.decode() or "{}")
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


# --------------------------------------------------------------------------- fingerprint


def _cache_file() -> Path:
    root = os.environ.get("TRADEALLOC_CACHE_DIR")
    if root:
        return Path(root) / "file-digests.json"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tradealloc" / "file-digests.json"


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_file_digest(path) -> dict:
    """Size and SHA-256 of a file, from a cache keyed by its path and stat signature.

    The signature is (size, mtime, ctime, inode, device): any rewrite, replacement or
    ``touch`` changes it (``ctime`` cannot be set back by ``cp -p`` or ``touch -d``), so a
    cached digest is reused only for an unchanged file.  The cache lives in
    ``$TRADEALLOC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/tradealloc`` or
    ``~/.cache/tradealloc``); when it cannot be written the digest is just recomputed.

    Parameters
    ----------
    path : path
        A data file.

    Returns
    -------
    dict
        ``{"size": bytes, "sha256": hex}``.
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    cache_path = _cache_file()
    cache = _load_cache(cache_path)
    entry = cache.get(real)
    if isinstance(entry, dict) and entry.get("signature") == signature:
        return {"size": st.st_size, "sha256": entry["sha256"]}
    digest = file_sha256(real)
    cache.pop(real, None)
    cache[real] = {"signature": signature, "sha256": digest}
    while len(cache) > _CACHE_ENTRIES:
        cache.pop(next(iter(cache)))
    try:
        atomic_write_text(cache_path, json.dumps(cache))
    except OSError:
        pass
    return {"size": st.st_size, "sha256": digest}


def _sources_digest(directories) -> str:
    digest = hashlib.sha256()
    for directory in directories:
        root = Path(directory)
        for file in sorted(root.rglob("*.py")):
            digest.update(str(file.relative_to(root.parent)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _code_digest() -> str:
    import models
    import strategies

    simulator_dir = Path(__file__).resolve().parent
    dirs = [Path(models.__file__).resolve().parent, Path(strategies.__file__).resolve().parent]
    return _sources_digest([*dirs, simulator_dir])


def _plugin_files(entry) -> list[Path]:
    """Source files a strategy entry's behaviour depends on (none for built-ins)."""
    import importlib.util
    import inspect

    from .config.plugins import _cwd_importable, _split_file_plugin

    file_form = _split_file_plugin(entry.name)
    if file_form is not None:
        return [file_form[0].resolve()]
    files = set()
    cls = type(entry.build())
    if ":" in entry.name:
        module_name = entry.name.partition(":")[0]
        with _cwd_importable(entry.name):
            spec = importlib.util.find_spec(module_name)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            files.add(Path(spec.origin).resolve())
    elif cls.__module__.split(".")[0] == "strategies":
        return []  # built-in: covered by the code digest
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        source = None
    if source and os.path.isfile(source):
        files.add(Path(source).resolve())
    return sorted(files)


def _input_files(scenario) -> list[Path]:
    """Data files and a saved model (``model.from``): their contents decide the results."""
    files = _data_files(scenario.market)
    saved = getattr(scenario.model, "from_path", None)
    return files + ([Path(saved)] if saved is not None else [])


def _data_files(market) -> list[Path]:
    files = list(market.path) + list(market.message_path)
    if market.calibrate_from is not None:
        files.append(market.calibrate_from)
        if market.calibrate_format == "lobster":
            from .config.market import derive_message_path

            files.append(derive_message_path(market.calibrate_from))
    return files


@dataclass(frozen=True)
class Fingerprint:
    """What determines a run's results, hashed.

    Attributes
    ----------
    digest : str
        SHA-256 of :attr:`components`.
    components : dict
        ``scenario`` (hash of the scenario without output and execution settings),
        ``seed``, ``version`` (tradealloc's), ``code`` (hash of its sources),
        ``plugins`` (label -> {file: sha256}) and ``data`` (file -> size and sha256).
    """

    digest: str
    components: dict

    def difference(self, recorded: dict | None) -> str | None:
        """Why parts recorded with ``recorded`` (a manifest) cannot be reused, or None."""
        if not isinstance(recorded, dict) or recorded.get("fingerprint") is None:
            return "it holds no fingerprint of the run that wrote it"
        if recorded.get("fingerprint") == self.digest:
            return None
        old = recorded.get("components")
        if not isinstance(old, dict):
            return "its parts were written by another tradealloc version"
        new = self.components
        if old.get("seed") != new["seed"]:
            return f"its parts were made with seed {old.get('seed')}, not {new['seed']}"
        if old.get("scenario") != new["scenario"]:
            return "its parts were made by a different scenario (settings changed)"
        old_plugins, new_plugins = old.get("plugins", {}), new["plugins"]
        for label in sorted(set(old_plugins) | set(new_plugins)):
            if old_plugins.get(label) != new_plugins.get(label):
                files = ", ".join(sorted(new_plugins.get(label, {}))) or label
                return f"the source of plugin strategy {label!r} changed ({files})"
        old_data, new_data = old.get("data", {}), new["data"]
        for file in sorted(set(old_data) | set(new_data)):
            if old_data.get(file) != new_data.get(file):
                return f"data file {file!r} changed since its parts were made"
        if old.get("version") != new["version"] or old.get("code") != new["code"]:
            return "its parts were made by another version of tradealloc's code"
        return "its parts were made by a different run"


_EXECUTION_KEYS = ("n_jobs", "backend", "scheduler")


def run_fingerprint(scenario) -> Fingerprint:
    """The :class:`Fingerprint` of ``scenario`` (see the module docstring).

    Parameters
    ----------
    scenario : simulator.config.Scenario

    Returns
    -------
    Fingerprint

    Raises
    ------
    OSError
        If a data or plugin file cannot be read (the error names it).
    """
    data = scenario.to_dict()
    data.pop("output", None)
    data["evaluation"] = {
        k: v for k, v in data.get("evaluation", {}).items() if k not in _EXECUTION_KEYS
    }
    try:
        version = metadata.version("tradealloc")
    except metadata.PackageNotFoundError:
        version = "unknown"
    plugins = {}
    for entry in scenario.strategies:
        files = _plugin_files(entry)
        if files:
            plugins[entry.label] = {str(f): file_sha256(f) for f in files}
    components = {
        "scenario": hashlib.sha256(
            json.dumps(data, sort_keys=True, default=str).encode()
        ).hexdigest(),
        "seed": scenario.evaluation.seed,
        "version": version,
        "code": _code_digest(),
        "plugins": plugins,
        "data": {str(f): cached_file_digest(f) for f in _input_files(scenario)},
    }
    digest = hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()
    return Fingerprint(digest=digest, components=components)


# --------------------------------------------------------------------------- output sets


def holds_results(out_dir) -> bool:
    """Whether ``out_dir`` holds anything besides tradealloc's own ``.tradealloc/`` folder."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return False
    return any(entry.name != INTERNAL_DIR for entry in out_dir.iterdir())


def recorded_outputs(out_dir) -> dict[str, str]:
    """Files of the committed output set (relative path -> SHA-256); empty when unknown."""
    try:
        data = json.loads((_internal(out_dir) / _OUTPUTS).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return dict(files) if isinstance(files, dict) else {}


def record_outputs(out_dir, relative_paths) -> None:
    """Add files written in place (``run-backtest report``) to the committed set's record."""
    out_dir = Path(out_dir)
    files = recorded_outputs(out_dir)
    for rel in relative_paths:
        rel = str(rel)
        if (out_dir / rel).is_file():
            files[rel] = file_sha256(out_dir / rel)
    atomic_write_text(_internal(out_dir) / _OUTPUTS, json.dumps({"files": files}, indent=1))


def _remove_empty_parents(path: Path, stop: Path) -> None:
    parent = path.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _apply(out_dir: Path, plan: dict) -> None:
    internal = _internal(out_dir)
    staging = internal / plan["staging"]
    for rel in plan["files"]:
        src, dst = staging / rel, out_dir / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    for rel in plan["delete"]:
        target = out_dir / rel
        if target.is_file() or target.is_symlink():
            target.unlink()
            _remove_empty_parents(target, out_dir)
    atomic_write_text(internal / _OUTPUTS, json.dumps({"files": plan["checksums"]}, indent=1))
    (internal / _COMMIT).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def recover(out_dir) -> bool:
    """Finish an interrupted commit and remove staging folders of dead runs.

    Call it holding the directory's :class:`RunLock`.

    Returns
    -------
    bool
        True when an interrupted commit was completed (a :class:`RecoveryWarning` says so).
    """
    out_dir = Path(out_dir)
    internal = _internal(out_dir)
    if not internal.is_dir():
        return False
    done = False
    commit = internal / _COMMIT
    if commit.is_file():
        try:
            plan = json.loads(commit.read_text())
            valid = isinstance(plan, dict) and {"staging", "files", "delete", "checksums"} <= set(
                plan
            )
        except ValueError:
            valid = False
        if valid:
            _apply(out_dir, plan)
            warnings.warn(
                f"completed the interrupted replacement of the outputs in {str(out_dir)!r}",
                RecoveryWarning,
                stacklevel=2,
            )
            done = True
        else:  # written atomically, so only a hand edit gets here: keep the previous set
            commit.unlink()
    for entry in internal.iterdir():
        if entry.name.startswith(_STAGING_PREFIX) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    return done


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM back for the duration of the block (POSIX; else a no-op)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Staging:
    """The next output set of ``out_dir``, written aside and committed as a whole.

    Parameters
    ----------
    out_dir : path
        The output directory (its :class:`RunLock` held by the caller).

    Attributes
    ----------
    path : Path
        Where the run writes every output file, with the same relative paths as in
        ``out_dir``.
    """

    def __init__(self, out_dir) -> None:
        self.out_dir = Path(out_dir)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.path = _internal(self.out_dir) / f"{_STAGING_PREFIX}{token}"
        self.path.mkdir(parents=True)
        self.committed = False

    def final_path(self, staged) -> Path:
        """Where a file written under :attr:`path` ends up after the commit."""
        return self.out_dir / Path(staged).relative_to(self.path)

    def commit(self) -> list[str]:
        """Swap the staged set in for the previous one (see the module docstring).

        Returns
        -------
        list of str
            The committed files, relative to ``out_dir``.
        """
        files = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())
        # run.json last: when it is new, everything it describes is in place.
        files.sort(key=lambda rel: rel == "run.json")
        for rel in files:  # a rename onto a directory would fail half-way through the swap
            target = self.out_dir / rel
            if target.exists() and not target.is_file():
                raise OSError(
                    errno.EISDIR,
                    "is not a file, so the output of that name cannot replace it (the "
                    "previous outputs are unchanged)",
                    str(target),
                )
        checksums = {rel: file_sha256(self.path / rel) for rel in files}
        previous = recorded_outputs(self.out_dir)
        # A file of the previous set that the new one lacks goes, unless it was changed
        # since tradealloc wrote it (then it is someone's own file now).
        stale = []
        for rel in sorted(set(previous) - set(files)):
            target = self.out_dir / rel
            if target.is_file() and file_sha256(target) == previous[rel]:
                stale.append(rel)
        plan = {
            "staging": self.path.name,
            "files": files,
            "delete": stale,
            "checksums": checksums,
        }
        # Ctrl-C and SIGTERM wait for the few renames (recovery would finish them anyway).
        with _signals_deferred():
            atomic_write_text(_internal(self.out_dir) / _COMMIT, json.dumps(plan))
            _apply(self.out_dir, plan)
            self.committed = True
        return files

    def discard(self) -> None:
        """Remove the staging folder (nothing visible changes); a no-op after a commit."""
        shutil.rmtree(self.path, ignore_errors=True)
