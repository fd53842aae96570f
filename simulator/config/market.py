"""The ``market`` section: a synthetic regime or recorded order-book files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from models.errors import TradeallocError

from .errors import (
    PathKey,
    ScenarioError,
    _check_choice,
    _check_int,
    _check_mapping,
    _check_str,
    _named_key,
    _one_line,
    _unknown_name,
    _wrapped,
)

__all__ = [
    "DATA_SOURCES",
    "REGIMES",
    "SESSION_MINUTES",
    "SOURCES",
    "MarketConfig",
    "derive_message_path",
]

SOURCES = ("synthetic", "databento", "lobster", "parquet")
DATA_SOURCES = SOURCES[1:]
REGIMES = ("calm", "u_shape", "stressed", "event", "markov", "trend", "calibrated")
SESSION_MINUTES = 390


@dataclass(frozen=True, kw_only=True)
class MarketConfig:
    """Where the books come from: a synthetic regime or recorded order-book data.

    Parameters
    ----------
    source : {'synthetic', 'databento', 'lobster', 'parquet'}, default 'synthetic'
        ``synthetic`` generates books with :func:`simulator.synthetic.synthesize_market`;
        the others load files with :mod:`simulator.loaders` (``parquet`` is a
        :meth:`models.BookSnapshots.to_parquet` cache).
    regimes : tuple of str, default ('u_shape',)
        Synthetic regimes (YAML key ``regime``, a name or a list of names).  Each regime is
        one market of its own: the evaluator runs one sub-run per regime and tags the rows
        with a ``regime`` column.
    days : int, default 30
        Synthetic trading days per regime, >= 2.
    intervals : int, default 390
        Intervals per day; for recorded data it must divide the 390-minute session
        (390 = one-minute bins, 78 = five-minute bins).
    levels : int, default 10
        Synthetic book levels per side.
    params : dict, default {}
        Overrides of :class:`simulator.synthetic.MarketParams` fields (synthetic only).
    calibrate_from : Path, optional
        Recorded data file whose intraday profile the ``calibrated`` regime copies; its
        format follows its name (``*.parquet``, LOBSTER ``*_orderbook_*``, else Databento).
    path : tuple of Path, default ()
        Data files (in YAML a file, directory, glob or a list of those), expanded to files,
        sorted within each entry, absolute.
    message_path : tuple of Path, default ()
        LOBSTER message files matching ``path`` one to one (derived from the order-book
        file names when not given).
    symbol : str, optional
        Instrument to keep (Databento files may hold several); a label otherwise.
    """

    _SECTION: ClassVar[str] = "market"

    source: str = "synthetic"
    regimes: tuple[str, ...] = ("u_shape",)
    days: int = 30
    intervals: int = 390
    levels: int = 10
    params: dict[str, Any] = field(default_factory=dict)
    calibrate_from: Path | None = None
    path: tuple[Path, ...] = ()
    message_path: tuple[Path, ...] = ()
    symbol: str | None = None

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        _check_choice(m + ("source",), self.source, SOURCES)
        regimes = (self.regimes,) if isinstance(self.regimes, str) else self.regimes
        if not isinstance(regimes, Sequence) or not regimes:
            raise ScenarioError(
                m + ("regime",), "must be a regime name or a non-empty list", regimes
            )
        for i, regime in enumerate(regimes):
            _check_choice(
                m + ("regime", i) if len(regimes) > 1 else m + ("regime",), regime, REGIMES
            )
        if len(set(regimes)) != len(regimes):
            raise ScenarioError(m + ("regime",), "must not repeat a regime", list(regimes))
        object.__setattr__(self, "regimes", tuple(regimes))
        object.__setattr__(self, "days", _check_int(m + ("days",), self.days, minimum=2))
        intervals = _check_int(m + ("intervals",), self.intervals, minimum=1)
        object.__setattr__(self, "intervals", intervals)
        object.__setattr__(self, "levels", _check_int(m + ("levels",), self.levels, minimum=1))
        object.__setattr__(self, "params", _check_mapping(m + ("params",), self.params))
        _check_str(m + ("symbol",), self.symbol, optional=True)
        paths = (self.path,) if isinstance(self.path, str | os.PathLike) else self.path
        messages = self.message_path
        if isinstance(messages, str | os.PathLike):
            messages = (messages,)
        object.__setattr__(self, "path", tuple(Path(p) for p in paths))
        object.__setattr__(self, "message_path", tuple(Path(p) for p in messages))
        if self.calibrate_from is not None:
            object.__setattr__(self, "calibrate_from", Path(self.calibrate_from))
        if self.source == "synthetic":
            self._check_synthetic()
        else:
            self._check_recorded()

    def _check_synthetic(self) -> None:
        m = (self._SECTION,)
        if self.path or self.message_path:
            raise ScenarioError(
                m + ("path",),
                "applies only to data sources, not source synthetic",
                [str(p) for p in self.path],
            )
        calibrated = "calibrated" in self.regimes
        if calibrated and self.calibrate_from is None:
            raise ScenarioError(m + ("calibrate_from",), "is required by regime 'calibrated'", None)
        if not calibrated and self.calibrate_from is not None:
            raise ScenarioError(
                m + ("calibrate_from",),
                "is used only by regime 'calibrated'",
                str(self.calibrate_from),
            )
        if self.calibrate_from is not None:
            _require_file(m + ("calibrate_from",), self.calibrate_from)
            if self.calibrate_format == "lobster":
                _require_file(m + ("calibrate_from",), derive_message_path(self.calibrate_from))
        _check_market_params(m + ("params",), self.params)

    def _check_recorded(self) -> None:
        m = (self._SECTION,)
        if not self.path:
            raise ScenarioError(m + ("path",), f"is required by source {self.source}", None)
        for i, path in enumerate(self.path):
            _require_file(m + ("path", i), path)
        if self.source == "lobster":
            if len(self.message_path) != len(self.path):
                raise ScenarioError(
                    m + ("message_path",),
                    f"must name one message file per order-book file ({len(self.path)})",
                    [str(p) for p in self.message_path],
                )
            for i, path in enumerate(self.message_path):
                _require_file(m + ("message_path", i), path)
        elif self.message_path:
            raise ScenarioError(
                m + ("message_path",),
                "applies only to source lobster",
                [str(p) for p in self.message_path],
            )
        if SESSION_MINUTES % self.intervals:
            raise ScenarioError(
                m + ("intervals",),
                f"must divide the {SESSION_MINUTES}-minute session for recorded data",
                self.intervals,
            )

    @property
    def regime(self) -> str:
        """The single regime, or the regimes joined with ``+`` when there are several."""
        return "+".join(self.regimes)

    @property
    def interval_minutes(self) -> float:
        """Interval length in minutes over the 390-minute regular session."""
        return SESSION_MINUTES / self.intervals

    def loader_options(self) -> dict[str, Any]:
        """Keyword options of :func:`simulator.loaders.load_books` for ``path``.

        ``interval_minutes`` and ``symbol`` (when set) for Databento and LOBSTER,
        ``message_path`` for LOBSTER; none for Parquet (the cache keeps its own grid).
        Call it as ``load_books(market.path, format=market.source, **market.loader_options())``.
        """
        if self.source in ("synthetic", "parquet"):
            return {}
        options: dict[str, Any] = {"interval_minutes": self.interval_minutes}
        if self.symbol is not None:
            options["symbol"] = self.symbol
        if self.source == "lobster":
            options["message_path"] = list(self.message_path)
        return options

    @property
    def calibrate_format(self) -> str | None:
        """Format of ``calibrate_from`` (``'parquet'``, ``'lobster'`` or ``'databento'``)."""
        if self.calibrate_from is None:
            return None
        return _source_from_name(self.calibrate_from)

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys (only those that apply to ``source``)."""
        out: dict[str, Any] = {"source": self.source}
        if self.source != "parquet":
            out["intervals"] = self.intervals
        if self.source == "synthetic":
            out["regime"] = self.regimes[0] if len(self.regimes) == 1 else list(self.regimes)
            out.update(days=self.days, levels=self.levels, params=dict(self.params))
            out["calibrate_from"] = (
                None if self.calibrate_from is None else str(self.calibrate_from)
            )
        else:
            out["path"] = [str(p) for p in self.path]
            if self.source == "lobster":
                out["message_path"] = [str(p) for p in self.message_path]
        out["symbol"] = self.symbol
        return out


