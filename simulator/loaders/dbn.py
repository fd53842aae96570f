"""Databento DBN files (``.dbn``, ``.dbn.zst``) -> the columns of Databento's CSV.

DBN is Databento's native binary encoding.  It is read with the official ``databento``
package (an optional extra: ``pip install -e ".[databento]"``), imported only when a DBN
file is loaded.  Records are decoded to a NumPy structured array and turned into the
columns of the MBP-10 CSV export: ``ts_recv`` first (nanoseconds since the epoch, UTC),
prices in decimal dollars (fixed-point 1e-9 units divided by 1e9, which gives the same
double as parsing the decimal text; the undefined-price sentinel becomes a blank level),
``action`` and ``side`` as one-letter strings, and ``symbol`` from the file's symbology
mappings.  The Databento loader then treats both the same way, so a DBN file and the
CSV of the same records give identical snapshots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError

__all__ = ["DBN_SUFFIXES", "is_dbn", "read_dbn_frame"]

DBN_SUFFIXES = (".dbn", ".dbn.zst")
"""File-name endings read as DBN."""

_FIXED_PRICE_SCALE = 1e9
_UNDEF_PRICE = np.iinfo(np.int64).max
_MBP10_RTYPE = 10


def is_dbn(path) -> bool:
    """True if the file name ends in ``.dbn`` or ``.dbn.zst`` (case-insensitive)."""
    return str(path).lower().endswith(DBN_SUFFIXES)


def _import_databento():
    try:
        import databento
        import databento_dbn
    except ImportError as exc:  # the optional extra is missing
        raise DataError(
            "reading DBN files needs the optional 'databento' package; install it with "
            'pip install -e ".[databento]" (or pip install databento)'
        ) from exc
    return databento, databento_dbn


def _symbols(metadata, instrument_ids: np.ndarray) -> np.ndarray:
    """Raw symbol per record from the file's symbology mappings (instrument id as text
    when there is no mapping)."""
    by_id: dict[int, str] = {}
    for raw_symbol, intervals in (metadata.mappings or {}).items():
        for interval in intervals:
            value = interval["symbol"] if isinstance(interval, dict) else interval.symbol
            if str(value).isdigit():
                by_id.setdefault(int(value), str(raw_symbol))
    ids = np.unique(instrument_ids)
    if not by_id and len(metadata.symbols or []) == 1 and ids.size == 1:
        by_id[int(ids[0])] = str(metadata.symbols[0])
    lookup = {int(i): by_id.get(int(i), str(int(i))) for i in ids}
    codes = np.searchsorted(ids, instrument_ids)
    return np.array([lookup[int(i)] for i in ids], dtype=object)[codes]


def read_dbn_frame(path: Path) -> pd.DataFrame:
    """Decode an MBP-10 DBN file into a DataFrame with the CSV export's columns.

    Parameters
    ----------
    path : Path
        A ``.dbn`` or ``.dbn.zst`` file.

    Returns
    -------
    DataFrame
        Columns ``ts_recv, ts_event, rtype, publisher_id, instrument_id, action, side,
        depth, price, size, flags, ts_in_delta, sequence``, then per level ``bid_px_LL,
        ask_px_LL, bid_sz_LL, ask_sz_LL, bid_ct_LL, ask_ct_LL``, then ``symbol``.

    Raises
    ------
    DataError
        If ``databento`` is not installed, the file is missing or not valid DBN, or its
        schema is not MBP-10.
    """
    databento, databento_dbn = _import_databento()
    if not path.is_file():
        raise DataError(f"file not found: {str(path)!r}")
    try:
        store = databento.DBNStore.from_file(path)
        schema = store.schema
        records = store.to_ndarray()
    except (
        databento.BentoError,
        databento_dbn.DBNError,
        ValueError,
        OSError,
        RuntimeError,
        EOFError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path.name} could not be read as DBN: {first}") from exc
    if schema is not None and str(getattr(schema, "value", schema)) != "mbp-10":
        raise DataError(f"{path.name} is a DBN file of schema {str(schema)!r}, not 'mbp-10'")
    if records.dtype.names is None or "bid_px_00" not in records.dtype.names:
        raise DataError(f"{path.name} holds no MBP-10 records")
    records = records[records["rtype"] == _MBP10_RTYPE]
    if records.size == 0:
        raise DataError(f"{path.name} is empty (no MBP-10 records)")

    def prices(name):
        raw = records[name].astype(np.int64)
        return np.where(raw == _UNDEF_PRICE, np.nan, raw / _FIXED_PRICE_SCALE)

    cols: dict = {
        "ts_recv": records["ts_recv"].astype(np.int64),
        "ts_event": records["ts_event"].astype(np.int64),
    }
    for name in ("rtype", "publisher_id", "instrument_id"):
        cols[name] = records[name].astype(np.int64)
    cols["action"] = records["action"].astype("U1").astype(object)
    cols["side"] = records["side"].astype("U1").astype(object)
    cols["depth"] = records["depth"].astype(np.int64)
    cols["price"] = prices("price")
    for name in ("size", "flags", "ts_in_delta", "sequence"):
        cols[name] = records[name].astype(np.int64)
    n_levels = sum(1 for name in records.dtype.names if name.startswith("bid_px_"))
    for lvl in range(n_levels):
        cols[f"bid_px_{lvl:02d}"] = prices(f"bid_px_{lvl:02d}")
        cols[f"ask_px_{lvl:02d}"] = prices(f"ask_px_{lvl:02d}")
        for name in ("bid_sz", "ask_sz", "bid_ct", "ask_ct"):
            cols[f"{name}_{lvl:02d}"] = records[f"{name}_{lvl:02d}"].astype(np.int64)
    cols["symbol"] = _symbols(store.metadata, records["instrument_id"].astype(np.int64))
    return pd.DataFrame(cols)
