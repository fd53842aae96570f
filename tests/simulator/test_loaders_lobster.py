"""LOBSTER loader: the GOOG and AMZN sample days pinned, and every fault as tiny files."""

from __future__ import annotations

import gzip
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


# ---------------------------------------------------------------- auction (cross) prints
def cross(seconds, order_id, size):
    """A type-6 cross trade: LOBSTER's pseudo order id -1 opening, -2 closing, else other."""
    message, book = event(seconds, kind=6, size=size)
    message[2] = order_id
    return message, book


def test_cross_trades_are_auction_prints_and_their_executions_are_left_out(tmp_path):
    events = clean_events()
    open_t, other_t = clock("09:30:00.4"), clock("09:32:10")
    events[1:1] = [
        event(open_t, kind=4, size=300),  # executions that make up the opening cross
        event(open_t, kind=5, size=200),
        cross(open_t, -1, 500),
    ]
    events.insert(6, cross(other_t, -3, 70))  # a halt cross: left out of volume
    events.append(cross(clock("09:34:59.5"), -2, 900))  # the closing print (short session)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        books, report = load(write_lobster(tmp_path, sorted(events, key=lambda e: e[0][0])))
    np.testing.assert_array_equal(books.volume[0], [0, 40, 0, 3, 7])
    np.testing.assert_array_equal(books.auction_volume, [[500.0, 900.0]])
    assert report.opening_cross_shares == 500 and report.closing_cross_shares == 900
    assert report.other_cross_shares == 70 and report.auction_trade_rows == 5
    assert report.trades == 3 and report.trade_shares == 50
    assert report.notes() == [
        "opening cross: 500 sh excluded from minute 0",
        "closing cross: 900 sh kept apart",
        "other crosses (halt/IPO): 70 sh excluded from volume",
    ]


def test_real_sample_days_have_no_cross_prints(shared_data_dir):
    folder = shared_data_dir / LOBSTER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        for name in (GOOG, AMZN):
            books, report = load_lobster(folder / name.format("orderbook"), return_report=True)
            # LOBSTER starts writing at 09:30:00.000; these days' crosses fell before it.
            assert not books.auction_volume.any() and report.auction_trade_rows == 0
            assert report.notes() == []


# ---------------------------------------------------------------- data that parses but is wrong
@pytest.fixture(scope="module")
def goog_head(shared_data_dir):
    """The first 20,000 lines of the GOOG message and order-book files."""
    folder = shared_data_dir / LOBSTER
    out = []
    for kind in ("message", "orderbook"):
        with gzip.open(folder / GOOG.format(kind), "rt") as fh:
            out.append([next(fh) for _ in range(20_000)])
    return out


def write_pair(folder, message_lines, orderbook_lines, name="GOOG"):
    stem = f"{name}_2012-06-21_34200000_57600000_{{}}_10.csv"
    (folder / stem.format("message")).write_text("".join(message_lines))
    path = folder / stem.format("orderbook")
    path.write_text("".join(orderbook_lines))
    return path


@pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
def test_aligned_real_files_pass_and_shifted_ones_are_refused(tmp_path, goog_head):
    msg, ob = goog_head
    books = load_lobster(write_pair(tmp_path, msg, ob), session=("09:30", "10:00"))
    assert books.n_days == 1
    # The order-book file loses its first line and repeats its last: row k is book k + 1.
    shifted = write_pair(tmp_path, msg, [*ob[1:], ob[-1]])
    with pytest.raises(DataError) as info:
        load_lobster(shifted, session=("09:30", "10:00"))
    message = str(info.value)
    assert message.startswith(
        "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv does not match "
        "GOOG_2012-06-21_34200000_57600000_message_10.csv row by row: only "
    )
    assert message.endswith(
        "(expected >= 99%); the order-book rows look shifted by one row (100.0% agree when "
        "paired one row earlier)"
    )
    assert "\n" not in message
    later = write_pair(tmp_path, msg, [ob[0], *ob[:-1]])
    with pytest.raises(
        DataError, match=r"shifted by one row \(100.0% agree when paired one row later\)"
    ):
        load_lobster(later, session=("09:30", "10:00"))


@pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")
def test_prices_not_scaled_by_10000_are_refused(tmp_path, goog_head):
    msg, ob = goog_head
    rows = np.array([[float(v) for v in line.split(",")] for line in ob])
    prices = rows[:, 0::2]  # ask_px, bid_px columns alternate with sizes
    rows[:, 0::2] = np.where(np.abs(prices) >= DUMMY, prices, prices / 10_000)
    text = [",".join(f"{v:.10g}" for v in r) + "\n" for r in rows]
    msg_rows = [line.split(",") for line in msg]
    msg_text = [",".join([*f[:4], f"{float(f[4]) / 10_000:.10g}", f[5]]) for f in msg_rows]
    path = write_pair(tmp_path, msg_text, text)
    with pytest.raises(DataError) as info:
        load_lobster(path)
    assert str(info.value).startswith("GOOG_2012-06-21_34200000_57600000_orderbook_10.csv: ")
    assert "distinct book prices are off the tick grid" in str(info.value)
    assert str(info.value).endswith("LOBSTER prices must be dollars x 10,000 (integers)")
