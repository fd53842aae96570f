"""The run report: a self-contained HTML page and a Markdown page with the same sections,
rendered only from the files of a results directory.

:func:`render_report` reads the directory (:func:`simulator.report_inputs.read_results_dir`),
draws the figures (:mod:`simulator.plots`, saved under ``figures/``), words the findings
from the summary's verdicts (:mod:`simulator.report_findings`) and writes ``report.html``
(every figure embedded as a base64 ``data:`` URI, so the file can be mailed or attached)
and ``report.md`` (linking ``figures/*.png``).  Both have the sections of :data:`SECTIONS`,
in that order.  It can be re-run later: ``run-backtest report RESULTS_DIR``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from models.errors import DataError

from .failures import failure_table
from .outputs import atomic_write_bytes, atomic_write_text
from .report_findings import ROBUST, group_findings
from .report_inputs import ReportInputs, read_results_dir
from .score import BASELINE, ORACLE
from .summary import pick_sizes, size_label

__all__ = ["render_report", "collapse_warnings", "split_warnings", "SECTIONS", "FIGURES"]

SECTIONS = (
    "Scenario",
    "Headline verdicts",
    "Per-regime results",
    "Cumulative execution",
    "Per-day improvement over equal",
    "Predicted versus realised",
    "Data quality",
    "Fit diagnostics",
    "Warnings",
    "Failures",
)
"""Section headings of both report formats, in order."""

FIGURES = {
    "improvement": "Improvement over equal by order size, per regime",
    "cumulative_execution": "Cumulative execution beside the market's volume and spread",
    "daily_improvement": "Improvement over equal on each test day",
    "predicted_vs_realized": "Predicted versus realised impact, per strategy",
    "fit_diagnostics": "Fitted impact model: cost profile, fit quality, parameters",
}
"""Figure file stems (``figures/<stem>.png``) and their captions."""


@dataclass(frozen=True)
class _Figure:
    key: str
    data: bytes
    note: str


# --------------------------------------------------------------------------- formatting


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "n/a"
        if float(value).is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        arr = pd.to_numeric(pd.Series(list(value)), errors="coerce").to_numpy(dtype=float)
        finite = arr[np.isfinite(arr)]
        if finite.size == len(value) and finite.size:
            return (
                f"{finite.size} values, median {np.median(finite):.4g} "
                f"(range {finite.min():.4g} to {finite.max():.4g})"
            )
        return f"{len(value)} values"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_num(v)}" for k, v in value.items())
    return str(value)


def _bps(value, signed=False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _share(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.0f}%"


def _verdict_label(row, margin: float) -> str:
    if row["strategy"] == BASELINE:
        return "baseline"
    if row["strategy"] == ORACLE:
        return "hindsight bound"
    verdict = row["verdict"]
    if verdict in ("better", "worse"):
        return verdict
    if verdict == "equivalent":
        if bool(row["equivalence_established"]):
            return f"equivalent (±{margin:g} bps)"
        return "not distinguishable"
    return "no verdict"


# --------------------------------------------------------------------------- sections


def _scenario_blocks(inp: ReportInputs) -> list:
    run = inp.run
    scenario = run.get("scenario", {}) or {}
    settings = run.get("settings", {}) or {}
    res = inp.results
    days = res.groupby("regime")["day_index"].nunique()
    margin = f"{inp.equivalence_bps:g} bps" + (
        "" if inp.equivalence_recorded else " (summary default; not recorded in run.json)"
    )
    blocks = sorted(set(inp.summary.get("block_length", pd.Series(dtype=float)).dropna()))
    info = [
        f"**mode**: {settings.get('mode', 'not recorded')}, "
        f"training window {settings.get('training_days', 'n/a')} days",
        "**test days**: " + ", ".join(f"{r}: {int(n)}" for r, n in days.items()),
        f"**rows**: {len(res)} ({int((~res['success']).sum())} failed)",
        f"**verdict margin** (practical equivalence): {margin}",
        f"**bootstrap**: paired moving-block, {settings.get('bootstrap_samples', 'n/a')} "
        f"resamples, block length {', '.join(str(int(b)) for b in blocks) or 'n/a'} days, "
        f"seed {settings.get('seed', 'n/a')}",
    ]
    markets = run.get("markets") or {}
    for name, m in markets.items():
        info.append(
            f"**market {name}**: {m.get('days')} days x {m.get('intervals')} intervals x "
            f"{m.get('levels')} levels, {m.get('first_date')} to {m.get('last_date')}"
        )
    versions = run.get("versions") or {}
    if versions:
        info.append("**versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if run.get("finished_utc"):
        info.append(f"**finished**: {run['finished_utc']} UTC")
    text = (
        yaml.safe_dump(scenario, sort_keys=False, default_flow_style=False, allow_unicode=True)
        if scenario
        else "# the scenario was not recorded in run.json\n"
    )
    out = []
    if scenario.get("description"):
        out.append(("p", scenario["description"]))
    out += [("list", info), ("p", "The scenario as run (from run.json):"), ("pre", text)]
    return out


def _headline_blocks(inp: ReportInputs, findings) -> list:
    out = [
        (
            "p",
            "Each verdict compares a strategy with equal on the same test days (paired "
            "moving-block bootstrap 95% interval of the mean daily improvement) and a "
            f"practical-equivalence margin of ±{inp.equivalence_bps:g} bps: better or worse "
            "only when the interval excludes 0 and the mean lies beyond the margin. "
            "Improvements are in bps of arrival notional; positive = cheaper than equal.",
        )
    ]
    for regime in inp.regimes:
        out.append(("h3", regime))
        out.append(("p", f"Numbers produced by: {inp.context(regime)}."))
        for group in findings:
            if group.regime == regime:
                out.append(("group", group.title, list(group.sentences)))
    return out


def _regime_table(summary: pd.DataFrame, margin: float) -> pd.DataFrame:
    rows = []
    for _, r in summary.iterrows():
        unit = r.get("size_unit", "shares")
        ci = (
            f"[{_bps(r['improvement_ci_low_bps'], True)}, "
            f"{_bps(r['improvement_ci_high_bps'], True)}]"
            if np.isfinite(r["improvement_ci_low_bps"])
            else "[no interval]"
        )
        rows.append(
            {
                "size": size_label(r["size_spec"], unit),
                "strategy": r["strategy"],
                "days": int(r["days"]),
                "failed": int(r["failed"]) if "failed" in r else 0,
                "realised bps": _bps(r["mean_realized_bps"]),
                "predicted bps": _bps(r["mean_predicted_bps"]),
                "bias bps": _bps(r["bias_bps"], True),
                "RMSE bps": _bps(r["rmse_bps"]),
                "vs equal bps [95% CI]": "—"
                if r["strategy"] == BASELINE
                else f"{_bps(r['improvement_bps'], True)} {ci}",
                "verdict": _verdict_label(r, margin),
                "win / tie / loss": "—"
                if r["strategy"] == BASELINE
                else f"{_share(r['win_share'])} / {_share(r['tie_share'])} / "
                f"{_share(r['loss_share'])}",
                "identical to": r.get("identical_to", "") or "",
                "captured": _share(r.get("mean_captured_saving", np.nan)),
                "solve ms": _num(r.get("mean_solve_ms", np.nan), 3),
            }
        )
    return pd.DataFrame(rows)


def _per_regime_blocks(inp: ReportInputs) -> list:
    out = [
        ("figure", "improvement"),
    ]
    for regime in inp.regimes:
        sub = inp.summary[inp.summary["regime"] == regime]
        out.append(("h3", regime))
        out.append(("p", f"Numbers produced by: {inp.context(regime)}."))
        out.append(("table", _regime_table(sub, inp.equivalence_bps)))
    out.append(
        (
            "p",
            "captured: mean share of the saving available from equal to the hindsight oracle "
            "that the strategy realised (n/a where the oracle is not certified or no saving "
            "was available).",
        )
    )
    return out


def _sizes_note(frame: pd.DataFrame | None, limit: int = 3) -> str:
    if frame is None or frame.empty:
        return ""
    notes = []
    for regime, grp in frame.groupby("regime", sort=False):
        specs = sorted(grp["size_spec"].unique())
        if len(specs) > limit:
            unit = grp["size_unit"].iloc[0] if "size_unit" in grp else "shares"
            shown = ", ".join(size_label(s, unit) for s in pick_sizes(specs, limit))
            notes.append(f"{regime}: sizes shown {shown} (of {len(specs)})")
    return (
        ("Per-size panels: " + "; ".join(notes) + "; every size is in the tables.") if notes else ""
    )


def _not_recorded(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells missing from a table of recorded values say "not recorded"."""
    return frame.astype(object).where(frame.notna(), "not recorded")


