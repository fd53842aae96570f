"""Atomic file writes: a temporary file in the same folder, then a rename.

An interrupted run therefore never leaves a truncated file in place of an earlier result.
Files follow the process umask (see :func:`models.atomic_io.atomic_path`); an ``OSError``
names the destination.

CSV files are written in chunks straight to the file (never as one string in memory), and
text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are prefixed with a single quote ``'``.  The escape is
reversible: a cell that already starts with quotes followed by one of those characters gets
one more quote, and :func:`read_csv` removes exactly one.  Numeric columns are never touched.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from models.atomic_io import atomic_path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_parquet",
    "atomic_write_csv",
    "escape_csv_text",
    "unescape_csv_text",
    "read_csv",
    "file_sha256",
    "CSV_CHUNK_ROWS",
]

# Rows per chunk written to a CSV file: bounds the text held in memory at once.
CSV_CHUNK_ROWS = 50_000

_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"^'+[=+\-@\t\r]")


def escape_csv_text(value):
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula.

    Parameters
    ----------
    value : object
        A cell; only strings are changed.

    Returns
    -------
    object
        ``"'" + value`` for strings matching ``'*[=+-@\\t\\r]...``, else ``value``.
    """
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def unescape_csv_text(value):
    """Inverse of :func:`escape_csv_text` (one leading quote removed where it was added)."""
    if isinstance(value, str) and _ESCAPED.match(value):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, func) -> pd.DataFrame:
    """``frame`` with ``func`` applied to every distinct text value (numbers untouched)."""
    out = None
    for col in frame.columns:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = series.cat.categories
            new = [func(v) for v in cats]
            if any(a is not b for a, b in zip(new, cats, strict=True)):
                out = frame.copy() if out is None else out
                out[col] = series.cat.rename_categories(new)
            continue
        if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
            continue
        # Work on the distinct values: a column of millions of rows has a few labels.
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        mapped = [func(v) for v in uniques]
        changed = [i for i, (a, b) in enumerate(zip(mapped, uniques, strict=True)) if a is not b]
        if not changed:
            continue
        out = frame.copy() if out is None else out
        values = np.asarray(series, dtype=object).copy()
        for i in changed:
            values[codes == i] = mapped[i]
        out[col] = values
    return frame if out is None else out


def file_sha256(path) -> str:
    """SHA-256 hex digest of a file's contents."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` to a Parquet file atomically (index dropped)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def atomic_write_csv(frame: pd.DataFrame, path, *, chunk_rows: int = CSV_CHUNK_ROWS) -> Path:
    """Write ``frame`` to a CSV file atomically (index dropped), formula-like text escaped.

    Parameters
    ----------
    frame : DataFrame
        Any frame; text columns are escaped with :func:`escape_csv_text`.
    path : path
        Destination.
    chunk_rows : int, default :data:`CSV_CHUNK_ROWS`
        Rows converted to text at a time.

    Returns
    -------
    Path
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        if frame.empty:
            _map_text(frame, escape_csv_text).to_csv(fh, index=False)
        for start in range(0, len(frame), chunk_rows):
            chunk = _map_text(frame.iloc[start : start + chunk_rows], escape_csv_text)
            chunk.to_csv(fh, index=False, header=(start == 0))
    return Path(path)


def read_csv(path, **kwargs) -> pd.DataFrame:
    """Read a CSV file written by :func:`atomic_write_csv`, undoing the formula escape.

    Parameters
    ----------
    path : path
        A CSV file.
    **kwargs
        Passed to :func:`pandas.read_csv`.

    Returns
    -------
    DataFrame
    """
    return _map_text(pd.read_csv(path, **kwargs), unescape_csv_text)