def _source_from_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if "_orderbook_" in name:
        return "lobster"
    return "databento"


def _require_file(path: PathKey, file: Path) -> None:
    if not file.is_file():
        what = "is a directory, not a file" if file.is_dir() else "data file not found"
        raise ScenarioError(path, what, str(file))


def derive_message_path(orderbook_path: str | os.PathLike) -> Path:
    """The LOBSTER message file beside an order-book file.

    Parameters
    ----------
    orderbook_path : path-like
        A LOBSTER order-book file, ``<TICKER>_<date>_<start>_<end>_orderbook_<levels>.csv[.gz]``.

    Returns
    -------
    Path
        The same name with ``_orderbook_`` replaced by ``_message_``.

    Raises
    ------
    ScenarioError
        If the name does not contain ``_orderbook_``.
    """
    path = Path(orderbook_path)
    if "_orderbook_" not in path.name:
        raise ScenarioError(
            ("market", "message_path"),
            "is required: the message file cannot be derived from an order-book file name "
            "without '_orderbook_'",
            str(path),
        )
    return path.with_name(path.name.replace("_orderbook_", "_message_"))


def _check_market_params(path: PathKey, params: Mapping[str, Any]) -> None:
    """Check override names (and values, when possible) against ``MarketParams``."""
    try:
        from ..synthetic import MarketParams
    except ImportError:
        return
    if not dataclasses.is_dataclass(MarketParams):
        return
    valid = [f.name for f in dataclasses.fields(MarketParams) if f.init]
    for key in params:
        if key not in valid:
            raise _unknown_name(path, key, valid, "MarketParams field")
    try:
        MarketParams(**params)
    except TradeallocError as exc:
        key = _named_key(str(exc), params)
        raise _wrapped(
            path + ((key,) if key else ()), exc, params[key] if key else dict(params)
        ) from None
    except TypeError as exc:
        raise ScenarioError(path, _one_line(str(exc)), dict(params)) from None
