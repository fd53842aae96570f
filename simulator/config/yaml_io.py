"""Read a scenario file: the one ``yaml.safe_load``, with errors located by file and line."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import PathKey, ScenarioError, _one_line
from .parse import parse_scenario
from .scenario import Scenario

__all__ = ["load_scenario"]


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