def _data_quality_blocks(inp: ReportInputs) -> list:
    out = []
    dq = inp.data_quality
    if dq:
        table = _by_regime(
            {
                str(regime): {k: _num(v) for k, v in (vals or {}).items()}
                for regime, vals in dq.items()
            }
        )
        out += [
            ("p", "Recorded by the data source (repairs, auction prints, other counts):"),
            ("table", table),
        ]
    else:
        out.append(
            (
                "p",
                "Data repairs and auction prints: not recorded (run.json has no "
                '"data_quality" entry).',
            )
        )
    res = inp.results[inp.results["success"]]
    if res.empty:
        return out
    has_beyond = res["beyond_depth_share"].notna().any()
    grouped = res.groupby(["regime", "size_spec", "strategy"], sort=False)
    agg = grouped.agg(
        size_unit=("size_unit", "first"),
        beyond=("beyond_depth_share", "mean"),
        minutes=("exhausted_intervals", "mean"),
        peak=("peak_participation", "max"),
        cap=("max_participation", "first"),
    ).reset_index()
    rows = []
    for _, r in agg.iterrows():
        rows.append(
            {
                "regime": r["regime"],
                "size": size_label(r["size_spec"], r["size_unit"]),
                "strategy": r["strategy"],
                "share of order beyond visible book": f"{100 * r['beyond']:.2f}%"
                if has_beyond and np.isfinite(r["beyond"])
                else "not recorded",
                "minutes beyond visible book (mean per day)": f"{r['minutes']:.1f}",
                "peak participation (max)": _num(r["peak"], 3),
                "cap": _num(r["cap"], 3) if np.isfinite(r["cap"]) else "none",
            }
        )
    out += [
        (
            "p",
            "Liquidity used by each schedule on the test days: the share of the order filled "
            "past the deepest visible level (charged by the beyond-depth rule), the minutes "
            "in which the child order walked past the visible book, and the highest "
            "realised participation (child order / the minute's continuous volume).",
        ),
        ("table", pd.DataFrame(rows)),
    ]
    return out


