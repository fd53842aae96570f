"""Run a scenario end to end: markets, evaluation, summaries, outputs, figures and report.

Output directory (every file written atomically)::

    results.parquet, results.csv   one row per (regime, day, size, strategy)
    summary.csv                    per (regime, size, strategy) statistics with 95% intervals
    sensitivity.csv                improvement versus size, predicted and realised
    allocations.csv                every schedule on the representative (last) test day
    profile.csv                    fitted intraday impact profile of the representative day
    models/<regime>.json           the representative day's fitted model
    run.json                       scenario, settings, seed, package versions, timings
    figures/*.png, report.html     (or report.md)
    parts/                         one file set per finished test day (resume)

An existing non-empty directory is refused unless ``overwrite`` (earlier result files stay in
place until the new ones replace them) or ``resume`` (finished days are reused).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import InvalidParameterError

from .evaluate import Evaluation, evaluate
from .failures import failure_table
from .outputs import atomic_write_csv, atomic_write_parquet, atomic_write_text
from .report import render_report
from .settings import EvaluationSettings
from .sources import build_markets
from .summary import sensitivity_table, summarize

__all__ = [
    "RunResult",
    "NothingSucceededError",
    "OutputExistsError",
    "run_scenario",
]


_PACKAGES = ("numpy", "scipy", "cvxpy", "pandas", "joblib", "matplotlib", "pyarrow", "tradealloc")


class OutputExistsError(InvalidParameterError):
    """The output directory holds earlier results and neither overwrite nor resume was asked."""


class NothingSucceededError(InvalidParameterError):
    """Every schedule of a run failed (typically infeasible constraints); results were written."""


@dataclass(frozen=True, eq=False)
class RunResult:
    """What :func:`run_scenario` produced.

    Attributes
    ----------
    out_dir : Path
        The output directory.
    report_path : Path or None
        The rendered report (None when figures are disabled).
    evaluation : Evaluation
        Tidy results, allocations and models.
    summary : DataFrame
        Per (regime, size, strategy) statistics.
    sensitivity : DataFrame
        Improvement versus order size.
    """

    out_dir: Path
    report_path: Path | None
    evaluation: Evaluation
    summary: pd.DataFrame
    sensitivity: pd.DataFrame

    @property
    def results(self) -> pd.DataFrame:
        """The tidy results frame."""
        return self.evaluation.results

    def headline(self) -> str:
        """The run's verdicts as text: realised cost and improvement over ``equal`` per
        (regime, size, strategy), then every failed (regime, size, strategy) with its count
        of failed rows and first reason."""
        table = self.summary[self.summary["days"] > 0]
        cols = {
            "regime": "regime",
            "size_spec": "size",
            "strategy": "strategy",
            "days": "days",
            "mean_realized_bps": "realized_bps",
            "mean_predicted_bps": "predicted_bps",
            "improvement_bps": "vs_equal_bps",
            "improvement_ci_low_bps": "ci_low",
            "improvement_ci_high_bps": "ci_high",
            "verdict": "verdict",
            "win_share": "win",
            "tie_share": "tie",
            "loss_share": "loss",
        }
        present = [c for c in cols if c in table.columns]
        text = (
            table[present]
            .rename(columns=cols)
            .to_string(index=False, float_format=lambda v: f"{v:.3f}")
        )
        failures = failure_table(self.results)
        if len(failures):
            text += (
                f"\nFAILED: {int(failures['failed_rows'].sum())} row(s) of "
                f"{len(self.results)}; these strategy/size pairs failed:\n"
                + failures.to_string(index=False, max_colwidth=120)
            )
        return text

    def __repr__(self) -> str:
        cols = [
            "regime",
            "size_spec",
            "strategy",
            "mean_realized_bps",
            "improvement_bps",
            "improvement_ci_low_bps",
            "improvement_ci_high_bps",
            "win_rate",
        ]
        return f"RunResult(out_dir={str(self.out_dir)!r})\n" + self.summary.reindex(
            columns=cols
        ).to_string(index=False)


def _fingerprint(scenario_dict: dict) -> str:
    """Hash of what determines results (execution settings such as n_jobs excluded)."""
    payload = {k: v for k, v in scenario_dict.items() if k != "output"}
    payload["evaluation"] = {
        k: v
        for k, v in payload.get("evaluation", {}).items()
        if k not in ("n_jobs", "backend", "scheduler")
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _prepare(out_dir: Path, fingerprint: str, overwrite: bool, resume: bool) -> Path:
    parts = out_dir / "parts"
    manifest = parts / "manifest.json"
    existing = out_dir.exists() and any(out_dir.iterdir())
    if existing and not (overwrite or resume):
        raise OutputExistsError(
            f"output directory {str(out_dir)!r} already holds results; pass --overwrite to "
            "replace them or --resume to continue an interrupted run"
        )
    if resume and manifest.is_file():
        recorded = json.loads(manifest.read_text()).get("fingerprint")
        if recorded != fingerprint:
            raise InvalidParameterError(
                f"cannot resume in {str(out_dir)!r}: its parts were made by a different "
                "scenario (settings changed); use --overwrite to start again"
            )
    elif parts.exists() and not resume:
        # Stale parts of another run; the result files beside them stay until replaced.
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps({"fingerprint": fingerprint}))
    return parts


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _profile(evaluation: Evaluation, settings: EvaluationSettings) -> pd.DataFrame:
    """Marginal cost over the day at the TWAP child size of the smallest and largest order."""
    frames = []
    res = evaluation.results
    for regime, model in evaluation.models.items():
        n = model.n_intervals
        sizes = res.loc[res["regime"] == regime, "size_shares"]
        refs = sorted({float(sizes.min()), float(sizes.max())}) if len(sizes) else [float(n)]
        for total in refs:
            child = np.full(n, total / n)
            frames.append(
                pd.DataFrame(
                    {
                        "regime": regime,
                        "size_shares": total,
                        "interval": np.arange(n),
                        "marginal_cost_usd": model.marginal_cost(child),
                    }
                )
            )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["regime", "size_shares", "interval", "marginal_cost_usd"])
    )


def run_scenario(
    scenario,
    *,
    out_dir=None,
    overwrite: bool = False,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Run a scenario and write every output.

    Parameters
    ----------
    scenario : simulator.config.Scenario
        Parsed and validated scenario.
    out_dir : path, optional
        Output directory; defaults to the scenario's ``output.dir``.
    overwrite : bool, default False
        Replace results already in ``out_dir``.
    resume : bool, default False
        Reuse the finished days of an interrupted run with the same scenario.
    quiet : bool, default False
        No progress bar.

    Returns
    -------
    RunResult

    Raises
    ------
    OutputExistsError
        If ``out_dir`` holds results and neither ``overwrite`` nor ``resume`` is set.
    """
    timings = {}
    start = time.perf_counter()
    out_dir = Path(out_dir if out_dir is not None else scenario.output.dir)
    scenario_dict = scenario.to_dict()
    parts = _prepare(out_dir, _fingerprint(scenario_dict), overwrite, resume)
    settings = scenario.to_settings()
    strategies = list(scenario.build_strategies())

    t0 = time.perf_counter()
    markets = build_markets(scenario.market, settings.seed)
    timings["market"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = scenario.evaluation
    evaluation = evaluate(
        markets,
        strategies,
        settings,
        scenario=scenario.name,
        n_jobs=ev.n_jobs,
        backend=ev.backend,
        scheduler=ev.scheduler,
        parts_dir=parts,
        quiet=quiet,
    )
    timings["evaluate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = summarize(
        evaluation.results, bootstrap_samples=settings.bootstrap_samples, seed=settings.seed
    )
    sensitivity = sensitivity_table(evaluation.results)
    timings["summarize"] = time.perf_counter() - t0

    atomic_write_parquet(evaluation.results, out_dir / "results.parquet")
    atomic_write_csv(evaluation.results, out_dir / "results.csv")
    atomic_write_csv(summary, out_dir / "summary.csv")
    atomic_write_csv(sensitivity, out_dir / "sensitivity.csv")
    atomic_write_csv(evaluation.allocations, out_dir / "allocations.csv")
    atomic_write_csv(_profile(evaluation, settings), out_dir / "profile.csv")
    for regime, model in evaluation.models.items():
        model.save(out_dir / "models" / f"{regime}.json")
    run_info = {
        "scenario": scenario_dict,
        "settings": {k: v for k, v in vars(settings).items() if k != "sizes"}
        | {"sizes": {"unit": settings.sizes.unit, "values": list(settings.sizes.values)}},
        "execution": {"n_jobs": ev.n_jobs, "backend": ev.backend, "scheduler": ev.scheduler},
        "markets": {
            k: {
                "days": v.n_days,
                "intervals": v.n_intervals,
                "levels": v.n_levels,
                "first_date": str(v.dates[0]),
                "last_date": str(v.dates[-1]),
            }
            for k, v in markets.items()
        },
        "report_format": scenario.output.report,
        "versions": _versions(),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_s": timings,
    }
    if not evaluation.results["success"].any():
        atomic_write_text(out_dir / "run.json", json.dumps(run_info, indent=2, default=str))
        first = evaluation.results["message"].iloc[0]
        raise NothingSucceededError(
            f"no schedule succeeded in {len(evaluation.results)} attempts; first failure: "
            f"{first} (every row is in {str(out_dir / 'results.csv')!r})"
        )
    report_path = None
    if scenario.output.figures:
        t0 = time.perf_counter()
        atomic_write_text(out_dir / "run.json", json.dumps(run_info, indent=2, default=str))
        report_path = render_report(out_dir, fmt=scenario.output.report)
        timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    atomic_write_text(out_dir / "run.json", json.dumps(run_info, indent=2, default=str))
    return RunResult(
        out_dir=out_dir,
        report_path=report_path,
        evaluation=evaluation,
        summary=summary,
        sensitivity=sensitivity,
    )
