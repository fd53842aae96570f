"""Scenario files: the YAML schema, its validation, and frozen config objects.

A scenario file says which market to replay or synthesize, which impact model to fit, which
strategies to compare at which order sizes, how the simulator charges them and how the
evaluator runs.  :func:`load_scenario` is the one place where YAML is read
(``yaml.safe_load``); :func:`parse_scenario` validates an already-parsed mapping.  The
documented schema is ``docs/scenarios.md``.

Every validation error is a :class:`ScenarioError` whose one-line message names the YAML path
(``strategies[2].params.risk_aversion``), the constraint and the offending value, prefixed with
the file and line when the scenario came from a file.  The config objects are frozen
keyword-only dataclasses validated in ``__post_init__``, so variants made with
:func:`dataclasses.replace` are validated too.  They hold no live objects (strategies are
stored as name, parameters and label; :meth:`StrategyConfig.build` instantiates one), so a
scenario pickles cheaply and serialises with :meth:`Scenario.to_dict`.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from models.errors import InvalidParameterError, TradeallocError

from .settings import EvaluationSettings, SizeSpec

__all__ = [
    "BACKENDS",
    "DATA_SOURCES",
    "MODEL_KINDS",
    "MODES",
    "REGIMES",
    "REPORT_FORMATS",
    "SOURCES",
    "ConstraintsConfig",
    "EvaluationConfig",
    "MarketConfig",
    "ModelConfig",
    "OutputConfig",
    "Scenario",
    "ScenarioError",
    "SimulationConfig",
    "StrategyConfig",
    "derive_message_path",
    "load_scenario",
    "parse_scenario",
]

SOURCES = ("synthetic", "databento", "lobster", "parquet")
DATA_SOURCES = SOURCES[1:]
REGIMES = ("calm", "u_shape", "stressed", "event", "markov", "trend", "calibrated")
MODEL_KINDS = ("linear", "power", "book")
MODES = ("walk_forward", "in_sample")
BACKENDS = ("loky", "threading", "dask")
REPORT_FORMATS = ("html", "markdown")
SIDES = ("buy", "sell")
SESSION_MINUTES = 390
# Labels the evaluator gives a meaning of its own: the baseline and the hindsight optimum.
BASELINE_LABEL = "equal"
RESERVED_LABELS = ("oracle",)
# File patterns a directory given as ``market.path`` is expanded with, per source.
_DIRECTORY_PATTERNS = {
    "databento": ("*.csv", "*.csv.gz", "*.csv.zst", "*.dbn", "*.dbn.zst"),
    "lobster": ("*_orderbook_*.csv", "*_orderbook_*.csv.gz"),
    "parquet": ("*.parquet",),
}
# fit_impact_model options that other scenario keys already set.
_RESERVED_MODEL_OPTIONS = ("books", "kind", "side", "smoothing")

_MISSING = object()
PathKey = tuple[str | int, ...]


def _path_str(path: PathKey) -> str:
    """``('strategies', 2, 'params', 'x')`` -> ``'strategies[2].params.x'``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class ScenarioError(InvalidParameterError):
    """A scenario file or mapping is invalid; the message names the YAML path and the value.

    Parameters
    ----------
    path : tuple of str and int
        Location in the scenario, e.g. ``('strategies', 2, 'params', 'risk_aversion')``;
        empty for errors about the whole file.
    problem : str
        What is wrong, phrased to follow the path (``"must be >= 0"``).
    value : object, optional
        The offending value, shown as ``; got <repr>``.
    source : str, optional
        The scenario file, shown as a prefix.
    line : int, optional
        1-based line in ``source``.

    Attributes
    ----------
    path, problem, value, source, line
        As given.
    """

    def __init__(self, path=(), problem="is invalid", value=_MISSING, *, source=None, line=None):
        self.path = tuple(path)
        self.problem = problem
        self.value = value
        self.source = source
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.source is not None:
            where = f"{self.source}:{self.line}: " if self.line else f"{self.source}: "
        head = _path_str(self.path)
        text = f"{head} {self.problem}" if head else self.problem
        if self.value is not _MISSING:
            text += f"; got {_short_repr(self.value)}"
        return _one_line(where + text)

    def __reduce__(self):
        return (_rebuild_error, (self.path, self.problem, self.value, self.source, self.line))

    def prefixed(self, *prefix: str | int) -> ScenarioError:
        """The same error located under ``prefix`` (e.g. ``('strategies', 2)``)."""
        return ScenarioError(
            prefix + self.path, self.problem, self.value, source=self.source, line=self.line
        )

    def located(self, source: str, line: int | None) -> ScenarioError:
        """The same error with a file (and line) prefix."""
        return ScenarioError(self.path, self.problem, self.value, source=source, line=line)


