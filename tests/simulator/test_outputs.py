"""CSV outputs: formula-like text escaped reversibly, numbers untouched, written in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.outputs import (
    atomic_write_csv,
    escape_csv_text,
    read_csv,
    unescape_csv_text,
)


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+A1", "'+A1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("'=x", "''=x"),  # already quoted text keeps its own quote
        ("equal", "equal"),
        ("'plain", "'plain"),
        ("", ""),
    ],
)
def test_escape_examples(cell, escaped):
    assert escape_csv_text(cell) == escaped
    assert unescape_csv_text(escaped) == cell


@given(st.text(alphabet=st.sampled_from("'=+-@\tab1 "), max_size=8))
def test_escape_round_trips_and_never_leaves_a_formula(cell):
    escaped = escape_csv_text(cell)
    assert unescape_csv_text(escaped) == cell
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_round_trip_in_chunks_with_numbers_untouched(tmp_path):
    n = 1234
    frame = pd.DataFrame(
        {
            "strategy": np.where(np.arange(n) % 3 == 0, "=evil()", "equal"),
            "label": pd.Categorical(np.where(np.arange(n) % 2 == 0, "-x", "y")),
            "value": -np.arange(n, dtype=float) / 7,
            "count": -np.arange(n),
            "message": [None if i % 5 else "@x" for i in range(n)],
        }
    )
    path = tmp_path / "t.csv"
    atomic_write_csv(frame, path, chunk_rows=100)
    text = path.read_text()
    assert text.count("\n") == n + 1 and text.startswith("strategy,label,value,count,message\n")
    raw = pd.read_csv(path)
    assert set(raw["strategy"]) == {"'=evil()", "equal"}
    np.testing.assert_array_equal(raw["count"], frame["count"])  # negative numbers unquoted
    np.testing.assert_allclose(raw["value"], frame["value"], rtol=1e-15)
    back = read_csv(path)
    assert list(back["strategy"]) == list(frame["strategy"])
    assert list(back["label"]) == list(frame["label"].astype(str))
    assert list(back["message"].fillna("")) == list(frame["message"].fillna(""))
    empty = tmp_path / "empty.csv"
    atomic_write_csv(frame.iloc[:0], empty)
    assert empty.read_text() == "strategy,label,value,count,message\n"
