"""Databento MBP-10 loader: real files pinned, and every fault built as a tiny CSV."""

from __future__ import annotations

import gzip
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError, InvalidParameterError
from simulator.loaders import (
    DataQualityReport,
    DataQualityWarning,
    load_books,
    load_databento_mbp10,
)

FROG = "databento_mbp10/FROG_2025-04-03_mbp10.csv.gz"
AAPL = "databento_mbp10/AAPL_2024-10-21_mbp10_premarket_first5000.csv.gz"
QUIET = pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
SHORT = ("09:30", "09:35")  # five one-minute intervals keep synthetic files tiny
LEVELS = 2


# ---------------------------------------------------------------- synthetic files
def _header(first: str = "ts_recv") -> list[str]:
    cols = [first, "ts_event", "rtype", "publisher_id", "instrument_id", "action", "side"]
    cols += ["depth", "price", "size", "flags", "ts_in_delta", "sequence"]
    for lvl in range(LEVELS):
        cols += [
            f"{name}_{lvl:02d}"
            for name in ("bid_px", "ask_px", "bid_sz", "ask_sz", "bid_ct", "ask_ct")
        ]
    return [*cols, "symbol"]


def _utc(local: str, date: str = "2025-04-03", zulu: bool = False) -> str:
    ts = pd.Timestamp(f"{date} {local}", tz="America/New_York").tz_convert("UTC")
    text = ts.strftime("%Y-%m-%d %H:%M:%S.%f") + "000"
    return text.replace(" ", "T") + "Z" if zulu else text + "+00:00"


def row(local, action="A", size=100, bid=(10.00, 10.01 - 0.02), ask=(10.02, 10.03), **kw):
    """One Databento row as a list of fields; ``bid``/``ask`` are the two level prices.

    Keyword ``fields`` replaces fields by column name (use for garbage); ``bid_sz`` and
    ``ask_sz`` give level sizes (default 100 each; 0 with a blank price = empty level).
    """
    ts = _utc(local, kw.get("date", "2025-04-03"), kw.get("zulu", False))
    fields = [ts, ts, 10, 2, 7, action, "B", 0, 10.0, size, 128, 100, 1]
    bid_sz = kw.get("bid_sz", (100, 100))
    ask_sz = kw.get("ask_sz", (100, 100))
    for lvl in range(LEVELS):
        bp = "" if bid[lvl] is None else round(bid[lvl], 2)
        ap = "" if ask[lvl] is None else round(ask[lvl], 2)
        fields += [bp, ap, bid_sz[lvl], ask_sz[lvl], 1, 1]
    fields.append("TEST")
    for name, value in kw.get("fields", {}).items():
        fields[_header().index(name)] = value
    return fields


