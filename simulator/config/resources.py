"""Memory a scenario will need, estimated before anything runs, and the memory available.

:func:`check_resources` refuses a scenario whose estimate exceeds the memory this process
may use, with one line that names the dominant term, its YAML field and the estimate, instead
of an ``unexpected MemoryError`` minutes (or a swapped-out machine) later.  The estimate is
deliberately simple and conservative; its per-unit costs were measured on the synthetic
market (see the constants below):

- markets: every regime's books ``days x intervals x levels`` (4 float64 arrays per level,
  plus per-interval volume and mids), and the synthesis of one regime at a time (about 6x its
  books at peak);
- tasks: each worker holds a training window and the test day (about 4x their books) and,
  for process workers, its own interpreter with the libraries;
- results: one row per (regime, test day, size, schedule);
- allocations: every schedule of the representative day, one row per interval, held in
  memory before they are written in chunks;
- bootstrap: one resample index matrix ``bootstrap_samples x test days`` per group.

The memory available is the smallest of the machine's available memory (``MemAvailable``
in ``/proc/meminfo``), the cgroup limit, the address-space limit (``ulimit -v``) and the
environment variable ``TRADEALLOC_MAX_MEMORY`` (bytes, or a number with ``K``, ``M``, ``G``
or ``T``), minus a safety margin of 20%.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from .errors import ScenarioError

__all__ = [
    "MAX_ALLOCATION_ROWS",
    "MemoryEstimate",
    "available_memory_bytes",
    "check_resources",
    "estimate_memory",
]

# Most schedule rows (sizes x schedules x intervals) kept for allocations.csv: about 0.7 GB
# in memory.  The representative day's schedules are held whole before they are written, so
# a longer table is refused on any machine rather than admitted on a large one.
MAX_ALLOCATION_ROWS = 5_000_000

# Measured costs (bytes): interpreter with numpy/pandas/scipy/cvxpy imported; one more
# worker process; a result row; an allocation row (long format, object label columns).
_BASE_BYTES = 200e6
_WORKER_BASE_BYTES = 150e6
_RESULT_ROW_BYTES = 2_000.0
_ALLOCATION_ROW_BYTES = 140.0
_SYNTHESIS_PEAK = 6.0
_TASK_COPIES = 4.0
_BOOTSTRAP_BYTES = 24.0
_SAFETY = 0.8
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak memory of a run, by term, in bytes.

    Attributes
    ----------
    terms : dict of str to float
        Bytes per term (``base``, ``markets``, ``tasks``, ``results``, ``allocations``,
        ``bootstrap``).
    fields : dict of str to tuple
        The YAML path that drives each term (named in the error).
    details : dict of str to str
        What each term counts, in words.
    allocation_rows : int
        Rows of ``allocations.csv`` (sizes x schedules x intervals, per market).
    """

    terms: dict
    fields: dict
    details: dict
    allocation_rows: int = 0

    @property
    def total_bytes(self) -> float:
        """Sum of the terms, in bytes."""
        return float(sum(self.terms.values()))

    @property
    def dominant(self) -> str:
        """The largest term other than the fixed ``base``."""
        return max((k for k in self.terms if k != "base"), key=lambda k: self.terms[k])


def _bytes_text(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value / 1e3:,.1f} kB"


def _parse_size(text: str) -> float | None:
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if match is None:
        return None
    return float(match[1]) * _UNITS[match[2].upper()]


def available_memory_bytes() -> float:
    """Memory this process may still use, in bytes (``inf`` when nothing can be read).

    The smallest of ``MemAvailable``, the cgroup v2/v1 limit minus usage, the address-space
    limit minus the current size, and ``TRADEALLOC_MAX_MEMORY``.
    """
    limits = [math.inf]
    env = os.environ.get("TRADEALLOC_MAX_MEMORY")
    if env:
        parsed = _parse_size(env)
        if parsed is None:
            raise ScenarioError(
                (),
                "environment variable TRADEALLOC_MAX_MEMORY must be a size such as 2G or 512M",
                env,
            )
        limits.append(parsed)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(float(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit_file, encoding="ascii") as fh:
                raw = fh.read().strip()
            if raw.isdigit():
                with open(usage_file, encoding="ascii") as fh:
                    used = float(fh.read().strip())
                limits.append(float(raw) - used)
                break
        except (OSError, ValueError):
            continue
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1):
            size = 0.0
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmSize:"):
                        size = float(line.split()[1]) * 1024
            limits.append(float(soft) - size)
    except (ImportError, OSError, ValueError):
        pass
    return max(0.0, min(limits))


