"""Shared pytest fixtures: the real order-book data folder beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Path to ``../shared/data`` (relative to the repo root) holding real order-book files.

    Skips the test with a reason when the folder is absent, except when the environment
    variable ``CI`` is ``'true'``, where absence fails the test.
    """
    if not SHARED_DATA_DIR.is_dir():
        message = f"real order-book data not found at {SHARED_DATA_DIR} (../shared/data)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    return SHARED_DATA_DIR