def write_mbp(path, rows, first="ts_recv", gz=False):
    text = ",".join(_header(first)) + "\n"
    text += "".join(",".join(str(f) for f in r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def clean_rows():
    """One event per minute of the short session, a trade in minute 2."""
    return [
        row("09:30:00"),
        row("09:30:30"),
        row("09:31:10", action="T", size=40),
        row("09:32:00", bid=(10.01, 10.00), ask=(10.03, 10.04)),
        row("09:33:20"),
        row("09:34:59", action="T", size=7),
    ]


def cross_rows(*extra, date="2025-04-03"):
    """The clean rows of the short session plus ``extra`` rows, sorted by time."""
    rows = [*clean_rows(), *extra]
    for r in rows:
        if date != "2025-04-03":
            r[0] = r[1] = r[0].replace("2025-04-03", date)
    return sorted(rows, key=lambda r: r[0])


def n_trade(local, size, side="N", **kw):
    return row(local, action="T", size=size, fields={"side": side}, **kw)


def load(path, **kw):
    kw.setdefault("session", SHORT)
    return load_databento_mbp10(path, return_report=True, **kw)


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def frog(shared_data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return load_databento_mbp10(shared_data_dir / FROG, return_report=True)


@pytest.fixture(scope="module")
def frog_raw(shared_data_dir):
    raw = pd.read_csv(shared_data_dir / FROG)
    raw["ts"] = pd.to_datetime(raw.iloc[:, 0], utc=True)
    return raw


def _frog_cross(frog_raw):
    """Independent pandas statement of the rule: the first trade at or after 09:30:00 EDT
    (13:30:00 UTC) is the opening cross when its side is N and it lies within 10 s."""
    trades = frog_raw[frog_raw.action == "T"]
    after = trades[trades.ts >= pd.Timestamp("2025-04-03 13:30:00", tz="UTC")]
    first = after.iloc[0]
    assert first.side == "N" and first.ts < pd.Timestamp("2025-04-03 13:30:10", tz="UTC")
    return after.index[0]


def test_frog_shape_and_session_volume(frog, frog_raw):
    books, report = frog
    assert books.bid_px.shape == (1, 390, 10)
    assert books.symbol == "FROG"
    assert str(books.dates[0]) == "2025-04-03"
    # Independent: 09:30-16:00 EDT is 13:30-20:00 UTC on that date.
    session = (frog_raw.ts >= "2025-04-03 13:30:00+00:00") & (
        frog_raw.ts < "2025-04-03 20:00:00+00:00"
    )
    cross = _frog_cross(frog_raw)
    assert frog_raw.loc[cross, "size"] == 42_747
    assert str(frog_raw.loc[cross, "ts"]) == "2025-04-03 13:30:00.976597513+00:00"
    in_session = frog_raw.loc[session & (frog_raw.action == "T"), "size"]
    assert in_session.sum() == 232_833
    continuous = in_session.drop(index=cross)
    assert continuous.sum() == 190_086
    assert books.volume.sum() == continuous.sum() == report.trade_shares
    np.testing.assert_array_equal(books.auction_volume, [[42_747.0, 0.0]])
    assert report.opening_cross_shares == 42_747 and report.opening_crosses == 1
    assert report.closing_crosses == 0 and report.auction_trade_rows == 1
    assert report.notes() == ["opening cross: 42,747 sh excluded from minute 0"]
    assert "opening cross: 42,747 sh excluded from minute 0" in report.summary()
    assert report.rows_read == 33_286
    assert report.trades == len(continuous)
    assert report.malformed_rows == report.unsorted_rows == report.duplicate_rows == 0


def test_frog_per_minute_volume_and_snapshots_match_pandas(frog, frog_raw):
    books, _ = frog
    trades = frog_raw[frog_raw.action == "T"].drop(index=_frog_cross(frog_raw))
    minute = (trades.ts - pd.Timestamp("2025-04-03 13:30", tz="UTC")) // pd.Timedelta("1min")
    per_minute = trades.groupby(minute)["size"].sum().reindex(range(390), fill_value=0)
    np.testing.assert_array_equal(books.volume[0], per_minute.to_numpy())
    # The opening print was 18.4% of the day's trades, all in minute 0; 200 sh remain.
    assert books.volume[0, 0] == 200 < 5_000
    for t in (1, 57, 200, 389):
        start = pd.Timestamp("2025-04-03 13:30", tz="UTC") + pd.Timedelta(minutes=t)
        last = frog_raw[frog_raw.ts <= start].iloc[-1]
        assert books.bid_px[0, t, 0] == last.bid_px_00
        assert books.ask_sz[0, t, 3] == last.ask_sz_03
    assert not books.repaired[0, 1:].any()
    # The file starts at 09:30:00.125: the 09:30:00 snapshot is back-filled and flagged.
    assert books.repaired[0, 0]


def test_frog_without_cross_separation_keeps_the_old_volume(shared_data_dir, frog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        books = load_databento_mbp10(shared_data_dir / FROG, cross_times=None, resilience=False)
    assert books.volume.sum() == 232_833 and not books.auction_volume.any()
    np.testing.assert_array_equal(books.volume[0, 1:], frog[0].volume[0, 1:])
    assert np.isnan(books.resilience_half_life).all()


def test_frog_options_and_warning(shared_data_dir, frog):
    with pytest.warns(DataQualityWarning) as record:
        books = load_databento_mbp10(shared_data_dir / FROG, interval_minutes=5, levels=5)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert books.bid_px.shape == (1, 78, 5)
    assert books.volume.sum() == frog[0].volume.sum()
    with pytest.raises(InvalidParameterError, match="levels must be <= the 10 levels"):
        load_databento_mbp10(shared_data_dir / FROG, levels=11)


def test_aapl_fixture_parses_header_and_has_no_session_rows(shared_data_dir):
    expected = (
        "AAPL_2024-10-21_mbp10_premarket_first5000.csv.gz has no rows in the regular "
        "session 09:30-16:00 America/New_York (rows span 2024-10-21 07:54-09:04)"
    )
    with pytest.raises(DataError) as info:
        load_databento_mbp10(shared_data_dir / AAPL)
    assert str(info.value) == expected
    # Its ts_recv header and ...T...Z timestamps do load over a pre-market window.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        books, report = load_databento_mbp10(
            shared_data_dir / AAPL, session=("08:00", "09:00"), return_report=True
        )
    assert books.bid_px.shape == (1, 60, 10) and books.symbol == "AAPL"
    assert report.rows_read == 5000


@QUIET
def test_multi_day_list_glob_directory(shared_data_dir, tmp_path, frog):
    text = gzip.open(shared_data_dir / FROG, "rt").read()
    for day in ("2025-04-04", "2025-04-07"):
        with gzip.open(tmp_path / f"FROG_{day}_mbp10.csv.gz", "wt", compresslevel=1) as fh:
            fh.write(text.replace("2025-04-03", day))
    later = [tmp_path / "FROG_2025-04-07_mbp10.csv.gz", tmp_path / "FROG_2025-04-04_mbp10.csv.gz"]
    books, report = load_databento_mbp10([*later, shared_data_dir / FROG], return_report=True)
    assert books.bid_px.shape == (3, 390, 10)
    assert [str(d) for d in books.dates] == ["2025-04-03", "2025-04-04", "2025-04-07"]
    np.testing.assert_array_equal(books.volume, np.repeat(frog[0].volume, 3, axis=0))
    assert report.days == 3 and report.rows_read == 3 * 33_286
    for source in (tmp_path, str(tmp_path / "FROG_*_mbp10.csv.gz")):
        assert load_books(source).n_days == 2
    with pytest.raises(DataError, match="date 2025-04-04 appears in both"):
        load_databento_mbp10([later[1], shutil.copy(later[1], tmp_path / "copy.csv.gz")])


# ---------------------------------------------------------------- clean synthetic file
@pytest.mark.parametrize(
    ("first", "zulu", "gz"), [("ts_recv", True, False), ("ts_event", False, True)]
)
def test_clean_synthetic_file_both_header_variants(tmp_path, first, zulu, gz):
    rows = clean_rows()
    for r in rows:
        ts = pd.Timestamp(r[0]).tz_convert("UTC")
        r[0] = r[1] = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if zulu else str(ts)
    path = write_mbp(tmp_path / ("day.csv.gz" if gz else "day.csv"), rows, first=first, gz=gz)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        books, report = load(path)
    assert books.bid_px.shape == (1, 5, 2)
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 0, 7])
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.0])
    np.testing.assert_allclose(books.mid[0, 2], 10.02)
    assert report == DataQualityReport(
        source=path.name, rows_read=6, trades=2, days=1, trade_shares=47
    )


