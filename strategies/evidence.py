"""Training evidence: what the training window says about the uncertainty of its fitted model.

A per-minute impact model fitted on a few training days is noisy, and an exact optimiser
concentrates trading where the noise looks cheapest (issue 14).  A strategy that wants to
guard against that needs more than the pooled point estimates: it needs to know how much
each minute's parameters vary from one training day to the next.  :class:`TrainingEvidence`
carries exactly that, small enough to ship with every test day:

* each training day's own parameters at each interval (:func:`models.fit_per_day`: the
  slope ``beta`` or ``alpha`` and the intercept ``h``), shape (days, N) - their dispersion
  across days measures the sampling noise of the pooled parameters, including the
  correlation of that noise across neighbouring intervals within a day;
* the pooled fit's per-interval least-squares standard errors (``stderr_<parameter>``,
  :func:`models.fit_impact_model` diagnostics), which assume independent observations and
  therefore understate the day-to-day noise when a day's observations move together.

The evaluator builds it once per training window (:func:`simulator.plan.prepare_inputs`) and
the :class:`~strategies.problem.AllocationProblem` carries it in its optional ``evidence``
field (None by default: strategies that do not use it never see a difference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models import PerDayFit
from models.errors import InvalidParameterError, InvalidTypeError
from models.frozen import frozen_array

__all__ = ["TrainingEvidence", "EVIDENCE_KINDS", "SLOPE_NAMES"]

EVIDENCE_KINDS = ("linear", "power")
"""Model kinds for which per-day parameters exist."""

SLOPE_NAMES = {"linear": "beta", "power": "alpha"}
"""Name of the slope parameter of each kind (dollars per share per share**delta)."""

_STORAGE = np.float32  # per-day parameters: 7 significant digits are plenty for a dispersion


def _per_day_array(name: str, value: Any, lower_open: bool) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"per_day[{name!r}] must be an array of numbers; got {value!r}"
        ) from exc
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidParameterError(
            f"per_day[{name!r}] must have shape (days, intervals) with both >= 1; "
            f"got shape {arr.shape}"
        )
    # NaN marks a (day, interval) without a valid fit; anything else must be in range.
    present = ~np.isnan(arr)
    bad = present & (~np.isfinite(arr) | ((arr <= 0) if lower_open else (arr < 0)))
    if np.any(bad):
        d, t = (int(i) for i in np.argwhere(bad)[0])
        op = "> 0" if lower_open else ">= 0"
        raise InvalidParameterError(
            f"per_day[{name!r}] must be finite and {op} or NaN; got per_day[{name!r}][{d}, {t}] "
            f"= {arr[d, t]!r}"
        )
    return frozen_array(arr, dtype=_STORAGE)


@dataclass(frozen=True, eq=False)
class TrainingEvidence:
    """Per-day parameters and standard errors of a fitted linear or power-law model.

    Parameters
    ----------
    kind : {'linear', 'power'}
        Kind of the model the evidence belongs to.
    per_day : mapping of str to array_like (D, N)
        Each training day's own least-squares parameters at each interval: ``'beta'``
        (linear, dollars per share per share) or ``'alpha'`` (power, dollars per share per
        share**delta, fitted with the pooled exponent ``delta``), and ``'h'`` (dollars per
        share).  NaN where the day's fit does not exist (too few observations or not
        increasing).  Only the days the pooled fit used.  Stored as float32 (read-only).
    delta : None or array_like (N,), default None
        The exponent the per-day ``alpha`` were fitted with (power only, > 0).
    dates : None or array_like of datetime64[D], shape (D,), default None
        The training days.
    stderr : mapping of str to array_like (N,), default {}
        The pooled fit's per-interval least-squares standard errors, keyed by parameter
        (``'beta'``, ``'alpha'``, ``'h'``, ``'delta'``), units of the parameter; NaN where
        not estimated.  They treat every observation as independent, so they understate the
        day-to-day noise that the dispersion of ``per_day`` measures.

    Raises
    ------
    InvalidParameterError
        If ``kind`` is unknown, the parameter names do not match the kind, shapes disagree,
        or a value is out of range (the message names the field and the value).
    InvalidTypeError
        If an array is not numeric.
    """

    kind: str
    per_day: Mapping[str, np.ndarray]
    delta: np.ndarray | None = None
    dates: np.ndarray | None = None
    stderr: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise InvalidParameterError(
                f"kind must be one of {list(EVIDENCE_KINDS)}; got {self.kind!r}"
            )
        if not isinstance(self.per_day, Mapping):
            raise InvalidTypeError(
                f"per_day must be a mapping of parameter name to array; got "
                f"{type(self.per_day).__name__}"
            )
        slope = SLOPE_NAMES[self.kind]
        expected = {slope, "h"}
        if set(self.per_day) != expected:
            raise InvalidParameterError(
                f"per_day must have exactly the keys {sorted(expected)} for kind "
                f"{self.kind!r}; got {sorted(self.per_day)}"
            )
        per_day = {
            slope: _per_day_array(slope, self.per_day[slope], lower_open=True),
            "h": _per_day_array("h", self.per_day["h"], lower_open=False),
        }
        shape = per_day[slope].shape
        if per_day["h"].shape != shape:
            raise InvalidParameterError(
                f"per_day['h'] must have the shape of per_day[{slope!r}] {shape}; "
                f"got {per_day['h'].shape}"
            )
        n_days, n = shape
        object.__setattr__(self, "per_day", per_day)
        if self.kind == "power":
            if self.delta is None:
                raise InvalidParameterError("delta must be given for kind 'power'; got None")
            delta = np.array(self.delta, dtype=float)
            if delta.ndim == 0:
                delta = np.full(n, float(delta))
            if delta.shape != (n,) or not np.all(np.isfinite(delta) & (delta > 0)):
                raise InvalidParameterError(
                    f"delta must be finite and > 0 with shape ({n},); got {self.delta!r}"
                )
            object.__setattr__(self, "delta", frozen_array(delta))
        elif self.delta is not None:
            raise InvalidParameterError(f"delta must be None for kind 'linear'; got {self.delta!r}")
        if self.dates is not None:
            dates = np.array(self.dates, dtype="datetime64[D]")
            if dates.shape != (n_days,):
                raise InvalidParameterError(f"dates must have shape ({n_days},); got {dates.shape}")
            dates.setflags(write=False)
            object.__setattr__(self, "dates", dates)
        if not isinstance(self.stderr, Mapping):
            raise InvalidTypeError(
                f"stderr must be a mapping of parameter name to array; got "
                f"{type(self.stderr).__name__}"
            )
        stderr = {}
        for name, value in self.stderr.items():
            arr = np.array(value, dtype=float)
            if arr.shape != (n,):
                raise InvalidParameterError(
                    f"stderr[{name!r}] must have shape ({n},); got {arr.shape}"
                )
            if np.any(arr[~np.isnan(arr)] < 0) or np.any(np.isinf(arr)):
                raise InvalidParameterError(
                    f"stderr[{name!r}] must be finite and >= 0 or NaN; got {value!r}"
                )
            stderr[str(name)] = frozen_array(arr)
        object.__setattr__(self, "stderr", stderr)

    @property
    def n_days(self) -> int:
        """Number of training days D."""
        return int(self.per_day["h"].shape[0])

    @property
    def n_intervals(self) -> int:
        """Number of intervals N."""
        return int(self.per_day["h"].shape[1])

    @property
    def slope_name(self) -> str:
        """``'beta'`` (linear) or ``'alpha'`` (power)."""
        return SLOPE_NAMES[self.kind]

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (what shipping it with a test day costs)."""
        arrays = [*self.per_day.values(), *self.stderr.values()]
        arrays += [a for a in (self.delta, self.dates) if a is not None]
        return int(sum(a.nbytes for a in arrays))

    def valid_days(self) -> np.ndarray:
        """Per interval, the number of days whose fit exists, shape (N,)."""
        ok = ~np.isnan(self.per_day[self.slope_name]) & ~np.isnan(self.per_day["h"])
        return ok.sum(axis=0)

    @classmethod
    def from_per_day_fit(cls, fit: Any) -> TrainingEvidence:
        """Evidence from :func:`models.fit_per_day`: the days its pooled fit used.

        Parameters
        ----------
        fit : models.PerDayFit

        Returns
        -------
        TrainingEvidence
            ``per_day`` restricted to ``fit.used_in_pooled``; ``stderr`` from the pooled
            model's ``stderr_<parameter>`` diagnostics (empty without diagnostics).

        Raises
        ------
        InvalidTypeError
            If ``fit`` is not a :class:`models.PerDayFit`.
        """
        if not isinstance(fit, PerDayFit):
            raise InvalidTypeError(f"fit must be a models.PerDayFit; got {type(fit).__name__}")
        pooled = fit.pooled
        keep = np.asarray(fit.used_in_pooled, dtype=bool)
        per_day = {name: np.asarray(arr)[keep] for name, arr in fit.params.items()}
        stderr = {}
        diag = pooled.diagnostics
        if diag is not None:
            for col in diag.columns:
                if col.startswith("stderr_"):
                    stderr[col[len("stderr_") :]] = diag[col].to_numpy(dtype=float)
        return cls(
            kind=pooled.kind,
            per_day=per_day,
            delta=np.asarray(pooled.delta) if pooled.kind == "power" else None,
            dates=np.asarray(fit.dates)[keep],
            stderr=stderr,
        )

    def __repr__(self) -> str:
        return (
            f"TrainingEvidence(kind={self.kind!r}, n_days={self.n_days}, "
            f"n_intervals={self.n_intervals}, nbytes={self.nbytes})"
        )
