"""Shared pytest fixtures: the real order-book data folder beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# TRADEALLOC_SHARED_DATA overrides the location for runs from a copy of the tests (mutmut
# runs them from mutants/, one folder deeper than the checkout).
SHARED_DATA_DIR = Path(
    os.environ.get("TRADEALLOC_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data"
).resolve()


@pytest.fixture(autouse=True, scope="session")
def _private_checksum_cache(tmp_path_factory):
    """Data-file checksums of test runs go to a temporary cache, not the user's ~/.cache."""
    previous = os.environ.get("TRADEALLOC_CACHE_DIR")
    os.environ["TRADEALLOC_CACHE_DIR"] = str(tmp_path_factory.mktemp("tradealloc-cache"))
    yield
    if previous is None:
        os.environ.pop("TRADEALLOC_CACHE_DIR", None)
    else:
        os.environ["TRADEALLOC_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Path to ``../shared/data`` (relative to the repo root, or ``$TRADEALLOC_SHARED_DATA``)
    holding real order-book files.

    Skips the test with a reason when the folder is absent, except when the environment
    variable ``CI`` is ``'true'``, where absence fails the test.
    """
    if not SHARED_DATA_DIR.is_dir():
        message = f"real order-book data not found at {SHARED_DATA_DIR} (../shared/data)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    return SHARED_DATA_DIR