@pytest.mark.parametrize(
    ("date", "offset_hours"), [("2025-01-15", 5), ("2025-04-03", 4), ("2025-11-03", 5)]
)
def test_winter_and_summer_files_use_the_exchange_clock(tmp_path, date, offset_hours):
    # Eastern time is UTC-5 in winter (EST) and UTC-4 in summer (EDT); 2025-11-03 is the
    # Monday after the switch back.  The same local minutes must land in the same intervals.
    rows = [r[:] for r in clean_rows()]
    for r in rows:
        local = pd.Timestamp(r[0]).tz_convert("America/New_York").strftime("%H:%M:%S.%f")
        utc = pd.Timestamp(f"{date} {local}") + pd.Timedelta(hours=offset_hours)
        r[0] = r[1] = utc.strftime("%Y-%m-%d %H:%M:%S.%f") + "000+00:00"
    books, report = load(write_mbp(tmp_path / f"{date}.csv", rows))
    assert str(books.dates[0]) == date
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 0, 7])
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.0])
    assert report.rows_outside_session == 0


# ---------------------------------------------------------------- faults
def test_unsorted_timestamps_are_sorted_and_counted(tmp_path):
    rows = clean_rows()
    rows[3], rows[4] = rows[4], rows[3]
    with pytest.warns(DataQualityWarning, match="1 rows out of time order"):
        books, report = load(write_mbp(tmp_path / "u.csv", rows))
    expected, _ = load(write_mbp(tmp_path / "s.csv", clean_rows()))
    assert report.unsorted_rows == 1
    np.testing.assert_array_equal(books.bid_px, expected.bid_px)


