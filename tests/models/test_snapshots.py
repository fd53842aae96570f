"""BookSnapshots: validation, repair, derived values, walking, Parquet and concat."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import BookSnapshots, DataError, InvalidParameterError, regular_session_starts

BIDS = ([10.00, 9.99, 9.98], [100.0, 200.0, 300.0])
ASKS = ([10.02, 10.03, 10.05], [100.0, 200.0, 50.0])


def book(bids=BIDS, asks=ASKS, days=1, intervals=1, **kw):
    """A (days, intervals, L) book repeating one snapshot."""

    def tile(values):
        return np.tile(np.asarray(values, dtype=float), (days, intervals, 1))

    kw.setdefault("volume", np.zeros((days, intervals)))
    kw.setdefault("dates", np.arange(days) + np.datetime64("2024-01-02"))
    kw.setdefault("interval_starts", regular_session_starts(390 / intervals))
    return dict(
        bid_px=tile(bids[0]), bid_sz=tile(bids[1]), ask_px=tile(asks[0]), ask_sz=tile(asks[1]), **kw
    )


# ---------------------------------------------------------------- validation
def test_valid_book_and_derived_values():
    snaps = BookSnapshots(**book(days=2, intervals=2))
    assert (snaps.n_days, snaps.n_intervals, snaps.n_levels) == (2, 2, 3)
    np.testing.assert_allclose(snaps.mid, 10.01)
    np.testing.assert_allclose(snaps.spread, 0.02)
    np.testing.assert_array_equal(snaps.bid_depth, 600.0)
    np.testing.assert_array_equal(snaps.depth("buy"), 350.0)
    np.testing.assert_array_equal(snaps.depth("sell"), 600.0)
    assert not snaps.repaired.any()
    with pytest.raises(ValueError):
        snaps.bid_px[0, 0, 0] = 1.0  # arrays are read-only


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"bid_sz": np.ones((1, 1, 2))}, InvalidParameterError, r"bid_sz must have the shape"),
        ({"volume": np.zeros((2, 1))}, InvalidParameterError, r"volume must have shape \(1, 1\)"),
        ({"ask_sz": np.array([[[100.0, -1.0, 5.0]]])}, InvalidParameterError, "ask_sz must be"),
        (
            {"bid_px": np.array([[[10.0, 10.01, 9.98]]])},
            InvalidParameterError,
            "bid_px must move away from the touch",
        ),
        ({"ask_px": np.array([[[9.99, 10.03, 10.05]]])}, DataError, "crossed, locked or one"),
        ({"ask_px": np.array([[[10.0, 10.03, 10.05]]])}, DataError, "crossed, locked or one"),
    ],
    ids=["shape", "volume", "negative-size", "non-monotone", "crossed", "locked"],
)
def test_validation_errors(change, error, message):
    with pytest.raises(error, match=message):
        BookSnapshots(**{**book(), **change})


def test_repair_rule_counts_and_sources():
    raw = book(intervals=4)
    raw["ask_px"] = raw["ask_px"].copy()
    raw["ask_px"][0, 0, 0] = 9.99  # crossed first snapshot: filled from the next valid one
    raw["ask_px"][0, 2, 0] = 10.00  # locked: the last valid one is carried forward
    raw["bid_px"] = raw["bid_px"].copy()
    raw["bid_sz"] = raw["bid_sz"].copy()
    raw["ask_px"][0, 1, 0] = 10.01  # distinguishes the source of each repair
    raw["bid_sz"][0, 3] = 0.0  # an empty bid side
    with pytest.raises(DataError, match="interval 0 is crossed"):
        BookSnapshots.from_arrays(**raw, on_invalid="raise")
    snaps = BookSnapshots.from_arrays(**raw)
    assert snaps.repaired[0].tolist() == [True, False, True, True]
    np.testing.assert_allclose(snaps.ask_px[0, :, 0], [10.01, 10.01, 10.01, 10.01])
    assert snaps.summary()["repaired_snapshots"].tolist() == [3]
    raw["ask_px"][0, 1, 0] = 9.0
    with pytest.raises(DataError, match="has no valid snapshot"):
        BookSnapshots.from_arrays(**raw)
    with pytest.raises(InvalidParameterError, match="on_invalid must be"):
        BookSnapshots.from_arrays(**raw, on_invalid="skip")


def test_from_arrays_moves_empty_levels_behind():
    raw = book()
    raw["ask_px"] = np.array([[[10.02, np.nan, 10.05]]])
    raw["ask_sz"] = np.array([[[100.0, 0.0, 50.0]]])
    snaps = BookSnapshots.from_arrays(**raw)
    np.testing.assert_array_equal(snaps.ask_px[0, 0], [10.02, 10.05, np.nan])
    np.testing.assert_array_equal(snaps.ask_sz[0, 0], [100.0, 50.0, 0.0])


# ---------------------------------------------------------------- walking
def test_walk_matches_hand_computed_example():
    snaps = BookSnapshots(**book())
    buy = snaps.walk([0.0, 250.0, 400.0], side="buy", beyond_depth_bps=25.0)
    # 250: 100 @ +0.01 and 150 @ +0.02 from the mid 10.01 -> $4.00.
    # 400: visible 350 cost 1 + 4 + 2 = $7; 50 beyond on the tail from 0.04 with slope
    # 3/2 * (0.04 - 0.01) / 350 (above the floor 25e-4 * 10.01 / 350):
    # 50 * 0.04 + 0.5 * 0.045 / 350 * 50**2 = $2.160714...
    tail = 2.0 + 0.5 * 0.045 / 350 * 50**2
    np.testing.assert_allclose(buy.cost[0, 0], [0.0, 4.0, 7.0 + tail])
    np.testing.assert_allclose(buy.slippage[0, 0], [0.01, 0.016, (7.0 + tail) / 400])
    np.testing.assert_allclose(buy.vwap[0, 0], [10.02, 10.026, 10.01 + (7.0 + tail) / 400])
    assert buy.exhausted[0, 0].tolist() == [False, False, True]
    np.testing.assert_allclose(buy.beyond_shares[0, 0], [0.0, 0.0, 50.0])
    # The floor binds at 100 bps: slope 100e-4 * 10.01 / 350 > 0.045 / 350.
    steep = snaps.walk([400.0], side="buy", beyond_depth_bps=100.0)
    np.testing.assert_allclose(steep.cost[0, 0], [7.0 + 2.0 + 0.5 * 0.1001 / 350 * 50**2])
    sell = snaps.walk(np.array([150.0, 600.0, 700.0]), side="sell", beyond_depth_bps=10.0)
    # 150: 100 @ 0.01 + 50 @ 0.02 -> $2; 600: 1 + 4 + 9 = $14; 700 adds 100 on the tail from
    # 0.03 with slope 3/2 * 0.02 / 600 = 5e-5 (floor 10e-4 * 10.01 / 600 is below):
    # 100 * 0.03 + 0.5 * 5e-5 * 100**2 = $3.25.
    np.testing.assert_allclose(sell.cost[0, 0], [2.0, 14.0, 17.25])
    np.testing.assert_allclose(sell.vwap[0, 0, 0], 10.01 - 2.0 / 150)
    assert sell.exhausted[0, 0].tolist() == [False, False, True]


def test_walk_schedule_per_interval():
    snaps = BookSnapshots(**book(days=2, intervals=3))
    schedule = np.array([[0.0, 100.0, 250.0], [350.0, 50.0, 0.0]])
    result = snaps.walk(schedule[..., None])
    assert result.cost.shape == (2, 3, 1)
    np.testing.assert_allclose(result.cost[..., 0], [[0.0, 1.0, 4.0], [7.0, 0.5, 0.0]])
    with pytest.raises(InvalidParameterError, match="side must be 'buy' or 'sell'"):
        snaps.walk(1.0, side="hold")
    with pytest.raises(InvalidParameterError, match="shares must be finite and >= 0"):
        snaps.walk(-1.0)


@st.composite
def valid_books(draw):
    levels = draw(st.integers(1, 5))
    best_bid = draw(st.integers(100, 20_000)) / 100
    spread = draw(st.integers(1, 20)) / 100
    bid_gaps = np.array(draw(st.lists(st.integers(1, 30), min_size=levels, max_size=levels)))
    ask_gaps = np.array(draw(st.lists(st.integers(1, 30), min_size=levels, max_size=levels)))
    bid_px = best_bid - np.concatenate([[0], np.cumsum(bid_gaps[1:])]) / 100
    ask_px = best_bid + spread + np.concatenate([[0], np.cumsum(ask_gaps[1:])]) / 100
    bid_sz = np.array(draw(st.lists(st.integers(1, 5_000), min_size=levels, max_size=levels)))
    ask_sz = np.array(draw(st.lists(st.integers(1, 5_000), min_size=levels, max_size=levels)))
    keep = bid_px > 0
    bid_px, bid_sz = np.where(keep, bid_px, np.nan), np.where(keep, bid_sz, 0)
    return BookSnapshots(
        **book(bids=(bid_px, bid_sz), asks=(ask_px, ask_sz)),
    )


@settings(max_examples=50, deadline=None)
@given(
    snaps=valid_books(),
    # Sizes below 1e-6 shares are meaningless; subnormal ones underflow in x * offset.
    sizes=st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 50_000)), min_size=1, max_size=8),
    side=st.sampled_from(["buy", "sell"]),
    penalty=st.floats(0, 100),
)
def test_walk_is_monotone_in_size_and_at_least_half_spread(snaps, sizes, side, penalty):
    x = np.sort(np.asarray(sizes))
    result = snaps.walk(x, side=side, beyond_depth_bps=penalty)
    cost, slip = result.cost[0, 0], result.slippage[0, 0]
    tol = 1e-9 * (1 + np.abs(cost))
    assert np.all(np.diff(cost) >= -tol[1:])
    assert np.all(np.diff(slip) >= -1e-9)
    assert np.all(slip >= snaps.spread[0, 0] / 2 - 1e-9)
    assert np.all(result.exhausted[0, 0] == (x > snaps.depth(side)[0, 0]))


# ---------------------------------------------------------------- Parquet and concat
def test_parquet_round_trip_is_lossless(tmp_path):
    raw = book(days=2, intervals=2, volume=np.array([[1.5, 0.0], [7.0, 3.25]]))
    raw["ask_px"] = raw["ask_px"].copy()
    raw["ask_sz"] = raw["ask_sz"].copy()
    raw["ask_px"][1, 1, 2], raw["ask_sz"][1, 1, 2] = np.nan, 0.0
    raw["ask_px"][0, 1, 0] = 9.0  # crossed: repaired and flagged
    snaps = BookSnapshots.from_arrays(**raw, symbol="XYZ", tick_size=0.005)
    path = snaps.to_parquet(tmp_path / "sub" / "books.parquet")
    again = BookSnapshots.from_parquet(path)
    for name in ("bid_px", "bid_sz", "ask_px", "ask_sz", "volume", "repaired"):
        np.testing.assert_array_equal(getattr(again, name), getattr(snaps, name))
    np.testing.assert_array_equal(again.dates, snaps.dates)
    np.testing.assert_array_equal(again.interval_starts, snaps.interval_starts)
    assert (again.symbol, again.tick_size) == ("XYZ", 0.005)
    assert again.repaired[0, 1] and np.isnan(again.ask_px[1, 1, 2])
    with pytest.raises(DataError, match="parquet file not found"):
        BookSnapshots.from_parquet(tmp_path / "missing.parquet")


def test_concat_pads_levels_and_sorts_days():
    late = BookSnapshots(**book(dates=np.array(["2024-01-05"], dtype="datetime64[D]")))
    two = ([10.0, 9.99], [5.0, 6.0]), ([10.02, 10.03], [7.0, 8.0])
    early = BookSnapshots(
        **book(*two, dates=np.array(["2024-01-03"], dtype="datetime64[D]")), symbol="A"
    )
    both = BookSnapshots.concat([late, early])
    assert both.bid_px.shape == (2, 1, 3)
    assert [str(d) for d in both.dates] == ["2024-01-03", "2024-01-05"]
    assert np.isnan(both.bid_px[0, 0, 2]) and both.bid_sz[0, 0, 2] == 0.0
    np.testing.assert_array_equal(both.ask_sz[1, 0], [100.0, 200.0, 50.0])
    assert both.select_days([1]).dates[0] == np.datetime64("2024-01-05")
    with pytest.raises(InvalidParameterError, match="dates must be strictly increasing"):
        BookSnapshots.concat([late, late])
    with pytest.raises(InvalidParameterError, match="needs at least one"):
        BookSnapshots.concat([])


def test_select_days_equals_a_validated_subset():
    snaps = BookSnapshots(
        **book(days=4, intervals=3),
        auction_volume=np.arange(8.0).reshape(4, 2),
        resilience_half_life=[0.1, np.nan, 0.3, 0.4],
    )
    sub = snaps.select_days(slice(1, 3))
    fields = ("bid_px", "bid_sz", "ask_px", "ask_sz", "volume", "dates", "repaired")
    fields += ("auction_volume", "resilience_half_life")
    rebuilt = BookSnapshots(
        **{f: getattr(snaps, f)[1:3] for f in fields},
        interval_starts=snaps.interval_starts,
        symbol=snaps.symbol,
        tick_size=snaps.tick_size,
    )
    for f in fields:
        assert np.array_equal(getattr(sub, f), getattr(rebuilt, f), equal_nan=True)
        assert not getattr(sub, f).flags.writeable
    assert sub.n_days == 2 and snaps.select_days(2).n_days == 1
    with pytest.raises(InvalidParameterError, match="at least one day"):
        snaps.select_days(slice(3, 1))
    with pytest.raises(InvalidParameterError, match="increasing"):
        snaps.select_days([2, 1])


# ---------------------------------------------------------------- auction volume, resilience
def test_auction_and_resilience_default_to_zero_and_nan():
    snaps = BookSnapshots(**book(days=2, intervals=2))
    np.testing.assert_array_equal(snaps.auction_volume, np.zeros((2, 2)))
    assert np.isnan(snaps.resilience_half_life).all() and snaps.resilience_half_life.shape == (2,)
    assert np.isnan(snaps.median_half_life())
    assert not snaps.auction_volume.flags.writeable
    assert not snaps.resilience_half_life.flags.writeable
    summary = snaps.summary()
    assert summary["opening_cross_shares"].tolist() == [0.0, 0.0]
    assert summary["resilience_half_life_intervals"].isna().all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"auction_volume": np.zeros((1, 3))}, r"auction_volume must have shape \(1, 2\)"),
        ({"auction_volume": np.array([[5.0, -1.0]])}, "auction_volume must be finite and >= 0"),
        ({"auction_volume": np.array([[np.nan, 0.0]])}, "auction_volume must be finite"),
        ({"resilience_half_life": np.array([1.0, 2.0])}, r"must have shape \(1,\)"),
        ({"resilience_half_life": np.array([-0.5])}, "must be >= 0 intervals or NaN"),
    ],
)
def test_auction_and_resilience_are_validated(change, message):
    with pytest.raises(InvalidParameterError, match=message):
        BookSnapshots(**book(), **change)


def _with_extras(days=3):
    return BookSnapshots.from_arrays(
        **book(days=days, intervals=2),
        auction_volume=np.arange(2.0 * days).reshape(days, 2) * 100,
        resilience_half_life=np.array([0.25, np.nan, np.inf][:days]),
    )


def test_extras_travel_through_concat_select_days_and_summary():
    snaps = _with_extras()
    np.testing.assert_array_equal(snaps.auction_volume[2], [400.0, 500.0])
    assert snaps.median_half_life() == np.median([0.25]) == 0.25  # inf is not finite
    sub = snaps.select_days([0, 2])
    np.testing.assert_array_equal(sub.auction_volume, [[0.0, 100.0], [400.0, 500.0]])
    np.testing.assert_array_equal(sub.resilience_half_life, [0.25, np.inf])
    later = BookSnapshots(
        **book(dates=np.array(["2024-02-01"], dtype="datetime64[D]"), intervals=2),
        auction_volume=[[7.0, 8.0]],
        resilience_half_life=[0.5],
    )
    both = BookSnapshots.concat([later, snaps])
    np.testing.assert_array_equal(both.auction_volume[-1], [7.0, 8.0])
    np.testing.assert_array_equal(both.resilience_half_life, [0.25, np.nan, np.inf, 0.5])
    assert both.median_half_life() == pytest.approx(0.375)
    summary = both.summary()
    assert summary["closing_cross_shares"].tolist() == [100.0, 300.0, 500.0, 8.0]
    assert summary["volume_shares"].tolist() == [0.0] * 4  # continuous volume only


def test_extras_survive_the_parquet_round_trip_and_old_files_load(tmp_path):
    import json

    import pyarrow.parquet as pq

    snaps = _with_extras()
    path = snaps.to_parquet(tmp_path / "x.parquet")
    again = BookSnapshots.from_parquet(path)
    np.testing.assert_array_equal(again.auction_volume, snaps.auction_volume)
    np.testing.assert_array_equal(again.resilience_half_life, snaps.resilience_half_life)
    # A file written before the fields existed (format /1, no keys) loads with defaults.
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"tradealloc"])
    del meta["auction_volume"], meta["resilience_half_life"]
    meta["format"] = "tradealloc.BookSnapshots/1"
    old = tmp_path / "old.parquet"
    pq.write_table(table.replace_schema_metadata({"tradealloc": json.dumps(meta)}), old)
    legacy = BookSnapshots.from_parquet(old)
    np.testing.assert_array_equal(legacy.bid_px, snaps.bid_px)
    assert not legacy.auction_volume.any() and np.isnan(legacy.resilience_half_life).all()
    meta["format"] = "tradealloc.BookSnapshots/9"
    future = tmp_path / "future.parquet"
    pq.write_table(table.replace_schema_metadata({"tradealloc": json.dumps(meta)}), future)
    with pytest.raises(DataError, match="unknown BookSnapshots format"):
        BookSnapshots.from_parquet(future)
