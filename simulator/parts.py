"""Finished evaluation tasks stored one file per task, so interrupted runs can resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from models.impact_base import BaseImpact

from .daytask import DayOutcome, normalize_result_types
from .outputs import atomic_write_bytes, atomic_write_parquet

__all__ = ["PartStore"]


def _stem(regime: str, day: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", regime) or "market"
    return f"{safe}__day{day:05d}"


class PartStore:
    """Directory of finished tasks: ``<stem>.rows.parquet`` (written last, marks completion),
    ``<stem>.schedules.parquet`` and ``<stem>.model.json``.

    Parameters
    ----------
    directory : path
        Where parts live; created if missing.
    """

    def __init__(self, directory) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, regime: str, day: int, outcome: DayOutcome) -> None:
        """Store one finished task atomically (rows file last)."""
        stem = self.directory / _stem(regime, day)
        atomic_write_bytes(
            stem.with_suffix(".model.json"), json.dumps(outcome.model.to_dict()).encode()
        )
        if outcome.schedules is not None:
            atomic_write_parquet(outcome.schedules, stem.with_suffix(".schedules.parquet"))
        atomic_write_parquet(outcome.rows, stem.with_suffix(".rows.parquet"))

    def finished(self) -> dict[tuple[str, int], DayOutcome]:
        """Every stored task keyed by ``(regime, day_index)``."""
        done = {}
        for rows_path in sorted(self.directory.glob("*.rows.parquet")):
            rows = normalize_result_types(pd.read_parquet(rows_path))
            if rows.empty:
                continue
            stem = rows_path.name[: -len(".rows.parquet")]
            model_path = self.directory / f"{stem}.model.json"
            sched_path = self.directory / f"{stem}.schedules.parquet"
            model = BaseImpact.from_dict(json.loads(model_path.read_text()))
            schedules = pd.read_parquet(sched_path) if sched_path.exists() else None
            key = (str(rows["regime"].iloc[0]), int(rows["day_index"].iloc[0]))
            done[key] = DayOutcome(rows=rows, model=model, schedules=schedules)
        return done