def test_malformed_rows_are_dropped_and_counted(tmp_path):
    rows = clean_rows()
    garbage = row("09:31:30", fields={"bid_px_00": "abc"})
    too_many = [*row("09:31:40"), "extra"]
    too_few = row("09:31:50")[:-3]
    bad_time = row("09:31:55", fields={"ts_recv": "not-a-time"})
    backwards = row("09:31:58", bid=(10.0, 10.5))
    rows[3:3] = [garbage, too_many, too_few, bad_time, backwards]
    with pytest.warns(DataQualityWarning, match="5 malformed rows dropped"):
        books, report = load(write_mbp(tmp_path / "m.csv", rows))
    assert report.malformed_rows == 5 and report.rows_read == 11
    expected, _ = load(write_mbp(tmp_path / "s.csv", clean_rows()))
    np.testing.assert_array_equal(books.bid_px, expected.bid_px)


@pytest.mark.parametrize("ask", [(9.99, 10.03), (10.00, 10.03)], ids=["crossed", "locked"])
def test_crossed_or_locked_snapshot_is_repaired_or_rejected(tmp_path, ask):
    rows = clean_rows()
    rows.insert(4, row("09:32:30", ask=ask))
    path = write_mbp(tmp_path / "x.csv", rows)
    with pytest.warns(DataQualityWarning, match="1 crossed or locked snapshots repaired"):
        books, report = load(path)
    assert report.crossed_or_locked_snapshots == 1
    assert books.repaired[0].tolist() == [False, False, False, True, False]
    np.testing.assert_array_equal(books.ask_px[0, 3], books.ask_px[0, 2])
    with pytest.raises(
        DataError, match=r"x.csv: snapshot at 2025-04-03 09:33 is crossed or locked"
    ):
        load(path, on_invalid="raise")


def test_empty_side_is_repaired_and_counted(tmp_path):
    rows = clean_rows()
    rows.insert(4, row("09:32:30", bid=(None, None), bid_sz=(0, 0)))
    path = write_mbp(tmp_path / "e.csv", rows)
    with pytest.warns(DataQualityWarning, match="1 one-sided snapshots repaired"):
        books, report = load(path)
    assert report.one_sided_snapshots == 1 and books.repaired[0, 3]
    assert books.bid_px[0, 3, 0] == books.bid_px[0, 2, 0] == 10.01
    with pytest.raises(DataError, match="is one-sided"):
        load(path, on_invalid="raise")


def test_blank_deeper_level_is_an_empty_level(tmp_path):
    rows = clean_rows()
    rows[1] = row("09:30:30", ask=(10.02, None), ask_sz=(100, 0))
    books, _ = load(write_mbp(tmp_path / "b.csv", rows))
    assert np.isnan(books.ask_px[0, 1, 1]) and books.ask_sz[0, 1, 1] == 0


