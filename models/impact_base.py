"""Common interface of the impact models: validation, serialisation and JSON persistence.

Every impact model describes, for each interval t of a trading day, the impact cost
c_t(x) of a market order of x shares (DESIGN.md):

* slippage s_t(x) = VWAP - mid for a buy (mid - VWAP for a sell), dollars per share;
* impact cost c_t(x) = x * s_t(x), dollars; convex, increasing, c_t(0) = 0;
* marginal cost c_t'(x), dollars per share.

Concrete models (:class:`~models.linear.LinearImpact`, :class:`~models.power.PowerLawImpact`,
:class:`~models.book_model.BookImpact`) are frozen dataclasses deriving from
:class:`BaseImpact`; ``BaseImpact.from_dict`` and :func:`load_model` dispatch on ``kind``.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .atomic_io import atomic_path
from .book_walk import side_sign
from .errors import DataError, InvalidParameterError, InvalidTypeError
from .frozen import frozen_array

__all__ = ["BaseImpact", "load_model", "FORMAT_TAG"]

FORMAT_TAG = "tradealloc.impact/1"
"""Format marker written in every saved model file."""

_MODEL_CLASSES: dict[str, type[BaseImpact]] = {}


def _first_bad(values: np.ndarray, ok: np.ndarray) -> float:
    return float(values[~ok].ravel()[0])


def interval_array(
    name: str,
    value: Any,
    n_intervals: int,
    *,
    lower: float = -np.inf,
    strict: bool = False,
) -> np.ndarray:
    """Validate a per-interval parameter and return it as a read-only float array (N,).

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    value : float or array_like of shape (N,)
        Scalars are broadcast to ``n_intervals`` values.
    n_intervals : int
        Number of intervals N.
    lower : float, default -inf
        Lower bound of the admissible values.
    strict : bool, default False
        Whether the bound is strict (``> lower``) or not (``>= lower``).

    Raises
    ------
    InvalidTypeError
        If ``value`` is not numeric.
    InvalidParameterError
        If the shape is not () or (N,), or a value is not finite or violates the bound.
    """
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"{name} must be a number or an array of numbers; got {value!r}"
        ) from exc
    if arr.ndim == 0:
        arr = np.full(n_intervals, float(arr))
    if arr.shape != (n_intervals,):
        raise InvalidParameterError(
            f"{name} must be a scalar or have shape ({n_intervals},); got shape {arr.shape}"
        )
    finite = np.isfinite(arr)
    if not np.all(finite):
        raise InvalidParameterError(f"{name} must be finite; got {_first_bad(arr, finite)!r}")
    ok = arr > lower if strict else arr >= lower
    if not np.all(ok):
        op = ">" if strict else ">="
        raise InvalidParameterError(f"{name} must be {op} {lower:g}; got {_first_bad(arr, ok)!r}")
    return frozen_array(arr)


def resolve_n_intervals(n_intervals: int | None, **params: Any) -> int:
    """Number of intervals implied by array parameters, checked against ``n_intervals``.

    Raises
    ------
    InvalidParameterError
        If no parameter is an array and ``n_intervals`` is missing, if ``n_intervals`` is
        not a positive integer, or if array parameters disagree in length.
    """
    lengths = {
        name: np.shape(v)[0] for name, v in params.items() if v is not None and np.ndim(v) >= 1
    }
    if n_intervals is not None:
        if isinstance(n_intervals, bool) or not isinstance(n_intervals, int | np.integer):
            raise InvalidTypeError(f"n_intervals must be an int; got {n_intervals!r}")
        if n_intervals < 1:
            raise InvalidParameterError(f"n_intervals must be >= 1; got {n_intervals!r}")
        n = int(n_intervals)
    elif lengths:
        n = next(iter(lengths.values()))
    else:
        names = ", ".join(params)
        raise InvalidParameterError(
            f"n_intervals must be given when every parameter ({names}) is a scalar; got None"
        )
    for name, length in lengths.items():
        if length != n:
            raise InvalidParameterError(f"{name} must have length {n}; got length {length}")
    if n < 1:
        raise InvalidParameterError(f"n_intervals must be >= 1; got {n}")
    return n


def check_side(side: Any) -> str:
    """Validate a trade side and return it as ``'buy'`` or ``'sell'``."""
    side_sign(side)
    return str(side)


def check_diagnostics(diagnostics: Any, n_intervals: int) -> pd.DataFrame | None:
    """Validate per-interval diagnostics: None or a DataFrame with one row per interval."""
    if diagnostics is None:
        return None
    if not isinstance(diagnostics, pd.DataFrame):
        raise InvalidTypeError(
            f"diagnostics must be a pandas DataFrame or None; got {type(diagnostics).__name__}"
        )
    if len(diagnostics) != n_intervals:
        raise InvalidParameterError(
            f"diagnostics must have one row per interval ({n_intervals}); got {len(diagnostics)}"
        )
    out = diagnostics.reset_index(drop=True).copy()
    out.index.name = "interval"
    return out


def check_fit_info(fit_info: Any) -> dict[str, Any] | None:
    """Validate a model-level fit report: None or a dict with string keys.

    Returns a JSON-ready copy (numpy values converted, NaN as None), so the model's JSON
    round-trips it exactly.
    """
    if fit_info is None:
        return None
    if not isinstance(fit_info, dict) or not all(isinstance(k, str) for k in fit_info):
        raise InvalidTypeError(
            f"fit_info must be a dict with str keys or None; got {type(fit_info).__name__}"
        )
    return _json_ready(fit_info)


def check_shares(x: Any, n_intervals: int, name: str = "x") -> np.ndarray:
    """Validate order sizes: finite, >= 0, shape (..., N) (a scalar is broadcast to (N,)).

    Raises
    ------
    InvalidParameterError
        If a size is negative or not finite, or the last axis is not N long.
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n_intervals, float(arr))
    if arr.shape[-1] != n_intervals:
        raise InvalidParameterError(
            f"{name} must have shape (..., {n_intervals}) shares; got shape {arr.shape}"
        )
    ok = np.isfinite(arr) & (arr >= 0)
    if not np.all(ok):
        raise InvalidParameterError(
            f"{name} must be finite and >= 0 shares; got {_first_bad(arr, ok)!r}"
        )
    return arr


