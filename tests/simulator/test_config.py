"""Scenario schema: shipped files validate; every kind of mistake is one located error."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from models.errors import InvalidParameterError, TradeallocError
from simulator.config import (
    EvaluationConfig,
    MarketConfig,
    Scenario,
    ScenarioError,
    StrategyConfig,
    derive_message_path,
    load_scenario,
    parse_scenario,
)
from simulator.settings import EvaluationSettings, SizeSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = REPO_ROOT / "scenarios"
# Scenarios that read ../shared/data (replays, or synthetic markets calibrated to real books).
REAL_DATA_SCENARIOS = sorted(
    p for p in SCENARIO_DIR.glob("*.yaml") if "shared/data" in p.read_text()
)
SYNTHETIC_SCENARIOS = sorted(set(SCENARIO_DIR.glob("*.yaml")) - set(REAL_DATA_SCENARIOS))
REPLAY_SCENARIOS = sorted(SCENARIO_DIR.glob("*replay.yaml"))

BASE = {
    "name": "t",
    "market": {"source": "synthetic", "regime": "u_shape", "days": 6, "intervals": 30},
    "model": {"kind": "linear", "training_days": 3},
    "strategies": ["equal", "exact"],
    "sizes": {"shares": [1000, 2000]},
}


def scenario_with(**changes) -> dict:
    """BASE with nested changes: ``market__days=8`` sets data['market']['days']."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        parts = key.split("__")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return data


def write(tmp_path: Path, data, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def error_of(tmp_path: Path, data) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "s.yaml"))
    return info.value


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", SYNTHETIC_SCENARIOS, ids=lambda p: p.name)
def test_shipped_synthetic_scenarios_validate(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.source_path == path.resolve()
    assert scenario.market.source == "synthetic"
    assert scenario.describe().startswith(f"Scenario {path.stem!r}")
    for entry in scenario.strategies:
        assert entry.build().schedule  # every entry builds a Strategy


@pytest.mark.data
@pytest.mark.parametrize("path", REPLAY_SCENARIOS, ids=lambda p: p.name)
def test_shipped_real_data_scenarios_validate(path, shared_data_dir):
    scenario = load_scenario(path)
    assert scenario.market.source in ("databento", "lobster")
    assert scenario.evaluation.mode == "in_sample"
    for file in scenario.market.path + scenario.market.message_path:
        assert file.is_file() and shared_data_dir in file.parents


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
@pytest.mark.parametrize("path", REPLAY_SCENARIOS, ids=lambda p: p.name)
def test_loader_options_load_the_replay_data(path, shared_data_dir):
    from simulator.loaders import load_books

    market = load_scenario(path).market
    books = load_books(market.path, format=market.source, **market.loader_options())
    assert books.n_days == 1 and books.n_intervals == market.intervals
    assert books.symbol == market.symbol


def test_loader_options_per_source(tmp_path):
    cache = tmp_path / "books.parquet"
    cache.write_text("")
    parquet = MarketConfig(source="parquet", path=(cache,))
    assert parquet.loader_options() == {}
    data = {**BASE, "market": {"source": "parquet", "path": "books.parquet", "intervals": 78}}
    assert error_of(tmp_path, data).path == ("market", "intervals")
    data["market"].pop("intervals")
    s = load_scenario(write(tmp_path, data))
    assert parse_scenario(s.to_dict()) == s
    databento = MarketConfig(source="databento", path=(cache,), intervals=78, symbol="X")
    assert databento.loader_options() == {"interval_minutes": 5.0, "symbol": "X"}


def test_shipped_scenario_set_is_complete():
    names = {p.stem for p in SCENARIO_DIR.glob("*.yaml")}
    assert names >= {
        "quickstart",
        "regimes",
        "sensitivity",
        "frog_replay",
        "lobster_replay",
        "custom_strategy",
        "large",
    }


def test_quickstart_contents():
    s = load_scenario(SCENARIO_DIR / "quickstart.yaml")
    assert s.model.kind == "linear"
    assert s.sizes.adv_fraction == (0.02, 0.1)
    assert s.constraints.max_participation == 0.3
    assert [e.label for e in s.strategies][:2] == ["equal", "vwap"]
    assert s.test_day_count == s.market.days - s.model.training_days


def test_regimes_and_sensitivity_contents():
    regimes = load_scenario(SCENARIO_DIR / "regimes.yaml")
    assert regimes.market.regimes == ("calm", "stressed", "event", "markov")
    sens = load_scenario(SCENARIO_DIR / "sensitivity.yaml")
    assert sens.sizes.shares == (50000.0, 75000.0, 100000.0, 150000.0, 200000.0)
    large = load_scenario(SCENARIO_DIR / "large.yaml")
    assert large.test_day_count == 250
    assert len(large.sizes.values) == 10 and len(large.strategies) == 7


# --------------------------------------------------------------------------- round trips


def test_to_dict_is_json_and_round_trips(tmp_path):
    scenario = load_scenario(write(tmp_path, scenario_with(market__regime=["calm", "event"])))
    data = json.loads(json.dumps(scenario.to_dict()))
    again = parse_scenario(data, base_dir=tmp_path / "elsewhere")
    assert again == scenario
    assert again.market.regimes == ("calm", "event")


def test_defaults_and_settings():
    s = parse_scenario(BASE)
    assert s.side == "buy" and s.output.dir == Path("results/t")
    assert s.evaluation == EvaluationConfig()
    settings = s.to_settings()
    assert isinstance(settings, EvaluationSettings)
    assert settings.sizes == SizeSpec(shares=(1000.0, 2000.0))
    assert settings.training_days == 3 and settings.model_options == {"smoothing": 0.0}


def test_replace_validates_and_pickles():
    s = parse_scenario(BASE)
    faster = dataclasses.replace(s, evaluation=dataclasses.replace(s.evaluation, n_jobs=2))
    assert faster.evaluation.n_jobs == 2 and faster.model == s.model
    with pytest.raises(ScenarioError, match=r"evaluation\.n_jobs .*; got 0"):
        dataclasses.replace(s.evaluation, n_jobs=0)
    with pytest.raises(ScenarioError, match=r"evaluation\.scheduler needs backend dask"):
        dataclasses.replace(s.evaluation, scheduler="tcp://h:8786")
    assert pickle.loads(pickle.dumps(s)) == s
    err = ScenarioError(("a", 1, "b"), "must be >= 0", -1.0, source="f.yaml", line=3)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) == "f.yaml:3: a[1].b must be >= 0; got -1.0"