def _fit_table(inp: ReportInputs) -> pd.DataFrame | None:
    rows: dict[str, dict] = {}
    recorded = inp.fit_diagnostics or {}
    tables = inp.model_tables
    for regime in inp.regimes:
        row: dict = {"regime": regime}
        if regime in recorded:
            row["source"] = "every walk-forward fit (run.json)"
            row.update({k: _num(v) for k, v in (recorded[regime] or {}).items()})
        raw = inp.models.get(regime)
        table = tables.get(regime)
        if raw is not None:
            prefix = "representative day: " if regime in recorded else ""
            if regime not in recorded:
                row["source"] = "representative day's fit (models/)"
            row[prefix + "model"] = raw.get("kind", "n/a")
            if table is not None and "r2" in table and table["r2"].notna().any():
                r2 = table["r2"].to_numpy(dtype=float)
                row[prefix + "R² median"] = _num(float(np.nanmedian(r2)), 3)
                row[prefix + "R² 10th pct"] = _num(float(np.nanquantile(r2, 0.1)), 3)
            for flag in ("filled", "failed"):
                if table is not None and flag in table:
                    count = int(table[flag].fillna(False).astype(bool).sum())
                    row[prefix + f"minutes {flag}"] = str(count)
            if table is not None:
                for name in table.columns:
                    if name in ("r2", "filled", "failed", "status", "n_obs") or name.startswith(
                        "stderr"
                    ):
                        continue
                    if pd.api.types.is_numeric_dtype(table[name]):
                        median = float(np.nanmedian(table[name].to_numpy(dtype=float)))
                        row[prefix + f"{name} median"] = _num(median, 3)
            for key, value in (raw.get("fit_info") or {}).items():
                if isinstance(value, int | float | str) and not isinstance(value, bool):
                    row.setdefault(prefix + key, _num(value, 3))
        if len(row) > 1:
            rows[regime] = {k: v for k, v in row.items() if k != "regime"}
    return _by_regime(rows) if rows else None