def test_intervals_with_no_event_carry_the_book_forward(tmp_path):
    rows = [row("09:29:00"), row("09:31:30", bid=(10.01, 10.0))]
    with pytest.warns(DataQualityWarning, match="4 intervals with no event"):
        books, report = load(write_mbp(tmp_path / "g.csv", rows))
    assert report.empty_intervals == 4
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.01])
    assert not books.repaired.any()


def test_interval_before_first_event_is_backfilled(tmp_path):
    rows = clean_rows()[1:]
    with pytest.warns(DataQualityWarning, match="1 snapshots before the first event"):
        books, report = load(write_mbp(tmp_path / "f.csv", rows))
    assert report.backfilled_snapshots == 1 and report.empty_intervals == 0
    assert books.repaired[0].tolist() == [True, False, False, False, False]


def test_rows_outside_session_are_counted_and_carry_no_volume(tmp_path):
    rows = clean_rows()
    rows.insert(0, row("09:00:00", action="T", size=500, bid=(9.0, 8.9), ask=(9.1, 9.2)))
    rows.append(row("09:35:00", action="T", size=900))
    rows.append(row("16:30:00", action="T", size=900))
    with pytest.warns(DataQualityWarning, match="3 rows outside the session"):
        books, report = load(write_mbp(tmp_path / "o.csv", rows))
    assert report.rows_outside_session == 3
    assert books.volume.sum() == 47 and report.trades == 2


def test_file_with_no_session_rows_is_a_clear_error(tmp_path):
    path = write_mbp(tmp_path / "pre.csv", [row("08:00:00"), row("09:15:00")])
    with pytest.raises(DataError) as info:
        load_databento_mbp10(path)
    assert str(info.value) == (
        "pre.csv has no rows in the regular session 09:30-16:00 America/New_York "
        "(rows span 2025-04-03 08:00-09:15)"
    )


def test_missing_file_bad_header_and_options(tmp_path):
    with pytest.raises(DataError, match="file not found: .*nope.csv"):
        load_databento_mbp10(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="matches no file"):
        load_databento_mbp10(str(tmp_path / "*.csv.gz"))
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_recv,price,size\n2025-04-03 13:30:00+00:00,1,2\n")
    with pytest.raises(DataError, match=r"bad.csv is not a Databento MBP-10 CSV: missing columns"):
        load_databento_mbp10(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv is empty"):
        load_databento_mbp10(empty)
    good = write_mbp(tmp_path / "good.csv", clean_rows())
    with pytest.raises(InvalidParameterError, match="on_invalid must be"):
        load_databento_mbp10(good, on_invalid="ignore")
    with pytest.raises(InvalidParameterError, match="interval_minutes must divide"):
        load_databento_mbp10(good, interval_minutes=7)
    with pytest.raises(InvalidParameterError, match="tz must be an IANA"):
        load_databento_mbp10(good, tz="Mars/Olympus")
    with pytest.raises(InvalidParameterError, match="format must be one of"):
        load_books(good, format="csv")


def test_several_symbols_need_a_choice(tmp_path):
    rows = clean_rows() + [row("09:31:00", fields={"symbol": "OTHER"})]
    path = write_mbp(tmp_path / "two.csv", rows)
    with pytest.raises(DataError, match=r"several symbols \['OTHER', 'TEST'\]; pass symbol="):
        load(path)
    books, report = load(path, symbol="TEST")
    assert books.symbol == "TEST" and report.rows_read == 7


def test_parquet_round_trip_through_load_books(tmp_path):
    rows = cross_rows(n_trade("09:30:00.5", 900))
    books, _ = load(write_mbp(tmp_path / "p.csv", rows))
    books.to_parquet(tmp_path / "p.parquet")
    again, report = load_books(tmp_path / "p.parquet", format="parquet", return_report=True)
    np.testing.assert_array_equal(again.bid_px, books.bid_px)
    np.testing.assert_array_equal(again.auction_volume, [[900.0, 0.0]])
    assert report.days == 1 and report.trade_shares == 47
    assert report.notes() == ["opening cross: 900 sh excluded from minute 0"]
    with pytest.raises(InvalidParameterError, match="parquet sources take no loader options"):
        load_books(tmp_path / "p.parquet", format="parquet", levels=2)


# ---------------------------------------------------------------- auction (cross) prints
def test_opening_cross_print_goes_to_auction_volume(tmp_path):
    rows = cross_rows(n_trade("09:30:00.5", 900), n_trade("09:30:20", 3))
    books, report = load(write_mbp(tmp_path / "open.csv", rows))
    np.testing.assert_array_equal(books.volume[0], [3, 40, 0, 0, 7])
    np.testing.assert_array_equal(books.auction_volume, [[900.0, 0.0]])
    assert report.opening_crosses == 1 and report.opening_cross_shares == 900
    assert report.trades == 3 and report.trade_shares == 50 and report.auction_trade_rows == 1
    assert report.notes() == ["opening cross: 900 sh excluded from minute 0"]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ([n_trade("09:30:00.2", 5, side="B"), n_trade("09:30:00.5", 900)], "continuous first"),
        ([n_trade("09:30:12", 900)], "outside the 10 s window"),
    ],
    ids=["after-a-continuous-trade", "too-late"],
)
def test_side_n_trades_that_are_not_the_cross_stay_in_volume(tmp_path, extra, why):
    books, report = load(write_mbp(tmp_path / "n.csv", cross_rows(*extra)))
    assert books.volume[0, 0] == sum(r[9] for r in extra), why
    assert not books.auction_volume.any() and report.opening_crosses == 0
    assert report.notes() == []


