"""Finished evaluation tasks stored one file set per task, so interrupted runs can resume.

A parts directory holds ``manifest.json`` and, per finished (regime, test day),
``<stem>.rows.parquet``, plus ``<stem>.model.json`` and ``<stem>.schedules.parquet`` for the
representative (last) day.  The manifest records the fingerprint of the run the parts belong
to (:func:`simulator.rundir.run_fingerprint`) and every part file with its size and SHA-256,
written after the files themselves:

- only parts listed in the manifest are reused, and only after their checksums match; a
  damaged or unreadable part is recomputed with a :class:`PartWarning` naming the file (a
  part whose rows file is gone counts as unfinished and is recomputed silently: the rows
  file is written last and marks a finished part);
- only files listed in the manifest (and the manifest itself) are ever deleted; anything
  else in the directory is left alone.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from pathlib import Path

import pandas as pd

from models.impact_base import BaseImpact

from .daytask import DayOutcome, normalize_result_types
from .outputs import atomic_write_bytes, atomic_write_parquet, atomic_write_text, file_sha256

__all__ = [
    "MANIFEST",
    "PartStore",
    "PartWarning",
    "read_manifest",
    "remove_parts",
    "start_parts",
    "write_part",
]

MANIFEST = "manifest.json"
_FORMAT = 2
_SUFFIXES = (".model.json", ".schedules.parquet", ".rows.parquet")


class PartWarning(UserWarning):
    """A stored part is damaged or unreadable and its task is computed again."""


def _stem(regime: str, day: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", regime).strip(".-") or "market"
    return f"{safe}__day{day:05d}"


def read_manifest(directory) -> dict | None:
    """The manifest of a parts directory, or None when missing, unreadable or not ours."""
    try:
        data = json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    if not isinstance(data.get("parts"), dict):
        return None
    return data


def _write_manifest(directory: Path, manifest: dict) -> None:
    # Compact: it is rewritten after every finished day.
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, separators=(",", ":")))


def remove_parts(directory) -> int:
    """Delete the part files a manifest lists, and the manifest; nothing else.

    Returns
    -------
    int
        Files deleted.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    removed = 0
    if manifest is not None:
        for entry in manifest["parts"].values():
            for name in entry.get("files", {}):
                target = directory / Path(name).name
                if target.is_file():
                    target.unlink()
                    removed += 1
    if (directory / MANIFEST).is_file():
        (directory / MANIFEST).unlink()
        removed += 1
    return removed


