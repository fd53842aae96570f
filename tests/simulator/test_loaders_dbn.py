"""DBN input: a DBN file encoded in the test from the FROG CSV loads to identical snapshots."""

from __future__ import annotations

import datetime as dt
import os
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError
from simulator.loaders import (
    DataQualityWarning,
    estimate_resilience,
    load_books,
    load_databento_mbp10,
)

try:
    import databento  # noqa: F401
    import databento_dbn as dbn
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(
        "databento is not installed (pip install -e '.[databento]'); DBN input is untested",
        allow_module_level=True,
    )

pytestmark = pytest.mark.filterwarnings("ignore::simulator.loaders.DataQualityWarning")

FROG = "databento_mbp10/FROG_2025-04-03_mbp10.csv.gz"
SNAPSHOT_FIELDS = (
    "bid_px",
    "bid_sz",
    "ask_px",
    "ask_sz",
    "volume",
    "dates",
    "interval_starts",
    "repaired",
    "auction_volume",
    "resilience_half_life",
)


def _fixed(prices: np.ndarray) -> np.ndarray:
    """Decimal dollars -> DBN fixed-point int64 (1e-9 dollars); NaN -> UNDEF_PRICE."""
    return np.where(np.isnan(prices), dbn.UNDEF_PRICE, np.round(np.nan_to_num(prices) * 1e9))


def encode_mbp10(raw: pd.DataFrame, path, *, symbol="FROG", zstd=False, schema=None):
    """Write the rows of a Databento MBP-10 CSV as a DBN file with databento-dbn.

    ``ts_recv`` is the CSV's first column (the event time the CSV loader orders by).
    """
    ts = pd.to_datetime(raw.iloc[:, 0], utc=True).astype("int64").to_numpy()
    ts_event = pd.to_datetime(raw["ts_event"], utc=True).astype("int64").to_numpy()
    levels = sum(c.startswith("bid_px_") for c in raw.columns)
    book = {
        f"{name}_{lvl:02d}": raw[f"{name}_{lvl:02d}"].to_numpy()
        for lvl in range(levels)
        for name in ("bid_px", "ask_px", "bid_sz", "ask_sz", "bid_ct", "ask_ct")
    }
    px = {k: _fixed(v.astype(float)).astype(np.int64) for k, v in book.items() if "_px_" in k}
    price = _fixed(raw["price"].to_numpy(float)).astype(np.int64)
    day = pd.Timestamp(ts[0], tz="UTC").date()
    instrument = int(raw["instrument_id"].iloc[0])
    metadata = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=int(ts[0]),
        end=int(ts[-1]) + 1,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema or dbn.Schema.MBP_10,
        symbols=[symbol],
        mappings=[
            SimpleNamespace(
                raw_symbol=symbol,
                intervals=[
                    SimpleNamespace(
                        start_date=day, end_date=day + dt.timedelta(days=1), symbol=str(instrument)
                    )
                ],
            )
        ],
    )
    chunks = [metadata.encode()]
    cols = {c: raw[c].to_numpy() for c in ("action", "side", "depth", "size", "flags")}
    cols |= {c: raw[c].to_numpy() for c in ("ts_in_delta", "sequence", "publisher_id")}
    for i in range(len(raw)):  # building the fixture record by record, as a user would
        pairs = [
            dbn.BidAskPair(
                bid_px=int(px[f"bid_px_{lvl:02d}"][i]),
                ask_px=int(px[f"ask_px_{lvl:02d}"][i]),
                bid_sz=int(book[f"bid_sz_{lvl:02d}"][i]),
                ask_sz=int(book[f"ask_sz_{lvl:02d}"][i]),
                bid_ct=int(book[f"bid_ct_{lvl:02d}"][i]),
                ask_ct=int(book[f"ask_ct_{lvl:02d}"][i]),
            )
            for lvl in range(levels)
        ]
        record = dbn.MBP10Msg(
            publisher_id=int(cols["publisher_id"][i]),
            instrument_id=instrument,
            ts_event=int(ts_event[i]),
            price=int(price[i]),
            size=int(cols["size"][i]),
            action=dbn.Action.from_str(str(cols["action"][i])),
            side=dbn.Side.from_str(str(cols["side"][i])),
            depth=int(cols["depth"][i]),
            ts_recv=int(ts[i]),
            flags=int(cols["flags"][i]),
            ts_in_delta=int(cols["ts_in_delta"][i]),
            sequence=int(cols["sequence"][i]),
            levels=pairs,
        )
        chunks.append(bytes(record))
    data = b"".join(chunks)
    if zstd:
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def frog_raw(shared_data_dir):
    return pd.read_csv(shared_data_dir / FROG)


