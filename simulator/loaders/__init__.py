"""Order-book data loaders: Databento MBP-10 (CSV, DBN), LOBSTER and Parquet -> BookSnapshots."""

from .auctions import CrossRule
from .databento import load_databento_mbp10
from .dispatch import BOOK_FORMATS, load_books, read_event_streams
from .events import EventStream
from .lobster import load_lobster, parse_lobster_name
from .quality import DataQualityReport, DataQualityWarning
from .resilience import ResilienceEstimate, estimate_resilience, resilience_from_events
from .session import SessionGrid

__all__ = [
    "BOOK_FORMATS",
    "CrossRule",
    "DataQualityReport",
    "DataQualityWarning",
    "EventStream",
    "ResilienceEstimate",
    "SessionGrid",
    "estimate_resilience",
    "load_books",
    "load_databento_mbp10",
    "load_lobster",
    "parse_lobster_name",
    "read_event_streams",
    "resilience_from_events",
]
