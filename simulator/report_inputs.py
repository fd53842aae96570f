"""What a report is made of: the files of a results directory, read once.

:func:`read_results_dir` reads only files inside the results directory, so a report can be
rendered again later (``run-backtest report RESULTS_DIR``).  Required: ``results.parquet``,
``summary.csv`` and ``run.json``.  Everything else is optional and reported as "not
recorded" when absent:

``allocations.csv``
    every schedule on the representative (last) test day;
``profile.csv``
    the fitted marginal cost over the day;
``market_profile.csv``
    ``regime, interval, expected_volume_shares, mean_spread_usd``: the market's expected
    volume per interval and mean quoted spread (dollars);
``models/<regime>.json`` (or the paths in ``run.json["model_files"]``)
    the representative day's fitted model, with its per-minute diagnostics;
``run.json["data_quality"]``
    ``{regime: {counts..., "auction_volume_shares": ..., "repaired_snapshots": ...}}``;
``run.json["fit_diagnostics"]``
    ``{regime: {"r2_median": ..., "minutes_filled": ..., "delta": [...], ...}}``.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import BaseImpact
from models.errors import DataError, TradeallocError

from .score import BASELINE, ORACLE, normalize_result_types
from .summary import summarize

__all__ = ["ReportInputs", "read_results_dir", "STATIC_ORACLE_WARNING"]

STATIC_ORACLE_WARNING = "static-book oracle"
"""Text of the row warning that marks an oracle not certified for the market that charged."""

_REQUIRED = ("results.parquet", "summary.csv", "run.json")


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """The files of one results directory.

    Attributes
    ----------
    path : Path
        The results directory.
    results : DataFrame
        Tidy rows (:data:`simulator.score.RESULT_COLUMNS`).
    summary : DataFrame
        Per (regime, size, strategy) statistics; text columns ``identical_to``,
        ``warnings`` and ``verdict_reason`` as strings (empty when missing).
    run : dict
        ``run.json``.
    allocations, fitted_profile, market_profile : DataFrame or None
        ``allocations.csv``, ``profile.csv``, ``market_profile.csv`` when present.
    models : dict of str to dict
        Saved model descriptions per regime (empty when none were saved).
    """

    path: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    run: dict
    allocations: pd.DataFrame | None
    fitted_profile: pd.DataFrame | None
    market_profile: pd.DataFrame | None
    models: dict

    @property
    def regimes(self) -> list[str]:
        """Regimes in the order of the summary."""
        return list(dict.fromkeys(self.summary["regime"].astype(str)))

    @property
    def strategies(self) -> list[str]:
        """Every strategy label of the run (successful or not)."""
        return sorted(set(self.results["strategy"].astype(str)))

    @property
    def equivalence_bps(self) -> float:
        """The verdict's practical-equivalence margin (bps): from ``run.json`` settings or
        scenario, else :func:`simulator.summary.summarize`'s default."""
        for section in (
            self.run.get("settings", {}),
            self.run.get("scenario", {}).get("evaluation", {}),
        ):
            value = section.get("equivalence_bps") if isinstance(section, dict) else None
            if isinstance(value, int | float) and np.isfinite(value):
                return float(value)
        return float(inspect.signature(summarize).parameters["equivalence_bps"].default)

    @property
    def equivalence_recorded(self) -> bool:
        """Whether the margin was recorded in ``run.json`` (not the default)."""
        settings = self.run.get("settings", {})
        scenario = self.run.get("scenario", {}).get("evaluation", {})
        return "equivalence_bps" in settings or "equivalence_bps" in scenario

    @property
    def model_tables(self) -> dict[str, pd.DataFrame]:
        """Per regime, the saved model as one row per interval: its parameters and fit
        diagnostics (:meth:`models.BaseImpact.summary`)."""
        return {regime: _model_table(raw) for regime, raw in self.models.items()}

    @property
    def data_quality(self) -> dict | None:
        """``run.json["data_quality"]`` or None when not recorded."""
        value = self.run.get("data_quality")
        return value if isinstance(value, dict) and value else None

    @property
    def fit_diagnostics(self) -> dict | None:
        """``run.json["fit_diagnostics"]`` or None when not recorded."""
        value = self.run.get("fit_diagnostics")
        return value if isinstance(value, dict) and value else None

    def context(self, regime: str) -> str:
        """The model and the market that produced the numbers of ``regime``, in words."""
        rows = self.results[self.results["regime"].astype(str) == str(regime)]
        kinds = _distinct(rows["model_kind"])
        half = _distinct(rows["transient_half_life"], "{:g}")
        perm = _distinct(rows["permanent_impact"], "{:g}")
        settings = self.run.get("settings", {})
        mode = settings.get("mode")
        window = settings.get("training_days")
        fit = f"{kinds} model" if kinds else "model not recorded"
        if mode == "walk_forward" and window:
            fit += f" fitted walk-forward on the {window} days before each test day"
        elif mode == "in_sample":
            fit += " fitted in sample (on the test day itself)"
        market = (
            f"market: transient half-life {half or 'not recorded'} intervals, "
            f"permanent impact {perm or 'not recorded'} $/share"
        )
        return f"{fit}; {market}; {self.oracle_status(regime)}"

    def oracle_certified(self, regime: str) -> bool | None:
        """True when the oracle of ``regime`` is the optimum of the market that charged,
        False for a static-book oracle, None without oracle rows."""
        rows = self.results[
            (self.results["regime"].astype(str) == str(regime))
            & (self.results["strategy"] == ORACLE)
        ]
        if rows.empty:
            return None
        flagged = rows["warnings"].astype(str).str.contains(STATIC_ORACLE_WARNING, regex=False)
        return not bool(flagged.any())

    def oracle_status(self, regime: str) -> str:
        """How the oracle of ``regime`` was found, with its distance to a lower bound."""
        certified = self.oracle_certified(regime)
        if certified is None:
            return "no oracle in this run"
        if not certified:
            return (
                "oracle not certified (static-book oracle, not optimal under transient impact; "
                "captured saving not computed)"
            )
        rows = self.results[
            (self.results["regime"].astype(str) == str(regime))
            & (self.results["strategy"] == ORACLE)
        ]
        gap = rows["oracle_gap_bps"] if "oracle_gap_bps" in rows else pd.Series(dtype=float)
        gap = gap.dropna()
        if gap.empty or float(gap.max()) <= 1e-6:
            return "oracle: exact hindsight optimum of this market"
        return (
            "oracle: cheapest schedule found for this market (never more expensive than any "
            f"strategy's; on average {float(gap.mean()):.2g} bps above a lower bound)"
        )


