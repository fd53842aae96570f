"""The run report: self-contained HTML and Markdown with the same sections, one colour per
strategy in every figure, regimes never pooled, and findings that follow the verdicts."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import LineCollection

from run_backtest import cli
from simulator import plots
from simulator.config import parse_scenario
from simulator.report import SECTIONS, collapse_warnings, render_report
from simulator.report_findings import group_findings
from simulator.report_inputs import read_results_dir
from simulator.run import run_scenario
from simulator.summary import SUMMARY_COLUMNS, summarize

SCENARIO = {
    "name": "report-test",
    "description": "two regimes, an infeasible size, identical analytical and exact",
    "market": {"source": "synthetic", "regime": ["calm", "markov"], "days": 8, "intervals": 30},
    "model": {"kind": "linear", "training_days": 3},
    "strategies": ["equal", "vwap", "analytical", "exact"],
    "sizes": {"shares": [1000, 2000, 10_000_000]},
    "constraints": {"max_participation": 0.5},
    "evaluation": {"bootstrap_samples": 200, "n_jobs": 1},
    "output": {"figures": False, "report": "html"},
}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    run_scenario(parse_scenario(SCENARIO), out_dir=out, quiet=True)
    render_report(out)
    return out


@pytest.fixture(scope="module")
def inputs(results_dir):
    return read_results_dir(results_dir)


def _headings(text: str, pattern: str) -> list[str]:
    return [m.strip() for m in re.findall(pattern, text, flags=re.M)]


# --------------------------------------------------------------------------- the two reports


def test_html_is_self_contained_with_every_section(results_dir):
    text = (results_dir / "report.html").read_text()
    sources = re.findall(r"""src=['"]([^'"]*)['"]""", text)
    assert len(sources) == 5
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # No reference to a file or a remote resource of any kind.
    assert "figures/" not in text
    assert not re.search(r"""(href|src)=['"](?!data:|#)""", text)
    assert not re.search(r"url\(", text)
    assert _headings(text, r"<h2[^>]*>([^<]+)</h2>") == list(SECTIONS)


def test_markdown_has_the_same_sections_and_its_figures_exist(results_dir):
    md = (results_dir / "report.md").read_text()
    html_text = (results_dir / "report.html").read_text()
    assert _headings(md, r"^## (.+)$") == _headings(html_text, r"<h2[^>]*>([^<]+)</h2>")
    links = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert sorted(links) == sorted(f"figures/{k}.png" for k in plots_keys())
    for link in links:
        assert (results_dir / link).read_bytes()[:4] == b"\x89PNG"


def plots_keys():
    from simulator.report import FIGURES

    return list(FIGURES)


def test_scenario_section_is_the_saved_yaml(results_dir):
    import yaml

    md = (results_dir / "report.md").read_text()
    block = md.split("```yaml\n", 1)[1].split("```", 1)[0]
    saved = json.loads((results_dir / "run.json").read_text())["scenario"]
    assert yaml.safe_load(block) == saved


def _section(text: str, name: str) -> str:
    """The body of section ``name`` in either format."""
    nxt = SECTIONS[SECTIONS.index(name) + 1] if name != SECTIONS[-1] else None
    if text.lstrip().startswith("<!doctype"):
        body = text.split(f">{name}</h2>", 1)[1]
        return body.split(f">{nxt}</h2>", 1)[0] if nxt else body
    body = text.split(f"\n## {name}\n", 1)[1]
    return body.split(f"\n## {nxt}\n", 1)[0] if nxt else body


def test_warnings_and_failures_in_both_formats(results_dir):
    for name in ("report.md", "report.html"):
        text = (results_dir / name).read_text()
        assert "only 5 test days (fewer than 10)" in _section(text, "Warnings"), name
        failures = _section(text, "Failures")
        # The infeasible size failed for every strategy, with the shortfall named.
        assert "10,000,000 sh" in failures and "shortfall" in failures, name
        assert "No failed rows" not in failures


def test_report_command_rerenders_both_files(results_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(results_dir, copy)
    (copy / "report.html").unlink()
    (copy / "report.md").unlink()
    result = CliRunner().invoke(cli, ["report", str(copy)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"report written to {copy / 'report.html'}" in result.output
    assert (copy / "report.md").is_file()


def test_missing_optional_inputs_are_said_not_recorded(results_dir, tmp_path):
    copy = tmp_path / "bare"
    shutil.copytree(results_dir, copy)
    for name in ("allocations.csv", "profile.csv", "sensitivity.csv", "market_profile.csv"):
        (copy / name).unlink()
    shutil.rmtree(copy / "models")
    run = json.loads((copy / "run.json").read_text())
    for key in ("fit_diagnostics", "data_quality"):
        run.pop(key, None)
    (copy / "run.json").write_text(json.dumps(run))
    md = render_report(copy, fmt="markdown").read_text()
    assert _headings(md, r"^## (.+)$") == list(SECTIONS)
    assert "Schedules: not recorded" in md
    assert "Expected volume and spread: not recorded" in md
    assert 'not recorded (run.json has no "data_quality" entry)' in md
    assert "No fitted model was saved" in md


def test_recorded_market_profile_data_quality_and_fit_diagnostics_are_shown(
    results_dir, inputs, tmp_path
):
    copy = tmp_path / "rich"
    shutil.copytree(results_dir, copy)
    n = 30
    profile = pd.concat(
        [
            pd.DataFrame(
                {
                    "regime": regime,
                    "interval": np.arange(n),
                    "expected_volume_shares": 100.0 + 50 * np.cos(np.linspace(0, 2 * np.pi, n)),
                    "mean_spread_usd": 0.02 + 0.001 * np.arange(n),
                }
            )
            for regime in ("calm", "markov")
        ]
    )
    profile.to_csv(copy / "market_profile.csv", index=False)
    run = json.loads((copy / "run.json").read_text())
    run["data_quality"] = {
        "calm": {"repaired_snapshots": 17, "auction_volume_shares": 4321.0},
        "markov": {"repaired_snapshots": 0, "auction_volume_shares": 1234.0},
    }
    run["fit_diagnostics"] = {
        "calm": {"r2_median": 0.4242, "minutes_filled": 3, "delta": [0.4, 0.5, 0.6]},
        "markov": {"r2_median": 0.0101, "minutes_filled": 9, "delta": [0.5, 0.55]},
    }
    (copy / "run.json").write_text(json.dumps(run))
    md = render_report(copy, fmt="markdown").read_text()
    quality = _section(md, "Data quality")
    assert "repaired_snapshots" in quality and "| 17 |" in quality and "4,321" in quality
    fit = _section(md, "Fit diagnostics")
    assert "0.4242" in fit and "0.0101" in fit and "every walk-forward fit" in fit
    assert "Expected volume and spread: not recorded" not in md
    again = read_results_dir(copy)
    fig = plots.plot_cumulative_execution(
        again.allocations,
        colors=plots.strategy_colors(again.strategies),
        market_profile=again.market_profile,
    )
    market = [ax for ax in fig.axes if "market" in str(ax.get_gid())]
    assert {json.loads(ax.get_gid()[6:])["regime"] for ax in market} == {"calm", "markov"}
    assert any(ax.get_ylabel() == "mean spread ($)" for ax in fig.axes)


# --------------------------------------------------------------------------- colours


def test_strategy_colors_are_a_fixed_mapping_of_the_sorted_labels():
    a = plots.strategy_colors(["vwap", "equal", "exact", "oracle", "analytical"])
    b = plots.strategy_colors(["analytical", "exact", "exact", "vwap"])
    assert a == b
    assert a["equal"] == plots.EQUAL_COLOR and a["oracle"] == plots.ORACLE_COLOR
    # Sorted labels take the palette in order.
    assert [a[k] for k in ("analytical", "exact", "vwap")] == ["#1f77b4", "#ff7f0e", "#2ca02c"]
    many = plots.strategy_colors([f"s{i:02d}" for i in range(18)])
    assert len(set(many.values())) == 20  # 18 strategies + equal + oracle, all distinct


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefghij-_", min_size=1, max_size=8), max_size=18),
    st.randoms(use_true_random=False),
)
def test_strategy_colors_depend_only_on_the_set_of_labels(labels, rnd):
    shuffled = labels + labels[: len(labels) // 2]
    rnd.shuffle(shuffled)
    a, b = plots.strategy_colors(labels), plots.strategy_colors(shuffled)
    assert a == b
    others = {k: v for k, v in a.items() if k not in ("equal", "oracle")}
    assert len(set(others.values())) == len(others)  # up to 18 labels: all distinct
    assert plots.EQUAL_COLOR not in others.values() and plots.ORACLE_COLOR not in others.values()


def _figures(inp, colors):
    return {
        "improvement": plots.plot_improvement(
            inp.summary, inp.results, colors=colors, margin_bps=inp.equivalence_bps
        ),
        "cumulative": plots.plot_cumulative_execution(inp.allocations, colors=colors),
        "daily": plots.plot_daily_improvement(
            inp.results, colors=colors, margin_bps=inp.equivalence_bps
        ),
        "predicted": plots.plot_predicted_vs_realized(
            inp.results, colors=colors, summary=inp.summary
        ),
    }


def test_every_figure_draws_each_strategy_in_the_colour_it_is_given(inputs):
    # A deliberately unusual mapping: a figure using any default colour cycle would fail.
    labels = inputs.strategies
    custom = {
        label: f"#{(37 * (i + 1)) % 256:02x}{(91 * (i + 3)) % 256:02x}a0"
        for i, label in enumerate(labels)
    }
    for name, fig in _figures(inputs, custom).items():
        drawn = plots.strategy_artist_colors(fig)
        assert drawn, name
        for label, colours in drawn.items():
            assert colours == {custom[label]}, (name, label, colours)
        expected = set(labels) - ({"equal"} if name in ("improvement", "daily") else set())
        expected -= {"oracle"} if name == "predicted" else set()
        assert set(drawn) == expected, name


def test_the_report_gives_every_figure_the_same_mapping(results_dir, monkeypatch, tmp_path):
    copy = tmp_path / "spy"
    shutil.copytree(results_dir, copy)
    seen = {}
    for name in (
        "plot_improvement",
        "plot_cumulative_execution",
        "plot_daily_improvement",
        "plot_predicted_vs_realized",
    ):
        original = getattr(plots, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            fig = _original(*args, **kwargs)
            seen[_name] = (dict(kwargs["colors"]), plots.strategy_artist_colors(fig))
            return fig

        monkeypatch.setattr(plots, name, spy)
    render_report(copy)
    assert len(seen) == 4
    mappings = [m for m, _ in seen.values()]
    assert all(m == mappings[0] for m in mappings)
    assert mappings[0] == plots.strategy_colors(read_results_dir(copy).strategies)
    for mapping, drawn in seen.values():
        assert all(colours == {mapping[label]} for label, colours in drawn.items())


# --------------------------------------------------------------------------- facets and layout


def test_each_regime_is_shown_separately_in_every_comparing_figure(inputs):
    colors = plots.strategy_colors(inputs.strategies)
    for name, fig in _figures(inputs, colors).items():
        facets = [f for f in plots.figure_facets(fig) if f["strategies"]]
        assert {f["regime"] for f in facets} == {"calm", "markov"}, name
        # Every panel that draws strategies belongs to exactly one regime.
        assert all(isinstance(f["regime"], str) for f in facets), name


def test_daily_panels_hold_only_their_own_regime(inputs):
    colors = plots.strategy_colors(inputs.strategies)
    fig = plots.plot_daily_improvement(
        inputs.results, colors=colors, margin_bps=inputs.equivalence_bps
    )
    res = inputs.results
    for ax in fig.axes:
        key = json.loads(ax.get_gid()[6:])
        if key.get("panel") != "time series":
            continue
        rows = res[
            (res["regime"] == key["regime"])
            & (res["size_spec"] == key["size_spec"])
            & (res["strategy"] == "exact")
            & res["success"]
        ].sort_values("date")
        line = [a for a in ax.get_lines() if a.get_gid() == "strategy:exact"][0]
        np.testing.assert_allclose(line.get_ydata(), rows["improvement_vs_equal_bps"], atol=1e-9)


def test_figures_wrap_at_four_panels_and_stay_readable_with_ten_sizes(inputs):
    res = inputs.results[inputs.results["success"] & (inputs.results["size_spec"] == 1000)]
    many = pd.concat(
        [res.assign(size_spec=1000.0 * (k + 1), size_shares=1000.0 * (k + 1)) for k in range(10)]
    )
    summary = summarize(many, bootstrap_samples=100)
    alloc = inputs.allocations[inputs.allocations["size_spec"] == 1000]
    alloc = pd.concat([alloc.assign(size_spec=1000.0 * (k + 1)) for k in range(10)])
    colors = plots.strategy_colors(inputs.strategies)
    figs = {
        "improvement": plots.plot_improvement(summary, many, colors=colors, margin_bps=0.1),
        "cumulative": plots.plot_cumulative_execution(alloc, colors=colors),
        "daily": plots.plot_daily_improvement(many, colors=colors, margin_bps=0.1),
        "predicted": plots.plot_predicted_vs_realized(many, colors=colors, summary=summary),
        "fit": plots.plot_fit_diagnostics(
            inputs.model_tables, fitted_profile=inputs.fitted_profile
        ),
    }
    for name, fig in figs.items():
        for ax in fig.axes:
            spec = ax.get_subplotspec()
            if spec is not None:
                assert spec.get_gridspec().ncols <= 4, name
        fig.canvas.draw()
        width, height = fig.get_size_inches() * 100
        assert width <= 1800 and height >= 0.25 * width, (name, width, height)
    sizes = {
        f["size_spec"]
        for f in plots.figure_facets(figs["cumulative"])
        if f["size_spec"] is not None and f["regime"] == "calm"
    }
    assert sizes == {1000.0, 6000.0, 10000.0}  # smallest, middle, largest


def test_pick_sizes():
    assert plots.pick_sizes([3, 1, 2]) == [1.0, 2.0, 3.0]
    assert plots.pick_sizes(range(1, 11)) == [1.0, 6.0, 10.0]


def test_nan_intervals_draw_no_error_bar(inputs):
    summary = inputs.summary.copy()
    summary["improvement_ci_low_bps"] = np.nan
    summary["improvement_ci_high_bps"] = np.nan
    fig = plots.plot_improvement(
        summary, inputs.results, colors=plots.strategy_colors(inputs.strategies), margin_bps=0.1
    )
    bars = [c for c in fig.findobj(LineCollection) if str(c.get_gid()).startswith("strategy:")]
    assert bars == []
    # An interval that does not contain its mean (never produced, but never negative bars).
    summary = inputs.summary.copy()
    summary["improvement_ci_low_bps"] = summary["improvement_bps"] + 1.0
    fig = plots.plot_improvement(
        summary, inputs.results, colors=plots.strategy_colors(inputs.strategies), margin_bps=0.1
    )
    for c in fig.findobj(LineCollection):
        if str(c.get_gid()).startswith("strategy:"):
            for seg in c.get_segments():
                assert seg[1][1] >= seg[0][1]


def test_one_test_day_reports_no_interval_with_a_warning(tmp_path):
    data = {
        **SCENARIO,
        "market": {"source": "synthetic", "regime": "u_shape", "days": 4, "intervals": 30},
        "sizes": {"shares": [1000]},
    }
    out = tmp_path / "one"
    run_scenario(parse_scenario(data), out_dir=out, quiet=True)
    md = render_report(out, fmt="markdown").read_text()
    assert "only 1 test day: no interval" in _section(md, "Warnings")
    head = _section(md, "Headline verdicts")
    assert "on 1 paired day, too few for an interval" in head
    assert "better than equal" not in head and "worse than equal" not in head


# --------------------------------------------------------------------------- findings


def _summary(rows: list[dict]) -> pd.DataFrame:
    base = {
        "regime": "calm",
        "size_spec": 0.02,
        "size_unit": "adv_fraction",
        "role": "strategy",
        "days": 30,
        "failed": 0,
        "paired_days": 30,
        "mean_size_shares": 5000.0,
        "mean_realized_bps": 10.0,
        "std_realized_bps": 1.0,
        "mean_predicted_bps": 9.0,
        "bias_bps": 1.0,
        "rmse_bps": 1.2,
        "improvement_bps": 0.0,
        "improvement_ci_low_bps": -0.05,
        "improvement_ci_high_bps": 0.05,
        "improvement_pct": 0.0,
        "verdict": "equivalent",
        "equivalence_established": True,
        "verdict_reason": "interval within the margin",
        "win_share": 0.5,
        "tie_share": 0.0,
        "loss_share": 0.5,
        "identical_to": "",
        "mean_captured_saving": np.nan,
        "warnings": "",
    }
    equal = {**base, "strategy": "equal", "role": "baseline", "verdict_reason": "baseline"}
    frame = pd.DataFrame([equal] + [{**base, **r} for r in rows])
    return frame.reindex(columns=[c for c in SUMMARY_COLUMNS if c in frame.columns])


def _sentences(summary, **kw):
    (group,) = group_findings(summary, margin_bps=0.1, **kw)
    return group.sentences


def test_equivalent_strategy_is_never_called_better_even_with_the_top_mean():
    summary = _summary(
        [
            {
                "strategy": "near-twap",
                "improvement_bps": 0.06,
                "improvement_ci_low_bps": 0.01,
                "improvement_ci_high_bps": 0.11,
                "verdict": "equivalent",
                "equivalence_established": False,
                "verdict_reason": "interval excludes 0 but mean within the margin",
            },
            {
                "strategy": "flat",
                "improvement_bps": 0.001,
                "improvement_ci_low_bps": -0.04,
                "improvement_ci_high_bps": 0.05,
                "verdict": "equivalent",
                "equivalence_established": True,
            },
        ]
    )
    sentences = _sentences(summary)
    text = " ".join(sentences).lower()
    assert "significant" not in text
    assert sentences[0] == "No strategy beat equal at this size."
    (near,) = [s for s in sentences if s.startswith("near-twap:")]
    assert "not distinguishable from equal" in near and "better" not in near
    (flat,) = [s for s in sentences if s.startswith("flat:")]
    assert "equivalent to equal within ±0.1 bps" in flat


def test_identical_strategies_are_named_as_identical_and_ranked_together():
    better = {
        "verdict": "better",
        "equivalence_established": False,
        "improvement_bps": 1.5,
        "improvement_ci_low_bps": 1.2,
        "improvement_ci_high_bps": 1.8,
        "improvement_pct": 12.0,
    }
    summary = _summary(
        [
            {**better, "strategy": "analytical", "identical_to": "exact"},
            {**better, "strategy": "exact", "identical_to": "analytical"},
            {**better, "strategy": "linear-optimal", "improvement_bps": 1.5 - 2e-6},
        ]
    )
    sentences = _sentences(summary)
    assert "analytical and exact gave identical results on every day" in " ".join(sentences)
    best = sentences[0]
    # Tied within the margin: both units named, identical ones as one.
    assert best.startswith("Best, tied") and "analytical = exact" in best
    assert "linear-optimal" in best
    assert sum(s.startswith("analytical = exact:") for s in sentences) == 1
    assert not any(s.startswith("exact:") for s in sentences)


def test_single_best_and_the_oracle_and_equal_are_never_ranked():
    summary = _summary(
        [
            {
                "strategy": "exact",
                "verdict": "better",
                "improvement_bps": 1.5,
                "improvement_ci_low_bps": 1.2,
                "improvement_ci_high_bps": 1.8,
                "equivalence_established": False,
            },
            {
                "strategy": "vwap",
                "verdict": "better",
                "improvement_bps": 0.5,
                "improvement_ci_low_bps": 0.2,
                "improvement_ci_high_bps": 0.8,
                "equivalence_established": False,
            },
            {
                "strategy": "oracle",
                "role": "oracle",
                "verdict": "better",
                "improvement_bps": 5.0,
                "improvement_ci_low_bps": 4.0,
                "improvement_ci_high_bps": 6.0,
                "mean_captured_saving": 1.0,
            },
        ]
    )
    sentences = _sentences(summary)
    assert sentences[0].startswith("Best: exact (1.50 bps") and "oracle" not in sentences[0]
    assert sentences[-1].startswith("Hindsight bound (oracle, not a tradable strategy")


def test_worse_optimiser_shows_its_bias_and_points_to_robust():
    worse = {
        "strategy": "exact",
        "verdict": "worse",
        "equivalence_established": False,
        "verdict_reason": "interval below 0 and mean below minus the margin",
        "improvement_bps": -6.2,
        "improvement_ci_low_bps": -8.2,
        "improvement_ci_high_bps": -4.3,
        "improvement_pct": -35.0,
        "mean_predicted_bps": 16.3,  # equal's is 17.3: the model expected a 1 bps saving
        "mean_realized_bps": 23.5,
        "bias_bps": 7.2,
    }
    summary = _summary([worse]).assign(
        mean_predicted_bps=lambda f: np.where(f["strategy"] == "equal", 17.3, 16.3),
        bias_bps=lambda f: np.where(f["strategy"] == "equal", -0.32, 7.2),
    )
    (line,) = [s for s in _sentences(summary) if s.startswith("exact:")]
    assert "worse than equal" in line
    assert "It believed the minutes it chose were cheap: bias +7.20 bps" in line
    assert "equal's -0.32 bps" in line and "saving of 1.00 bps" in line
    assert "`robust`" in line
    # With robust in the run, its verdict for the same setting is quoted beside.
    robust = {
        "strategy": "shrunk",
        "verdict": "equivalent",
        "equivalence_established": False,
        "verdict_reason": "interval includes 0: not distinguishable from equal",
        "improvement_bps": -0.05,
        "improvement_ci_low_bps": -0.2,
        "improvement_ci_high_bps": 0.1,
    }
    summary = pd.concat([summary, _summary([robust]).iloc[1:]], ignore_index=True)
    (line,) = [s for s in _sentences(summary, robust_labels={"shrunk"}) if s.startswith("exact:")]
    assert "shrunk in the same setting: not distinguishable from equal" in line


def test_worse_without_a_predicted_saving_is_not_blamed_on_the_model():
    summary = _summary(
        [
            {
                "strategy": "vwap",
                "verdict": "worse",
                "equivalence_established": False,
                "improvement_bps": -3.0,
                "improvement_ci_low_bps": -3.4,
                "improvement_ci_high_bps": -2.6,
                "mean_predicted_bps": 12.0,  # the model predicted it dearer than equal
            }
        ]
    ).assign(mean_predicted_bps=lambda f: np.where(f["strategy"] == "equal", 9.0, 12.0))
    (line,) = [s for s in _sentences(summary) if s.startswith("vwap:")]
    assert "Prediction bias +1.00 bps" in line and "believed" not in line


def test_findings_of_the_run_state_model_and_market(results_dir):
    md = (results_dir / "report.md").read_text()
    head = _section(md, "Headline verdicts")
    for regime in ("calm", "markov"):
        assert f"### {regime}" in head
    assert head.count("Numbers produced by: linear model fitted walk-forward") == 2
    assert "transient half-life 0 intervals, permanent impact 0 $/share" in head
    assert "oracle: exact hindsight optimum of this market" in head
    assert "analytical and exact gave identical results on every day" in head


def test_an_oracle_found_by_search_states_its_gap(inputs):
    res = inputs.results.copy()
    res.loc[res["strategy"] == "oracle", "oracle_gap_bps"] = 0.5
    patched = type(inputs)(**{**vars(inputs), "results": res})
    assert "cheapest schedule found for this market" in patched.context("calm")
    assert "0.5 bps above a lower bound" in patched.context("calm")


def test_static_book_oracle_is_reported_not_certified(inputs):
    res = inputs.results.copy()
    oracle = res["strategy"] == "oracle"
    res.loc[oracle, "warnings"] = "static-book oracle: not optimal under transient impact"
    patched = type(inputs)(**{**vars(inputs), "results": res})
    assert patched.oracle_certified("calm") is False
    assert "oracle not certified" in patched.context("calm")
    assert inputs.oracle_certified("calm") is True


def test_collapse_warnings_merges_per_day_numbers():
    texts = [
        "order is 0.719x ADV (> 30% of ADV)",
        "order is 0.717x ADV (> 30% of ADV)",
        "order is 0.737x ADV (> 30% of ADV)",
        "only 5 test days (fewer than 10): interval unreliable",
        "only 5 test days (fewer than 10): interval unreliable",
    ]
    assert collapse_warnings(texts) == [
        "order is 0.717 to 0.737x ADV (> 30% of ADV) [3 distinct values]",
        "only 5 test days (fewer than 10): interval unreliable",
    ]


def test_figures_drawn_on_workers_are_the_files_drawn_here(results_dir, tmp_path):
    # A mapper that runs the figure tasks elsewhere (threads here; the run's workers in a
    # run) must give byte-identical figures and reports.
    from concurrent.futures import ThreadPoolExecutor

    here, there = tmp_path / "here", tmp_path / "there"
    shutil.copytree(results_dir, here)
    shutil.copytree(results_dir, there)
    calls = []

    def mapper(function, items):
        calls.append(len(items))
        with ThreadPoolExecutor(max_workers=3) as pool:
            return list(pool.map(lambda item: function(*item), items))

    render_report(here)
    render_report(there, mapper=mapper)
    assert calls == [len(plots_keys())]
    for name in plots_keys():
        a = (here / "figures" / f"{name}.png").read_bytes()
        assert a == (there / "figures" / f"{name}.png").read_bytes(), name
    assert (here / "report.html").read_text() == (there / "report.html").read_text()


def test_figures_are_not_registered_with_pyplot(inputs):
    # Figures are made without pyplot's global registry: drawing them in threads or workers
    # shares no state, and nothing accumulates in a long-lived process.
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figs = _figures(inputs, plots.strategy_colors(inputs.strategies))
    assert plt.get_fignums() == before
    for fig in figs.values():
        assert fig.canvas.get_renderer() is not None  # each has its own Agg canvas
