"""LOBSTER loader: the GOOG and AMZN sample days pinned, and every fault as tiny files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError, InvalidParameterError
from simulator.loaders import DataQualityWarning, load_books, load_lobster, parse_lobster_name

LOBSTER = "lobster_2012-06-21"
GOOG = "GOOG_2012-06-21_34200000_57600000_{}_10.csv.gz"
AMZN = "AMZN_2012-06-21_34200000_57600000_{}_5.csv.gz"
SHORT = ("09:30", "09:35")
DUMMY = 9_999_999_999


# ---------------------------------------------------------------- synthetic files
def event(seconds, kind=1, size=100, asks=((10.02, 100), (10.03, 100)), bids=None):
    """(message fields, order-book fields) of one LOBSTER row; prices in dollars."""
    bids = ((10.00, 100), (9.99, 100)) if bids is None else bids
    message = [seconds, kind, 1, size, 100_000, 1]
    book = []
    for (ap, asz), (bp, bsz) in zip(asks, bids, strict=True):
        book += [
            DUMMY if ap is None else round(ap * 10_000),
            asz,
            -DUMMY if bp is None else round(bp * 10_000),
            bsz,
        ]
    return message, book


def clock(text):
    h, m, s = (float(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


def clean_events():
    return [
        event(clock("09:30:00")),
        event(clock("09:30:30")),
        event(clock("09:31:10"), kind=4, size=40),
        event(clock("09:32:00"), bids=((10.01, 100), (10.00, 100))),
        event(clock("09:33:20"), kind=5, size=3),
        event(clock("09:34:59"), kind=4, size=7),
    ]


def write_lobster(folder, events, date="2012-06-21", symbol="TEST", levels=2, lines=None):
    """Write a message/orderbook pair; ``lines`` = (message lines, book lines) overrides."""
    stem = f"{symbol}_{date}_34200000_57600000_{{}}_{levels}.csv"
    msg_lines = [",".join(str(v) for v in m) for m, _ in events]
    ob_lines = [",".join(str(v) for v in b) for _, b in events]
    if lines is not None:
        msg_lines, ob_lines = lines
    (folder / stem.format("message")).write_text("\n".join(msg_lines) + "\n")
    path = folder / stem.format("orderbook")
    path.write_text("\n".join(ob_lines) + "\n")
    return path


def load(path, message_path=None, **kw):
    kw.setdefault("session", SHORT)
    return load_lobster(path, message_path, return_report=True, **kw)


# ---------------------------------------------------------------- real data
def _expected_volume(folder, name):
    msg = pd.read_csv(folder / name.format("message"), header=None)
    inside = (msg[0] >= 34_200) & (msg[0] < 57_600) & msg[1].isin([4, 5])
    per_minute = msg[inside].groupby(((msg[0] - 34_200) // 60).astype(int))[3].sum()
    return per_minute.reindex(range(390), fill_value=0).to_numpy()


@pytest.mark.parametrize(("name", "levels", "symbol"), [(GOOG, 10, "GOOG"), (AMZN, 5, "AMZN")])
def test_sample_days_shape_volume_and_snapshots(shared_data_dir, name, levels, symbol):
    folder = shared_data_dir / LOBSTER
    with pytest.warns(DataQualityWarning, match="1 snapshots before the first event"):
        books, report = load_lobster(folder / name.format("orderbook"), return_report=True)
    assert books.bid_px.shape == (1, 390, levels)
    assert books.symbol == symbol and str(books.dates[0]) == "2012-06-21"
    np.testing.assert_array_equal(books.volume[0], _expected_volume(folder, name))
    assert report.malformed_rows == report.unsorted_rows == report.rows_outside_session == 0
    ob = pd.read_csv(folder / name.format("orderbook"), header=None)
    times = pd.read_csv(folder / name.format("message"), header=None)[0].to_numpy()
    for t in (1, 100, 389):
        last = np.searchsorted(times, 34_200 + 60 * t, side="right") - 1
        assert books.ask_px[0, t, 0] == ob.iloc[last, 0] / 10_000
        assert books.bid_sz[0, t, levels - 1] == ob.iloc[last, 4 * levels - 1]
    assert report.rows_read == len(ob)


def test_goog_row_count_and_date_from_name(shared_data_dir):
    path = shared_data_dir / LOBSTER / GOOG.format("orderbook")
    meta = parse_lobster_name(path)
    assert meta == {
        "symbol": "GOOG",
        "date": np.datetime64("2012-06-21"),
        "kind": "orderbook",
        "levels": 10,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        books, report = load_books(path, format="lobster", levels=3, return_report=True)
    assert report.rows_read == 147_916 and books.n_levels == 3


def test_two_symbols_on_one_date_are_refused(shared_data_dir):
    folder = shared_data_dir / LOBSTER
    with pytest.raises(DataError, match="date 2012-06-21 appears in both"):
        load_lobster([folder / AMZN.format("orderbook"), folder / GOOG.format("orderbook")])


# ---------------------------------------------------------------- synthetic days
def test_clean_day(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        books, report = load(write_lobster(tmp_path, clean_events()))
    assert books.bid_px.shape == (1, 5, 2) and books.symbol == "TEST"
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 3, 7])
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.0])
    assert report.trades == 3 and report.rows_read == 6


def test_multi_day_directory_glob_and_differing_levels(tmp_path):
    write_lobster(tmp_path, clean_events(), date="2012-06-22")
    three = [
        event(
            m[0],
            m[1],
            m[3],
            asks=((10.02, 100), (10.03, 100), (10.05, 5)),
            bids=((10.0, 100), (9.99, 100), (9.98, 9)),
        )
        for m, _ in clean_events()
    ]
    write_lobster(tmp_path, three, date="2012-06-21", levels=3)
    books, report = load(tmp_path)
    assert books.bid_px.shape == (2, 5, 3)
    assert [str(d) for d in books.dates] == ["2012-06-21", "2012-06-22"]
    assert np.isnan(books.bid_px[1, :, 2]).all() and books.bid_sz[0, 0, 2] == 9
    assert report.days == 2 and report.rows_read == 12
    by_glob, _ = load(str(tmp_path / "TEST_*_orderbook_*.csv"))
    np.testing.assert_array_equal(by_glob.ask_px, books.ask_px)
    with pytest.raises(InvalidParameterError, match="date must be None when loading several"):
        load(tmp_path, date="2012-06-21")
    with pytest.raises(DataError, match="no LOBSTER order-book file for symbol 'XYZ'"):
        load(tmp_path, symbol="XYZ")


def test_date_from_argument_when_name_has_none(tmp_path):
    ob = write_lobster(tmp_path, clean_events())
    ob2 = ob.rename(tmp_path / "book.csv")
    msg2 = (tmp_path / ob.name.replace("_orderbook_", "_message_")).rename(tmp_path / "msg.csv")
    with pytest.raises(InvalidParameterError, match="date must be given"):
        load(ob2, msg2)
    books, _ = load(ob2, msg2, date="2020-01-02", symbol="ZZ")
    assert str(books.dates[0]) == "2020-01-02" and books.symbol == "ZZ"
    with pytest.raises(InvalidParameterError, match="message_path must be given"):
        load(ob2)


def test_dummy_prices_are_empty_levels(tmp_path):
    events = clean_events()
    events[1] = event(clock("09:30:30"), asks=((10.02, 100), (None, 0)))
    books, _ = load(write_lobster(tmp_path, events))
    assert np.isnan(books.ask_px[0, 1, 1]) and books.ask_sz[0, 1, 1] == 0
    assert books.ask_depth[0, 1] == 100


# ---------------------------------------------------------------- faults
def test_unsorted_rows_are_sorted_and_counted(tmp_path):
    events = clean_events()
    events[3], events[4] = events[4], events[3]
    with pytest.warns(DataQualityWarning, match="1 rows out of time order"):
        books, report = load(write_lobster(tmp_path, events))
    assert report.unsorted_rows == 1
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.0])


def test_malformed_lines_drop_their_partner(tmp_path):
    events = clean_events()
    msg = [",".join(str(v) for v in m) for m, _ in events]
    ob = [",".join(str(v) for v in b) for _, b in events]
    ob[3] += ",7"  # a wrong field count: the 09:32 change is lost with its message
    msg[4] = msg[4].replace("100000", "abc")  # a non-numeric price
    with pytest.warns(DataQualityWarning, match="2 malformed rows dropped"):
        books, report = load(write_lobster(tmp_path, events, lines=(msg, ob)))
    assert report.malformed_rows == 2 and report.rows_read == 6
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0] * 5)
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 0, 7])


def test_files_that_do_not_pair_are_an_error(tmp_path):
    events = clean_events()
    msg = [",".join(str(v) for v in m) for m, _ in events]
    ob = [",".join(str(v) for v in b) for _, b in events]
    with pytest.raises(DataError, match="has 5 rows but .* has 6; LOBSTER message"):
        load(write_lobster(tmp_path, events, lines=(msg[:-1], ob)))
    with pytest.raises(DataError, match="rows must have 4 fields per level"):
        load(write_lobster(tmp_path, events, lines=(msg, [line + ",1" for line in ob])))


def test_crossed_and_one_sided_snapshots_are_repaired(tmp_path):
    events = clean_events()
    events.insert(4, event(clock("09:32:30"), asks=((10.01, 100), (10.03, 100)),
                           bids=((10.01, 100), (10.0, 100))))  # fmt: skip
    events.insert(6, event(clock("09:33:30"), bids=((None, 0), (None, 0))))
    with pytest.warns(DataQualityWarning, match="1 crossed or locked .*; 1 one-sided"):
        books, report = load(write_lobster(tmp_path, events))
    assert report.crossed_or_locked_snapshots == 1 and report.one_sided_snapshots == 1
    assert books.repaired[0].tolist() == [False, False, False, True, True]
    assert np.all(books.bid_px[0, 3:, 0] == 10.01)
    with pytest.raises(DataError, match="09:33 is crossed or locked"):
        load(write_lobster(tmp_path, events), on_invalid="raise")


def test_empty_intervals_and_rows_outside_session(tmp_path):
    events = [
        event(clock("09:00:00"), kind=4, size=900),
        event(clock("09:31:30"), kind=4, size=5, bids=((10.01, 100), (10.0, 100))),
        event(clock("09:35:00"), kind=4, size=900),
    ]
    with pytest.warns(DataQualityWarning, match="2 rows outside .*4 intervals with no event"):
        books, report = load(write_lobster(tmp_path, events))
    assert report.rows_outside_session == 2 and report.empty_intervals == 4
    np.testing.assert_allclose(books.bid_px[0, :, 0], [10.0, 10.0, 10.01, 10.01, 10.01])
    np.testing.assert_array_equal(books.volume[0], [0, 5, 0, 0, 0])


def test_no_session_rows_and_missing_files(tmp_path):
    path = write_lobster(tmp_path, [event(clock("08:00:00")), event(clock("09:10:00"))])
    with pytest.raises(DataError) as info:
        load_lobster(path)
    assert str(info.value) == (
        f"{path.name} has no rows in the regular session 09:30-16:00 America/New_York "
        "(rows span 2012-06-21 08:00-09:10)"
    )
    with pytest.raises(DataError, match="file not found"):
        load_lobster(tmp_path / "GOOG_2012-06-21_1_2_orderbook_10.csv")
    (tmp_path / path.name.replace("_orderbook_", "_message_")).unlink()
    with pytest.raises(DataError, match="file not found: .*_message_2.csv"):
        load_lobster(path)
