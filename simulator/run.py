"""Run a scenario end to end: markets, evaluation, summaries, outputs, figures and report.

Output directory (the complete set is written to a staging folder and swapped in at the end,
see :mod:`simulator.rundir`)::

    results.parquet, results.csv   one row per (regime, day, size, strategy)
    summary.csv                    per (regime, size, strategy) statistics with 95% intervals
    sensitivity.csv                improvement versus size, predicted and realised
    allocations.csv                every schedule on the representative (last) test day
    profile.csv                    fitted intraday impact profile of the representative day
    models/<regime>.json           the representative day's fitted model
    run.json                       scenario, settings, seed, package versions, timings
    figures/*.png, report.html     (or report.md)
    parts/                         one file set per finished test day (resume)
    .tradealloc/                   lock, record of the committed outputs, staging

An existing non-empty directory is refused unless ``overwrite`` (the earlier output set stays
whole until the new one replaces it) or ``resume`` (finished days of the same run - same
fingerprint - are reused).  One run at a time holds the directory's lock.  CSV text cells
that a spreadsheet would run as formulas are escaped (:mod:`simulator.outputs`); file names
derived from data (regimes, symbols) are sanitised so they stay inside the directory.
"""

from __future__ import annotations

import json
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import InvalidParameterError

from .config.resources import check_resources
from .config.scenario import safe_name
from .evaluate import Evaluation, evaluate, parallel_backend, plan_test_days
from .failures import failure_table
from .outputs import atomic_write_csv, atomic_write_parquet, atomic_write_text
from .parts import read_manifest, start_parts
from .report import render_report
from .rundir import (
    Fingerprint,
    RunDirectoryError,
    RunLock,
    Staging,
    holds_results,
    recover,
    run_fingerprint,
)
from .settings import EvaluationSettings
from .sources import build_markets
from .summary import sensitivity_table, split_warnings, summarize
from .workers import check_scheduler, effective_n_jobs

__all__ = [
    "RunResult",
    "NothingSucceededError",
    "OutputExistsError",
    "ResumeRefusedError",
    "run_scenario",
]

_PACKAGES = ("numpy", "scipy", "cvxpy", "pandas", "joblib", "matplotlib", "pyarrow", "tradealloc")


class OutputExistsError(InvalidParameterError):
    """The output directory holds earlier results and neither overwrite nor resume was asked."""


class NothingSucceededError(InvalidParameterError):
    """Every schedule of a run failed (typically infeasible constraints); results were written."""


