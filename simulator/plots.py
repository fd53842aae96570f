"""Figures of an evaluation run (matplotlib, Agg backend; one function per figure).

Every function takes tidy frames, pivots them itself and returns a matplotlib ``Figure``
(made without ``pyplot``, so figures can be drawn in worker processes or threads);
:func:`png_bytes` renders it and :func:`save_png` also writes it (the HTML report embeds
the bytes).  The figures follow one set of rules:

* **One colour per strategy** in every figure: :func:`strategy_colors` maps the sorted
  strategy labels of a run to a fixed palette; ``equal`` is always black and ``oracle``
  always grey and dashed.
* **Regimes are never pooled**: every figure that compares strategies has separate panels
  (facets) per regime, and the per-size figures separate panels per order size.
* **At most four panels per row**; a figure with more wraps to further rows.
* **Every line style and marker has a legend entry.**
* **Nothing hides**: lines that coincide (identical schedules, or the same to the eye) are
  drawn with interleaved dashes so every colour shows and are labelled ``(= other)`` or
  ``(~ other)``; points of different strategies are dodged side by side.
* **Every figure says which model and market produced it** (a footer per regime).

Artists that draw a strategy carry the ``gid`` ``"strategy:<label>"`` and every panel
the ``gid`` ``"facet:<json>"`` with its regime (and size); :func:`strategy_artist_colors`
and :func:`figure_facets` read them back, so a test can check what a figure really drew.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.patheffects as patheffects  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.markers import MarkerStyle  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .outputs import atomic_write_bytes  # noqa: E402
from .score import BASELINE, ORACLE  # noqa: E402
from .summary import pick_sizes, size_label  # noqa: E402

__all__ = [
    "EQUAL_COLOR",
    "ORACLE_COLOR",
    "MAX_PANELS_PER_ROW",
    "strategy_colors",
    "strategy_order",
    "strategy_artist_colors",
    "figure_facets",
    "pick_sizes",
    "png_bytes",
    "save_png",
    "plot_improvement",
    "plot_cumulative_execution",
    "plot_daily_improvement",
    "plot_predicted_vs_realized",
    "plot_fit_diagnostics",
]

EQUAL_COLOR = "#000000"
"""Colour of the ``equal`` baseline in every figure."""

ORACLE_COLOR = "#7f7f7f"
"""Colour of the hindsight ``oracle`` in every figure (drawn dashed)."""

MAX_PANELS_PER_ROW = 4
"""Figures wrap to a new row after this many panels."""

# tab10 without its grey (reserved for the oracle), then the light tab20 shades.
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
)
_SIZE_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<")
_DPI = 100
_PANEL_W = 4.2
_PANEL_H = 3.1
_DASH = 5.0  # points per dash of interleaved (coinciding) lines
_IDENTICAL_ATOL = 1e-9


# --------------------------------------------------------------------------- conventions


def strategy_colors(labels: Iterable[str]) -> dict[str, str]:
    """The colour of every strategy label, fixed for a run.

    ``equal`` is :data:`EQUAL_COLOR`, ``oracle`` :data:`ORACLE_COLOR`; the other labels, sorted,
    take the palette in order (tab10 without grey, then the light tab20 shades; repeating
    after 18 labels).  The mapping depends only on the set of labels, so every figure drawn
    from one run's labels uses the same colours.

    Parameters
    ----------
    labels : iterable of str
        Strategy labels of the run (duplicates and order do not matter).

    Returns
    -------
    dict of str to str
        Hex colour per label, ``equal`` and ``oracle`` always included.
    """
    names = sorted({str(label) for label in labels} - {BASELINE, ORACLE})
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}
    colors[BASELINE] = EQUAL_COLOR
    colors[ORACLE] = ORACLE_COLOR
    return colors


def strategy_order(labels: Iterable[str]) -> list[str]:
    """Labels in drawing order: ``equal`` first, the others sorted, ``oracle`` last."""
    labels = set(labels)
    middle = sorted(labels - {BASELINE, ORACLE})
    return [BASELINE] * (BASELINE in labels) + middle + [ORACLE] * (ORACLE in labels)


def _tag(artist, label: str):
    """Mark an artist, or every artist of a list or container, as drawing ``label``."""
    if artist is None:
        return artist
    if isinstance(artist, tuple | list):  # ax.plot's list, an ErrorbarContainer (a tuple)
        for item in artist:
            _tag(item, label)
        return artist
    artist.set_gid(f"strategy:{label}")
    return artist


def _facet(ax, regime, size_spec=None, **extra) -> None:
    key = {"regime": str(regime), "size_spec": None if size_spec is None else float(size_spec)}
    key.update(extra)
    ax.set_gid("facet:" + json.dumps(key, sort_keys=True))


def _artist_colours(artist) -> set[str]:
    from matplotlib.collections import Collection

    out = set()
    if isinstance(artist, Line2D):
        if artist.get_linestyle() not in ("None", "none", "", " "):
            out.add(to_hex(artist.get_color()))
        if artist.get_marker() not in (None, "None", "none", "", " "):
            colours = [artist.get_markeredgecolor()]
            # Unfilled markers (caps '_', 'x') draw no face, whatever their face colour says.
            if MarkerStyle(artist.get_marker()).is_filled() and artist.get_fillstyle() != "none":
                colours.append(artist.get_markerfacecolor())
            for c in colours:
                if not (isinstance(c, str) and c.lower() in ("none", "white", "#ffffff")):
                    out.add(to_hex(c))
    elif isinstance(artist, Collection):
        for arr in (artist.get_facecolor(), artist.get_edgecolor()):
            for rgba in np.atleast_2d(arr):
                if len(rgba) == 4 and rgba[3] > 0:
                    out.add(to_hex(rgba, keep_alpha=False))
    elif isinstance(artist, Patch):
        for rgba in (artist.get_facecolor(), artist.get_edgecolor()):
            if rgba[3] > 0:
                out.add(to_hex(rgba, keep_alpha=False))
    return out


def strategy_artist_colors(fig) -> dict[str, set[str]]:
    """Colours actually drawn for each strategy in ``fig`` (read from tagged artists).

    Returns
    -------
    dict of str to set of str
        Hex colours (alpha dropped; white and transparent fills ignored) per strategy label.
    """
    out: dict[str, set[str]] = {}
    for artist in fig.findobj(
        lambda a: isinstance(a.get_gid(), str) and a.get_gid().startswith("strategy:")
    ):
        label = artist.get_gid().split(":", 1)[1]
        out.setdefault(label, set()).update(_artist_colours(artist))
    return out


def figure_facets(fig) -> list[dict]:
    """The facet key (``regime``, ``size_spec``, ...) of every tagged panel of ``fig``, in
    panel order; panels drawing strategies carry ``"strategies"``: the labels they draw."""
    out = []
    for ax in fig.axes:
        gid = ax.get_gid()
        if isinstance(gid, str) and gid.startswith("facet:"):
            key = json.loads(gid.split(":", 1)[1])
            key["strategies"] = sorted(
                {
                    a.get_gid().split(":", 1)[1]
                    for a in ax.findobj(
                        lambda a: (
                            isinstance(a.get_gid(), str) and a.get_gid().startswith("strategy:")
                        )
                    )
                }
            )
            out.append(key)
    return out


def png_bytes(fig) -> bytes:
    """``fig`` rendered as a PNG (the report's resolution, cropped to its content)."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=_DPI, bbox_inches="tight", format="png")
    return buf.getvalue()


def save_png(fig, path) -> bytes:
    """Write ``fig`` as a PNG to ``path`` (atomically) and return the bytes."""
    data = png_bytes(fig)
    atomic_write_bytes(Path(path), data)
    return data


# --------------------------------------------------------------------------- layout helpers


def _rows(groups: Sequence[int], ncols: int = MAX_PANELS_PER_ROW, w=_PANEL_W, h=_PANEL_H):
    """A figure whose panel groups each start on a new row and wrap at ``ncols``.

    Returns the figure and, per group, its list of axes.
    """
    ncols = max(1, min(ncols, MAX_PANELS_PER_ROW, max(groups, default=1)))
    layout = []  # (row, col) per panel, grouped
    row = 0
    for n in groups:
        cells = []
        for i in range(n):
            cells.append((row + i // ncols, i % ncols))
        layout.append(cells)
        row += max(1, -(-n // ncols))
    nrows = max(row, 1)
    fig = _figure(figsize=(w * ncols, h * nrows + 0.9), layout="constrained")
    grid = fig.add_gridspec(nrows, ncols)
    axes = [[fig.add_subplot(grid[r, c]) for r, c in cells] for cells in layout]
    return fig, axes


def _figure(**options) -> Figure:
    """A figure with its own Agg canvas: no pyplot state, so safe in any process or thread."""
    fig = Figure(**options)
    FigureCanvasAgg(fig)
    return fig


def _placeholder(title: str, text: str):
    fig = _figure(figsize=(6, 2.2))
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def _footer(fig, contexts: Mapping[str, str] | None, regimes: Iterable[str]) -> None:
    """State the model and market of every regime drawn, under the panels."""
    if not contexts:
        return
    width = max(60, int(fig.get_size_inches()[0] * 17))
    regimes = [r for r in regimes if r in contexts]
    texts = {contexts[r] for r in regimes}
    if len(regimes) > 1 and len(texts) == 1:
        entries = [(f"all regimes ({', '.join(regimes)})", texts.pop())]
    else:
        entries = [(r, contexts[r]) for r in regimes]
    lines = []
    for name, text in entries:
        lines += textwrap.wrap(f"{name}: {text}", width, subsequent_indent="    ")
    if lines:
        fig.supxlabel("\n".join(lines), fontsize=7.5, ha="left", x=0.01, color="0.25")


def _fig_legend(fig, handles) -> None:
    """One legend above the panels, wrapped to the figure's width."""
    if not handles:
        return
    from matplotlib.legend_handler import HandlerTuple

    artists = [h[0] if isinstance(h, tuple) else h for h in handles]
    labels = [h[1] if isinstance(h, tuple) else h.get_label() for h in handles]
    # Inches per legend column at fontsize 8: handle, gap and ~0.062 in per character.
    widths = sorted((0.5 + 0.062 * len(text) for text in labels), reverse=True)
    room = fig.get_size_inches()[0]
    ncol = 1
    while ncol < len(widths) and sum(widths[: ncol + 1]) <= room:
        ncol += 1
    side = ncol < 3 and len(labels) > 4  # a narrow figure: legend beside, not above
    fig.legend(
        artists,
        labels,
        loc="outside right upper" if side else "outside upper center",
        ncol=1 if side else ncol,
        fontsize=8,
        frameon=False,
        handler_map={tuple: HandlerTuple(ndivide=1, pad=0)},
    )


def _coincide_groups(curves: Mapping[str, np.ndarray], tol: float) -> dict[str, list[str]]:
    """Group labels whose curves lie within ``tol`` of each other everywhere (NaN = unknown).

    Returns, for every label, its group in drawing order (itself alone if none).
    """
    labels = list(curves)
    group_of: dict[str, list[str]] = {}
    for label in labels:
        if label in group_of:
            continue
        group = [label]
        for other in labels:
            if other == label or other in group_of:
                continue
            a, b = curves[label], curves[other]
            both = ~(np.isnan(a) | np.isnan(b))
            if a.shape == b.shape and both.any() and np.max(np.abs(a[both] - b[both])) <= tol:
                group.append(other)
        for member in group:
            group_of[member] = group
    return group_of


def _interleave_style(label: str, group: list[str]):
    """Line style of ``label`` in a group of coinciding lines: interleaved dashes."""
    k = len(group)
    if k == 1:
        return (0, (6, 3)) if label == ORACLE else "-"
    i = group.index(label)
    return (i * _DASH, (_DASH, (k - 1) * _DASH))


def _coincidence_note(groups: Mapping[str, list[str]], curves, exact_tol: float) -> str:
    """'same line: a = b ~ c' for every group of coinciding curves ('=' identical within
    ``exact_tol``, '~' the same to the eye); '' when none coincide."""
    seen, notes = set(), []
    for group in groups.values():
        if len(group) < 2 or group[0] in seen:
            continue
        seen.update(group)
        text = group[0]
        for other in group[1:]:
            gap = np.nanmax(np.abs(curves[group[0]] - curves[other]), initial=0.0)
            text += (" = " if gap <= exact_tol else " ~ ") + other
        notes.append(text)
    return ("same line: " + "; ".join(notes)) if notes else ""


_COINCIDE_HANDLE_LABEL = "alternating dashes: coinciding lines (see panel titles)"


def _coincide_handle() -> tuple:
    """Legend entry (two-tone alternating dashes) for coinciding lines."""
    pair = (
        Line2D([], [], color="0.1", lw=1.6, ls=(0, (_DASH, _DASH))),
        Line2D([], [], color="0.7", lw=1.6, ls=(_DASH, (_DASH, _DASH))),
    )
    return (pair, _COINCIDE_HANDLE_LABEL)


def _strategy_handles(labels, colors, suffix=None, marker=None) -> list[Line2D]:
    suffix = suffix or {}
    out = []
    for label in labels:
        text = "oracle (hindsight bound)" if label == ORACLE else label + suffix.get(label, "")
        out.append(
            Line2D(
                [],
                [],
                color=colors[label],
                ls=(0, (6, 3)) if label == ORACLE else "-",
                marker=marker,
                ms=3.5,
                lw=1.6,
                label=text,
            )
        )
    return out


def _identity_suffix(summary: pd.DataFrame) -> dict[str, str]:
    """' (= a)' per strategy whose results are identical to another's in every group where
    it appears, ' (= a at some sizes)' when only in some (from ``identical_to``)."""
    out = {}
    if "identical_to" not in summary.columns:
        return out
    for label, grp in summary.groupby("strategy", sort=False):
        sets = [
            frozenset(p.strip() for p in str(cell).split(",") if p.strip())
            if isinstance(cell, str)
            else frozenset()
            for cell in grp["identical_to"]
        ]
        common = frozenset.intersection(*sets) if sets else frozenset()
        some = frozenset().union(*sets) if sets else frozenset()
        if common:
            out[label] = " (= " + ", ".join(sorted(common)) + ")"
        elif some:
            out[label] = " (= " + ", ".join(sorted(some)) + " at some sizes)"
    return out


def _size_text(spec, unit, shares=None) -> str:
    text = size_label(spec, unit)
    if unit == "adv_fraction" and shares is not None and np.isfinite(shares):
        text += f" ({shares:,.0f} sh)"
    return text


# --------------------------------------------------------------------------- figures


def _predicted_improvement(results: pd.DataFrame) -> dict:
    """Mean predicted improvement over equal (bps) per (regime, size_spec, strategy), over
    the days both the strategy and equal succeeded."""
    ok = results[results["success"].astype(bool)]
    keys = ["regime", "size_spec", "day_index"]
    eq = ok.loc[ok["strategy"] == BASELINE, [*keys, "predicted_bps"]].rename(
        columns={"predicted_bps": "equal_predicted_bps"}
    )
    joined = ok.merge(eq, on=keys, how="inner")
    joined["predicted_improvement_bps"] = joined["equal_predicted_bps"] - joined["predicted_bps"]
    means = joined.groupby(["regime", "size_spec", "strategy"])["predicted_improvement_bps"].mean()
    return {(str(r), round(float(s), 12), str(k)): float(v) for (r, s, k), v in means.items()}


_VERDICT_MARKERS = {"better": "^", "worse": "v", "equivalent": "o"}


def plot_improvement(
    summary: pd.DataFrame,
    results: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    margin_bps: float,
    contexts: Mapping[str, str] | None = None,
):
    """Improvement over ``equal`` per order size with its 95% interval, one panel per regime.

    Each strategy is a point (dodged beside the others) at each size: the realised mean
    improvement in bps of arrival notional, its paired block-bootstrap 95% interval as an
    error bar, the marker shape its verdict (up: better, down: worse, circle: equivalent or
    not distinguishable; hollow: no interval), and a cross at the improvement the planning
    model predicted.  The grey band is the practical-equivalence margin +-``margin_bps``.
    The oracle (grey star) is the hindsight bound, not a ranked strategy.

    Parameters
    ----------
    summary : DataFrame
        :func:`simulator.summary.summarize` output.
    results : DataFrame
        Tidy results (for the predicted improvement).
    colors : mapping of str to str
        :func:`strategy_colors` of the run.
    margin_bps : float
        Practical-equivalence margin, bps.
    contexts : mapping of str to str, optional
        Model and market description per regime (figure footer).

    Returns
    -------
    matplotlib.figure.Figure
    """
    sub = summary[(summary["strategy"] != BASELINE) & (summary["days"] > 0)]
    if sub.empty:
        return _placeholder("Improvement over equal", "no successful schedules to show")
    predicted = _predicted_improvement(results)
    suffix = _identity_suffix(summary)
    regimes = sorted(set(sub["regime"].astype(str)))
    labels = strategy_order(sub["strategy"])
    n_sizes = max(sub.groupby("regime")["size_spec"].nunique())
    panel_w = float(np.clip(1.6 + 0.13 * n_sizes * len(labels), 4.4, 16.0))
    if len(regimes) == 1:
        panel_w = max(panel_w, 6.5)
    ncols = max(1, min(MAX_PANELS_PER_ROW, int(17.5 // panel_w), len(regimes)))
    fig, axes = _rows([len(regimes)], ncols=ncols, w=panel_w, h=3.4)
    width = 0.8 / max(1, len(labels))
    for ax, regime in zip(axes[0], regimes, strict=True):
        _facet(ax, regime)
        reg = sub[sub["regime"].astype(str) == regime]
        specs = sorted(reg["size_spec"].unique())
        ax.axhspan(-margin_bps, margin_bps, color="0.88", zorder=0, lw=0)
        ax.axhline(0.0, color="k", lw=0.8, zorder=1)
        for si, spec in enumerate(specs):
            rows = reg[reg["size_spec"] == spec].set_index("strategy")
            for k, label in enumerate(labels):
                if label not in rows.index:
                    continue
                row = rows.loc[label]
                x = si + (k - (len(labels) - 1) / 2.0) * width
                mean = float(row["improvement_bps"])
                lo, hi = float(row["improvement_ci_low_bps"]), float(row["improvement_ci_high_bps"])
                color = colors[label]
                has_ci = np.isfinite(lo) and np.isfinite(hi)
                if has_ci:
                    err = [[max(0.0, mean - lo)], [max(0.0, hi - mean)]]
                    _tag(
                        ax.errorbar(
                            [x], [mean], yerr=err, fmt="none", ecolor=color, capsize=2, lw=1.2
                        ),
                        label,
                    )
                marker = "*" if label == ORACLE else _VERDICT_MARKERS.get(row["verdict"], "s")
                _tag(
                    ax.plot(
                        [x],
                        [mean],
                        marker=marker,
                        ls="none",
                        ms=8 if marker == "*" else 6.5,
                        color=color,
                        mfc=color if has_ci else "white",
                        mec=color,
                        zorder=3,
                    ),
                    label,
                )
                p = predicted.get((regime, round(float(spec), 12), label), np.nan)
                if np.isfinite(p):
                    _tag(
                        ax.plot(
                            [x + 0.4 * width],  # beside the realised point, never on it
                            [p],
                            marker="x",
                            ls="none",
                            ms=5.5,
                            mew=1.6,
                            color=color,
                            zorder=4,
                            # A white halo keeps the cross visible on its own marker.
                            path_effects=[patheffects.withStroke(linewidth=2.4, foreground="w")],
                        ),
                        label,
                    )
        unit = reg["size_unit"].iloc[0]
        shares = reg.groupby("size_spec")["mean_size_shares"].mean()
        ax.set_xticks(
            range(len(specs)),
            [_size_text(s, unit, shares.get(s)).replace(" (", "\n(") for s in specs],
            rotation=30 if len(specs) > 4 else 0,
            ha="right" if len(specs) > 4 else "center",
            fontsize=8,
        )
        ax.set_xlim(-0.6, len(specs) - 0.4)
        ax.set_title(f"{regime}", fontsize=10)
        ax.set_ylabel("improvement over equal (bps)")
        ax.grid(alpha=0.3, axis="y")
    handles = [
        Line2D(
            [],
            [],
            color=colors[lab],
            ls="none",
            marker="*" if lab == ORACLE else "o",
            label="oracle (hindsight bound)" if lab == ORACLE else lab + suffix.get(lab, ""),
        )
        for lab in labels
    ]
    handles += [
        Line2D([], [], marker="^", ls="none", color="k", label="better than equal"),
        Line2D([], [], marker="v", ls="none", color="k", label="worse than equal"),
        Line2D([], [], marker="o", ls="none", color="k", label="equivalent / not distinguishable"),
        Line2D([], [], marker="o", ls="none", color="k", mfc="white", label="no interval"),
        Line2D([], [], marker="|", ls="none", color="k", ms=10, label="95% interval (paired)"),
        Line2D([], [], marker="x", ls="none", color="k", label="predicted by the model"),
        Patch(color="0.88", label=f"equivalence margin ±{margin_bps:g} bps"),
    ]
    _fig_legend(fig, handles)
    _footer(fig, contexts, regimes)
    return fig


def _cumulative(shares: np.ndarray) -> np.ndarray:
    total = float(np.sum(shares))
    cum = np.concatenate([[0.0], np.cumsum(shares)])
    return 100.0 * cum / total if total > 0 else np.full(cum.shape, np.nan)


def plot_cumulative_execution(
    allocations: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    market_profile: pd.DataFrame | None = None,
    fitted_profile: pd.DataFrame | None = None,
    contexts: Mapping[str, str] | None = None,
    max_sizes: int = 3,
    size_unit: str | None = None,
):
    """Share of the order done over the day per strategy, beside the market's profile.

    One row per regime: first the expected volume per minute (% of the day, grey) and the
    mean quoted spread ($, dash-dot) from ``market_profile`` (or, when that was not
    recorded, the fitted marginal cost from ``fitted_profile``), then one panel per order
    size (at most ``max_sizes``, see :func:`pick_sizes`) with every strategy's cumulative
    execution on the representative test day, in % of the order, and the cumulative
    expected volume (a VWAP-like reference) as a thick light-grey line.  A cumulative view
    keeps one large child order from flattening the rest.

    Parameters
    ----------
    allocations : DataFrame
        ``regime, date, size_spec, size_shares, strategy, interval, shares``.
    colors : mapping of str to str
        :func:`strategy_colors` of the run.
    market_profile : DataFrame, optional
        ``regime, interval, expected_volume_shares, mean_spread_usd``.
    fitted_profile : DataFrame, optional
        ``regime, size_shares, interval, marginal_cost_usd`` (``profile.csv``).
    contexts : mapping of str to str, optional
        Model and market description per regime.
    max_sizes : int, default 3
        Most order sizes shown per regime.
    size_unit : {'shares', 'adv_fraction'}, optional
        Unit of ``size_spec`` (``allocations.csv`` does not carry it).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if allocations is None or allocations.empty:
        return _placeholder("Cumulative execution", "no schedules were recorded")
    regimes = sorted(set(allocations["regime"].astype(str)))
    picked = {
        r: pick_sizes(
            allocations.loc[allocations["regime"].astype(str) == r, "size_spec"], max_sizes
        )
        for r in regimes
    }
    fig, axes = _rows([1 + len(picked[r]) for r in regimes], w=4.3, h=3.3)
    drawn: set[str] = set()
    coincide = False
    market_handles: dict[str, object] = {}
    for regime, row_axes in zip(regimes, axes, strict=True):
        reg = allocations[allocations["regime"].astype(str) == regime]
        expected = _market_panel(
            row_axes[0], regime, market_profile, fitted_profile, market_handles
        )
        for ax, spec in zip(row_axes[1:], picked[regime], strict=True):
            _facet(ax, regime, spec)
            cell = reg[reg["size_spec"] == spec]
            curves = {}
            for label in strategy_order(cell["strategy"].unique()):
                s = cell[cell["strategy"] == label].sort_values("interval")
                curves[label] = _cumulative(s["shares"].to_numpy(dtype=float))
            n = max(len(c) for c in curves.values()) - 1
            x = np.arange(n + 1)
            if expected is not None and expected.size == n:
                ref = _cumulative(expected)
                ax.plot(x, ref, color="0.8", lw=4.5, zorder=1, solid_capstyle="butt")
                market_handles.setdefault(
                    "ref",
                    Line2D([], [], color="0.8", lw=4.5, label="expected volume (cumulative)"),
                )
            groups = _coincide_groups(curves, tol=0.4)
            for label, curve in curves.items():
                style = _interleave_style(label, groups[label])
                _tag(
                    ax.plot(
                        x[: curve.size], curve, color=colors[label], lw=1.6, ls=style, zorder=2
                    ),
                    label,
                )
                drawn.add(label)
            note = _coincidence_note(groups, curves, 1e-4)
            coincide = coincide or bool(note)
            unit = (
                size_unit
                if size_unit is not None
                else cell["size_unit"].iloc[0]
                if "size_unit" in cell.columns
                else ("adv_fraction" if spec <= 1 else "shares")
            )
            date = pd.Timestamp(cell["date"].iloc[0]).date() if "date" in cell else ""
            title = f"{regime} · {_size_text(spec, unit, float(cell['size_shares'].iloc[0]))}"
            title += f" · {date}"
            if note:
                title += "\n" + "\n".join(textwrap.wrap(note, 48))
            ax.set_title(title, fontsize=8.5)
            ax.set_xlim(0, n)
            ax.set_ylim(0, 100)
            ax.set_xlabel("minutes after the open")
            ax.set_ylabel("order done (%)")
            ax.grid(alpha=0.3)
    legend = _strategy_handles(strategy_order(drawn), colors)
    legend += [_coincide_handle()] * coincide + list(market_handles.values())
    _fig_legend(fig, legend)
    _footer(fig, contexts, regimes)
    return fig


def _market_panel(ax, regime, market_profile, fitted_profile, handles):
    """Expected volume and spread of ``regime`` (or the fitted cost); returns the expected
    volume per interval or None."""
    _facet(ax, regime, None, panel="market")
    mp = None
    if market_profile is not None and not market_profile.empty:
        mp = market_profile[market_profile["regime"].astype(str) == regime].sort_values("interval")
    if mp is not None and len(mp):
        vol = mp["expected_volume_shares"].to_numpy(dtype=float)
        share = 100.0 * vol / np.nansum(vol) if np.nansum(vol) > 0 else vol
        x = mp["interval"].to_numpy()
        ax.fill_between(x, share, step="mid", color="0.7", lw=0)
        ax.set_ylabel("expected volume (% of day)")
        ax.set_xlabel("minutes after the open")
        handles.setdefault("vol", Patch(color="0.7", label="expected volume per minute"))
        if "mean_spread_usd" in mp and mp["mean_spread_usd"].notna().any():
            ax2 = ax.twinx()
            ax2.plot(x, mp["mean_spread_usd"], color="k", lw=1.0, ls="-.")
            ax2.set_ylabel("mean spread ($)")
            handles.setdefault(
                "spread", Line2D([], [], color="k", lw=1.0, ls="-.", label="mean spread ($)")
            )
        ax.set_title(f"{regime} · market profile", fontsize=9)
        ax.set_xlim(x.min(), x.max())
        ax.grid(alpha=0.3)
        return vol
    if fitted_profile is not None and not fitted_profile.empty:
        fp = fitted_profile[fitted_profile["regime"].astype(str) == regime]
        styles = ("-", "--", ":")
        for i, (size, grp) in enumerate(fp.groupby("size_shares")):
            ls = styles[i % len(styles)]
            ax.plot(grp["interval"], grp["marginal_cost_usd"], color="k", lw=1.0, ls=ls)
            handles.setdefault(
                f"fit{ls}",
                Line2D(
                    [],
                    [],
                    color="k",
                    lw=1.0,
                    ls=ls,
                    label=f"fitted marginal cost, {size:,.0f} sh TWAP",
                ),
            )
        _log_y(ax)
        ax.set_ylabel("fitted marginal cost ($/share)")
        ax.set_xlabel("minutes after the open")
        ax.set_title(f"{regime} · fitted cost\n(volume and spread not recorded)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        return None
    ax.text(0.5, 0.5, "market profile\nnot recorded", ha="center", va="center")
    ax.set_axis_off()
    return None


def _daily_frame(results: pd.DataFrame) -> pd.DataFrame:
    ok = results[results["success"].astype(bool) & (results["strategy"] != BASELINE)].copy()
    d = ok["improvement_vs_equal_bps"].astype(float)
    ok["d"] = d.where(d.abs() > _IDENTICAL_ATOL, 0.0).where(d.notna())
    ok["date"] = pd.to_datetime(ok["date"])
    return ok


def plot_daily_improvement(
    results: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    margin_bps: float,
    contexts: Mapping[str, str] | None = None,
    max_sizes: int = 3,
):
    """Improvement over ``equal`` on each test day, as a time series and a distribution.

    For each (regime, order size) - at most ``max_sizes`` sizes per regime - a time series
    of the daily improvement (bps of arrival notional; positive = cheaper than equal) per
    strategy, and beside it the distribution over days (box: quartiles and median,
    whiskers 1.5 IQR, dots the days).  Two (regime, size) pairs per row.  The grey band is
    the equivalence margin; the oracle (grey, dashed) is the hindsight bound.

    Returns
    -------
    matplotlib.figure.Figure
    """
    daily = _daily_frame(results)
    if daily.empty or daily["d"].notna().sum() == 0:
        return _placeholder("Per-day improvement over equal", "no paired days to show")
    regimes = sorted(set(daily["regime"].astype(str)))
    facets = [
        (r, s)
        for r in regimes
        for s in pick_sizes(daily.loc[daily["regime"].astype(str) == r, "size_spec"], max_sizes)
    ]
    per_row = 2
    nrows = -(-len(facets) // per_row)
    ncols = 2 * min(per_row, len(facets))
    fig = _figure(figsize=(4.3 * ncols * 0.85, 3.3 * nrows + 0.9), layout="constrained")
    grid = fig.add_gridspec(nrows, ncols, width_ratios=[2.2, 1.2] * (ncols // 2))
    drawn: set[str] = set()
    coincide = False
    for f, (regime, spec) in enumerate(facets):
        r, c = divmod(f, per_row)
        ax = fig.add_subplot(grid[r, 2 * c])
        box = fig.add_subplot(grid[r, 2 * c + 1], sharey=ax)
        _facet(ax, regime, spec, panel="time series")
        _facet(box, regime, spec, panel="distribution")
        cell = daily[(daily["regime"].astype(str) == regime) & (daily["size_spec"] == spec)]
        dates = np.sort(cell["date"].unique())
        series = {}
        for label in strategy_order(cell["strategy"].unique()):
            s = cell[cell["strategy"] == label].set_index("date")["d"]
            series[label] = s.reindex(dates).to_numpy(dtype=float)
        finite = np.concatenate([v[np.isfinite(v)] for v in series.values()] or [np.zeros(1)])
        span = float(np.ptp(finite)) if finite.size else 0.0
        groups = _coincide_groups(series, tol=max(_IDENTICAL_ATOL, 0.01 * span))
        for band_ax in (ax, box):
            band_ax.axhspan(-margin_bps, margin_bps, color="0.88", zorder=0, lw=0)
            band_ax.axhline(0.0, color="k", lw=0.8, zorder=1)
        for label, values in series.items():
            group = groups[label]
            k, i = len(group), group.index(label)
            style = _interleave_style(label, group)
            _tag(
                ax.plot(
                    dates,
                    values,
                    color=colors[label],
                    ls=style,
                    lw=1.4,
                    marker="o",
                    ms=3.5,
                    markevery=slice(i, None, k),
                    zorder=2,
                ),
                label,
            )
            drawn.add(label)
        note = _coincidence_note(groups, series, _IDENTICAL_ATOL)
        coincide = coincide or bool(note)
        labels = [lab for lab in series if np.isfinite(series[lab]).any()]
        data = [series[lab][np.isfinite(series[lab])] for lab in labels]
        if data:
            parts = box.boxplot(
                data, positions=range(len(labels)), widths=0.6, patch_artist=True, showfliers=False
            )
            for j, lab in enumerate(labels):
                parts["boxes"][j].set(facecolor=colors[lab], alpha=0.35, edgecolor=colors[lab])
                _tag(parts["boxes"][j], lab)
                parts["medians"][j].set(color=colors[lab], lw=2)
                _tag(parts["medians"][j], lab)
                for w in parts["whiskers"][2 * j : 2 * j + 2] + parts["caps"][2 * j : 2 * j + 2]:
                    w.set(color=colors[lab])
                    _tag(w, lab)
                jitter = (np.arange(data[j].size) % 5 - 2) * 0.05
                _tag(box.scatter(j + jitter, data[j], s=9, color=colors[lab], zorder=3), lab)
            box.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=7.5)
        box.tick_params(labelleft=False)
        box.set_title("distribution over days", fontsize=8.5)
        box.grid(alpha=0.3, axis="y")
        unit = cell["size_unit"].iloc[0]
        shares = float(cell["size_shares"].mean())
        n_days = len(dates)
        days_text = f"{n_days} test day" + "s" * (n_days != 1)
        title = f"{regime} · {_size_text(spec, unit, shares)} · {days_text}"
        if note:
            title += "\n" + "\n".join(textwrap.wrap(note, 70))
        ax.set_title(title, fontsize=8.5)
        ax.set_ylabel("improvement over equal (bps)")
        if len(dates) > 1:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        else:
            ax.set_xticks(dates, [str(pd.Timestamp(d).date()) for d in dates])
        ax.grid(alpha=0.3)
    legend = _strategy_handles(strategy_order(drawn), colors, marker="o")
    legend += [_coincide_handle()] * coincide
    legend.append(Patch(color="0.88", label=f"equivalence margin ±{margin_bps:g} bps"))
    _fig_legend(fig, legend)
    _footer(fig, contexts, regimes)
    return fig


def _identical_in_regime(summary: pd.DataFrame | None, regime: str, labels) -> list[list[str]]:
    """Labels merged into groups identical at every size of ``regime`` (``identical_to``)."""
    groups, seen = [], set()
    sub = None
    if summary is not None and "identical_to" in summary.columns:
        sub = summary[summary["regime"].astype(str) == regime]
    for label in labels:
        if label in seen:
            continue
        group = [label]
        if sub is not None:
            mine = sub[sub["strategy"] == label]
            sets = [
                {p.strip() for p in str(c).split(",") if p.strip()} if isinstance(c, str) else set()
                for c in mine["identical_to"]
            ]
            common = set.intersection(*sets) if sets else set()
            group += [o for o in labels if o in common and o not in seen and o != label]
        seen.update(group)
        groups.append(group)
    return groups


_HALVES = ("left", "right", "top", "bottom")


def plot_predicted_vs_realized(
    results: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    summary: pd.DataFrame | None = None,
    contexts: Mapping[str, str] | None = None,
):
    """Predicted versus realised impact (bps), one panel per (regime, strategy).

    Each point is one test day at one order size (marker shape = size); the dashed line is
    ``realised = predicted``: points above it cost more than the model said.  Panels of one
    regime share their axes; each title gives the prediction bias (mean realised minus
    predicted) per size.  Regimes start on a new row.  Strategies identical at every size of
    a regime (``summary.identical_to``) share one panel, each drawing half of every marker
    in its own colour.  The oracle is left out: it is planned on the test day's own books,
    so the planning model's prediction says nothing about it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ok = results[results["success"].astype(bool) & (results["strategy"] != ORACLE)]
    if ok.empty:
        return _placeholder("Predicted versus realised", "no successful schedules to show")
    regimes = sorted(set(ok["regime"].astype(str)))
    panels = {
        r: _identical_in_regime(
            summary, r, strategy_order(ok.loc[ok["regime"].astype(str) == r, "strategy"].unique())
        )
        for r in regimes
    }
    specs = sorted(ok["size_spec"].unique())
    marker = {s: _SIZE_MARKERS[i % len(_SIZE_MARKERS)] for i, s in enumerate(specs)}
    unit = ok["size_unit"].iloc[0]
    fig, axes = _rows([len(panels[r]) for r in regimes], w=3.7, h=3.5)
    for regime, row_axes in zip(regimes, axes, strict=True):
        reg = ok[ok["regime"].astype(str) == regime]
        vals = reg[["predicted_bps", "realized_bps"]].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        lo, hi = lo - pad, hi + pad
        for ax, group in zip(row_axes, panels[regime], strict=True):
            _facet(ax, regime, None, strategy=" = ".join(group))
            ax.plot([lo, hi], [lo, hi], color="k", ls="--", lw=0.8, zorder=1)
            biases = []
            for k, label in enumerate(group):
                mine = reg[reg["strategy"] == label]
                for spec, grp in mine.groupby("size_spec"):
                    _tag(
                        ax.plot(
                            grp["predicted_bps"],
                            grp["realized_bps"],
                            ls="none",
                            marker=marker[spec],
                            ms=6,
                            color=colors[label],
                            mew=0 if len(group) > 1 else 1,
                            alpha=0.85,
                            fillstyle=_HALVES[k % 4] if len(group) > 1 else "full",
                            markerfacecoloralt="none",
                            zorder=2,
                        ),
                        label,
                    )
                    if k == 0:
                        err = grp["realized_bps"] - grp["predicted_bps"]
                        biases.append((spec, float(err.mean())))
            if len(biases) <= 3:
                bias_text = ", ".join(f"{size_label(s, unit)} {b:+.2f}" for s, b in biases)
            else:
                values = [b for _, b in biases]
                bias_text = f"{min(values):+.2f} to {max(values):+.2f} over {len(values)} sizes"
            lines = [f"{regime} · {' = '.join(group)}"]
            lines += textwrap.wrap(f"bias (bps): {bias_text}", 44)
            ax.set_title("\n".join(lines), fontsize=8.5)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel("predicted impact (bps)", fontsize=8)
            ax.set_ylabel("realised impact (bps)", fontsize=8)
            ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], marker=marker[s], ls="none", color="0.3", label=size_label(s, unit))
        for s in specs
    ] + [Line2D([], [], color="k", ls="--", lw=0.8, label="realised = predicted")]
    if any(len(g) > 1 for groups in panels.values() for g in groups):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="none",
                color="0.2",
                fillstyle="left",
                mew=0,
                markerfacecoloralt="0.75",
                label="half markers: identical strategies, one colour each",
            )
        )
    _fig_legend(fig, handles)
    _footer(fig, contexts, regimes)
    return fig


_PARAM_PREFERENCE = ("beta", "alpha", "half_spread", "h", "visible_depth", "delta")


def _shown_parameters(table: pd.DataFrame, slots: int) -> list[str]:
    """The per-minute parameters worth a histogram (varying, numeric), preferred first."""
    names = [
        n
        for n in _PARAM_PREFERENCE
        if n in table.columns
        and pd.api.types.is_numeric_dtype(table[n])
        and np.nanstd(table[n].to_numpy(dtype=float)) > 0
    ]
    return names[:slots]


def plot_fit_diagnostics(
    tables: Mapping[str, pd.DataFrame],
    *,
    fitted_profile: pd.DataFrame | None = None,
    fit_diagnostics: Mapping[str, Mapping] | None = None,
    contexts: Mapping[str, str] | None = None,
):
    """The fitted impact model of each regime: cost profile, fit quality, parameters.

    One row per regime, at most four panels: the fitted marginal cost over the day at the
    TWAP child size of the smallest and largest order ($/share, log scale); the per-minute
    R^2 of the representative day's fit with the minutes whose fit failed and were filled
    from neighbours (red crosses) - for a book model, which has no R^2, its half spread
    and visible depth over the day; and the distributions over minutes of the per-minute
    parameters (log scale when they span two decades).  When the run recorded the fitted
    exponents of every walk-forward fit (``fit_diagnostics[regime]['delta']``), their
    distribution takes the last panel.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Per regime, the representative day's model as one row per interval: parameters and
        diagnostics (:meth:`models.BaseImpact.summary`).
    fitted_profile : DataFrame, optional
        ``profile.csv``.
    fit_diagnostics : mapping, optional
        ``run.json["fit_diagnostics"]``.
    contexts : mapping of str to str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    regimes = sorted(tables) or (
        sorted(set(fitted_profile["regime"].astype(str)))
        if fitted_profile is not None and not fitted_profile.empty
        else []
    )
    if not regimes:
        return _placeholder("Fit diagnostics", "no fitted model was recorded")
    fit_diagnostics = fit_diagnostics or {}
    plans = []
    for regime in regimes:
        table = tables.get(regime, pd.DataFrame())
        extra = (fit_diagnostics.get(regime) or {}).get("delta")
        extra = np.asarray(extra, dtype=float) if isinstance(extra, list) and extra else None
        shown = _shown_parameters(table, 2 - (extra is not None))
        plans.append((regime, table, shown, extra))
    fig, axes = _rows([2 + len(p[2]) + (p[3] is not None) for p in plans], w=4.0, h=3.0)
    for (regime, table, shown, extra), row_axes in zip(plans, axes, strict=True):
        ax = row_axes[0]
        _facet(ax, regime, None, panel="cost profile")
        fp = None
        if fitted_profile is not None and not fitted_profile.empty:
            fp = fitted_profile[fitted_profile["regime"].astype(str) == regime]
        if fp is not None and len(fp):
            for i, (size, grp) in enumerate(fp.groupby("size_shares")):
                ax.plot(
                    grp["interval"],
                    grp["marginal_cost_usd"],
                    color="k",
                    lw=1.0,
                    ls=("-", "--", ":")[i % 3],
                    label=f"{size:,.0f} sh TWAP",
                )
            _log_y(ax)
            ax.legend(fontsize=7)
        else:
            _no_data(ax, "cost profile not recorded")
        ax.set_title(f"{regime} · fitted marginal cost ($/share)", fontsize=9)
        ax.set_xlabel("minutes after the open")
        ax.grid(alpha=0.3, which="both")
        _quality_panel(row_axes[1], regime, table)
        for ax, name in zip(row_axes[2:], shown, strict=False):
            _facet(ax, regime, None, panel=f"param {name}")
            _histogram(ax, table[name].to_numpy(dtype=float), f"{regime} · {name} over minutes")
            ax.set_xlabel(f"{name} ({_PARAM_UNITS.get(name, 'as fitted')})")
        if extra is not None:
            ax = row_axes[-1]
            _facet(ax, regime, None, panel="delta over fits")
            _histogram(ax, extra, f"{regime} · delta over {extra.size} fits")
            ax.set_xlabel("delta (exponent)")
    _footer(fig, contexts, regimes)
    return fig


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def _quality_panel(ax, regime: str, table: pd.DataFrame) -> None:
    """R^2 per minute with the filled minutes; the book's spread and depth without R^2."""
    _facet(ax, regime, None, panel="fit quality")
    x = np.arange(len(table))
    filled = table["filled"].fillna(False).astype(bool).to_numpy() if "filled" in table else None
    if "r2" in table and table["r2"].notna().any():
        r2 = table["r2"].to_numpy(dtype=float)
        ax.plot(x, r2, color="k", lw=0.8, label=f"R² per minute (median {np.nanmedian(r2):.2f})")
        if filled is not None and filled.any():
            ax.plot(
                x[filled],
                np.zeros(int(filled.sum())),
                "x",
                color="#d62728",
                ms=6,
                label=f"{int(filled.sum())} minute(s) filled",
            )
        ax.set_ylim(min(0.0, float(np.nanmin(r2))) - 0.05, 1.0)
        ax.set_ylabel("R²")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"{regime} · fit quality (representative day)", fontsize=9)
    elif "half_spread" in table:
        ax.plot(x, table["half_spread"], color="k", lw=0.8)
        ax.set_ylabel("half spread ($/share)")
        handles = [Line2D([], [], color="k", lw=0.8, label="half spread ($/share)")]
        if "visible_depth" in table:
            ax2 = ax.twinx()
            ax2.plot(x, table["visible_depth"], color="0.55", lw=0.8)
            ax2.set_ylabel("visible depth (shares)")
            handles.append(Line2D([], [], color="0.55", lw=0.8, label="visible depth (shares)"))
        ax.legend(handles=handles, fontsize=7, loc="upper right")
        ax.set_title(f"{regime} · typical book (no R² for a book model)", fontsize=9)
    else:
        _no_data(ax, "fit quality not recorded")
        ax.set_title(f"{regime} · fit quality", fontsize=9)
    ax.set_xlabel("minutes after the open")
    ax.grid(alpha=0.3)


def _log_y(ax) -> None:
    """Log scale with plain-number tick labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=7)


_PARAM_UNITS = {
    "beta": "$/share per share",
    "h": "$/share",
    "alpha": "$/share^(1+delta)",
    "delta": "exponent",
    "half_spread": "$/share",
    "visible_depth": "shares",
}


def _histogram(ax, values: np.ndarray, title: str) -> None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
    elif np.all(v > 0) and v.max() / v.min() > 100:
        ax.hist(v, bins=np.geomspace(v.min(), v.max(), 30), color="0.45")
        ax.set_xscale("log")
    else:
        ax.hist(v, bins=30, color="0.45")
    if v.size:
        ax.axvline(
            float(np.median(v)), color="k", ls="--", lw=1, label=f"median {np.median(v):.3g}"
        )
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("count")
    ax.grid(alpha=0.3)
