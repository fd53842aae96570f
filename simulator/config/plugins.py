"""The ``strategies`` entries: registry names and plugin classes from modules or files."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import TradeallocError

from .errors import (
    ScenarioError,
    _check_mapping,
    _check_str,
    _named_key,
    _one_line,
    _unknown_name,
    _wrapped,
)

__all__ = ["StrategyConfig"]


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
        from strategies.registry import resolve_strategy_class

        try:  # the registry first: scanning installed entry points takes ~10 ms
            resolve_strategy_class(self.name)
        except TradeallocError:
            registered = available_strategies()
            valid = sorted(registered)
            close = difflib.get_close_matches(self.name, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"registered: {', '.join(valid)}"
            raise ScenarioError(
                ("name",), f"is not a registered strategy ({hint})", self.name
            ) from None
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
