"""Order-book data loaders: Databento MBP-10, LOBSTER and Parquet -> BookSnapshots."""

from .databento import load_databento_mbp10
from .dispatch import BOOK_FORMATS, load_books
from .lobster import load_lobster, parse_lobster_name
from .quality import DataQualityReport, DataQualityWarning
from .session import SessionGrid

__all__ = [
    "BOOK_FORMATS",
    "DataQualityReport",
    "DataQualityWarning",
    "SessionGrid",
    "load_books",
    "load_databento_mbp10",
    "load_lobster",
    "parse_lobster_name",
]