@pytest.fixture(scope="module")
def frog_csv(shared_data_dir):
    return load_databento_mbp10(shared_data_dir / FROG, return_report=True)


@pytest.fixture(scope="module")
def dbn_files(tmp_path_factory, frog_raw):
    folder = tmp_path_factory.mktemp("dbn")
    plain = encode_mbp10(frog_raw, folder / "FROG_2025-04-03_mbp10.dbn")
    packed = encode_mbp10(frog_raw, folder / "FROG_2025-04-03_mbp10.dbn.zst", zstd=True)
    return plain, packed


def assert_same_snapshots(books, expected):
    for name in SNAPSHOT_FIELDS:
        np.testing.assert_array_equal(getattr(books, name), getattr(expected, name), err_msg=name)
    assert (books.symbol, books.tick_size) == (expected.symbol, expected.tick_size)


@pytest.mark.data
@pytest.mark.parametrize("which", [0, 1], ids=["dbn", "dbn.zst"])
def test_dbn_fixture_loads_to_the_csv_snapshots(dbn_files, frog_csv, which):
    path = dbn_files[which]
    books, report = load_databento_mbp10(path, return_report=True)
    csv_books, csv_report = frog_csv
    assert_same_snapshots(books, csv_books)
    assert books.volume.sum() == 190_086 and books.auction_volume[0, 0] == 42_747
    same = {f: v for f, v in report.to_dict().items() if f != "source"}
    assert same == {f: v for f, v in csv_report.to_dict().items() if f != "source"}
    assert report.source == path.name
    # load_books dispatches on the suffix with format='databento' (the default).
    assert_same_snapshots(load_books(path, format="databento"), csv_books)


@pytest.mark.data
def test_dbn_options_glob_and_directory(dbn_files, frog_csv):
    plain, _ = dbn_files
    five = load_databento_mbp10(plain, interval_minutes=5, levels=3, resilience=False)
    assert five.bid_px.shape == (1, 78, 3)
    assert five.volume.sum() == frog_csv[0].volume.sum()
    assert load_books(str(plain.parent / "*.dbn")).n_days == 1
    # A directory holding both encodings of one day gives that date twice: refused.
    with pytest.raises(DataError, match="date 2025-04-03 appears in both"):
        load_books(plain.parent)


@pytest.mark.data
def test_resilience_from_dbn_equals_csv(dbn_files, shared_data_dir):
    from_dbn = estimate_resilience(dbn_files[1], n_boot=50)
    from_csv = estimate_resilience(shared_data_dir / FROG, n_boot=50)
    assert from_dbn.half_life_s == from_csv.half_life_s
    assert from_dbn.ci_s == from_csv.ci_s and from_dbn.n_events == from_csv.n_events


def test_bad_dbn_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "x.dbn"
    garbage.write_bytes(b"not a dbn file at all")
    with pytest.raises(DataError, match="x.dbn could not be read as DBN"):
        load_databento_mbp10(garbage)
    header_only = tmp_path / "cut.dbn"
    header_only.write_bytes(dbn.Metadata(
        dataset="XNAS.ITCH", start=0, stype_in=None, stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.MBP_10,
    ).encode()[:50])  # fmt: skip
    with pytest.raises(DataError, match="cut.dbn could not be read as DBN: IO error"):
        load_databento_mbp10(header_only)
    with pytest.raises(DataError, match="file not found: .*missing.dbn.zst"):
        load_databento_mbp10(tmp_path / "missing.dbn.zst")
    trades = tmp_path / "trades.dbn"
    meta = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.TRADES,
    )
    record = dbn.TradeMsg(
        publisher_id=2,
        instrument_id=1,
        ts_event=1,
        price=10**10,
        size=1,
        action=dbn.Action.TRADE,
        side=dbn.Side.BID,
        depth=0,
        ts_recv=1,
    )
    trades.write_bytes(meta.encode() + bytes(record))
    with pytest.raises(
        DataError, match="trades.dbn is a DBN file of schema 'trades', not 'mbp-10'"
    ):
        load_databento_mbp10(trades)


def test_missing_databento_package_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_databento(name, *args, **kwargs):
        if name == "databento":
            raise ImportError("No module named 'databento'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_databento)
    path = tmp_path / "day.dbn"
    path.write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        with pytest.raises(DataError, match=r"needs the optional 'databento' package"):
            load_databento_mbp10(path)