def test_cross_window_and_switching_separation_off(tmp_path):
    path = write_mbp(tmp_path / "w.csv", cross_rows(n_trade("09:30:12", 900)))
    books, _ = load(path, cross_window_s=15)
    assert books.auction_volume[0, 0] == 900 and books.volume[0, 0] == 0
    opening = write_mbp(tmp_path / "o.csv", cross_rows(n_trade("09:30:00.5", 900)))
    books, _ = load(opening, cross_times=None)
    assert books.volume[0, 0] == 900 and not books.auction_volume.any()
    with pytest.raises(InvalidParameterError, match=r"cross_window_s must be in \(0, 3600\]"):
        load(path, cross_window_s=0)
    with pytest.raises(InvalidParameterError, match="cross_times must be None or a pair"):
        load(path, cross_times="09:30")
    with pytest.raises(InvalidParameterError, match="cross closing time must be after"):
        load(path, cross_times=("16:00", "09:30"))


def test_closing_cross_after_the_session_is_kept_apart(tmp_path):
    rows = [
        row("15:55:00"),
        n_trade("15:59:59", 11),
        n_trade("16:00:00.3", 5_000),
        n_trade("16:00:01", 70),  # after-hours: outside the session, not the cross
    ]
    with pytest.warns(DataQualityWarning, match="2 rows outside the session"):
        books, report = load(write_mbp(tmp_path / "close.csv", rows), session=("15:55", "16:00"))
    np.testing.assert_array_equal(books.auction_volume, [[0.0, 5_000.0]])
    assert books.volume.sum() == 11
    assert report.closing_crosses == 1 and report.closing_cross_shares == 5_000
    assert report.notes() == ["closing cross: 5,000 sh kept apart"]


def test_crosses_on_several_days_are_counted_per_day(tmp_path):
    paths = [
        write_mbp(tmp_path / f"{d}.csv", cross_rows(n_trade("09:30:00.5", 100 * k, date=d), date=d))
        for k, d in enumerate(("2025-04-03", "2025-04-04"), start=1)
    ]
    books, report = load(paths)
    np.testing.assert_array_equal(books.auction_volume, [[100.0, 0.0], [200.0, 0.0]])
    assert report.notes() == ["opening cross: 300 sh on 2 days excluded from minute 0"]
    assert books.select_days([1]).auction_volume.tolist() == [[200.0, 0.0]]