class ResumeRefusedError(RunDirectoryError):
    """``resume`` was asked but the directory's parts belong to another run (or to none)."""


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
        if "warnings" in table.columns:
            # What qualifies the verdicts above (a single day, orders above 30% of ADV, ...),
            # each with the rows it applies to.
            counts: dict[str, int] = {}
            for cell in table["warnings"]:
                for part in split_warnings([cell]):
                    counts[part] = counts.get(part, 0) + 1
            if counts:
                text += "\nwarnings:\n" + "\n".join(
                    f"  {warning} ({n} of {len(table)} rows)" for warning, n in counts.items()
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


def _prepare(out_dir: Path, fingerprint: Fingerprint, overwrite: bool, resume: bool) -> Path:
    """Check the directory against the mode and start or continue its parts (lock held)."""
    parts = out_dir / "parts"
    existing = holds_results(out_dir)
    if existing and not (overwrite or resume):
        raise OutputExistsError(
            f"output directory {str(out_dir)!r} already holds results; pass --overwrite to "
            "replace them or --resume to continue an interrupted run"
        )
    if resume and existing:
        why = fingerprint.difference(read_manifest(parts))
        if why is not None:
            raise ResumeRefusedError(
                f"cannot resume in {str(out_dir)!r}: {why}; use --overwrite to start again"
            )
        return parts
    # A fresh start: our earlier parts go (foreign files stay); the committed outputs stay
    # until the new set replaces them.
    start_parts(parts, fingerprint.digest, fingerprint.components)
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


def market_profile(markets: dict, settings: EvaluationSettings) -> pd.DataFrame:
    """Expected continuous volume and mean spread per interval over the training window of
    each market's representative (last) test day: what the strategies planned with.

    Returns
    -------
    DataFrame
        Columns ``regime, interval, expected_volume_shares, mean_spread_usd``.
    """
    frames = []
    for regime, books in markets.items():
        plan = plan_test_days(books.n_days, settings)
        _, start, stop = plan[-1]
        train = books.select_days(slice(start, stop))
        frames.append(
            pd.DataFrame(
                {
                    "regime": regime,
                    "interval": np.arange(train.n_intervals),
                    "expected_volume_shares": train.volume.mean(axis=0),
                    "mean_spread_usd": train.spread.mean(axis=0),
                }
            )
        )
    columns = ["regime", "interval", "expected_volume_shares", "mean_spread_usd"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def run_scenario(
    scenario,
    *,
    out_dir=None,
    overwrite: bool = False,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Run a scenario and write every output.

    Before anything is written the scenario's memory estimate is checked
    (:func:`simulator.config.resources.check_resources`) and a Dask scheduler, when given,
    must answer.  The directory is then locked for the whole run (:class:`simulator.rundir.
    RunLock`), an interrupted commit of an earlier run completed, and the outputs written to
    a staging folder that replaces the previous set at the end (:class:`simulator.rundir.
    Staging`): an error, an interrupt or a kill at any point leaves the previous set whole.

    Parameters
    ----------
    scenario : simulator.config.Scenario
        Parsed and validated scenario.
    out_dir : path, optional
        Output directory; defaults to the scenario's ``output.dir``.
    overwrite : bool, default False
        Replace results already in ``out_dir``.
    resume : bool, default False
        Reuse the finished days of an interrupted run with the same fingerprint (scenario,
        seed, code, plugin sources and data contents); an empty directory starts afresh.
    quiet : bool, default False
        No progress bar.

    Returns
    -------
    RunResult

    Raises
    ------
    OutputExistsError
        If ``out_dir`` holds results and neither ``overwrite`` nor ``resume`` is set.
    ResumeRefusedError
        If ``resume`` is set and the parts in ``out_dir`` lack a fingerprint or have a
        different one (the message says what changed).
    simulator.rundir.DirectoryLockedError
        If another live run holds ``out_dir``.
    simulator.config.ScenarioError
        If the run would need more memory than is available.
    simulator.workers.SchedulerUnreachableError
        If ``evaluation.scheduler`` does not answer.
    NothingSucceededError
        If every schedule failed (the rows are written first).
    OSError
        If a file cannot be written; its ``filename`` names it.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir if out_dir is not None else scenario.output.dir)
    check_resources(scenario)
    ev = scenario.evaluation
    if ev.backend == "dask" and ev.scheduler:
        check_scheduler(ev.scheduler)
    with RunLock(out_dir):
        recover(out_dir)
        fingerprint = run_fingerprint(scenario)
        parts = _prepare(out_dir, fingerprint, overwrite, resume)
        staging = Staging(out_dir)
        try:
            result = _run_into(scenario, out_dir, staging, parts, quiet, start)
        except OSError as exc:
            raise _staged_error(exc, staging) from exc
        finally:
            if not staging.committed:
                staging.discard()
    return result


def _staged_error(exc: OSError, staging: Staging) -> OSError:
    """``exc`` naming the output file it was writing rather than its staged copy."""
    name = exc.filename
    if staging.committed or name is None:
        return exc
    try:
        final = staging.final_path(name)
    except ValueError:  # not a staged file (a part, a data file)
        return exc
    reason = exc.strerror or " ".join(str(exc).split())
    note = "writing the new outputs; the previous ones are unchanged"
    return OSError(exc.errno, f"{reason} ({note})", str(final))


def _run_into(scenario, out_dir: Path, staging: Staging, parts: Path, quiet: bool, start: float):
    timings = {}
    stage = staging.path
    scenario_dict = scenario.to_dict()
    settings = scenario.to_settings()
    strategies = list(scenario.build_strategies())

    ev = scenario.evaluation
    n_jobs = ev.n_jobs if (ev.backend == "dask" and ev.scheduler) else effective_n_jobs(ev.n_jobs)
    with (
        parallel_backend(ev.backend, n_jobs, ev.scheduler) as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradealloc-writer") as writer,
    ):
        # Workers start importing while the markets are built or loaded.
        pool.warm_up()
        t0 = time.perf_counter()
        markets, quality = build_markets(scenario.market, settings.seed, with_quality=True)
        timings["market"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluation = evaluate(
            markets,
            strategies,
            settings,
            scenario=scenario.name,
            n_jobs=n_jobs,
            backend=ev.backend,
            scheduler=ev.scheduler,
            parts_dir=parts,
            quiet=quiet,
            pool=pool,
        )
        timings["evaluate"] = time.perf_counter() - t0
        # results.csv, the slowest file (about 0.5 s for 20,000 rows; the report reads the
        # Parquet copy), is written by a thread while the driver waits on the workers.
        results_csv = writer.submit(atomic_write_csv, evaluation.results, stage / "results.csv")
        t0 = time.perf_counter()
        # The workers stay up for the summary's bootstrap groups and the report's figures.
        summary = summarize(
            evaluation.results,
            mapper=pool.starmap,
            bootstrap_samples=settings.bootstrap_samples,
            seed=settings.seed,
            equivalence_bps=settings.equivalence_bps,
            strategy_order=[label for label, _ in strategies],
        )
        sensitivity = sensitivity_table(evaluation.results)
        timings["summarize"] = time.perf_counter() - t0

        atomic_write_parquet(evaluation.results, stage / "results.parquet")
        atomic_write_csv(summary, stage / "summary.csv")
        atomic_write_csv(sensitivity, stage / "sensitivity.csv")
        atomic_write_csv(evaluation.allocations, stage / "allocations.csv")
        atomic_write_csv(_profile(evaluation, settings), stage / "profile.csv")
        atomic_write_csv(market_profile(markets, settings), stage / "market_profile.csv")
        model_files = {}
        for regime, model in evaluation.models.items():
            name = safe_name(regime, default="market")
            while name in model_files.values():  # two regimes sanitised alike
                name += "_"
            model_files[regime] = name
            model.save(stage / "models" / f"{name}.json")
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
            "model_files": {k: f"models/{v}.json" for k, v in model_files.items()},
            "fits": {
                "count": evaluation.fit_count,
                "seconds": round(evaluation.fit_seconds, 3),
                "rule": "one fit per training window still to run (a refit block shares one)",
            },
            "data_quality": quality,
            "fit_diagnostics": {
                regime: getattr(model, "fit_info", None) or {}
                for regime, model in evaluation.models.items()
            },
            "report_format": scenario.output.report,
            "versions": _versions(),
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "timings_s": timings,
        }
        if not evaluation.results["success"].any():
            atomic_write_text(stage / "run.json", json.dumps(run_info, indent=2, default=str))
            results_csv.result()
            staging.commit()
            first = evaluation.results["message"].iloc[0]
            raise NothingSucceededError(
                f"no schedule succeeded in {len(evaluation.results)} attempts; first failure: "
                f"{first} (every row is in {str(out_dir / 'results.csv')!r})"
            )
        report_path = None
        if scenario.output.figures:
            t0 = time.perf_counter()
            atomic_write_text(stage / "run.json", json.dumps(run_info, indent=2, default=str))
            report_path = staging.final_path(
                render_report(stage, fmt=scenario.output.report, mapper=pool.starmap)
            )
            timings["report"] = time.perf_counter() - t0
        results_csv.result()  # raises what the writer raised
        timings["total"] = time.perf_counter() - start
        atomic_write_text(stage / "run.json", json.dumps(run_info, indent=2, default=str))
        staging.commit()
    return RunResult(
        out_dir=out_dir,
        report_path=report_path,
        evaluation=evaluation,
        summary=summary,
        sensitivity=sensitivity,
    )
