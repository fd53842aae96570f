"""Worker processes of a run: how many, how they end, and whether a Dask scheduler answers.

- :func:`effective_n_jobs` turns the joblib ``n_jobs`` convention into a worker count that
  never exceeds the available cores (a warning says when a request is capped), so
  ``n_jobs: 1000`` on a 2-core machine starts 2 processes and ``n_jobs: 2**40`` is no error.
- :func:`watch_parent` is the initializer of every loky worker: a daemon thread ends the
  worker when its parent process has gone (``kill -9`` of the driver), so no worker
  outlives a killed run.
- :func:`shutdown_loky` shuts joblib's reusable loky executor down at the end of a run and
  on every exit path, so idle workers do not linger for loky's 300 s idle timeout.
- :func:`check_scheduler` connects to a Dask scheduler with a short timeout before a run
  deletes or writes anything.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from urllib.parse import urlsplit

from models.errors import InvalidParameterError

__all__ = [
    "ResourceCapWarning",
    "SchedulerUnreachableError",
    "available_cores",
    "check_scheduler",
    "effective_n_jobs",
    "shutdown_loky",
    "watch_parent",
]

# How often a worker checks that its parent is alive, in seconds.
_PARENT_POLL_S = 1.0


class ResourceCapWarning(UserWarning):
    """A requested resource (workers) was capped to what the machine has."""


class SchedulerUnreachableError(InvalidParameterError):
    """The Dask scheduler given by ``evaluation.scheduler`` does not accept connections."""


def available_cores() -> int:
    """Cores this process may use (CPU affinity and cgroup quotas respected), at least 1."""
    try:
        from joblib import cpu_count

        return max(1, int(cpu_count()))
    except Exception:  # joblib missing or a platform it cannot inspect
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            return max(1, os.cpu_count() or 1)


def effective_n_jobs(n_jobs: int, *, warn: bool = True) -> int:
    """Worker count for a joblib-style ``n_jobs``, capped at :func:`available_cores`.

    Parameters
    ----------
    n_jobs : int
        ``>= 1`` workers, or negative: ``-1`` = all cores, ``-2`` = all but one, ...
    warn : bool, default True
        Emit a :class:`ResourceCapWarning` when the request is capped.

    Returns
    -------
    int
        Between 1 and the number of available cores.

    Raises
    ------
    InvalidParameterError
        If ``n_jobs`` is 0 or not an integer.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise InvalidParameterError(
            f"n_jobs must be a non-zero integer (-1 = all cores); got {n_jobs!r}"
        )
    cores = available_cores()
    if n_jobs > 0:
        if n_jobs > cores:
            if warn:
                warnings.warn(
                    f"n_jobs = {n_jobs} exceeds the {cores} available cores; using {cores} workers",
                    ResourceCapWarning,
                    stacklevel=2,
                )
            return cores
        return n_jobs
    wanted = cores + 1 + n_jobs
    if wanted < 1:
        if warn:
            warnings.warn(
                f"n_jobs = {n_jobs} leaves no core of the {cores} available; using 1 worker",
                ResourceCapWarning,
                stacklevel=2,
            )
        return 1
    return wanted


def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        time.sleep(_PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: end this process as soon as ``parent_pid`` is no longer its parent.

    A process whose parent dies is re-parented (to init or a subreaper), so a changed
    ``os.getppid()`` means the driver is gone; the worker then exits at once instead of
    finishing its task or idling until loky's timeout.

    Parameters
    ----------
    parent_pid : int
        Process id of the driver that started the worker.
    """
    if os.getppid() != parent_pid:
        os._exit(1)
    thread = threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="tradealloc-parent-watch"
    )
    thread.daemon = True
    thread.start()


def shutdown_loky() -> None:
    """Shut joblib's reusable loky executor down, killing its workers (no-op when none)."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None:
        return
    terminate = getattr(executor, "terminate", None)
    if terminate is not None:  # joblib's memmapping executor also removes its temp folder
        terminate(kill_workers=True)
    else:
        executor.shutdown(wait=True, kill_workers=True)


def check_scheduler(address: str, timeout_s: float = 5.0) -> None:
    """Raise unless a TCP connection to the Dask scheduler at ``address`` succeeds.

    Parameters
    ----------
    address : str
        ``tcp://host:port``, ``tls://host:port`` or ``host:port``; other transports
        (``inproc://``, ``ucx://``) are not checked.
    timeout_s : float, default 5
        Connection timeout, in seconds.

    Raises
    ------
    SchedulerUnreachableError
        Naming the address and the reason (refused, timed out, unknown host).
    """
    text = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(text)
    if parts.scheme not in ("tcp", "tls", "ws", "wss"):
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise SchedulerUnreachableError(
            f"evaluation.scheduler must be host:port; got {address!r} ({exc})"
        ) from None
    if not host or port is None:
        raise SchedulerUnreachableError(
            f"evaluation.scheduler must name a host and a port; got {address!r}"
        )
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout_s:g} s"
        raise SchedulerUnreachableError(
            f"Dask scheduler {address!r} is not reachable ({reason}); start it or fix "
            "evaluation.scheduler / --scheduler"
        ) from None
