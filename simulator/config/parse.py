"""Validate a parsed scenario mapping (YAML keys, paths, strategies, sizes) into a Scenario."""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..settings import MAX_ORDER_SHARES, SizeSpec
from .errors import (
    PathKey,
    ScenarioError,
    _check_choice,
    _check_keys,
    _check_mapping,
    _check_number,
    _check_str,
)
from .market import SOURCES, MarketConfig, derive_message_path
from .model import ModelConfig
from .plugins import StrategyConfig, _split_file_plugin
from .scenario import Scenario, safe_name
from .sections import ConstraintsConfig, EvaluationConfig, OutputConfig, SimulationConfig

__all__ = ["parse_scenario"]

# File patterns a directory given as ``market.path`` is expanded with, per source.
_DIRECTORY_PATTERNS = {
    "databento": ("*.csv", "*.csv.gz", "*.csv.zst", "*.dbn", "*.dbn.zst"),
    "lobster": ("*_orderbook_*.csv", "*_orderbook_*.csv.gz"),
    "parquet": ("*.parquet",),
}

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


def _parse_model(data: Mapping[str, Any], base: Path) -> ModelConfig:
    """The ``model`` section; its ``from`` key (a saved model file) is resolved against the
    scenario's directory."""
    section = dict(_check_mapping(("model",), data.get("model")))
    allowed = [f.name for f in dataclasses.fields(ModelConfig) if f.init and f.name != "from_path"]
    _check_keys(("model",), section, [*allowed, "from"])
    if "from" in section:
        value = section.pop("from")
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            raise ScenarioError(("model", "from"), "must be a path to a saved model", value)
        path = Path(value).expanduser()
        section["from_path"] = path if path.is_absolute() else (base / path).resolve()
    return ModelConfig(**section)


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
    model = _parse_model(data, base)
    strategies = _parse_strategies(data.get("strategies"), base)
    sizes = _parse_sizes(data.get("sizes"))
    constraints = ConstraintsConfig(**_section_kwargs(data, "constraints", ConstraintsConfig))
    simulation = SimulationConfig(**_section_kwargs(data, "simulation", SimulationConfig))
    evaluation = EvaluationConfig(**_section_kwargs(data, "evaluation", EvaluationConfig))
    output_kwargs = _section_kwargs(data, "output", OutputConfig)
    name = _check_str(("name",), data["name"])
    # The default directory is derived from the name, so it must stay inside results/.
    output_kwargs.setdefault("dir", Path("results") / safe_name(name))
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
            shares = _check_number(where, value, low=0.0, low_open=True)
            if shares > MAX_ORDER_SHARES:
                raise ScenarioError(
                    where,
                    f"must be <= {MAX_ORDER_SHARES:g} shares (larger orders overflow the cost "
                    "arithmetic)",
                    value,
                )
            checked.append(shares)
        else:
            checked.append(_check_number(where, value, low=0.0, high=1.0, low_open=True))
    if len(set(checked)) != len(checked):
        raise ScenarioError(path + (key,), "must not repeat a size", values)
    return SizeSpec(**{key: tuple(checked)})