def _fit_blocks(inp: ReportInputs) -> list:
    out = []
    if inp.fit_diagnostics is None:
        out.append(
            (
                "p",
                "Fit diagnostics over every walk-forward fit: not recorded (run.json has no "
                '"fit_diagnostics" entry); shown for the representative (last) test day\'s '
                "fit saved under models/.",
            )
        )
    table = _fit_table(inp)
    if table is not None:
        out.append(("table", table))
    else:
        out.append(("p", "No fitted model was saved with these results."))
    out.append(("figure", "fit_diagnostics"))
    return out


def _by_regime(rows: dict[str, dict]) -> pd.DataFrame:
    """A table with one row per quantity and one column per regime ("not recorded" where a
    regime lacks the quantity)."""
    frame = pd.DataFrame(rows)  # columns = regimes, index = quantities in first-seen order
    frame.index.name = "quantity"
    return _not_recorded(frame).reset_index()


_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def split_warnings(cell) -> list[str]:
    """The warnings of a summary cell ('; '-separated; no warning contains one)."""
    return [part.strip() for part in str(cell or "").split(";") if part.strip()]


def collapse_warnings(texts) -> list[str]:
    """Merge warnings that differ only in their numbers (one per test day, say) into one
    line giving each number's range: "order is 0.717x-0.737x ADV (> 30% of ADV) [9 days]".

    Parameters
    ----------
    texts : iterable of str
        Warning texts, in first-seen order (duplicates allowed).

    Returns
    -------
    list of str
    """
    groups: dict[str, list[list[str]]] = {}
    first: dict[str, str] = {}
    for text in texts:
        key = _NUMBER.sub("#", text)
        groups.setdefault(key, []).append(_NUMBER.findall(text))
        first.setdefault(key, text)
    out = []
    for key, numbers in groups.items():
        distinct = {tuple(n) for n in numbers}
        if len(distinct) == 1:
            out.append(first[key])
            continue
        pieces = key.split("#")
        text = pieces[0]
        for i, piece in enumerate(pieces[1:]):
            column = [n[i] for n in numbers]
            floats = [float(v.replace(",", "")) for v in column]
            lo, hi = column[int(np.argmin(floats))], column[int(np.argmax(floats))]
            text += (lo if lo == hi else f"{lo} to {hi}") + piece
        out.append(f"{text} [{len(distinct)} distinct values]")
    return out


def _warning_blocks(inp: ReportInputs) -> list:
    summary = inp.summary
    rows = []
    for (regime, spec), grp in summary.groupby(["regime", "size_spec"], sort=False):
        unit = grp["size_unit"].iloc[0]
        by_strategy: dict[str, list[str]] = {}
        for _, r in grp.iterrows():
            parts = split_warnings(r["warnings"])
            by_strategy[r["strategy"]] = collapse_warnings(parts)
        texts: dict[str, list[str]] = {}
        for strategy, lines in by_strategy.items():
            for line in lines:
                texts.setdefault(line, []).append(strategy)
        everyone = set(grp["strategy"])
        for text, who in texts.items():
            rows.append(
                {
                    "regime": regime,
                    "size": size_label(spec, unit),
                    "warning": text,
                    "strategies": "all" if set(who) == everyone else ", ".join(who),
                }
            )
    if not rows:
        return [("p", "No warnings.")]
    return [
        (
            "p",
            "Conditions that make a number hard to read (from the summary and the rows): too "
            "few test days for a reliable interval, days a strategy or equal failed, orders "
            "large against ADV, caps that pin every strategy to one schedule, orders filled "
            "beyond the visible book, an oracle not certified for the market.",
        ),
        ("table", pd.DataFrame(rows)),
    ]