def start_parts(directory, fingerprint: str, components: dict) -> None:
    """Begin a new set of parts: earlier parts of ours removed, an empty manifest written.

    Parameters
    ----------
    directory : path
        The parts directory (created if missing).
    fingerprint : str
        Digest of the run (:attr:`simulator.rundir.Fingerprint.digest`).
    components : dict
        Its components, kept so a refused resume can say what changed.
    """
    directory = Path(directory)
    remove_parts(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_manifest(
        directory,
        {"format": _FORMAT, "fingerprint": fingerprint, "components": components, "parts": {}},
    )


def write_part(directory, regime: str, day: int, outcome: DayOutcome) -> dict:
    """Write one finished task's files atomically (rows last); their sizes and checksums.

    Needs no manifest, so an evaluation worker on the same file system can write its own
    part and the driver only records it (:meth:`PartStore.record`).

    Returns
    -------
    dict
        ``{file name: {"size": bytes, "sha256": hex digest}}``.
    """
    base = Path(directory) / _stem(regime, day)
    paths = []
    if outcome.schedules is not None:
        # The representative day: the run's figures and reports use its model and schedules
        # (the other days' models are the same few windows' and are never read back).
        paths.append(base.with_suffix(".model.json"))
        atomic_write_bytes(paths[-1], json.dumps(outcome.model.to_dict()).encode())
        paths.append(base.with_suffix(".schedules.parquet"))
        atomic_write_parquet(outcome.schedules, paths[-1])
    paths.append(base.with_suffix(".rows.parquet"))
    atomic_write_parquet(outcome.rows, paths[-1])
    return {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in paths}


class PartStore:
    """Directory of finished tasks with a checksummed manifest (see the module docstring).

    Parameters
    ----------
    directory : path
        Where parts live; created if missing.  Without a manifest (a directory used
        directly through :func:`simulator.evaluate.evaluate`) one without fingerprint is
        started.
    """

    def __init__(self, directory) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = read_manifest(self.directory)
        if manifest is None:
            manifest = {"format": _FORMAT, "fingerprint": None, "components": {}, "parts": {}}
        self._manifest = manifest
        self._pending = False
        self._written = -float("inf")

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint recorded in the manifest (None when the store was started without)."""
        return self._manifest.get("fingerprint")

    def save(self, regime: str, day: int, outcome: DayOutcome) -> None:
        """Store one finished task atomically, then record its files and checksums."""
        self.record(regime, day, write_part(self.directory, regime, day, outcome))

    def record(self, regime: str, day: int, files: dict, *, flush_after_s: float = 0.0) -> None:
        """Record a part whose files :func:`write_part` wrote (here or in a worker).

        Parameters
        ----------
        regime, day : str, int
            The part's task.
        files : dict
            What :func:`write_part` returned.
        flush_after_s : float, default 0
            Rewrite the manifest only when it is at least this old (seconds), else at the
            next :meth:`flush`: a part not yet in the manifest is computed again on resume,
            so a killed run loses at most that much finished work, and a long run does not
            rewrite a growing manifest after every day.
        """
        stem = _stem(regime, day)
        self._manifest["parts"][stem] = {"regime": regime, "day": int(day), "files": files}
        self._pending = True
        if time.monotonic() - self._written >= flush_after_s:
            self.flush()

    def flush(self) -> None:
        """Write the manifest if a recorded part is not in it yet."""
        if self._pending:
            _write_manifest(self.directory, self._manifest)
            self._pending = False
            self._written = time.monotonic()

    def _damaged(self, stem: str, entry: dict, file: Path, reason: str) -> None:
        warnings.warn(
            f"part {str(file)!r} is {reason}; day {entry.get('day')} of "
            f"{entry.get('regime')!r} is computed again",
            PartWarning,
            stacklevel=3,
        )
        self._drop(stem, entry)

    def _drop(self, stem: str, entry: dict) -> None:
        files = entry.get("files")
        for name in files if isinstance(files, dict) else ():
            (self.directory / Path(name).name).unlink(missing_ok=True)
        del self._manifest["parts"][stem]

    def _verified(self, entry: dict) -> tuple[Path, str] | None:
        """The first file of a part that is missing or fails its checksum, with the reason."""
        files = entry.get("files")
        if not isinstance(files, dict) or not any(n.endswith(".rows.parquet") for n in files):
            return self.directory / "?", "incomplete in the manifest"
        for name, record in files.items():
            path = self.directory / Path(name).name
            try:
                size = os.stat(path).st_size
                if size != record.get("size") or file_sha256(path) != record.get("sha256"):
                    return path, "damaged (its checksum does not match the one recorded)"
            except OSError as exc:
                return path, f"unreadable ({exc.strerror or exc})"
        return None

    def finished(self) -> dict[tuple[str, int], DayOutcome]:
        """Every stored task whose files verify, keyed by ``(regime, day_index)``.

        Damaged or unreadable parts are dropped (their files deleted, a :class:`PartWarning`
        naming the file) so their tasks run again.
        """
        done = {}
        changed = False
        for stem, entry in list(self._manifest["parts"].items()):
            if not (self.directory / f"{stem}.rows.parquet").exists():
                # The rows file marks a finished part: without it the day was never
                # finished or was deliberately removed, so it is simply computed again.
                self._drop(stem, entry)
                changed = True
                continue
            problem = self._verified(entry)
            if problem is not None:
                self._damaged(stem, entry, *problem)
                changed = True
                continue
            files = entry["files"]
            rows_path = self.directory / f"{stem}.rows.parquet"
            current = rows_path
            try:
                rows = normalize_result_types(pd.read_parquet(rows_path))
                current = self.directory / f"{stem}.model.json"
                model = (
                    BaseImpact.from_dict(json.loads(current.read_text()))
                    if current.name in files
                    else None
                )
                current = self.directory / f"{stem}.schedules.parquet"
                schedules = pd.read_parquet(current) if current.name in files else None
                key = (str(entry["regime"]), int(entry["day"]))
                if rows.empty or set(zip(rows["regime"], rows["day_index"], strict=True)) != {key}:
                    current = rows_path
                    raise ValueError(f"rows are not those of day {key[1]} of {key[0]!r}")
            except Exception as exc:  # any unreadable part is recomputed, never fatal
                reason = " ".join(f"unreadable ({type(exc).__name__}: {exc})".split())
                self._damaged(stem, entry, current, reason)
                changed = True
                continue
            done[key] = DayOutcome(rows=rows, model=model, schedules=schedules)
        if changed:
            _write_manifest(self.directory, self._manifest)
        return done