def estimate_memory(scenario, workers: int | None = None) -> MemoryEstimate:
    """Estimate the peak memory of running ``scenario`` (see the module docstring).

    Parameters
    ----------
    scenario : simulator.config.Scenario
    workers : int, optional
        Parallel workers; default the scenario's ``n_jobs`` capped at the available cores.

    Returns
    -------
    MemoryEstimate
    """
    from ..workers import effective_n_jobs

    market, ev, model = scenario.market, scenario.evaluation, scenario.model
    if workers is None:
        remote = ev.backend == "dask" and ev.scheduler
        workers = 1 if remote else effective_n_jobs(ev.n_jobs, warn=False)
    labels = {entry.label for entry in scenario.strategies}
    schedules = len(labels) + ("equal" not in labels) + bool(ev.oracle)
    n_sizes = len(scenario.sizes.values)
    intervals = market.intervals
    if market.source == "synthetic":
        regimes, days, levels = len(market.regimes), market.days, market.levels
        day_bytes = float(intervals) * (32.0 * levels + 24.0)
        books = regimes * days * day_bytes
        markets = books + (_SYNTHESIS_PEAK - 1.0) * days * day_bytes
        test_days = scenario.test_day_count or 1
    else:
        # Recorded books are small next to what is estimated here (one day per file).
        regimes, days, levels = 1, len(market.path), 10
        day_bytes = float(intervals) * (32.0 * levels + 24.0)
        markets = days * day_bytes
        test_days = ev.test_days or days
    window = (model.training_days + 1) * day_bytes if ev.mode == "walk_forward" else day_bytes
    process_workers = workers if (workers > 1 and ev.backend != "threading") else 0
    terms = {
        "base": _BASE_BYTES,
        "markets": markets,
        "tasks": workers * _TASK_COPIES * window + process_workers * _WORKER_BASE_BYTES,
        "results": regimes * test_days * n_sizes * schedules * _RESULT_ROW_BYTES,
        "allocations": regimes * n_sizes * schedules * intervals * _ALLOCATION_ROW_BYTES,
        "bootstrap": ev.bootstrap_samples * test_days * _BOOTSTRAP_BYTES,
    }
    size_key = ("sizes", scenario.sizes.unit)
    # The field named for a term is the factor furthest above its usual value.
    grid = {("market", "days"): days / 30, ("market", "intervals"): intervals / 390}
    grid[("market", "levels")] = levels / 10
    book_key = max(grid, key=grid.get) if market.source == "synthetic" else ("market", "path")
    alloc_key = size_key if n_sizes / 10 >= intervals / 390 else ("market", "intervals")
    fields = {
        "base": (),
        "markets": book_key,
        "tasks": ("model", "training_days") if workers == 1 else ("evaluation", "n_jobs"),
        "results": size_key,
        "allocations": alloc_key,
        "bootstrap": ("evaluation", "bootstrap_samples"),
    }
    details = {
        "base": "interpreter and libraries",
        "markets": (
            f"{regimes} market(s) of {days:,} days x {intervals:,} intervals x {levels:,} levels"
        ),
        "tasks": f"{workers} worker(s), each with a {model.training_days}-day training window",
        "results": (
            f"{regimes * test_days * n_sizes * schedules:,} result rows ({test_days:,} test "
            f"days x {n_sizes:,} sizes x {schedules} schedules)"
        ),
        "allocations": (
            f"{regimes * n_sizes * schedules * intervals:,} allocation rows ({n_sizes:,} sizes "
            f"x {schedules} schedules x {intervals:,} intervals)"
        ),
        "bootstrap": f"{ev.bootstrap_samples:,} resamples x {test_days:,} test days",
    }
    rows = regimes * n_sizes * schedules * intervals
    return MemoryEstimate(terms=terms, fields=fields, details=details, allocation_rows=rows)


def check_resources(scenario, available: float | None = None) -> MemoryEstimate:
    """Refuse ``scenario`` when its estimated memory exceeds what is available.

    Parameters
    ----------
    scenario : simulator.config.Scenario
    available : float, optional
        Bytes available; default :func:`available_memory_bytes`.

    Returns
    -------
    MemoryEstimate
        When the run fits.

    Raises
    ------
    ScenarioError
        Naming the field behind the largest term, the estimate and the memory available; or
        the sizes when the allocations table would exceed :data:`MAX_ALLOCATION_ROWS`.
    """
    estimate = estimate_memory(scenario)
    total = estimate.total_bytes
    rows = estimate.allocation_rows
    if rows > MAX_ALLOCATION_ROWS:
        path = estimate.fields["allocations"]
        raise ScenarioError(
            path,
            f"gives {estimate.details['allocations']}, more than the "
            f"{MAX_ALLOCATION_ROWS:,} allowed (the run would need about {_bytes_text(total)} "
            "of memory); use fewer sizes or intervals",
            _field_value(scenario, path),
        )
    budget = _SAFETY * (available_memory_bytes() if available is None else float(available))
    if total <= budget:
        return estimate
    key = estimate.dominant
    path = estimate.fields[key]
    value = _field_value(scenario, path)
    raise ScenarioError(
        path,
        f"makes the run need about {_bytes_text(total)} of memory, mostly for {key} "
        f"({estimate.details[key]}: {_bytes_text(estimate.terms[key])}), more than the "
        f"{_bytes_text(budget)} available; use a smaller value",
        value,
    )


def _field_value(scenario, path):
    if path == ("sizes", scenario.sizes.unit):
        values = scenario.sizes.values
        return f"{len(values):,} sizes" if len(values) > 5 else list(values)
    section = getattr(scenario, path[0])
    value = getattr(section, path[1])
    if isinstance(value, tuple):
        return [str(p) for p in value[:3]] + (["..."] if len(value) > 3 else [])
    return value