def test_scalar_size_and_integer_valued_float():
    s = parse_scenario(scenario_with(sizes={"adv_fraction": 0.05}, market__days=8.0))
    assert s.sizes.adv_fraction == (0.05,) and s.market.days == 8


# --------------------------------------------------------------------------- errors


def test_bad_yaml_names_file_and_line(tmp_path):
    err = error_of(tmp_path, "name: x\nstrategies: [equal, exact\nsizes: {shares: [1]}\n")
    assert "invalid YAML" in str(err)
    assert str(err).startswith(f"{tmp_path / 's.yaml'}:")
    assert err.line and str(err.line).split(":")[0] in {"2", "3", "4"}


def test_unknown_key_suggests_nearest(tmp_path):
    data = scenario_with()
    data["market"]["regmie"] = "calm"
    err = error_of(tmp_path, data)
    assert err.path == ("market", "regmie")
    assert "did you mean 'regime'?" in str(err)
    assert ":" in str(err).split(" ")[0]  # file:line prefix
    err = error_of(tmp_path, {**BASE, "evaluaton": {"n_jobs": 2}})
    assert "evaluaton is not a valid key (did you mean 'evaluation'?)" in str(err)


def test_wrong_type(tmp_path):
    err = error_of(tmp_path, scenario_with(model__training_days="ten"))
    assert err.path == ("model", "training_days")
    assert str(err).endswith("model.training_days must be an integer; got 'ten'")
    err = error_of(tmp_path, scenario_with(evaluation__oracle="yes please"))
    assert "evaluation.oracle must be true or false; got 'yes please'" in str(err)
    err = error_of(tmp_path, scenario_with(sizes={"shares": ["1e5"]}))
    assert "sizes.shares[0] must be a number" in str(err) and "'1e5'" in str(err)


