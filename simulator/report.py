"""The run report: figures and an HTML or Markdown page rendered from saved results.

:func:`render_report` reads only files in the results directory, so a report can be
re-rendered later (``run-backtest report RESULTS_DIR``) without re-running anything.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from models.errors import DataError

from .failures import failure_table
from .outputs import atomic_write_text
from .summary import size_label

__all__ = ["render_report", "FIGURES"]

FIGURES = {
    "schedules": "Schedules over the representative day",
    "impact_by_strategy": "Realised and predicted impact by strategy",
    "improvement": "Improvement over equal with 95% bootstrap intervals",
    "sensitivity": "Improvement versus order size",
    "predicted_vs_realized": "Predicted versus realised impact",
    "impact_profile": "Fitted intraday impact profile",
}

_SUMMARY_COLUMNS = [
    "regime",
    "size_spec",
    "strategy",
    "days",
    "failed",
    "mean_realized_bps",
    "std_realized_bps",
    "mean_predicted_bps",
    "bias_bps",
    "rmse_bps",
    "improvement_bps",
    "improvement_ci_low_bps",
    "improvement_ci_high_bps",
    "improvement_pct",
    "win_rate",
    "mean_captured_saving",
    "mean_solve_ms",
]


def _read(results_dir: Path):
    needed = [
        "results.parquet",
        "summary.csv",
        "sensitivity.csv",
        "allocations.csv",
        "profile.csv",
        "run.json",
    ]
    missing = [name for name in needed if not (results_dir / name).is_file()]
    if missing:
        raise DataError(
            f"results directory {str(results_dir)!r} is incomplete: missing {', '.join(missing)}"
        )
    results = pd.read_parquet(results_dir / "results.parquet")
    summary = pd.read_csv(results_dir / "summary.csv")
    sensitivity = pd.read_csv(results_dir / "sensitivity.csv")
    allocations = pd.read_csv(results_dir / "allocations.csv")
    profile = pd.read_csv(results_dir / "profile.csv")
    run = json.loads((results_dir / "run.json").read_text())
    return results, summary, sensitivity, allocations, profile, run


def _findings(summary: pd.DataFrame) -> list[str]:
    """Plain sentences on the best strategy per regime and size."""
    lines = []
    sub = summary[
        (summary["days"] > 0) & (summary["strategy"] != "equal") & (summary["strategy"] != "oracle")
    ]
    for (regime, spec), grp in sub.groupby(["regime", "size_spec"], sort=False):
        best = grp.sort_values("improvement_bps", ascending=False).iloc[0]
        lo, hi = best["improvement_ci_low_bps"], best["improvement_ci_high_bps"]
        verdict = (
            "significantly cheaper than equal"
            if lo > 0
            else "significantly dearer than equal"
            if hi < 0
            else "not distinguishable from equal"
        )
        lines.append(
            f"[{regime}, {size_label(spec, best['size_unit'])}] best: {best['strategy']} saves "
            f"{best['improvement_bps']:.3f} bps (95% CI {lo:.3f} to {hi:.3f}; "
            f"{best['improvement_pct']:.2f}% of equal's cost) over {int(best['days'])} days, "
            f"win rate {best['win_rate']:.0%} — {verdict}; prediction bias "
            f"{best['bias_bps']:+.3f} bps, RMSE {best['rmse_bps']:.3f} bps."
        )
    return lines


def render_report(results_dir, fmt: str | None = None) -> Path:
    """Render the figures and the report of a results directory.

    Parameters
    ----------
    results_dir : path
        Directory written by :func:`simulator.run.run_scenario`.
    fmt : {'html', 'markdown'}, optional
        Report format; defaults to the one recorded in ``run.json`` (html otherwise).

    Returns
    -------
    Path
        The report file (``report.html`` or ``report.md``).

    Raises
    ------
    DataError
        If the directory is missing or incomplete.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise DataError(f"results directory not found: {str(results_dir)!r}")
    results, summary, sensitivity, allocations, profile, run = _read(results_dir)
    fmt = fmt or run.get("report_format", "html")
    if fmt not in ("html", "markdown"):
        raise DataError(f"report format must be 'html' or 'markdown'; got {fmt!r}")
    from . import plots  # matplotlib loads only when a report is drawn

    fig_dir = results_dir / "figures"
    paths = {
        "schedules": plots.plot_schedules(allocations, fig_dir / "schedules.png"),
        "impact_by_strategy": plots.plot_impact_by_strategy(
            summary, fig_dir / "impact_by_strategy.png"
        ),
        "improvement": plots.plot_improvement(summary, fig_dir / "improvement.png"),
        "sensitivity": plots.plot_sensitivity(sensitivity, fig_dir / "sensitivity.png"),
        "predicted_vs_realized": plots.plot_predicted_vs_realized(
            results, fig_dir / "predicted_vs_realized.png"
        ),
        "impact_profile": plots.plot_impact_profile(profile, fig_dir / "impact_profile.png"),
    }
    table = summary.reindex(columns=_SUMMARY_COLUMNS)
    findings = _findings(summary)
    failures = results[~results["success"].astype(bool)]
    title = f"tradealloc report — {run.get('scenario', {}).get('name', results_dir.name)}"
    info = {
        "mode": run.get("settings", {}).get("mode"),
        "days evaluated": int(results["day_index"].nunique()),
        "rows": len(results),
        "failed rows": len(failures),
        "seed": run.get("settings", {}).get("seed"),
        "evaluation wall time (s)": round(run.get("timings_s", {}).get("evaluate", 0.0), 2),
    }
    if fmt == "html":
        body = [
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{html.escape(run.get('scenario', {}).get('description', '') or '')}</p>",
            "<ul>"
            + "".join(
                f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in info.items()
            )
            + "</ul>",
            "<h2>Findings</h2><ul>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in findings)
            + "</ul>",
            "<h2>Summary</h2>",
            table.to_html(index=False, float_format="%.4g"),
        ]
        for key, caption in FIGURES.items():
            body.append(
                f"<h2>{html.escape(caption)}</h2>"
                f"<img src='figures/{paths[key].name}' alt='{html.escape(caption)}' "
                "style='max-width:100%'>"
            )
        body.append("<h2>Failures</h2>")
        if len(failures):
            body.append(
                f"<p>{len(failures)} of {len(results)} rows failed; they were never realised "
                "or ranked.</p>"
                + failure_table(results).to_html(index=False)
                + failures[["regime", "date", "size_spec", "strategy", "message"]].to_html(
                    index=False
                )
            )
        else:
            body.append("<p>No failed rows.</p>")
        text = (
            "<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
            "padding:2px 6px}</style></head><body>" + "\n".join(body) + "</body></html>"
        )
        path = results_dir / "report.html"
    else:
        lines = [f"# {title}", "", run.get("scenario", {}).get("description", "") or "", ""]
        lines += [f"- **{k}**: {v}" for k, v in info.items()] + ["", "## Findings", ""]
        lines += [f"- {s}" for s in findings] + ["", "## Summary", ""]
        lines.append(_markdown_table(table))
        for key, caption in FIGURES.items():
            lines += ["", f"## {caption}", "", f"![{caption}](figures/{paths[key].name})"]
        lines += ["", "## Failures", ""]
        if len(failures):
            lines.append(
                f"{len(failures)} of {len(results)} rows failed; they were never realised "
                "or ranked."
            )
            lines += ["", _markdown_table(failure_table(results))]
        else:
            lines.append("No failed rows.")
        text = "\n".join(lines) + "\n"
        path = results_dir / "report.md"
    atomic_write_text(path, text)
    return path


def _markdown_table(frame: pd.DataFrame) -> str:
    if _has_tabulate():
        return frame.to_markdown(index=False, floatfmt=".4g")
    return "```\n" + frame.to_string(index=False) + "\n```"


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