def _failure_blocks(inp: ReportInputs) -> list:
    res = inp.results
    failed = res[~res["success"]]
    if failed.empty:
        return [("p", "No failed rows.")]
    table = failure_table(res)
    units = res.groupby("size_spec")["size_unit"].first()
    table = table.assign(
        size_spec=[size_label(v, units.get(v, "shares")) for v in table["size_spec"]]
    ).rename(columns={"size_spec": "size"})
    return [
        (
            "p",
            f"{len(failed)} of {len(res)} rows failed; they were never realised, ranked or "
            "summarised (other than these counts). Every failed row, with its date and "
            "message, is in results.csv (success = False).",
        ),
        ("table", table.astype(str)),
    ]


# --------------------------------------------------------------------------- figures


_PLOTTERS = {
    "improvement": "plot_improvement",
    "cumulative_execution": "plot_cumulative_execution",
    "daily_improvement": "plot_daily_improvement",
    "predicted_vs_realized": "plot_predicted_vs_realized",
    "fit_diagnostics": "plot_fit_diagnostics",
}
"""The :mod:`simulator.plots` function that draws each figure of :data:`FIGURES`."""


def _png(key: str, arguments: dict, strategies: tuple[str, ...] | None) -> bytes:
    """Draw figure ``key`` from its keyword arguments and render it as PNG bytes (a task
    that may run in a worker process: it needs only picklable frames).  With
    ``strategies`` the figure is drawn in the run's palette of those labels."""
    from . import plots  # matplotlib loads only where a figure is drawn

    if strategies is not None:
        arguments = arguments | {"colors": plots.strategy_colors(strategies)}
    return plots.png_bytes(getattr(plots, _PLOTTERS[key])(**arguments))


def _serial(function, items):
    return [function(*item) for item in items]


def _draw(inp: ReportInputs, contexts: Mapping[str, str], mapper=None) -> dict[str, _Figure]:
    labels = tuple(inp.strategies)  # one palette for every figure, made where it is drawn
    margin = inp.equivalence_bps
    size_unit = str(inp.summary["size_unit"].iloc[0]) if len(inp.summary) else None
    tasks = {
        "improvement": (
            dict(
                summary=inp.summary,
                results=inp.results,
                margin_bps=margin,
                contexts=contexts,
            ),
            "",
        ),
        "cumulative_execution": (
            dict(
                allocations=inp.allocations,
                size_unit=size_unit,
                market_profile=inp.market_profile,
                fitted_profile=inp.fitted_profile,
                contexts=contexts,
            ),
            _sizes_note(inp.allocations),
        ),
        "daily_improvement": (
            dict(results=inp.results, margin_bps=margin, contexts=contexts),
            _sizes_note(inp.results),
        ),
        "predicted_vs_realized": (
            dict(results=inp.results, summary=inp.summary, contexts=contexts),
            "",
        ),
        "fit_diagnostics": (
            dict(
                tables=inp.model_tables,
                fitted_profile=inp.fitted_profile,
                fit_diagnostics=inp.fit_diagnostics,
                contexts=contexts,
            ),
            "",
        ),
    }
    images = (mapper or _serial)(
        _png,
        [
            (key, arguments, None if key == "fit_diagnostics" else labels)
            for key, (arguments, _) in tasks.items()
        ],
    )
    fig_dir = inp.path / "figures"
    out = {}
    for (key, (_, note)), data in zip(tasks.items(), images, strict=True):
        atomic_write_bytes(fig_dir / f"{key}.png", data)
        out[key] = _Figure(key, data, note)
    return out