def check_price_levels(lam: Any, n_intervals: int, name: str = "lam") -> np.ndarray:
    """Validate marginal-cost levels of shape (..., 1) or (..., N); scalars become (1,)."""
    arr = np.asarray(lam, dtype=float)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.shape[-1] not in (1, n_intervals):
        raise InvalidParameterError(
            f"{name} must have shape (..., 1) or (..., {n_intervals}) dollars per share; "
            f"got shape {arr.shape}"
        )
    if np.any(np.isnan(arr)):
        raise InvalidParameterError(f"{name} must not be NaN dollars per share; got nan")
    return np.broadcast_to(arr, arr.shape[:-1] + (n_intervals,))


def _json_ready(value: Any) -> Any:
    """Convert numpy values to JSON-native ones, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu":
            return value.tolist()
        if value.dtype.kind == "f":  # numbers as they are, NaN and infinities as None
            finite = np.isfinite(value)
            if finite.all():
                return value.tolist()
            return np.where(finite, value.astype(object), None).tolist()
        return _json_ready(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def _nan_array(values: Any) -> np.ndarray:
    """Inverse of :func:`_json_ready` for float arrays: None becomes NaN."""
    return np.array(values, dtype=float)


class BaseImpact(ABC):
    """Abstract impact model c_t(x) over the N intervals of a trading day.

    Subclasses are frozen dataclasses with a ``side`` field (``'buy'`` or ``'sell'``), a
    ``diagnostics`` field (per-interval fit diagnostics or None), a keyword-only ``fit_info``
    field (the model-level fit report of :func:`models.fitting.fit_impact_model`: days used
    and dropped, minutes filled, R^2 and delta summaries; or None), a class attribute
    ``kind``, and the methods below.  All evaluation methods take ``x`` of shape (..., N) shares, so
    many schedules are evaluated at once.
    """

    kind: ClassVar[str]
    side: str
    diagnostics: pd.DataFrame | None
    fit_info: dict[str, Any] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _MODEL_CLASSES[kind] = cls

    # ------------------------------------------------------------------ evaluation
    @property
    @abstractmethod
    def n_intervals(self) -> int:
        """Number of intervals N."""

    @abstractmethod
    def cost(self, x: Any) -> np.ndarray:
        """Impact cost c_t(x_t) in dollars, shape (..., N), for x of shape (..., N) shares."""

    @abstractmethod
    def marginal_cost(self, x: Any) -> np.ndarray:
        """Marginal cost c_t'(x_t) in dollars per share, shape (..., N)."""

    @abstractmethod
    def slippage(self, x: Any) -> np.ndarray:
        """Slippage per share s_t(x_t) = c_t(x_t) / x_t in dollars per share, shape (..., N).

        At x = 0 it is the limit for small orders (the cost of the first share).
        """

    @abstractmethod
    def inverse_marginal(self, lam: Any) -> np.ndarray:
        """Largest x >= 0 whose marginal cost is <= ``lam``, shares, shape (..., N).

        ``lam`` has shape (..., 1) or (..., N) in dollars per share; the result is 0 where
        ``lam`` is below the marginal cost at zero.  Used by water-filling solvers.
        """

    def total_cost(self, x: Any) -> np.ndarray:
        """Total impact cost sum_t c_t(x_t) of schedules x (..., N), in dollars, shape (...)."""
        return self.cost(x).sum(axis=-1)

    # ------------------------------------------------------------------ reporting
    @abstractmethod
    def parameter_frame(self) -> pd.DataFrame:
        """Model parameters, one row per interval (index ``interval``)."""

    def summary(self) -> pd.DataFrame:
        """One row per interval: parameters, then fit diagnostics when the model was fitted.

        Returns
        -------
        DataFrame
            Index ``interval``; parameter columns (for example ``beta`` and ``h`` in dollars
            per share per share and dollars per share), followed by the diagnostics columns
            (``r2``, ``stderr_<parameter>``, ``n_obs``, ``filled``, ``failed``, ...) if any.
        """
        params = self.parameter_frame()
        params.index.name = "interval"
        if self.diagnostics is None:
            return params
        extra = self.diagnostics.drop(
            columns=[c for c in self.diagnostics.columns if c in params.columns]
        )
        return params.join(extra.set_index(params.index))

    # ------------------------------------------------------------------ serialisation
    @abstractmethod
    def _params_dict(self) -> dict[str, Any]:
        """Constructor keyword arguments other than ``side``, ``diagnostics``, ``fit_info``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: ``kind``, ``side``, ``params``, ``diagnostics``, ``fit_info``.

        NaN values are stored as None.  :meth:`from_dict` rebuilds an equal model.
        """
        diag = None
        if self.diagnostics is not None:
            diag = {
                "columns": [str(c) for c in self.diagnostics.columns],
                "dtypes": [str(t) for t in self.diagnostics.dtypes],
                "data": {str(c): self.diagnostics[c].to_numpy() for c in self.diagnostics.columns},
            }
        return _json_ready(
            {
                "format": FORMAT_TAG,
                "kind": self.kind,
                "side": self.side,
                "params": self._params_dict(),
                "diagnostics": diag,
                "fit_info": self.fit_info,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaseImpact:
        """Rebuild a model from :meth:`to_dict` output, dispatching on ``d['kind']``.

        Raises
        ------
        InvalidTypeError
            If ``d`` is not a dict.
        DataError
            If ``kind`` is unknown, keys are missing, or (called on a subclass) the stored
            kind is not that subclass's.
        """
        if not isinstance(d, dict):
            raise InvalidTypeError(f"model description must be a dict; got {type(d).__name__}")
        kind = d.get("kind")
        target = _MODEL_CLASSES.get(kind) if isinstance(kind, str) else None
        if target is None:
            known = ", ".join(sorted(_MODEL_CLASSES))
            raise DataError(f"kind must be one of {known}; got {kind!r}")
        if cls is not BaseImpact and not issubclass(target, cls):
            raise DataError(f"kind must be {cls.kind!r} for {cls.__name__}; got {kind!r}")
        if "params" not in d or not isinstance(d["params"], dict):
            raise DataError(f"model description must have a 'params' dict; got keys {list(d)}")
        diagnostics = None
        raw = d.get("diagnostics")
        if raw is not None:
            data = {}
            for col, dtype in zip(raw["columns"], raw["dtypes"], strict=True):
                values = raw["data"][col]
                if dtype.startswith(("float", "int")) and any(v is None for v in values):
                    data[col] = _nan_array(values)
                else:
                    data[col] = pd.Series(values).astype(dtype).to_numpy()
            diagnostics = pd.DataFrame(data, columns=raw["columns"])
        return target._from_params(
            dict(d["params"]),
            side=d.get("side", "buy"),
            diagnostics=diagnostics,
            fit_info=d.get("fit_info"),
        )

    @classmethod
    def _from_params(
        cls,
        params: dict[str, Any],
        side: str,
        diagnostics: pd.DataFrame | None,
        fit_info: dict[str, Any] | None = None,
    ) -> BaseImpact:
        nan_safe = {k: (_nan_array(v) if isinstance(v, list) else v) for k, v in params.items()}
        return cls(**nan_safe, side=side, diagnostics=diagnostics, fit_info=fit_info)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as JSON, atomically (temporary file in the same folder, renamed).

        Returns
        -------
        Path
            The written file.
        """
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseImpact:
        """Read a model written by :meth:`save`.

        Raises
        ------
        DataError
            If the file is missing, is not valid JSON, or holds another kind of model than
            the class it is loaded through.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"model file not found: {str(path)!r}")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"model file {str(path)!r} is not valid JSON: {exc.msg}") from exc
        if not isinstance(d, dict) or d.get("format") != FORMAT_TAG:
            raise DataError(f"model file {str(path)!r} is not a {FORMAT_TAG} file")
        return cls.from_dict(d)


def load_model(path: str | os.PathLike) -> BaseImpact:
    """Load any impact model saved with :meth:`BaseImpact.save` (dispatch on its kind)."""
    return BaseImpact.load(path)
