"""Finding daily data files and reading CSV text while counting malformed lines."""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError, InvalidTypeError

__all__ = ["resolve_paths", "read_csv_counted", "numeric_columns"]

_GLOB_CHARS = re.compile(r"[*?\[]")
_SKIPPED = re.compile(r"Skipping line (\d+)")


def resolve_paths(path_or_paths, *, pattern: str | tuple[str, ...] = "*.csv*") -> list[Path]:
    """Expand a file, a directory, a glob or a list of them into existing files.

    Parameters
    ----------
    path_or_paths : str, PathLike or sequence of them
        A file; a directory (its files matching ``pattern``, sorted by name); a glob
        pattern such as ``'data/FROG_*.csv.gz'``; or a list of any of these.
    pattern : str or tuple of str, default '*.csv*'
        File-name pattern(s) used inside directories.

    Returns
    -------
    list of Path
        Files in the given order (directories and globs sorted by name), duplicates removed.

    Raises
    ------
    DataError
        If a file is missing, or a directory or glob matches no file.
    InvalidTypeError
        If the argument is not a path or a sequence of paths.
    """
    if isinstance(path_or_paths, str | PathLike):
        items = [path_or_paths]
    elif isinstance(path_or_paths, Sequence) and not isinstance(path_or_paths, bytes):
        items = list(path_or_paths)
        if not items:
            raise DataError("path_or_paths must name at least one file; got an empty list")
    else:
        raise InvalidTypeError(
            "path_or_paths must be a path, a glob or a list of paths; "
            f"got {type(path_or_paths).__name__}"
        )
    found: list[Path] = []
    for item in items:
        if not isinstance(item, str | PathLike):
            raise InvalidTypeError(f"each path must be a str or Path; got {item!r}")
        path = Path(item)
        if path.is_dir():
            patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
            matches = sorted({p for pat in patterns for p in path.glob(pat) if p.is_file()})
            if not matches:
                shown = patterns[0] if len(patterns) == 1 else list(patterns)
                raise DataError(f"directory {str(path)!r} has no files matching {shown!r}")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        elif _GLOB_CHARS.search(str(item)):
            matches = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not matches:
                raise DataError(f"glob {str(item)!r} matches no file")
            found.extend(matches)
        else:
            raise DataError(f"file not found: {str(path)!r}")
    return list(dict.fromkeys(found))


def read_csv_counted(path: Path, **options) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV (plain or compressed) and report the lines skipped for a wrong field count.

    Parameters
    ----------
    path : Path
        The file; compression is inferred from the extension.
    **options
        Passed to :func:`pandas.read_csv` (``on_bad_lines`` is always ``'warn'``).

    Returns
    -------
    frame : DataFrame
        The rows that have the expected number of fields (shorter rows are padded with NaN
        by pandas and must be checked by the caller).
    skipped_lines : ndarray of int64
        1-based line numbers in the file of rows skipped for having too many fields.

    Raises
    ------
    DataError
        If the file is missing, empty, not valid text, or not parsable as CSV.
    """
    if not path.is_file():
        raise DataError(f"file not found: {str(path)!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(path, on_bad_lines="warn", **options)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{path.name} is empty") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{path.name} could not be read as CSV: {first}") from exc
    skipped = [
        int(num)
        for w in caught
        if issubclass(w.category, pd.errors.ParserWarning)
        for num in _SKIPPED.findall(str(w.message))
    ]
    for w in caught:
        if not issubclass(w.category, pd.errors.ParserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return frame, np.array(sorted(skipped), dtype=np.int64)


def numeric_columns(frame: pd.DataFrame, columns) -> tuple[np.ndarray, np.ndarray]:
    """Columns as a float array, with a per-row flag for non-numeric text.

    Blank cells become NaN and are not flagged (a blank price is an empty level); text
    that is present but not a number is flagged.

    Returns
    -------
    values : ndarray, shape (rows, len(columns))
    garbage : ndarray of bool, shape (rows,)
    """
    columns = list(columns)
    block = frame[columns]
    garbage = np.zeros(len(frame), dtype=bool)
    text_cols = [c for c in columns if not pd.api.types.is_numeric_dtype(block[c])]
    if text_cols:
        block = block.copy()
        for col in text_cols:
            raw = block[col]
            coerced = pd.to_numeric(raw, errors="coerce")
            garbage |= (raw.notna() & coerced.isna()).to_numpy()
            block[col] = coerced
    return block.to_numpy(dtype=float, na_value=np.nan), garbage