_DESCRIPTIONS = {
    "improvement": (
        "One panel per regime (never pooled). Per order size, each strategy's mean "
        "improvement over equal with its paired 95% interval; the marker shape is the verdict, "
        "a cross the improvement the planning model predicted, the grey band the equivalence "
        "margin. The oracle (star) is the hindsight bound, not a ranked strategy."
    ),
    "cumulative_execution": (
        "Share of the order done by each minute on the representative (last) test day, per "
        "strategy (one panel per regime and order size), beside the market's expected volume "
        "per minute and mean spread. The thick light-grey line is the cumulative expected "
        "volume: a schedule on it trades with the volume. Lines that coincide are drawn with "
        "interleaved dashes and marked (= identical) or (~ visually the same)."
    ),
    "daily_improvement": (
        "Daily improvement over equal (bps; positive = cheaper than equal) on every test day, "
        "per regime and order size: time series (left) and distribution over days (right; "
        "box = quartiles, dots = days). The grey band is the equivalence margin."
    ),
    "predicted_vs_realized": (
        "Each point is one test day at one order size (marker shape = size). Points above the "
        "dashed line cost more than the planning model predicted; the titles give the "
        "prediction bias (mean realised minus predicted) per size. One panel per regime and "
        "strategy; panels of a regime share their axes."
    ),
    "fit_diagnostics": (
        "Per regime: the fitted marginal cost over the day, the per-minute R² of the "
        "representative day's fit (red crosses: minutes filled from neighbours), and the "
        "distribution of the per-minute parameters over the day."
    ),
}


def _cumulative_blocks(inp: ReportInputs) -> list:
    out = [("figure", "cumulative_execution")]
    if inp.market_profile is None:
        out.append(
            (
                "p",
                "Expected volume and spread: not recorded (no market_profile.csv); the first "
                "panel of each regime shows the fitted marginal cost instead.",
            )
        )
    if inp.allocations is None:
        out.append(("p", "Schedules: not recorded (no allocations.csv)."))
    return out


