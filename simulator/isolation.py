"""Running one strategy so that whatever it does stays its own failure.

A plugin may raise anything, call ``sys.exit``, return garbage or never return.  The
evaluator calls every strategy through :func:`call_isolated`, which turns each of these into
a :class:`StrategyFailure` naming the strategy, so the other strategies' rows and the run go
on.  Only ``KeyboardInterrupt`` (the user's Ctrl-C or SIGTERM) passes through.

Time limit: in the main thread of a process (serial runs, loky workers) a POSIX interval
timer raises inside the strategy when ``timeout_s`` elapses, so a sleeping or looping
strategy is interrupted at its next Python instruction (a long call inside compiled code
ends first).  Elsewhere (threading backend, Dask workers) the strategy runs in a daemon
thread that is abandoned after ``timeout_s``: its rows fail, the run goes on, and the
thread finishes in the background.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from models.errors import TradeallocError

__all__ = ["StrategyFailure", "StrategyTimeout", "call_isolated"]


class StrategyFailure(TradeallocError, RuntimeError):
    """A strategy raised, exited or returned an invalid schedule; the message names it."""


class StrategyTimeout(StrategyFailure):
    """A strategy did not return within its time limit."""


class _Alarm(BaseException):
    # BaseException so that a strategy's own ``except Exception`` cannot swallow it.
    pass


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run_with_alarm(fn: Callable[[], Any], timeout_s: float) -> Any:
    def on_alarm(signum, frame):
        raise _Alarm

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def _run_in_thread(fn: Callable[[], Any], timeout_s: float) -> Any:
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="tradealloc-strategy")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise _Alarm
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _can_use_alarm() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )


def call_isolated(label: str, fn: Callable[[], Any], timeout_s: float | None) -> Any:
    """Call ``fn()`` on behalf of strategy ``label``; return its value or raise StrategyFailure.

    Parameters
    ----------
    label : str
        The strategy's label, put at the start of every failure message.
    fn : callable
        The call to make, without arguments.
    timeout_s : float or None
        Wall-clock limit in seconds; None for no limit.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    StrategyTimeout
        If ``fn`` did not return within ``timeout_s`` seconds.
    StrategyFailure
        If ``fn`` raised any exception or called ``sys.exit``; the message is
        ``"strategy '<label>' <what happened>"``.
    KeyboardInterrupt
        Passed through: an interrupt stops the run, not the strategy.
    """
    try:
        if timeout_s is None:
            return fn()
        if _can_use_alarm():
            return _run_with_alarm(fn, float(timeout_s))
        return _run_in_thread(fn, float(timeout_s))
    except _Alarm:
        raise StrategyTimeout(
            f"strategy {label!r} did not return within strategy_timeout_s = {timeout_s:g} s"
        ) from None
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        raise StrategyFailure(
            f"strategy {label!r} called sys.exit({exc.code!r}); a strategy must return a schedule"
        ) from None
    except BaseException as exc:
        raise StrategyFailure(f"strategy {label!r} raised {_describe(exc)}") from exc