def test_out_of_range(tmp_path):
    err = error_of(tmp_path, scenario_with(constraints__max_participation=1.5))
    assert err.path == ("constraints", "max_participation")
    assert str(err).endswith("constraints.max_participation must be in (0, 1]; got 1.5")
    err = error_of(tmp_path, scenario_with(simulation__transient_half_life=-2))
    assert "simulation.transient_half_life must be >= 0; got -2.0" in str(err)
    err = error_of(tmp_path, scenario_with(market__days=3))
    assert "market.days must exceed model.training_days (3)" in str(err)


def test_choice_suggests(tmp_path):
    err = error_of(tmp_path, scenario_with(market__regime="stresed"))
    assert "market.regime must be one of" in str(err)
    assert "did you mean 'stressed'?" in str(err) and "got 'stresed'" in str(err)


def test_unknown_strategy(tmp_path):
    err = error_of(tmp_path, scenario_with(strategies=["equal", "exact", "equl-ish"]))
    assert err.path == ("strategies", 2, "name")
    assert "strategies[2].name is not a registered strategy" in str(err)
    assert "got 'equl-ish'" in str(err)


def test_strategy_parameter_errors_name_the_parameter(tmp_path):
    bad = {"name": "examples.custom_strategy:FrontLoaded", "params": {"front_weight": 2.0}}
    err = error_of(tmp_path, scenario_with(strategies=["equal", "exact", bad]))
    assert err.path == ("strategies", 2, "params", "front_weight")
    assert "strategies[2].params.front_weight" in str(err) and "got 2.0" in str(err)
    builtin = {"name": "almgren-chriss", "params": {"risk_aversion": -1.0}}
    err = error_of(tmp_path, scenario_with(strategies=["equal", "exact", builtin]))
    assert str(err).endswith("strategies[2].params.risk_aversion must be finite and >= 0; got -1.0")
    typo = {"name": "examples.custom_strategy:FrontLoaded", "params": {"front_wieght": 0.2}}
    err = error_of(tmp_path, scenario_with(strategies=[typo]))
    assert err.path == ("strategies", 0, "params", "front_wieght")
    assert "did you mean 'front_weight'?" in str(err)


def test_duplicate_labels_and_reserved_labels(tmp_path):
    err = error_of(tmp_path, scenario_with(strategies=["equal", "exact", "exact"]))
    assert err.path == ("strategies", 2, "label")
    err = error_of(tmp_path, scenario_with(strategies=[{"name": "exact", "label": "oracle"}]))
    assert "reserved" in str(err)


@pytest.mark.parametrize(
    ("sizes", "path", "got"),
    [
        ({"shares": [1000, -5]}, ("sizes", "shares", 1), "got -5.0"),
        ({"shares": [float("nan")]}, ("sizes", "shares", 0), "got nan"),
        ({"shares": [1000, 1000]}, ("sizes", "shares"), "got [1000, 1000]"),
        ({"adv_fraction": [0.5, 1.5]}, ("sizes", "adv_fraction", 1), "got 1.5"),
        ({"shares": [1], "adv_fraction": [0.1]}, ("sizes",), "got {"),
        ({}, ("sizes",), "got {}"),
    ],
)
def test_bad_sizes(tmp_path, sizes, path, got):
    err = error_of(tmp_path, scenario_with(sizes=sizes))
    assert err.path == path
    assert got in str(err)


def test_nan_size_from_yaml_text(tmp_path):
    text = yaml.safe_dump(scenario_with(sizes={"shares": [1000]})).replace("1000", ".nan")
    err = error_of(tmp_path, text)
    assert "sizes.shares[0] must be a finite number; got nan" in str(err)