def _rebuild_error(path, problem, value, source, line):
    return ScenarioError(path, problem, value, source=source, line=line)


def _short_repr(value: Any, limit: int = 160) -> str:
    """``repr`` of a value; long containers are cut, strings (paths) never."""
    text = repr(value)
    if isinstance(value, str) or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


# --------------------------------------------------------------------------- value checks


def _type_hint(value: Any) -> str:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (a string: YAML reads 1e5 as text, write 100000 or 1.0e+5)"
    return ""


def _check_int(path: PathKey, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ScenarioError(path, "must be an integer" + _type_hint(value), value)
    if minimum is not None and value < minimum:
        raise ScenarioError(path, f"must be an integer >= {minimum}", value)
    return value


def _check_number(
    path: PathKey,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite float within ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(path, "must be a number" + _type_hint(value), value)
    value = float(value)
    if not math.isfinite(value):
        raise ScenarioError(path, "must be a finite number", value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if high is None:
            rule = f"must be {'>' if low_open else '>='} {low:g}"
        else:
            rule = f"must be in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise ScenarioError(path, rule, value)
    return value


def _check_bool(path: PathKey, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(path, "must be true or false", value)
    return value


def _check_choice(path: PathKey, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScenarioError(path, f"must be one of {', '.join(choices)}{hint}", value)
    return value


def _check_str(path: PathKey, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(path, "must be a non-empty string", value)
    return value


def _check_mapping(path: PathKey, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError(path, "must be a mapping (key: value pairs)", value)
    for key in value:
        if not isinstance(key, str):
            raise ScenarioError(path, "keys must be strings", key)
    return dict(value)


def _check_keys(path: PathKey, mapping: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Reject unknown keys, suggesting the nearest valid one."""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(allowed)}"
            raise ScenarioError(path + (key,), f"is not a valid key ({hint})")


def _unknown_name(path: PathKey, name: str, valid: Sequence[str], what: str) -> ScenarioError:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(valid)}"
    return ScenarioError(path + (name,), f"is not a valid {what} ({hint})")


# --------------------------------------------------------------------------- sections


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
        from .synthetic import MarketParams
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


def _wrapped(path: PathKey, exc: Exception, value: Any) -> ScenarioError:
    """A library's one-line error located at ``path`` (its own ``got ...`` kept, not doubled)."""
    text = _one_line(exc)
    leaf = path[-1]
    if isinstance(leaf, str) and text.startswith(leaf + " "):
        text = text[len(leaf) + 1 :]
    if re.search(r"\bgot\b", text):
        return ScenarioError(path, text)
    return ScenarioError(path, text, value)


def _named_key(message: str, mapping: Mapping[str, Any]) -> str | None:
    """The key of ``mapping`` an error message names (longest match first)."""
    for key in sorted(mapping, key=len, reverse=True):
        if re.search(rf"\b{re.escape(key)}\b", message):
            return key
    return None


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The impact model strategies plan with, and how often it is refitted.

    Parameters
    ----------
    kind : {'linear', 'power', 'book'}, default 'linear'
        Model family passed to :func:`models.fit_impact_model`.
    training_days : int, default 10
        Walk-forward window W in days: the model for test day d is fitted on the W days
        before d.
    refit_every : int, default 1
        Refit frequency in test days (1 = refit before every test day).
    smoothing : float, default 0
        Kernel bandwidth across intervals for the fitted parameters, in intervals
        (0 = none).
    options : dict, default {}
        Further keyword options of :func:`models.fit_impact_model` (e.g. ``h: half_spread``,
        ``delta: 0.5``); ``kind``, ``side`` and ``smoothing`` are set by other keys.
    """

    _SECTION: ClassVar[str] = "model"

    kind: str = "linear"
    training_days: int = 10
    refit_every: int = 1
    smoothing: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = (self._SECTION,)
        _check_choice(m + ("kind",), self.kind, MODEL_KINDS)
        days = _check_int(m + ("training_days",), self.training_days, minimum=1)
        object.__setattr__(self, "training_days", days)
        refit = _check_int(m + ("refit_every",), self.refit_every, minimum=1)
        object.__setattr__(self, "refit_every", refit)
        smoothing = _check_number(m + ("smoothing",), self.smoothing, low=0.0)
        object.__setattr__(self, "smoothing", smoothing)
        options = _check_mapping(m + ("options",), self.options)
        for key in options:
            if key in _RESERVED_MODEL_OPTIONS:
                raise ScenarioError(
                    m + ("options", key),
                    f"is set by {'model.' + key if key != 'side' else 'side'}, not options",
                    options[key],
                )
        _check_fit_options(m + ("options",), options)
        object.__setattr__(self, "options", options)

    @property
    def fit_options(self) -> dict[str, Any]:
        """Keyword options of :func:`models.fit_impact_model`, ``smoothing`` included."""
        return {**self.options, "smoothing": self.smoothing}

    def to_dict(self) -> dict[str, Any]:
        """The section as scenario YAML keys."""
        return {
            "kind": self.kind,
            "training_days": self.training_days,
            "refit_every": self.refit_every,
            "smoothing": self.smoothing,
            "options": dict(self.options),
        }


def _check_fit_options(path: PathKey, options: Mapping[str, Any]) -> None:
    """Reject option names ``fit_impact_model`` does not accept (when it lists them)."""
    try:
        from models import fit_impact_model
    except ImportError:
        return
    params = inspect.signature(fit_impact_model).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    valid = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in _RESERVED_MODEL_OPTIONS
    ]
    for key in options:
        if key not in valid:
            raise _unknown_name(path, key, valid, "fit_impact_model option")


@dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """One strategy to compare: a registry name or a plugin class, its parameters, a label.

    Parameters
    ----------
    name : str
        A registered name (``equal``, ``linear-optimal``, ...), a ``package.module:Class``
        importable with the current directory on ``sys.path``, or ``path/to/file.py:Class``
        (relative paths are resolved against the scenario file's directory by the parser).
    params : dict, default {}
        Keyword arguments of the strategy's constructor.
    label : str, optional
        Name of the strategy in results and figures; defaults to ``name``.

    Raises
    ------
    ScenarioError
        If the strategy cannot be resolved or rejects its parameters (path ``name`` or
        ``params.<key>``, relative to this entry).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        _check_str(("name",), self.name)
        object.__setattr__(self, "params", _check_mapping(("params",), self.params))
        if self.label is None:
            object.__setattr__(self, "label", self.name)
        _check_str(("label",), self.label)
        self.build()

    @property
    def is_file_plugin(self) -> bool:
        """Whether ``name`` has the ``path/to/file.py:Class`` form."""
        return _split_file_plugin(self.name) is not None

    def build(self):
        """Instantiate the strategy.

        Returns
        -------
        strategies.Strategy
            A fresh strategy object built from ``name`` and ``params``.

        Raises
        ------
        ScenarioError
            With path ``name`` for an unknown strategy, ``params.<key>`` for a rejected
            parameter.
        """
        cls = self._resolve_class()
        init_fields = None
        if cls is not None and dataclasses.is_dataclass(cls):
            init_fields = [f.name for f in dataclasses.fields(cls) if f.init]
            for key in self.params:
                if key not in init_fields:
                    raise _unknown_name(("params",), key, init_fields, f"parameter of {self.name}")
        try:
            if self.is_file_plugin:
                return cls(**self.params)
            from strategies import get_strategy

            with _cwd_importable(self.name):
                return get_strategy(self.name, **self.params)
        except (TradeallocError, TypeError, ValueError) as exc:
            key = _named_key(str(exc), self.params)
            if key is not None:
                raise _wrapped(("params", key), exc, self.params[key]) from None
            if self.params:
                raise _wrapped(("params",), exc, dict(self.params)) from None
            raise _wrapped(("name",), exc, self.name) from None

    def _resolve_class(self):
        """The strategy class when it can be found without instantiating, else None."""
        file_form = _split_file_plugin(self.name)
        if file_form is not None:
            return _load_file_plugin(*file_form)
        from strategies import Strategy, available_strategies

        if ":" in self.name:
            module_name, _, attr = self.name.partition(":")
            with _cwd_importable(self.name):
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise ScenarioError(
                        ("name",),
                        f"cannot import module {module_name!r} ({_one_line(exc)}; run from the "
                        "directory holding the package, or use the 'path/to/file.py:Class' form)",
                        self.name,
                    ) from None
            cls = getattr(module, attr, None)
            if not (isinstance(cls, type) and issubclass(cls, Strategy)):
                raise ScenarioError(
                    ("name",),
                    f"must name a strategies.Strategy subclass in {module_name}",
                    self.name,
                )
            return cls
        registered = available_strategies()
        if self.name not in registered:
            valid = sorted(registered)
            close = difflib.get_close_matches(self.name, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"registered: {', '.join(valid)}"
            raise ScenarioError(("name",), f"is not a registered strategy ({hint})", self.name)
        return None

    def to_dict(self) -> dict[str, Any]:
        """The entry as scenario YAML keys."""
        return {"name": self.name, "params": dict(self.params), "label": self.label}


_FILE_PLUGIN = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_]\w*)$")


def _split_file_plugin(name: str) -> tuple[Path, str] | None:
    match = _FILE_PLUGIN.match(name)
    if match is None:
        return None
    return Path(match["file"]), match["attr"]


_FILE_PLUGINS: dict[Path, Any] = {}


def _load_file_plugin(file: Path, attr: str):
    """Load a strategy class from a Python file.

    The module is executed once per file under a private name and then removed from
    ``sys.modules``, so pickling its classes (loky, Dask) ships them by value and workers
    need not import the file.
    """
    from strategies import Strategy

    file = file.resolve()
    if not file.is_file():
        raise ScenarioError(("name",), "plugin file not found", str(file))
    module = _FILE_PLUGINS.get(file)
    if module is None:
        digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
        module_name = f"_tradealloc_plugin_{file.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses resolve annotations through it
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ScenarioError(
                ("name",),
                f"plugin file failed to import ({type(exc).__name__}: {exc})",
                str(file),
            ) from None
        finally:
            sys.modules.pop(module_name, None)
        _FILE_PLUGINS[file] = module
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ScenarioError(
            ("name",),
            f"must name a strategies.Strategy subclass defined in {file.name}",
            f"{file}:{attr}",
        )
    return cls


class _cwd_importable:
    """Make ``package.module:Class`` plugins importable from the current directory.

    The directory is appended (not prepended, so installed packages win) and left in
    place, so worker processes that copy ``sys.path`` can import the plugin too.
    """

    def __init__(self, name: str):
        self.needed = ":" in name

    def __enter__(self):
        cwd = os.getcwd()
        if self.needed and cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)
        return self

    def __exit__(self, *exc_info):
        return False


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
        Parallel workers (joblib convention: -1 = all cores, -2 = all but one).
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


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A validated scenario: market, model, strategies, sizes, constraints, simulation, run.

    Parameters
    ----------
    name : str
        Scenario name, copied into every result row.
    description : str, default ''
        Free text for the report.
    market : MarketConfig
    model : ModelConfig
    strategies : tuple of StrategyConfig
        Non-empty; labels unique.  The evaluator adds ``equal`` (the baseline) when absent.
    sizes : simulator.settings.SizeSpec
        Parent order sizes, in shares or as fractions of average daily volume.
    side : {'buy', 'sell'}, default 'buy'
    constraints : ConstraintsConfig
    simulation : SimulationConfig
    evaluation : EvaluationConfig
    output : OutputConfig
    source_path : Path, optional
        The scenario file it was read from (not part of equality or :meth:`to_dict`).
    """

    name: str
    description: str = ""
    market: MarketConfig = field(default_factory=MarketConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategies: tuple[StrategyConfig, ...] = ()
    sizes: SizeSpec | None = None
    side: str = "buy"
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: OutputConfig | None = None
    source_path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_str(("name",), self.name)
        if not isinstance(self.description, str):
            raise ScenarioError(("description",), "must be a string", self.description)
        for key, cls in (
            ("market", MarketConfig),
            ("model", ModelConfig),
            ("constraints", ConstraintsConfig),
            ("simulation", SimulationConfig),
            ("evaluation", EvaluationConfig),
        ):
            if not isinstance(getattr(self, key), cls):
                raise ScenarioError((key,), f"must be a {cls.__name__}", getattr(self, key))
        if self.output is None:
            object.__setattr__(self, "output", OutputConfig(dir=Path("results") / self.name))
        if not isinstance(self.output, OutputConfig):
            raise ScenarioError(("output",), "must be an OutputConfig", self.output)
        if not isinstance(self.sizes, SizeSpec):
            raise ScenarioError(("sizes",), "is required (shares or adv_fraction)", self.sizes)
        _check_choice(("side",), self.side, SIDES)
        self._check_strategies()
        self._check_days()

    def _check_strategies(self) -> None:
        entries = tuple(self.strategies)
        if not entries:
            raise ScenarioError(("strategies",), "must list at least one strategy", [])
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, StrategyConfig):
                raise ScenarioError(("strategies", i), "must be a StrategyConfig", entry)
            if entry.label in seen:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    f"duplicates the label of strategies[{seen[entry.label]}]; set a distinct "
                    "label",
                    entry.label,
                )
            if entry.label in RESERVED_LABELS:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    "is reserved for the hindsight optimum",
                    entry.label,
                )
            if entry.label == BASELINE_LABEL and entry.name != BASELINE_LABEL:
                raise ScenarioError(
                    ("strategies", i, "label"),
                    "is reserved for the equal (TWAP) baseline",
                    entry.label,
                )
            seen[entry.label] = i
        object.__setattr__(self, "strategies", entries)

    def _check_days(self) -> None:
        market, ev = self.market, self.evaluation
        if market.source != "synthetic":
            return
        walk = ev.mode == "walk_forward"
        eligible = market.days - self.model.training_days if walk else market.days
        if eligible < 1:
            raise ScenarioError(
                ("market", "days"),
                f"must exceed model.training_days ({self.model.training_days}) for "
                "walk_forward evaluation",
                market.days,
            )
        if ev.test_days is not None and ev.test_days > eligible:
            raise ScenarioError(
                ("evaluation", "test_days"),
                f"must be <= the {eligible} eligible days of this market",
                ev.test_days,
            )

    @property
    def test_day_count(self) -> int | None:
        """Test days per market (None when it depends on recorded data)."""
        if self.market.source != "synthetic":
            return self.evaluation.test_days
        walk = self.evaluation.mode == "walk_forward"
        eligible = self.market.days - (self.model.training_days if walk else 0)
        return eligible if self.evaluation.test_days is None else self.evaluation.test_days

    def build_strategies(self) -> tuple[tuple[str, Any], ...]:
        """``(label, strategy)`` pairs, freshly built (build them where they run)."""
        return tuple((entry.label, entry.build()) for entry in self.strategies)

    def to_settings(self) -> EvaluationSettings:
        """The evaluator's :class:`simulator.settings.EvaluationSettings` for this scenario."""
        c, s, e, m = self.constraints, self.simulation, self.evaluation, self.model
        return EvaluationSettings(
            sizes=self.sizes,
            side=self.side,
            model_kind=m.kind,
            model_options=m.fit_options,
            training_days=m.training_days,
            refit_every=m.refit_every,
            mode=e.mode,
            test_days=e.test_days,
            max_participation=c.max_participation,
            min_shares_per_interval=c.min_shares_per_interval,
            lot_size=c.lot_size,
            transient_half_life=s.transient_half_life,
            permanent_impact=s.permanent_impact,
            beyond_depth_bps=s.beyond_depth_bps,
            oracle=e.oracle,
            seed=e.seed,
            bootstrap_samples=e.bootstrap_samples,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping in the scenario schema (paths absolute).

        ``parse_scenario(scenario.to_dict(), base_dir=...)`` gives back an equal scenario.
        """
        return {
            "name": self.name,
            "description": self.description,
            "market": self.market.to_dict(),
            "model": self.model.to_dict(),
            "strategies": [entry.to_dict() for entry in self.strategies],
            "sizes": {self.sizes.unit: list(self.sizes.values)},
            "side": self.side,
            "constraints": self.constraints.to_dict(),
            "simulation": self.simulation.to_dict(),
            "evaluation": self.evaluation.to_dict(),
            "output": self.output.to_dict(),
        }

    def describe(self) -> str:
        """A one-paragraph, human-readable summary of the scenario."""
        mk, md, ev = self.market, self.model, self.evaluation
        if mk.source == "synthetic":
            regimes = ", ".join(mk.regimes)
            label = "regime" if len(mk.regimes) == 1 else "regimes (one sub-run each)"
            market = (
                f"a synthetic market, {label} {regimes}, {mk.days} days x {mk.intervals} "
                f"intervals x {mk.levels} levels"
            )
        else:
            files = ", ".join(p.name for p in mk.path[:3]) + (", ..." if len(mk.path) > 3 else "")
            market = f"{mk.source} data ({len(mk.path)} file(s): {files}), {mk.intervals} intervals"
        if self.sizes.unit == "shares":
            sizes = ", ".join(f"{v:,.0f}" for v in self.sizes.values) + " shares"
        else:
            sizes = ", ".join(f"{v:g}" for v in self.sizes.values) + " of average daily volume"
        cap = (
            "no participation cap"
            if self.constraints.max_participation is None
            else f"participation capped at {self.constraints.max_participation:g}"
        )
        labels = ", ".join(entry.label for entry in self.strategies)
        days = self.test_day_count
        days_text = "all eligible days" if days is None else f"{days} test day(s)"
        protocol = (
            f"walk-forward on {days_text}, fitted on the {md.training_days} days before each "
            f"and refitted every {md.refit_every} test day(s)"
            if ev.mode == "walk_forward"
            else f"in-sample on {days_text}"
        )
        backend = ev.backend + (f" at {ev.scheduler}" if ev.scheduler else "")
        text = (
            f"Scenario {self.name!r}"
            + (f" ({self.description.strip()})" if self.description.strip() else "")
            + f": {self.side} {sizes} on {market}; {md.kind} impact model "
            f"(smoothing {md.smoothing:g} intervals); {len(self.strategies)} strateg"
            f"{'y' if len(self.strategies) == 1 else 'ies'} ({labels}); {cap}; transient "
            f"half-life {self.simulation.transient_half_life:g} intervals, permanent impact "
            f"{self.simulation.permanent_impact:g} $/share/share, beyond-depth penalty "
            f"{self.simulation.beyond_depth_bps:g} bps; evaluated {protocol}, n_jobs "
            f"{ev.n_jobs} ({backend}), seed {ev.seed}, {ev.bootstrap_samples} bootstrap "
            f"samples, oracle {'on' if ev.oracle else 'off'}; {self.output.report} report"
            f"{' with figures' if self.output.figures else ''} in {self.output.dir}."
        )
        return _one_line(text)


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = (
    "name",
    "description",
    "market",
    "model",
    "strategies",
    "sizes",
    "side",
    "constraints",
    "simulation",
    "evaluation",
    "output",
)
_MARKET_KEYS = (
    "source",
    "regime",
    "days",
    "intervals",
    "levels",
    "params",
    "calibrate_from",
    "path",
    "message_path",
    "symbol",
)
_SYNTHETIC_ONLY = ("regime", "days", "levels", "params", "calibrate_from")
_STRATEGY_KEYS = ("name", "params", "label")
_SIZE_KEYS = ("shares", "adv_fraction")


def _section_kwargs(data: Mapping[str, Any], key: str, cls) -> dict[str, Any]:
    section = _check_mapping((key,), data.get(key))
    allowed = [f.name for f in dataclasses.fields(cls) if f.init]
    _check_keys((key,), section, allowed)
    return section


def parse_scenario(data: Any, *, base_dir: str | os.PathLike = ".") -> Scenario:
    """Validate a parsed scenario mapping and build the :class:`Scenario`.

    Parameters
    ----------
    data : mapping
        The scenario, as ``yaml.safe_load`` returns it (schema in ``docs/scenarios.md``).
    base_dir : path-like, default '.'
        Directory relative data paths and plugin files are resolved against (the scenario
        file's directory).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Naming the YAML path and the value: unknown keys (with the nearest valid key),
        wrong types, out-of-range values, unknown strategies or parameters, missing data
        files.
    """
    base = Path(base_dir).resolve()
    if not isinstance(data, Mapping):
        raise ScenarioError((), "a scenario must be a mapping of sections", data)
    _check_keys((), data, _TOP_KEYS)
    if "name" not in data:
        raise ScenarioError(("name",), "is required")
    description = data.get("description")
    market = _parse_market(data.get("market"), base)
    model = ModelConfig(**_section_kwargs(data, "model", ModelConfig))
    strategies = _parse_strategies(data.get("strategies"), base)
    sizes = _parse_sizes(data.get("sizes"))
    constraints = ConstraintsConfig(**_section_kwargs(data, "constraints", ConstraintsConfig))
    simulation = SimulationConfig(**_section_kwargs(data, "simulation", SimulationConfig))
    evaluation = EvaluationConfig(**_section_kwargs(data, "evaluation", EvaluationConfig))
    output_kwargs = _section_kwargs(data, "output", OutputConfig)
    name = _check_str(("name",), data["name"])
    output_kwargs.setdefault("dir", Path("results") / name)
    if output_kwargs["dir"] is None:
        raise ScenarioError(("output", "dir"), "must be a non-empty path", None)
    return Scenario(
        name=name,
        description="" if description is None else description,
        market=market,
        model=model,
        strategies=strategies,
        sizes=sizes,
        side=data.get("side", "buy"),
        constraints=constraints,
        simulation=simulation,
        evaluation=evaluation,
        output=OutputConfig(**output_kwargs),
    )


def _parse_market(raw: Any, base: Path) -> MarketConfig:
    path = ("market",)
    section = _check_mapping(path, raw)
    _check_keys(path, section, _MARKET_KEYS)
    source = _check_choice(path + ("source",), section.get("source", "synthetic"), SOURCES)
    kwargs: dict[str, Any] = {"source": source}
    for key in ("days", "intervals", "levels", "params", "symbol"):
        if key in section:
            kwargs[key] = section[key]
    if source == "synthetic":
        for key in ("path", "message_path"):
            if section.get(key) is not None:
                raise ScenarioError(
                    path + (key,),
                    "applies only to data sources, not source synthetic",
                    section[key],
                )
        regime = section.get("regime", "u_shape")
        if isinstance(regime, list):
            kwargs["regimes"] = tuple(regime)
        elif isinstance(regime, str):
            kwargs["regimes"] = (regime,)
        else:
            raise ScenarioError(path + ("regime",), "must be a regime name or a list", regime)
        if section.get("calibrate_from") is not None:
            raw_file = _check_str(path + ("calibrate_from",), section["calibrate_from"])
            kwargs["calibrate_from"] = _resolve(base, raw_file)
        return MarketConfig(**kwargs)
    for key in _SYNTHETIC_ONLY:
        if section.get(key) is not None:
            raise ScenarioError(
                path + (key,), f"applies only to source synthetic, not {source}", section[key]
            )
    if source == "parquet" and "intervals" in section:
        raise ScenarioError(
            path + ("intervals",),
            "does not apply to source parquet (the cache keeps its own intervals)",
            section["intervals"],
        )
    files = _expand_paths(path + ("path",), section.get("path"), base, source)
    kwargs["path"] = files
    if source == "lobster":
        if section.get("message_path") is None:
            kwargs["message_path"] = tuple(derive_message_path(f) for f in files)
        else:
            messages = _expand_paths(
                path + ("message_path",), section["message_path"], base, "lobster-message"
            )
            kwargs["message_path"] = messages
    elif section.get("message_path") is not None:
        raise ScenarioError(
            path + ("message_path",), "applies only to source lobster", section["message_path"]
        )
    return MarketConfig(**kwargs)


def _resolve(base: Path, raw: str) -> Path:
    path = Path(os.path.expanduser(raw))
    return path if path.is_absolute() else (base / path).resolve()


def _expand_paths(path: PathKey, raw: Any, base: Path, source: str) -> tuple[Path, ...]:
    """Files named by a file, directory, glob or a list of those (each entry sorted)."""
    if raw is None:
        raise ScenarioError(path, f"is required by source {source.split('-')[0]}", None)
    entries = [raw] if isinstance(raw, str) else raw
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(path, "must be a path, a glob, or a non-empty list of those", raw)
    files: list[Path] = []
    for i, entry in enumerate(entries):
        where = path + (i,) if isinstance(raw, list) else path
        entry = _check_str(where, entry)
        resolved = _resolve(base, entry)
        if glob.has_magic(str(resolved)):
            matches = sorted(Path(p) for p in glob.glob(str(resolved)) if Path(p).is_file())
            if not matches:
                raise ScenarioError(where, "glob matches no data file", str(resolved))
            files.extend(matches)
        elif resolved.is_dir():
            patterns = _DIRECTORY_PATTERNS.get(source, ("*",))
            matches = sorted({p for pat in patterns for p in resolved.glob(pat) if p.is_file()})
            if not matches:
                raise ScenarioError(
                    where,
                    f"directory holds no {source} file ({', '.join(patterns)})",
                    str(resolved),
                )
            files.extend(matches)
        elif not resolved.is_file():
            raise ScenarioError(where, "data file not found", str(resolved))
        else:
            files.append(resolved)
    return tuple(files)


def _parse_strategies(raw: Any, base: Path) -> tuple[StrategyConfig, ...]:
    path = ("strategies",)
    if raw is None:
        raise ScenarioError(path, "is required: list at least one strategy")
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(path, "must be a non-empty list of strategy names or mappings", raw)
    out = []
    for i, entry in enumerate(raw):
        where = path + (i,)
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = _check_mapping(where, entry)
        _check_keys(where, entry, _STRATEGY_KEYS)
        if "name" not in entry:
            raise ScenarioError(where + ("name",), "is required")
        name = _check_str(where + ("name",), entry["name"])
        file_form = _split_file_plugin(name)
        label = entry.get("label")
        if file_form is not None:
            if label is None:
                label = file_form[1]
            name = f"{_resolve(base, str(file_form[0]))}:{file_form[1]}"
        try:
            out.append(StrategyConfig(name=name, params=entry.get("params"), label=label))
        except ScenarioError as exc:
            raise exc.prefixed(*where) from None
    return tuple(out)


def _parse_sizes(raw: Any) -> SizeSpec:
    path = ("sizes",)
    if raw is None:
        raise ScenarioError(path, "is required: give shares or adv_fraction")
    section = _check_mapping(path, raw)
    _check_keys(path, section, _SIZE_KEYS)
    given = [key for key in _SIZE_KEYS if section.get(key) is not None]
    if len(given) != 1:
        raise ScenarioError(path, "must give exactly one of shares and adv_fraction", dict(section))
    key = given[0]
    values = section[key]
    values = values if isinstance(values, list) else [values]
    if not values:
        raise ScenarioError(path + (key,), "must not be empty", values)
    checked = []
    for i, value in enumerate(values):
        where = path + (key, i) if isinstance(section[key], list) else path + (key,)
        if key == "shares":
            checked.append(_check_number(where, value, low=0.0, low_open=True))
        else:
            checked.append(_check_number(where, value, low=0.0, high=1.0, low_open=True))
    if len(set(checked)) != len(checked):
        raise ScenarioError(path + (key,), "must not repeat a size", values)
    return SizeSpec(**{key: tuple(checked)})


# --------------------------------------------------------------------------- files


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and build a scenario file.

    Parameters
    ----------
    path : path-like
        A YAML scenario file; relative paths inside it are resolved against its directory.

    Returns
    -------
    Scenario
        With ``source_path`` set.

    Raises
    ------
    ScenarioError
        One line ``<file>:<line>: <yaml path> <problem>; got <value>``: a missing or
        unreadable file, malformed YAML, duplicate keys, or any schema violation.
    """
    file = Path(path)
    shown = str(path)
    if not file.is_file():
        raise ScenarioError((), "scenario file not found", shown)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            (), f"cannot read the scenario file ({_one_line(exc)})", shown
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise ScenarioError(
            (), f"invalid YAML: {_one_line(detail)}", source=shown, line=line
        ) from None
    lines: dict[PathKey, int] = {}
    try:
        _index_lines(root, (), lines)
    except ScenarioError as exc:
        raise exc.located(shown, exc.line) from None
    if data is None:
        raise ScenarioError((), "scenario file is empty", source=shown)
    try:
        scenario = parse_scenario(data, base_dir=file.resolve().parent)
    except ScenarioError as exc:
        raise exc.located(shown, _line_of(exc.path, lines)) from None
    return dataclasses.replace(scenario, source_path=file.resolve())


def _index_lines(node, path: PathKey, lines: dict[PathKey, int]) -> None:
    """Map each YAML path to its 1-based line; reject duplicate keys."""
    if node is None:
        return
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ScenarioError(
                    path + (key,), "is given twice", line=key_node.start_mark.line + 1
                )
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), lines)
            if not isinstance(value_node, yaml.ScalarNode):
                lines[path + (key,)] = key_node.start_mark.line + 1
            else:
                lines[path + (key,)] = value_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines)


def _line_of(path: PathKey, lines: Mapping[PathKey, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