# ---------------------------------------------------------------- data that parses but is wrong
@pytest.fixture(scope="module")
def frog_lines(shared_data_dir):
    with gzip.open(shared_data_dir / FROG, "rt") as fh:
        return fh.read().splitlines(keepends=True)


@pytest.mark.parametrize("layout", ["each-row-twice", "file-appended-to-itself"])
def test_exact_duplicate_records_are_dropped_and_counted(tmp_path, frog_lines, frog, layout):
    header, body = frog_lines[0], frog_lines[1:]
    doubled = [x for line in body for x in (line, line)] if layout == "each-row-twice" else body * 2
    path = tmp_path / "FROG_doubled.csv"
    path.write_text(header + "".join(doubled))
    with pytest.warns(DataQualityWarning, match="33286 exact duplicate rows dropped"):
        books, report = load_databento_mbp10(path, return_report=True)
    assert report.duplicate_rows == 33_286 and report.rows_read == 66_572
    assert report.unsorted_rows == 0 and report.malformed_rows == 0
    # ADV stays the day's volume, not twice it: 190,086 continuous + 42,747 auction.
    assert books.volume.sum() == 190_086 and books.auction_volume.sum() == 42_747
    assert books.volume.sum() + books.auction_volume.sum() == 232_833
    for name in ("bid_px", "ask_sz", "volume", "repaired", "resilience_half_life"):
        np.testing.assert_array_equal(getattr(books, name), getattr(frog[0], name))


@pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
def test_records_sharing_time_and_sequence_but_not_content_are_kept(tmp_path):
    rows = clean_rows()
    twin = list(rows[2])  # the trade at 09:31:10 ...
    twin[5] = "C"  # ... and its cancel: same ts_event and sequence, another record
    rows.insert(3, twin)
    exact = list(rows[4])
    rows.insert(5, exact)  # an exact copy of the 09:32 add
    books, report = load(write_mbp(tmp_path / "twins.csv", rows))
    assert report.duplicate_rows == 1 and report.rows_read == 8
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 0, 7])


def _rescaled_frog(shared_data_dir, tmp_path, factor, name):
    raw = pd.read_csv(shared_data_dir / FROG)
    px = [c for c in raw.columns if "_px_" in c] + ["price"]
    raw[px] = (raw[px] * factor).round(4 if factor < 1e6 else 0)
    if factor >= 1e6:
        raw[px] = raw[px].astype("Int64")
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return path


def test_prices_in_cents_are_refused_with_one_line_naming_the_file(shared_data_dir, tmp_path):
    path = _rescaled_frog(shared_data_dir, tmp_path, 100, "FROG_cents.csv")
    with pytest.raises(DataError) as info:
        load_databento_mbp10(path)
    message = str(info.value)
    assert message.startswith("FROG_cents.csv: all ") and "\n" not in message
    assert "prices look like cents, not dollars" in message
    assert "Databento CSV prices must be decimal dollars" in message


def test_fixed_point_prices_are_refused(shared_data_dir, tmp_path):
    path = _rescaled_frog(shared_data_dir, tmp_path, 1e9, "FROG_fixed.csv")
    with pytest.raises(DataError, match=r"FROG_fixed.csv: median book price 3.1\de\+10 is outside"):
        load_databento_mbp10(path)


def test_prices_off_the_tick_grid_are_refused(tmp_path):
    # Dollars / 1000 (e.g. a milli-dollar export read as dollars): 10.001 is off the grid.
    rows = [row(f"09:3{k}:00", fields={"bid_px_00": f"10.00{k}"}) for k in range(1, 5)]
    with pytest.raises(DataError) as info:
        load(write_mbp(tmp_path / "g.csv", rows))
    assert str(info.value) == (
        "g.csv: 80% of 5 distinct book prices are off the tick grid ($0.01 at or above $1, "
        "$0.0001 below; e.g. 10.003); Databento CSV prices must be decimal dollars (export "
        "with pretty_px=True)"
    )
