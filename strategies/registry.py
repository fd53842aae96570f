"""Strategy registry: built-ins by decorator, plugins by entry point or 'module:Class' string."""

from __future__ import annotations

import dataclasses
import importlib
from importlib.metadata import entry_points
from typing import Any

from models.errors import InvalidParameterError, InvalidTypeError

from .base import Strategy

__all__ = [
    "ENTRY_POINT_GROUP",
    "register",
    "get_strategy",
    "resolve_strategy_class",
    "make_strategy",
    "available_strategies",
]

ENTRY_POINT_GROUP = "tradealloc.strategies"
"""Entry-point group through which installed packages contribute strategies."""

_REGISTRY: dict[str, type[Strategy]] = {}
_BUILTIN_MODULES = (
    "strategies.builtin",
    "strategies.numerical",
    "strategies.almgren_chriss",
    "strategies.transient",
    "strategies.robust",
    "strategies.adaptive",
)


def register(name: str):
    """Class decorator registering a Strategy subclass under ``name``.

    Parameters
    ----------
    name : str
        Registry name (e.g. ``'equal'``); also set as the class attribute ``name``.

    Raises
    ------
    InvalidTypeError
        If the decorated object is not a Strategy subclass.
    InvalidParameterError
        If ``name`` is empty or already registered to another class.
    """
    if not isinstance(name, str) or not name:
        raise InvalidParameterError(f"name must be a non-empty string; got {name!r}")

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise InvalidTypeError(
                f"register({name!r}) must decorate a Strategy subclass; got {cls!r}"
            )
        known = _REGISTRY.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise InvalidParameterError(
                f"name must be unique; got {name!r} already registered to {known.__qualname__}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _plugin_entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _import_path(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise InvalidParameterError(
            f"strategy path must look like 'package.module:Class'; got {path!r}"
        )
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidParameterError(
            f"strategy path must name an importable module; got {path!r} ({exc})"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidParameterError(
                f"strategy path must name an existing class; got {path!r} (no {part!r})"
            )
        obj = getattr(obj, part)
    return obj


def _check_class(obj: Any, label: str) -> type[Strategy]:
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise InvalidTypeError(f"strategy {label!r} must be a Strategy subclass; got {obj!r}")
    return obj


def resolve_strategy_class(name_or_path: str) -> type[Strategy]:
    """Return the Strategy class for a registry name, an entry-point name or 'module:Class'.

    Raises
    ------
    InvalidParameterError
        If the name is unknown; the message lists the valid names.
    """
    if isinstance(name_or_path, type):
        return _check_class(name_or_path, getattr(name_or_path, "__name__", "?"))
    if not isinstance(name_or_path, str):
        raise InvalidTypeError(f"strategy must be a name or 'module:Class'; got {name_or_path!r}")
    if ":" in name_or_path:
        return _check_class(_import_path(name_or_path), name_or_path)
    _load_builtins()
    if name_or_path in _REGISTRY:
        return _REGISTRY[name_or_path]
    plugins = _plugin_entry_points()
    if name_or_path in plugins:
        cls = _check_class(plugins[name_or_path].load(), name_or_path)
        return cls
    valid = sorted(set(_REGISTRY) | set(plugins))
    raise InvalidParameterError(
        f"strategy must be one of {valid} or 'package.module:Class'; got {name_or_path!r}"
    )


def make_strategy(cls: type[Strategy], **params: Any) -> Strategy:
    """Instantiate ``cls`` with ``params``, turning unknown parameters into a clear error.

    Raises
    ------
    InvalidParameterError
        If a parameter is not a field of ``cls`` (named in the message), or a value is invalid.
    """
    if dataclasses.is_dataclass(cls):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(params) - fields)
        if unknown:
            raise InvalidParameterError(
                f"The {unknown[0]!r} parameter is not accepted by strategy "
                f"{getattr(cls, 'name', '') or cls.__name__!r}; valid parameters are "
                f"{sorted(fields)}"
            )
    try:
        return cls(**params)
    except TypeError as exc:
        if isinstance(exc, InvalidTypeError):
            raise
        raise InvalidParameterError(
            f"parameters of strategy {cls.__name__!r} are invalid; got {params!r} ({exc})"
        ) from exc


def get_strategy(name_or_path: str | type[Strategy], **params: Any) -> Strategy:
    """Build a strategy by registry name, plugin entry-point name or 'package.module:Class'.

    Parameters
    ----------
    name_or_path : str or Strategy subclass
        ``'equal'``, an installed plugin's entry-point name, or ``'package.module:Class'``.
    **params
        Dataclass fields of the strategy.

    Returns
    -------
    Strategy

    Raises
    ------
    InvalidParameterError
        Unknown name (lists the valid ones) or bad parameter (names it).
    """
    return make_strategy(resolve_strategy_class(name_or_path), **params)


def available_strategies() -> dict[str, str]:
    """Registered and installed strategies: name -> one-line description."""
    _load_builtins()
    out = {name: cls.description for name, cls in sorted(_REGISTRY.items())}
    for name, ep in sorted(_plugin_entry_points().items()):
        if name not in out:
            try:
                out[name] = getattr(ep.load(), "description", "") or ep.value
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
                out[name] = f"(failed to load {ep.value}: {exc})"
    return out
