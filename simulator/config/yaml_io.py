"""Read a scenario file: one bounded safe YAML parse, with errors located by file and line."""

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

__all__ = ["load_scenario", "MAX_SCENARIO_BYTES", "MAX_DEPTH", "MAX_ALIASES", "MAX_NODES"]

# Bounds of a scenario file (see load_scenario).
MAX_SCENARIO_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_NODES = 200_000
# libyaml's parser when available (about 10x faster); the constructor is always the safe one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read, validate and build a scenario file.

    The file is read within fixed bounds, so hostile or accidental input cannot exhaust
    memory or time: at most :data:`MAX_SCENARIO_BYTES` bytes, nesting at most
    :data:`MAX_DEPTH` levels, at most :data:`MAX_ALIASES` aliases, and at most
    :data:`MAX_NODES` nodes once aliases are expanded (a "billion laughs" document is
    refused after reading its events, before anything is built).  Only YAML's safe tags are
    accepted (``!!python/...`` is an error).

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
        One line ``<file>:<line>: <yaml path> <problem>; got <value>``: a missing, unreadable
        or oversized file, malformed or oversized YAML, duplicate keys, or any schema
        violation.
    """
    file = Path(path)
    shown = str(path)
    if not file.is_file():
        raise ScenarioError((), "scenario file not found", shown)
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(
            (), f"cannot read the scenario file ({_one_line(exc)})", shown
        ) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            (),
            f"scenario file is larger than {MAX_SCENARIO_BYTES // 1024} KiB; a scenario is a "
            "short file (give long size lists or data files by path)",
            shown,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            (), f"cannot read the scenario file ({_one_line(exc)})", shown
        ) from None
    try:
        _check_bounds(text)
        root, data = _compose_and_construct(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        if "nesting depth" in detail:
            # PyYAML >= 6.0.4 stops very deep nesting in its scanner, before our own check
            # sees the events: one message whatever the version.
            raise ScenarioError(
                (), f"YAML is nested more than {MAX_DEPTH} levels deep", source=shown, line=line
            ) from None
        raise ScenarioError(
            (), f"invalid YAML: {_one_line(detail)}", source=shown, line=line
        ) from None
    except ScenarioError as exc:
        raise exc.located(shown, exc.line) from None
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


def _check_bounds(text: str) -> None:
    """Walk the YAML events once (no tree is built) and enforce the size bounds.

    Expanded size is counted per anchor: an alias adds the node count of the anchored
    node, so the count is what a full expansion would build, found in linear time.
    """
    sizes: dict[str, int] = {}
    stack: list[list] = []  # [anchor, nodes in the subtree so far] per open collection
    depth = aliases = total = 0

    def grow(count: int, event) -> None:
        nonlocal total
        total += count
        if total > MAX_NODES:
            raise ScenarioError(
                (),
                f"YAML expands to more than {MAX_NODES:,} nodes (aliases repeat what their "
                "anchors hold); a scenario is a short file",
                line=event.start_mark.line + 1,
            )

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ScenarioError(
                    (),
                    f"YAML is nested more than {MAX_DEPTH} levels deep",
                    line=event.start_mark.line + 1,
                )
            grow(1, event)
            stack.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            if stack:
                stack[-1][1] += count
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise ScenarioError(
                        (),
                        f"YAML uses more than {MAX_ALIASES} aliases (*name); write the values out",
                        line=event.start_mark.line + 1,
                    )
                count = sizes.get(event.anchor, 1)
            else:
                count = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            grow(count, event)
            if stack:
                stack[-1][1] += count


def _compose_and_construct(text: str):
    """The node tree (for line numbers) and the Python data, from one parse."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


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
