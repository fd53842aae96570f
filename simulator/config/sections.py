"""The ``constraints``, ``simulation``, ``evaluation`` and ``output`` sections."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .errors import (
    ScenarioError,
    _check_bool,
    _check_choice,
    _check_int,
    _check_number,
    _check_str,
)

__all__ = [
    "BACKENDS",
    "MODES",
    "REPORT_FORMATS",
    "ConstraintsConfig",
    "EvaluationConfig",
    "OutputConfig",
    "SimulationConfig",
]

MODES = ("walk_forward", "in_sample")
BACKENDS = ("loky", "threading", "dask")
REPORT_FORMATS = ("html", "markdown")


@dataclass(frozen=True, kw_only=True)
class ConstraintsConfig:
    """Per-interval bounds of every schedule.

    Parameters
    ----------
    max_participation : float, optional
        Cap per interval as a fraction of the volume expected from the training days, in
        (0, 1]: ``upper_t = max_participation * expected_volume_t``.  None = uncapped.
    min_shares_per_interval : float, default 0
        Lower bound per interval, in shares.
    lot_size : float, default 0
        Round schedules to lots of this many shares with ``strategies.round_schedule``
        (largest remainder, exact total kept); 0 = no rounding.
    """

    _SECTION: ClassVar[str] = "constraints"

    max_participation: float | None = None
    min_shares_per_interval: float = 0.0
    lot_size: float = 0.0

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        if self.max_participation is not None:
            cap = _check_number(
                m + ("max_participation",), self.max_participation, low=0.0, high=1.0, low_open=True
            )
            object.__setattr__(self, "max_participation", cap)
        for name in ("min_shares_per_interval", "lot_size"):
            object.__setattr__(self, name, _check_number(m + (name,), getattr(self, name), low=0.0))

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """How the simulated market charges a schedule on the test day.

    Parameters
    ----------
    transient_half_life : float, default 0
        Half-life of the recovery of liquidity the order consumed, in intervals
        (0 = the book is fully replenished every interval).
    permanent_impact : float, default 0
        Permanent price shift per share traded, in dollars per share per share.
    beyond_depth_bps : float, default 25
        Penalty for shares beyond the visible depth, in basis points of the mid added to the
        deepest level's price (those intervals are counted as exhausted).
    """

    _SECTION: ClassVar[str] = "simulation"

    transient_half_life: float = 0.0
    permanent_impact: float = 0.0
    beyond_depth_bps: float = 25.0

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        for f in dataclasses.fields(self):
            value = _check_number(m + (f.name,), getattr(self, f.name), low=0.0)
            object.__setattr__(self, f.name, value)

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig:
    """How the evaluator runs: protocol, parallelism, randomness and statistics.

    Parameters
    ----------
    mode : {'walk_forward', 'in_sample'}, default 'walk_forward'
        ``walk_forward`` fits on the ``model.training_days`` days before each test day;
        ``in_sample`` fits and realises on the same day (for comparison).
    test_days : int, optional
        Evaluate only the last ``test_days`` eligible days (None = all).
    n_jobs : int, default 1
        Parallel workers (joblib convention: -1 = all cores, -2 = all but one).  A run
        never starts more workers than there are available cores (it warns and caps).
    backend : {'loky', 'threading', 'dask'}, default 'loky'
        joblib backend.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``) for backend ``dask``; None starts a
        local cluster for the run.
    seed : int, default 0
        Root of every random stream (``numpy.random.SeedSequence``), >= 0.
    bootstrap_samples : int, default 2000
        Paired bootstrap resamples for the 95% intervals, >= 100.
    oracle : bool, default True
        Also compute the hindsight optimum under the test day's own books.
    equivalence_bps : float, default 0.1
        Practical-equivalence margin of the verdict against ``equal``, in basis points of
        arrival notional, >= 0.
    strategy_timeout_s : float, default 60
        Wall-clock limit for one strategy to compute one schedule, in seconds, > 0.
    """

    _SECTION: ClassVar[str] = "evaluation"

    mode: str = "walk_forward"
    test_days: int | None = None
    n_jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    seed: int = 0
    bootstrap_samples: int = 2000
    oracle: bool = True
    equivalence_bps: float = 0.1
    strategy_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        _check_choice(m + ("mode",), self.mode, MODES)
        if self.test_days is not None:
            test_days = _check_int(m + ("test_days",), self.test_days, minimum=1)
            object.__setattr__(self, "test_days", test_days)
        n_jobs = _check_int(m + ("n_jobs",), self.n_jobs)
        if n_jobs == 0:
            raise ScenarioError(m + ("n_jobs",), "must be >= 1, or negative (-1 = all cores)", 0)
        object.__setattr__(self, "n_jobs", n_jobs)
        _check_choice(m + ("backend",), self.backend, BACKENDS)
        _check_str(m + ("scheduler",), self.scheduler, optional=True)
        if self.scheduler is not None and self.backend != "dask":
            raise ScenarioError(
                m + ("scheduler",),
                f"needs backend dask (backend is {self.backend})",
                self.scheduler,
            )
        object.__setattr__(self, "seed", _check_int(m + ("seed",), self.seed, minimum=0))
        samples = _check_int(m + ("bootstrap_samples",), self.bootstrap_samples, minimum=100)
        object.__setattr__(self, "bootstrap_samples", samples)
        _check_bool(m + ("oracle",), self.oracle)
        margin = _check_number(m + ("equivalence_bps",), self.equivalence_bps, low=0.0)
        object.__setattr__(self, "equivalence_bps", margin)
        timeout = _check_number(
            m + ("strategy_timeout_s",), self.strategy_timeout_s, low=0.0, low_open=True
        )
        object.__setattr__(self, "strategy_timeout_s", timeout)

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Where and how results are written.

    Parameters
    ----------
    dir : Path, default 'results/<scenario name>'
        Output directory, relative to the current directory when the run starts.  An
        existing non-empty directory is never overwritten without ``--overwrite``.
    figures : bool, default True
        Write the PNG figures (and embed them in the report).
    report : {'html', 'markdown'}, default 'html'
        Report format.
    """

    _SECTION: ClassVar[str] = "output"

    dir: Path = Path("results")
    figures: bool = True
    report: str = "html"

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        if not isinstance(self.dir, str | os.PathLike) or not str(self.dir).strip():
            raise ScenarioError(m + ("dir",), "must be a non-empty path", self.dir)
        object.__setattr__(self, "dir", Path(self.dir))
        _check_bool(m + ("figures",), self.figures)
        _check_choice(m + ("report",), self.report, REPORT_FORMATS)

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        return {"dir": str(self.dir), "figures": self.figures, "report": self.report}
