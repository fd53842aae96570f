"""Scenario errors located by YAML path, and the value checks every config section uses.

Every validation error is a :class:`ScenarioError` whose one-line message names the YAML path
(``strategies[2].params.risk_aversion``), the constraint and the offending value, prefixed with
the file and line when the scenario came from a file.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from models.errors import InvalidParameterError

__all__ = ["PathKey", "ScenarioError"]

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