def _distinct(values: pd.Series, fmt: str = "{}") -> str:
    vals = [v for v in pd.unique(values.dropna()) if not (isinstance(v, str) and v in ("", "nan"))]
    return ", ".join(fmt.format(v) for v in vals)


def _model_table(raw: dict) -> pd.DataFrame:
    """Parameters and diagnostics per interval of a saved model description.

    A description this version cannot rebuild (another format) still gives its per-interval
    arrays and diagnostics columns, read as they are.
    """
    try:
        return BaseImpact.from_dict(raw).summary().reset_index(drop=True)
    except TradeallocError:
        pass
    columns = {}
    for name, value in (raw.get("params") or {}).items():
        if isinstance(value, list) and len(value) > 1 and not isinstance(value[0], list):
            columns[name] = [np.nan if v is None else v for v in value]
    data = ((raw.get("diagnostics") or {}).get("data")) or {}
    columns.update(
        {name: [np.nan if v is None else v for v in vals] for name, vals in data.items()}
    )
    lengths = {len(v) for v in columns.values()}
    return pd.DataFrame(columns) if len(lengths) == 1 else pd.DataFrame()


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def _read_models(results_dir: Path, run: dict, regimes: list[str]) -> dict:
    files = run.get("model_files")
    if isinstance(files, dict) and files:
        candidates = {str(k): results_dir / str(v) for k, v in files.items()}
    else:
        candidates = {r: results_dir / "models" / f"{r}.json" for r in regimes}
    out = {}
    for regime, path in candidates.items():
        if path.is_file():
            try:
                out[regime] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise DataError(f"model file {str(path)!r} is not valid JSON: {exc}") from exc
    return out


def read_results_dir(results_dir) -> ReportInputs:
    """Read the files of a results directory written by :func:`simulator.run.run_scenario`.

    Parameters
    ----------
    results_dir : path

    Returns
    -------
    ReportInputs

    Raises
    ------
    DataError
        If the directory does not exist or lacks ``results.parquet``, ``summary.csv`` or
        ``run.json``.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise DataError(f"results directory not found: {str(results_dir)!r}")
    missing = [name for name in _REQUIRED if not (results_dir / name).is_file()]
    if missing:
        raise DataError(
            f"results directory {str(results_dir)!r} is incomplete: missing {', '.join(missing)}"
        )
    results = normalize_result_types(pd.read_parquet(results_dir / "results.parquet"))
    summary = pd.read_csv(results_dir / "summary.csv")
    for col in ("identical_to", "warnings", "verdict_reason", "verdict"):
        if col in summary.columns:
            summary[col] = summary[col].astype(object).where(summary[col].notna(), "").astype(str)
        else:
            summary[col] = ""
    if "equivalence_established" in summary.columns:
        summary["equivalence_established"] = (
            summary["equivalence_established"].astype(str).str.lower() == "true"
        )
    summary["regime"] = summary["regime"].astype(str)
    summary["strategy"] = summary["strategy"].astype(str)
    if "role" not in summary.columns:
        summary["role"] = np.where(
            summary["strategy"] == BASELINE,
            "baseline",
            np.where(summary["strategy"] == ORACLE, "oracle", "strategy"),
        )
    run = json.loads((results_dir / "run.json").read_text())
    regimes = list(dict.fromkeys(summary["regime"]))
    return ReportInputs(
        path=results_dir,
        results=results,
        summary=summary,
        run=run,
        allocations=_read_csv(results_dir / "allocations.csv"),
        fitted_profile=_read_csv(results_dir / "profile.csv"),
        market_profile=_read_csv(results_dir / "market_profile.csv"),
        models=_read_models(results_dir, run, regimes),
    )