# --------------------------------------------------------------------------- rendering


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = [
        "| " + " | ".join(_md_escape(c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_escape("" if v is None else v) for v in row) + " |")
    return "\n".join(lines)


def _md_inline(text: str) -> str:
    return str(text)


def _render_markdown(title: str, sections, figures: Mapping[str, _Figure]) -> str:
    lines = [f"# {title}", ""]
    for heading, blocks in sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            kind = block[0]
            if kind == "p":
                lines += [_md_inline(block[1]), ""]
            elif kind == "h3":
                lines += [f"### {block[1]}", ""]
            elif kind == "list":
                lines += [f"- {item}" for item in block[1]] + [""]
            elif kind == "group":
                lines += [f"**{block[1]}**", ""] + [f"- {s}" for s in block[2]] + [""]
            elif kind == "pre":
                lines += ["```yaml", block[1].rstrip("\n"), "```", ""]
            elif kind == "table":
                lines += [_md_table(block[1]), ""]
            elif kind == "figure":
                fig = figures[block[1]]
                caption = FIGURES[fig.key]
                lines += [f"![{caption}](figures/{fig.key}.png)", ""]
                lines += [f"*{caption}.* {_DESCRIPTIONS[fig.key]} {fig.note}".rstrip(), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _html_inline(text: str) -> str:
    """Escape, then turn **bold** and `code` of the shared block text into tags."""
    out = html.escape(str(text))
    parts = out.split("**")
    out = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _render_html(title: str, sections, figures: Mapping[str, _Figure]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    toc = "".join(
        f"<li><a href='#s{i}'>{html.escape(h)}</a></li>" for i, (h, _) in enumerate(sections)
    )
    body.append(f"<nav><ol>{toc}</ol></nav>")
    for i, (heading, blocks) in enumerate(sections):
        body.append(f"<h2 id='s{i}'>{html.escape(heading)}</h2>")
        for block in blocks:
            kind = block[0]
            if kind == "p":
                body.append(f"<p>{_html_inline(block[1])}</p>")
            elif kind == "h3":
                body.append(f"<h3>{html.escape(block[1])}</h3>")
            elif kind == "list":
                items = "".join(f"<li>{_html_inline(item)}</li>" for item in block[1])
                body.append(f"<ul>{items}</ul>")
            elif kind == "group":
                items = "".join(f"<li>{_html_inline(s)}</li>" for s in block[2])
                body.append(f"<p><b>{html.escape(block[1])}</b></p><ul>{items}</ul>")
            elif kind == "pre":
                body.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "table":
                body.append(block[1].to_html(index=False, escape=True, border=0))
            elif kind == "figure":
                fig = figures[block[1]]
                caption = FIGURES[fig.key]
                data = base64.b64encode(fig.data).decode("ascii")
                text = f"{caption}. {_DESCRIPTIONS[fig.key]} {fig.note}".strip()
                body.append(
                    f"<figure><img src='data:image/png;base64,{data}' "
                    f"alt='{html.escape(caption)}'>"
                    f"<figcaption>{html.escape(text)}</figcaption></figure>"
                )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:110em;line-height:1.4}"
        "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "pre{background:#f6f6f6;padding:0.8em;font-size:12px;overflow-x:auto}"
        "img{max-width:100%;height:auto}figure{margin:1em 0}"
        "figcaption{font-size:13px;color:#333;max-width:80em}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _robust_labels(results: pd.DataFrame) -> set[str]:
    names = results[["strategy", "strategy_name"]].drop_duplicates()
    return set(names.loc[names["strategy_name"].astype(str) == ROBUST, "strategy"].astype(str))


def render_report(results_dir, fmt: str | None = None, *, mapper=None) -> Path:
    """Draw the figures and write ``report.html`` and ``report.md`` of a results directory.

    Reads only the directory's files (see :mod:`simulator.report_inputs` for which, and
    which are optional).  Both reports have the sections :data:`SECTIONS`; the HTML embeds
    every figure as a ``data:`` URI, the Markdown links ``figures/<name>.png``.

    Parameters
    ----------
    results_dir : path
        Directory written by :func:`simulator.run.run_scenario`.
    fmt : {'html', 'markdown'}, optional
        Which of the two reports to return; defaults to ``run.json``'s ``report_format``
        (html otherwise).  Both are written either way.
    mapper : callable, optional
        ``mapper(function, items)`` returning ``[function(*item) for item in items]`` in
        order, e.g. :meth:`simulator.evaluate.WorkerPool.starmap` to draw the figures on the
        run's workers; by default they are drawn here, one after another.  The files are
        the same either way.

    Returns
    -------
    Path
        ``report.html`` or ``report.md``.

    Raises
    ------
    DataError
        If the directory is missing or incomplete, or ``fmt`` is unknown.
    """
    inp = read_results_dir(results_dir)
    fmt = fmt or inp.run.get("report_format", "html")
    if fmt not in ("html", "markdown"):
        raise DataError(f"report format must be 'html' or 'markdown'; got {fmt!r}")
    contexts = {regime: inp.context(regime) for regime in inp.regimes}
    findings = group_findings(
        inp.summary,
        margin_bps=inp.equivalence_bps,
        contexts=contexts,
        certified={regime: inp.oracle_certified(regime) for regime in inp.regimes},
        robust_labels=_robust_labels(inp.results),
    )
    figures = _draw(inp, contexts, mapper)
    sections = [
        ("Scenario", _scenario_blocks(inp)),
        ("Headline verdicts", _headline_blocks(inp, findings)),
        ("Per-regime results", _per_regime_blocks(inp)),
        ("Cumulative execution", _cumulative_blocks(inp)),
        ("Per-day improvement over equal", [("figure", "daily_improvement")]),
        ("Predicted versus realised", [("figure", "predicted_vs_realized")]),
        ("Data quality", _data_quality_blocks(inp)),
        ("Fit diagnostics", _fit_blocks(inp)),
        ("Warnings", _warning_blocks(inp)),
        ("Failures", _failure_blocks(inp)),
    ]
    assert tuple(h for h, _ in sections) == SECTIONS  # internal consistency, not user input
    name = (inp.run.get("scenario") or {}).get("name") or inp.path.name
    title = f"tradealloc report — {name}"
    html_path = atomic_write_text(inp.path / "report.html", _render_html(title, sections, figures))
    md_path = atomic_write_text(inp.path / "report.md", _render_markdown(title, sections, figures))
    return html_path if fmt == "html" else md_path