def test_missing_data_file_names_the_path(tmp_path):
    data = {**BASE, "market": {"source": "databento", "path": "data/missing.csv.gz"}}
    data["evaluation"] = {"mode": "in_sample"}
    err = error_of(tmp_path, data)
    assert err.path == ("market", "path")
    assert "data file not found" in str(err)
    assert str(tmp_path / "data" / "missing.csv.gz") in str(err)
    data["market"]["path"] = ["data/*.csv.gz"]
    err = error_of(tmp_path, data)
    assert "market.path[0] glob matches no data file" in str(err)


def test_data_paths_expand_relative_to_the_scenario(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for day in ("02", "01"):
        (data_dir / f"X_2024-01-{day}_34200000_57600000_orderbook_5.csv").write_text("")
        (data_dir / f"X_2024-01-{day}_34200000_57600000_message_5.csv").write_text("")
    (data_dir / "notes.txt").write_text("")
    data = {**BASE, "market": {"source": "lobster", "path": "data"}}
    s = load_scenario(write(tmp_path, data))
    assert [p.name[:12] for p in s.market.path] == ["X_2024-01-01", "X_2024-01-02"]
    assert s.market.message_path == tuple(derive_message_path(p) for p in s.market.path)
    # the market section is rejected where it does not apply to the source
    bad = {**data, "market": {**data["market"], "regime": "calm"}}
    assert error_of(tmp_path, bad).path == ("market", "regime")
    (data_dir / "X_2024-01-02_34200000_57600000_message_5.csv").unlink()
    err = error_of(tmp_path, data)
    assert err.path == ("market", "message_path", 1) and "data file not found" in str(err)


def test_calibrated_regime_needs_a_file(tmp_path):
    err = error_of(tmp_path, scenario_with(market__regime="calibrated"))
    assert str(err).endswith("market.calibrate_from is required by regime 'calibrated'; got None")
    err = error_of(tmp_path, scenario_with(market__calibrate_from="x.parquet"))
    assert err.path == ("market", "calibrate_from")


def test_duplicate_key_and_empty_and_missing_file(tmp_path):
    text = "name: a\nname: b\n"
    err = error_of(tmp_path, text)
    assert err.line == 2 and "name is given twice" in str(err)
    err = error_of(tmp_path, "")
    assert "empty" in str(err)
    with pytest.raises(ScenarioError, match="scenario file not found; got 'nope.yaml'"):
        load_scenario("nope.yaml")


def test_errors_are_user_errors():
    with pytest.raises(ScenarioError) as info:
        parse_scenario(scenario_with(side="hold"))
    assert isinstance(info.value, InvalidParameterError | TradeallocError | ValueError)
    assert str(info.value) == "side must be one of buy, sell; got 'hold'"


def test_model_options_checked_against_fit_impact_model(tmp_path):
    err = error_of(tmp_path, scenario_with(model__options={"hh": "fit"}))
    assert err.path == ("model", "options", "hh") and "did you mean 'h'?" in str(err)
    err = error_of(tmp_path, scenario_with(model__options={"smoothing": 2}))
    assert "model.options.smoothing is set by model.smoothing" in str(err)
    s = parse_scenario(scenario_with(model__options={"h": "half_spread"}, model__smoothing=2))
    assert s.model.fit_options == {"h": "half_spread", "smoothing": 2.0}


def test_market_params_checked_against_marketparams(tmp_path):
    err = error_of(tmp_path, scenario_with(market__params={"depth_touch_share": 5}))
    assert err.path == ("market", "params", "depth_touch_share")
    assert "did you mean 'depth_touch_shares'?" in str(err)
    err = error_of(tmp_path, scenario_with(market__params={"daily_volatility": -1}))
    assert err.path == ("market", "params", "daily_volatility") and "got -1" in str(err)


# --------------------------------------------------------------------------- plugins


def test_file_plugin_is_resolved_against_the_scenario_and_pickles(tmp_path):
    plugin = tmp_path / "plugins" / "mine.py"
    plugin.parent.mkdir()
    plugin.write_text(
        (REPO_ROOT / "examples" / "custom_strategy.py")
        .read_text()
        .replace("class FrontLoaded", "class Mine")
        .replace('__all__ = ["FrontLoaded"]', '__all__ = ["Mine"]')
    )
    entry = {"name": "plugins/mine.py:Mine", "params": {"front_weight": 0.25}}
    s = load_scenario(write(tmp_path, scenario_with(strategies=["equal", entry])))
    cfg = s.strategies[1]
    assert cfg.is_file_plugin and cfg.label == "Mine"
    assert cfg.name == f"{plugin.resolve()}:Mine"
    strategy = cfg.build()
    assert strategy.front_weight == 0.25
    import cloudpickle  # what loky and Dask pickle with (a dependency of dask, a dev extra)

    clone = pickle.loads(cloudpickle.dumps(strategy))
    assert type(clone).__name__ == "Mine" and clone.front_weight == 0.25


def test_module_plugin_builds():
    cfg = StrategyConfig(name="examples.custom_strategy:FrontLoaded", params={"front_weight": 1})
    assert cfg.label == cfg.name
    assert cfg.build().front_weight == 1
    with pytest.raises(ScenarioError, match=r"^name cannot import module 'nowhere_pkg.mod'"):
        StrategyConfig(name="nowhere_pkg.mod:Thing")


def test_market_config_direct():
    m = MarketConfig(regimes="calm")
    assert m.regimes == ("calm",) and m.regime == "calm" and math.isclose(m.interval_minutes, 1)
    with pytest.raises(ScenarioError, match=r"market\.path is required by source parquet"):
        MarketConfig(source="parquet")
    with pytest.raises(ScenarioError, match=r"strategies must list at least one strategy"):
        Scenario(name="x", sizes=SizeSpec(shares=(1.0,)))


# --------------------------------------------------------------------------- issue 11 and 13


def test_strategy_that_cannot_plan_with_the_model_kind_is_rejected(tmp_path):
    err = error_of(tmp_path, scenario_with(model__kind="book", strategies=["equal", "analytical"]))
    assert err.path == ("strategies", 1, "name")
    assert "strategy 'analytical' does not support model.kind 'book'" in str(err)
    assert "(it supports linear, power)" in str(err) and str(err).endswith("got 'analytical'")
    err = error_of(tmp_path, scenario_with(model__kind="power", strategies=["linear-optimal"]))
    assert "'linear-optimal' does not support model.kind 'power'" in str(err)
    book = parse_scenario(scenario_with(model__kind="book", strategies=["equal", "exact"]))
    assert book.model.kind == "book"


def test_shipped_scenarios_pair_strategies_with_supported_kinds():
    from strategies import get_strategy

    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        kind = data.get("model", {}).get("kind", "linear")
        for entry in data["strategies"]:
            name = entry if isinstance(entry, str) else entry["name"]
            if ":" in name:
                continue
            assert kind in get_strategy(name).supported_kinds, (path.name, name, kind)


@pytest.mark.parametrize(
    ("fraction", "adv", "lot", "expected"),
    [
        (0.1, 43169.36, 100, 4300.0),  # 4316.936 -> 43 lots
        (0.1, 43169.36, 0, 4316.936),
        (0.001, 43169.36, 100, 100.0),  # 43 shares rounds to 0 lots: one lot
        (0.5, 1250.0, 250, 750.0),  # 625 = 2.5 lots: halves round up
    ],
)
def test_adv_relative_sizes_are_rounded_to_whole_lots(fraction, adv, lot, expected):
    spec = SizeSpec(adv_fraction=(fraction,))
    assert spec.to_shares(adv, lot_size=lot)[0] == pytest.approx(expected, rel=1e-12)
    settings = EvaluationSettings(sizes=spec, lot_size=lot)
    assert settings.sizes.lot_size == lot
    assert settings.sizes.to_shares(adv)[0] == pytest.approx(expected, rel=1e-12)


@given(
    fraction=st.floats(1e-6, 1.0),
    adv=st.floats(1.0, 1e9),
    lot=st.sampled_from([1.0, 10.0, 100.0, 250.0, 0.5]),
)
def test_whole_lot_rounding_invariant(fraction, adv, lot):
    size = SizeSpec(adv_fraction=(fraction,)).to_shares(adv, lot_size=lot)[0]
    lots = size / lot
    assert lots == pytest.approx(round(lots), abs=1e-9) and round(lots) >= 1
    # the nearest whole number of lots, or one lot when the order is below half a lot
    assert abs(size - fraction * adv) <= lot / 2 + 1e-9 * size or (
        size == lot and fraction * adv < lot / 2
    )


def test_share_sizes_must_be_whole_lots_and_below_the_overflow_limit(tmp_path):
    err = error_of(
        tmp_path, scenario_with(sizes={"shares": [1000, 1050]}, constraints__lot_size=100)
    )
    assert err.path == ("sizes", "shares", 1)
    assert "must be a whole number of lots of 100 shares (constraints.lot_size)" in str(err)
    err = error_of(tmp_path, scenario_with(sizes={"shares": [1e300]}))
    assert str(err).endswith(
        "sizes.shares[0] must be <= 1e+12 shares (larger orders overflow "
        "the cost arithmetic); got 1e+300"
    )
    with pytest.raises(InvalidParameterError, match=r"sizes.shares\[0\] must be <= 1e\+12"):
        SizeSpec(shares=(1e13,))
    with pytest.raises(InvalidParameterError, match="whole number of lots of 100"):
        EvaluationSettings(sizes=SizeSpec(shares=(150.0,)), lot_size=100)


def test_describe_states_lot_rounding_and_new_settings():
    s = parse_scenario(scenario_with(sizes={"adv_fraction": [0.02]}, constraints__lot_size=100))
    text = s.describe()
    assert (
        "0.02 of average daily volume (each rounded to the nearest whole number of lots of "
        "100 shares, at least one lot; the rounded size is the one evaluated)" in text
    )
    assert "equivalence margin 0.1 bps, strategy timeout 60 s" in text


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("equivalence_bps", -0.1, "evaluation.equivalence_bps must be >= 0; got -0.1"),
        ("equivalence_bps", float("nan"), "evaluation.equivalence_bps must be a finite number"),
        ("equivalence_bps", "small", "evaluation.equivalence_bps must be a number; got 'small'"),
        ("strategy_timeout_s", 0, "evaluation.strategy_timeout_s must be > 0; got 0"),
        ("strategy_timeout_s", -5, "evaluation.strategy_timeout_s must be > 0; got -5"),
        ("strategy_timeout_s", True, "evaluation.strategy_timeout_s must be a number; got True"),
    ],
)
def test_new_evaluation_settings_are_validated(tmp_path, key, value, message):
    err = error_of(tmp_path, scenario_with(**{f"evaluation__{key}": value}))
    assert err.path == ("evaluation", key)
    assert message in str(err)


def test_new_evaluation_settings_reach_the_settings():
    s = parse_scenario(
        scenario_with(evaluation__equivalence_bps=0.25, evaluation__strategy_timeout_s=5)
    )
    settings = s.to_settings()
    assert (settings.equivalence_bps, settings.strategy_timeout_s) == (0.25, 5.0)
    assert EvaluationSettings(sizes=SizeSpec(shares=(1.0,))).equivalence_bps == 0.1
    assert EvaluationSettings(sizes=SizeSpec(shares=(1.0,))).strategy_timeout_s == 60.0
    with pytest.raises(
        InvalidParameterError, match=r"strategy_timeout_s must be a finite number > 0; got inf"
    ):
        EvaluationSettings(sizes=SizeSpec(shares=(1.0,)), strategy_timeout_s=float("inf"))
    with pytest.raises(
        InvalidParameterError, match=r"equivalence_bps must be finite and >= 0; got -1"
    ):
        EvaluationSettings(sizes=SizeSpec(shares=(1.0,)), equivalence_bps=-1)
    assert parse_scenario(s.to_dict()) == s
