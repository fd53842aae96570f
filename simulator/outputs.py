"""Atomic file writes: a temporary file in the same folder, then a rename.

An interrupted run therefore never leaves a truncated file in place of an earlier result.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.atomic_io import atomic_path

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_parquet", "atomic_write_csv"]


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


def atomic_write_csv(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` to a CSV file atomically (index dropped)."""
    return atomic_write_text(path, frame.to_csv(index=False))
