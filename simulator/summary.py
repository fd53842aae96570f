"""Summaries of evaluation results: per (regime, size, strategy) statistics, the paired
moving-block bootstrap interval of the improvement over ``equal``, a verdict against
``equal`` within a practical-equivalence margin, and the sensitivity table.

Statistical method (what :func:`summarize` does, in order)
----------------------------------------------------------
Daily improvement
    ``d_t = realized_bps(equal, t) - realized_bps(strategy, t)`` on test day ``t``, in basis
    points of arrival notional; positive = cheaper than ``equal``.  ``|d_t| <= tie_bps``
    (default 1e-9 bps) is a tie and is set to exactly 0 (float rounding of identical
    schedules is not a saving).  A day on which the strategy or ``equal`` failed has no
    ``d_t`` (NaN); every statistic of that strategy uses the days it has.
Common random numbers
    The test days of one (regime, size_spec) group - every day with a row of that group,
    sorted by (``date``, ``day_index``) - are resampled once.  Every strategy of the group is
    evaluated on the same resampled day indices, which depend only on the group key, the root
    seed, the number of test days, the block length and the number of resamples: never on
    the strategies present or on the row order.
Moving-block bootstrap (Kunsch 1989)
    Blocks of ``b`` consecutive test days start uniformly at one of the ``n - b + 1``
    possible positions; ``ceil(n / b)`` blocks are concatenated and cut to ``n`` days
    (``arch.bootstrap.MovingBlockBootstrap``).  Block length rule: ``b = ceil(n ** (1/3))``
    (computed in integers), capped at ``n``.  ``n^(1/3)`` is the rate of the MSE-optimal block
    length for variance estimation (Hall, Horowitz & Jing 1995; Lahiri 2003) and the
    interval's width is driven by the variance of the mean.  The constant is 1: data-driven
    rules (Politis & White 2004) would make ``b`` depend on each strategy's data and break
    common random numbers.  ``n = 10`` gives 3, ``n = 30`` gives 4, ``n = 250`` gives 7.
Interval
    For each resample, the mean of the strategy's available resampled ``d_t`` (resamples
    holding none of its days are dropped).  The MBB mean is not centred at the sample mean
    (days near the ends are drawn less often), so the bootstrap means are centred at their
    own average, an estimate of ``E*[mean*]`` (Lahiri 2003), and the interval is
    ``mean(d) + [q(alpha/2), q(1 - alpha/2)]`` of the centred means (percentile, default
    95%).  It always contains ``mean(d)``.  Fewer than 2 paired days: no interval (NaN), with
    a warning.
Verdict against ``equal`` (margin ``m = equivalence_bps``, default 0.1 bps)
    ``better`` if ``low > 0`` and ``mean(d) > m``; ``worse`` if ``high < 0`` and
    ``mean(d) < -m``; ``equivalent`` otherwise.  ``equivalence_established`` is True only when
    the whole interval lies in ``[-m, m]`` (two one-sided tests at 2.5% each): an
    ``equivalent`` row without it is merely *not distinguishable* from ``equal``.
    ``verdict_reason`` says which case applied: "interval above 0 and mean above the
    margin", "interval below 0 and mean below minus the margin", "interval within the
    margin", "interval excludes 0 but mean within the margin", "interval includes 0: not
    distinguishable from equal", "no interval: not distinguishable from equal" (fewer than 2
    paired days; verdict ``equivalent``), "baseline", "no day paired with equal".  The
    ``equal`` row is the baseline (``d = 0``, verdict ``equivalent``, reason ``baseline``).
    The ``oracle`` row (hindsight optimum, not a tradable strategy; ``role = "oracle"``) is
    judged by the same rule: it says whether any saving was available at all.  A strategy
    without a single day paired with ``equal`` has no verdict (missing).

References
----------
Kunsch, H. R. (1989). The jackknife and the bootstrap for general stationary observations.
Annals of Statistics 17(3), 1217-1241.
Hall, P., Horowitz, J. L. and Jing, B.-Y. (1995). On blocking rules for the bootstrap with
dependent data. Biometrika 82(3), 561-574.
Lahiri, S. N. (2003). Resampling Methods for Dependent Data. Springer.
Politis, D. N. and White, H. (2004). Automatic block-length selection for the dependent
bootstrap. Econometric Reviews 23(1), 53-70.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.errors import DataError, InvalidParameterError

from .daytask import BASELINE, ORACLE

__all__ = [
    "summarize",
    "sensitivity_table",
    "size_label",
    "block_length_rule",
    "group_seed",
    "moving_block_indices",
    "block_bootstrap_ci",
    "MIN_INTERVAL_DAYS",
    "VERDICTS",
    "SUMMARY_COLUMNS",
]

_GROUP = ["regime", "size_spec"]

MIN_INTERVAL_DAYS = 10
"""Groups with fewer test days than this get a warning in the ``warnings`` column."""

VERDICTS = ("better", "worse", "equivalent")
"""Values of the ``verdict`` column (missing only without a single paired day)."""

SUMMARY_COLUMNS = (
    "regime",
    "size_spec",
    "size_unit",
    "strategy",
    "role",
    "days",
    "failed",
    "paired_days",
    "mean_size_shares",
    "mean_realized_bps",
    "std_realized_bps",
    "mean_predicted_bps",
    "bias_bps",
    "rmse_bps",
    "mean_shortfall_bps",
    "improvement_bps",
    "improvement_ci_low_bps",
    "improvement_ci_high_bps",
    "improvement_pct",
    "improvement_ci_low_pct",
    "improvement_ci_high_pct",
    "block_length",
    "verdict",
    "equivalence_established",
    "verdict_reason",
    "win_share",
    "tie_share",
    "loss_share",
    "win_rate",
    "identical_to",
    "mean_captured_saving",
    "mean_solve_ms",
    "mean_beyond_depth_share",
    "warnings",
)
"""Columns of :func:`summarize`'s frame, in order."""


def block_length_rule(n_days: int) -> int:
    """Default block length of the moving-block bootstrap: ``ceil(n_days ** (1/3))``.

    Computed in integers (the smallest ``b`` with ``b**3 >= n_days``), so 27 days give 3, not
    the 4 a floating-point cube root would give.  Rate from Hall, Horowitz & Jing (1995).

    Parameters
    ----------
    n_days : int
        Number of test days, >= 1.

    Returns
    -------
    int
        Block length in days, in [1, n_days].

    Raises
    ------
    InvalidParameterError
        If ``n_days`` is not an integer >= 1.
    """
    if isinstance(n_days, bool) or not isinstance(n_days, int | np.integer) or n_days < 1:
        raise InvalidParameterError(f"n_days must be an integer >= 1; got {n_days!r}")
    b = max(1, round(float(n_days) ** (1.0 / 3.0)))
    while b**3 < n_days:
        b += 1
    while b > 1 and (b - 1) ** 3 >= n_days:
        b -= 1
    return int(b)


def group_seed(seed: int, regime, size_spec) -> np.random.SeedSequence:
    """Seed of the bootstrap stream of one (regime, size_spec) group.

    Keyed by the group's values (not its position, not its strategies), so every strategy of
    the group gets the same resamples and adding a strategy or a group changes no other
    interval.

    Parameters
    ----------
    seed : int
        Root seed (``evaluation.seed``).
    regime : str
        Market regime label.
    size_spec : float
        Order size as given in the scenario (shares or fraction of ADV).

    Returns
    -------
    numpy.random.SeedSequence
    """
    tag = zlib.crc32(f"{regime}\x1f{float(size_spec)!r}".encode())
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(tag,))


def moving_block_indices(
    n_days: int, block_length: int, samples: int, seed: np.random.SeedSequence | int
) -> np.ndarray:
    """Day indices of a moving-block bootstrap (Kunsch 1989), drawn by
    ``arch.bootstrap.MovingBlockBootstrap``.

    Each resample concatenates ``ceil(n_days / block_length)`` blocks of ``block_length``
    consecutive days, each starting uniformly in ``[0, n_days - block_length]``, cut to
    ``n_days`` days.  Every day, the first and the last included, can be drawn.

    Parameters
    ----------
    n_days : int
        Number of test days (positions 0 .. n_days - 1 in date order), >= 1.
    block_length : int
        Days per block, in [1, n_days].
    samples : int
        Number of resamples, >= 1.
    seed : numpy.random.SeedSequence or int
        Seed of the resampling stream (see :func:`group_seed`).

    Returns
    -------
    ndarray of int, shape (samples, n_days)
        Row ``r`` holds the day positions of resample ``r``.

    Raises
    ------
    InvalidParameterError
        If an argument is out of range.
    """
    if not isinstance(n_days, int | np.integer) or n_days < 1:
        raise InvalidParameterError(f"n_days must be an integer >= 1; got {n_days!r}")
    if not isinstance(block_length, int | np.integer) or not 1 <= block_length <= n_days:
        raise InvalidParameterError(
            f"block_length must be an integer in [1, n_days={n_days}]; got {block_length!r}"
        )
    if not isinstance(samples, int | np.integer) or samples < 1:
        raise InvalidParameterError(f"samples must be an integer >= 1; got {samples!r}")
    # Imported here: arch loads statsmodels and matplotlib (0.8 s), which validate, fit and
    # the workers never need.
    from arch.bootstrap import MovingBlockBootstrap

    bs = MovingBlockBootstrap(
        int(block_length), np.arange(n_days), seed=np.random.default_rng(seed)
    )
    # update_indices() draws what bs.bootstrap() would, without resampling any data.
    return np.stack([bs.update_indices() for _ in range(int(samples))]).astype(np.intp)


def block_bootstrap_ci(
    differences: np.ndarray, indices: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Centred percentile interval of the mean of each column under given resamples.

    Parameters
    ----------
    differences : ndarray, shape (n_days,) or (n_days, k)
        Paired daily differences in bps, days in date order; NaN = no value that day.
    indices : ndarray of int, shape (samples, n_days)
        Resampled day positions, shared by every column (:func:`moving_block_indices`).
    level : float, default 0.95
        Coverage of the two-sided interval, in (0, 1).

    Returns
    -------
    (low, high) : tuple of ndarray, shape (k,), or of float for 1-D ``differences``
        ``mean + quantiles(alpha/2, 1 - alpha/2)`` of the resampled means centred at their
        average; widened if needed to contain the mean.  NaN for a column with fewer than
        two values.

    Raises
    ------
    InvalidParameterError
        If ``level`` is outside (0, 1) or the shapes disagree.
    """
    if not (isinstance(level, float | int) and 0.0 < level < 1.0):
        raise InvalidParameterError(f"level must be in (0, 1); got {level!r}")
    diffs = np.asarray(differences, dtype=float)
    vector = diffs.ndim == 1
    diffs = diffs[:, None] if vector else diffs
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != diffs.shape[0]:
        raise InvalidParameterError(
            f"indices must have shape (samples, {diffs.shape[0]}); got {indices.shape}"
        )
    alpha = 1.0 - level
    low = np.full(diffs.shape[1], np.nan)
    high = np.full(diffs.shape[1], np.nan)
    # One column at a time: each column's numbers never depend on the others (no BLAS tiling).
    for j in range(diffs.shape[1]):
        col = diffs[:, j]
        have = ~np.isnan(col)
        if have.sum() < 2:
            continue
        counts = have[indices].sum(axis=1)
        sums = np.where(have, col, 0.0)[indices].sum(axis=1)
        means = sums[counts > 0] / counts[counts > 0]
        mean = float(np.mean(col[have]))
        q_low, q_high = np.quantile(means - np.mean(means), [alpha / 2.0, 1.0 - alpha / 2.0])
        low[j] = min(mean + q_low, mean)
        high[j] = max(mean + q_high, mean)
    if vector:
        return float(low[0]), float(high[0])
    return low, high


def _verdict(mean: float, low: float, high: float, margin: float, paired: int):
    """(verdict, equivalence_established, verdict_reason) of one row; see module docstring."""
    if paired == 0:
        return None, False, "no day paired with equal"
    if not (np.isfinite(low) and np.isfinite(high)):
        return "equivalent", False, "no interval: not distinguishable from equal"
    if low > 0 and mean > margin:
        return "better", False, "interval above 0 and mean above the margin"
    if high < 0 and mean < -margin:
        return "worse", False, "interval below 0 and mean below minus the margin"
    if -margin <= low and high <= margin:
        return "equivalent", True, "interval within the margin"
    if low > 0 or high < 0:
        return "equivalent", False, "interval excludes 0 but mean within the margin"
    return "equivalent", False, "interval includes 0: not distinguishable from equal"


def split_warnings(values) -> list[str]:
    """Distinct non-empty warnings of row cells ('; '-separated), in first-seen order."""
    seen: dict[str, None] = {}
    for cell in values:
        if isinstance(cell, str):
            for part in cell.split(";"):
                part = part.strip()
                if part:
                    seen.setdefault(part, None)
    return list(seen)


def _strategy_key(order: Sequence[str] | None):
    rank = {name: i for i, name in enumerate(order or ())}

    def key(name: str):
        if name in rank:
            return (0, rank[name], "")
        return (1 if name == BASELINE else 2 if name != ORACLE else 3, 0, name)

    # Given order first; then equal, the rest by name, oracle last.
    return key


def _check(name: str, value, ok: bool, rule: str) -> None:
    if not ok:
        raise InvalidParameterError(f"{name} must be {rule}; got {value!r}")


def summarize(
    results: pd.DataFrame,
    *,
    bootstrap_samples: int = 2000,
    seed: int = 0,
    equivalence_bps: float = 0.1,
    level: float = 0.95,
    block_length: int | None = None,
    tie_bps: float = 1e-9,
    strategy_order: Sequence[str] | None = None,
    mapper=None,
) -> pd.DataFrame:
    """Per (regime, size, strategy) statistics of a results frame, with a paired moving-block
    bootstrap interval of the improvement over ``equal`` and a verdict.

    The method (daily improvement, ties, common random numbers, block length rule, centred
    percentile interval, verdict) is described in the module docstring.  The output does not
    depend on the row order of ``results``.

    Parameters
    ----------
    results : DataFrame
        Tidy results from :func:`simulator.evaluate.evaluate` (columns
        :data:`simulator.daytask.RESULT_COLUMNS`).  Optional per-row columns
        ``beyond_depth_share`` (share of the order filled beyond the visible book) and
        ``warnings`` ('; '-separated text) are summarised when present.
    bootstrap_samples : int, default 2000
        Resamples of the moving-block bootstrap, >= 1.
    seed : int, default 0
        Root seed of the bootstrap streams (one stream per (regime, size_spec)).
    equivalence_bps : float, default 0.1
        Practical-equivalence margin ``m`` of the verdict, in bps of arrival notional, >= 0.
    level : float, default 0.95
        Coverage of the interval, in (0, 1).
    block_length : int, optional
        Days per bootstrap block; default :func:`block_length_rule` of each group's number
        of test days (capped at that number).  1 = days resampled as independent.
    tie_bps : float, default 1e-9
        Numerical tolerance: ``|d_t| <= tie_bps`` is a tie (and ``d_t`` is set to 0); two
        strategies with ``|difference| <= tie_bps`` on every common day are identical.
    strategy_order : sequence of str, optional
        Order of the strategies within a group (e.g. the scenario's); others follow with
        ``equal`` first, the rest by name and ``oracle`` last.
    mapper : callable, optional
        ``mapper(function, items)`` returning ``[function(*item) for item in items]`` in
        order, e.g. :meth:`simulator.evaluate.WorkerPool.starmap` to bootstrap the
        (regime, size) groups on the run's workers.  Each group has its own random stream,
        so the result is the same with any mapper.

    Returns
    -------
    DataFrame
        One row per (regime, size_spec, strategy), sorted by regime, size_spec and strategy
        order, with columns :data:`SUMMARY_COLUMNS`:

        - ``role``: ``baseline`` (equal), ``oracle`` (hindsight bound) or ``strategy``;
        - ``days``: days with a successful row; ``failed``: failed rows; ``paired_days``:
          days with a successful row of both the strategy and ``equal``;
        - ``mean_realized_bps`` ... ``mean_shortfall_bps``: means over the strategy's
          successful rows (``bias_bps``, ``rmse_bps`` of ``error_bps``);
        - ``improvement_bps``: mean of ``d_t`` over paired days; ``improvement_ci_low_bps``,
          ``improvement_ci_high_bps``: its interval (NaN only with a warning);
          ``improvement*_pct``: the same in % of ``equal``'s mean cost on the paired days;
        - ``block_length``: days per bootstrap block used for the group;
        - ``verdict`` (better / worse / equivalent), ``equivalence_established`` (the whole
          interval within +-``equivalence_bps``), ``verdict_reason`` (text);
        - ``win_share``, ``tie_share``, ``loss_share``: shares of paired days with
          ``d_t > tie_bps``, ``|d_t| <= tie_bps``, ``d_t < -tie_bps`` (sum to 1);
          ``win_rate`` = ``win_share`` (kept for callers; ties are not wins);
        - ``identical_to``: the other strategies of the group whose ``realized_bps`` is
          within ``tie_bps`` of this one's on every day both succeeded (', '-separated,
          empty when none);
        - ``mean_captured_saving``, ``mean_solve_ms``; ``mean_beyond_depth_share`` (NaN when
          the results have no ``beyond_depth_share`` column);
        - ``warnings``: '; '-separated text: fewer than :data:`MIN_INTERVAL_DAYS` test days,
          no interval, failed days, and the distinct per-row warnings of the strategy's rows.

    Raises
    ------
    InvalidParameterError
        If a keyword is out of range.
    DataError
        If a (regime, size_spec, strategy, day) has more than one successful row.
    """
    _check(
        "bootstrap_samples",
        bootstrap_samples,
        isinstance(bootstrap_samples, int) and bootstrap_samples >= 1,
        "an integer >= 1",
    )
    _check("seed", seed, isinstance(seed, int) and seed >= 0, "an integer >= 0")
    _check(
        "equivalence_bps",
        equivalence_bps,
        isinstance(equivalence_bps, int | float)
        and math.isfinite(equivalence_bps)
        and equivalence_bps >= 0,
        "finite and >= 0",
    )
    _check("level", level, isinstance(level, int | float) and 0 < level < 1, "in (0, 1)")
    _check(
        "block_length",
        block_length,
        block_length is None or (isinstance(block_length, int) and block_length >= 1),
        "None or an integer >= 1",
    )
    _check(
        "tie_bps",
        tie_bps,
        isinstance(tie_bps, int | float) and math.isfinite(tie_bps) and tie_bps >= 0,
        "finite and >= 0",
    )
    frame = results.copy()
    frame["success"] = frame["success"].astype(bool)
    # A canonical row order: every statistic below is then independent of the input order.
    frame = frame.sort_values(
        ["regime", "size_spec", "strategy", "date", "day_index"], kind="stable"
    ).reset_index(drop=True)
    options = dict(
        bootstrap_samples=bootstrap_samples,
        seed=seed,
        margin=float(equivalence_bps),
        level=float(level),
        block_length=block_length,
        tie_bps=float(tie_bps),
        strategy_order=None if strategy_order is None else tuple(strategy_order),
    )
    groups = [
        (regime, size_spec, grp, options)
        for (regime, size_spec), grp in frame.groupby(_GROUP, sort=True)
    ]
    rows = [row for part in (mapper or _serial)(_group_rows, groups) for row in part]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _serial(function, items):
    return [function(*item) for item in items]


def _group_rows(regime, size_spec, grp: pd.DataFrame, options: dict) -> list[dict]:
    """The summary rows of one (regime, size_spec) group (a task that may run in a worker)."""
    options = dict(options)
    order = options.pop("strategy_order")
    return _summarize_group(regime, size_spec, grp, strategy_key=_strategy_key(order), **options)


def _summarize_group(
    regime,
    size_spec,
    grp: pd.DataFrame,
    *,
    bootstrap_samples: int,
    seed: int,
    margin: float,
    level: float,
    block_length: int | None,
    tie_bps: float,
    strategy_key,
) -> list[dict]:
    """Summary rows of one (regime, size_spec) group (rows sorted canonically)."""
    days = grp[["date", "day_index"]].drop_duplicates().sort_values(["date", "day_index"])
    day_ids = days["day_index"].to_numpy()
    n = day_ids.size
    strategies = sorted(grp["strategy"].unique(), key=strategy_key)
    ok = grp[grp["success"]]
    dup = ok.duplicated(["day_index", "strategy"])
    if dup.any():
        first = ok[dup].iloc[0]
        raise DataError(
            f"results hold more than one successful row for regime {regime!r}, size_spec "
            f"{size_spec!r}, strategy {first['strategy']!r}, day_index {first['day_index']!r}"
        )
    realized = (
        ok.pivot(index="day_index", columns="strategy", values="realized_bps")
        .reindex(index=day_ids, columns=strategies)
        .to_numpy(dtype=float)
    )
    equal = (
        realized[:, strategies.index(BASELINE)] if BASELINE in strategies else np.full(n, np.nan)
    )
    diffs = equal[:, None] - realized
    diffs[np.abs(diffs) <= tie_bps] = 0.0
    b = min(block_length or block_length_rule(n), n)
    if n >= 2:
        idx = moving_block_indices(n, b, bootstrap_samples, group_seed(seed, regime, size_spec))
        lows, highs = block_bootstrap_ci(diffs, idx, level)
    else:
        lows = highs = np.full(len(strategies), np.nan)
    ok_realized = ~np.isnan(realized)
    group_warnings = []
    if n == 1:
        group_warnings.append("only 1 test day: no interval")
    elif n < MIN_INTERVAL_DAYS:
        group_warnings.append(
            f"only {n} test days (fewer than {MIN_INTERVAL_DAYS}): interval unreliable"
        )
    equal_missing = int(n - np.count_nonzero(~np.isnan(equal)))
    by_strategy = dict(tuple(grp.groupby("strategy", sort=False)))
    rows = []
    for j, name in enumerate(strategies):
        rows_all = by_strategy[name]
        mine = rows_all[rows_all["success"]]
        d = diffs[:, j]
        have = ~np.isnan(d)
        paired = int(have.sum())
        dd = d[have]
        mean_d = float(np.mean(dd)) if paired else np.nan
        eq_mean = float(np.mean(equal[have])) if paired else np.nan
        scale = 100.0 / eq_mean if paired and eq_mean != 0 and np.isfinite(eq_mean) else np.nan
        low, high = float(lows[j]), float(highs[j])
        verdict, established, reason = _verdict(mean_d, low, high, margin, paired)
        if name == BASELINE and paired:
            verdict, established, reason = "equivalent", True, "baseline"
        both = ok_realized[:, j][:, None] & ok_realized
        close = np.where(both, np.abs(realized - realized[:, [j]]) <= tie_bps, True)
        identical = [
            other
            for k, other in enumerate(strategies)
            if k != j and both[:, k].any() and close[:, k].all()
        ]
        warnings = list(group_warnings)
        n_ok = int(mine["day_index"].nunique())
        if n_ok < n:
            warnings.append(
                f"failed on {n - n_ok} of {n} test days, statistics use the {n_ok} days it has"
            )
        if equal_missing and name != BASELINE:
            warnings.append(
                f"equal failed on {equal_missing} of {n} test days: those days are unpaired"
            )
        if n >= 2 and paired < 2:
            warnings.append(f"only {paired} day(s) paired with equal: no interval")
        warnings.extend(split_warnings(rows_all.get("warnings", ())))
        err = mine["error_bps"].to_numpy(dtype=float)
        real = mine["realized_bps"].to_numpy(dtype=float)
        rows.append(
            {
                "regime": regime,
                "size_spec": size_spec,
                "size_unit": rows_all["size_unit"].iloc[0],
                "strategy": name,
                "role": "baseline"
                if name == BASELINE
                else "oracle"
                if name == ORACLE
                else "strategy",
                "days": n_ok,
                "failed": int((~rows_all["success"]).sum()),
                "paired_days": paired,
                "mean_size_shares": _mean(mine["size_shares"]),
                "mean_realized_bps": _mean(real),
                "std_realized_bps": float(np.std(real, ddof=1)) if real.size > 1 else np.nan,
                "mean_predicted_bps": _mean(mine["predicted_bps"]),
                "bias_bps": _mean(err),
                "rmse_bps": float(np.sqrt(np.mean(err**2))) if err.size else np.nan,
                "mean_shortfall_bps": _mean(mine["shortfall_bps"]),
                "improvement_bps": mean_d,
                "improvement_ci_low_bps": low,
                "improvement_ci_high_bps": high,
                "improvement_pct": mean_d * scale,
                "improvement_ci_low_pct": low * scale,
                "improvement_ci_high_pct": high * scale,
                "block_length": int(b),
                "verdict": verdict,
                "equivalence_established": bool(established),
                "verdict_reason": reason,
                "win_share": float(np.mean(dd > tie_bps)) if paired else np.nan,
                "tie_share": float(np.mean(np.abs(dd) <= tie_bps)) if paired else np.nan,
                "loss_share": float(np.mean(dd < -tie_bps)) if paired else np.nan,
                "win_rate": float(np.mean(dd > tie_bps)) if paired else np.nan,
                "identical_to": ", ".join(identical),
                "mean_captured_saving": _mean(mine["captured_saving"]),
                "mean_solve_ms": _mean(mine["solve_ms"]),
                "mean_beyond_depth_share": _mean(mine["beyond_depth_share"])
                if "beyond_depth_share" in mine.columns
                else np.nan,
                "warnings": "; ".join(warnings),
            }
        )
    return rows


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.mean(values)) if values.size else np.nan


def sensitivity_table(results: pd.DataFrame) -> pd.DataFrame:
    """Improvement over ``equal`` versus order size, predicted and realised (the seed's
    50k-200k analysis, out of sample).

    Returns
    -------
    DataFrame
        Columns ``regime, strategy, size_spec, size_unit, mean_size_shares,
        predicted_equal_usd, predicted_usd, predicted_improvement_pct, realized_equal_usd,
        realized_usd, realized_improvement_pct``; costs are means over days.
    """
    ok = results[results["success"].astype(bool)]
    keys = ["regime", "size_spec", "day_index"]
    eq = ok.loc[ok["strategy"] == BASELINE, [*keys, "predicted_cost_usd", "realized_cost_usd"]]
    eq = eq.rename(
        columns={
            "predicted_cost_usd": "predicted_cost_usd_equal",
            "realized_cost_usd": "realized_cost_usd_equal",
        }
    )
    joined = ok.merge(eq, on=keys, how="inner")
    grouped = (
        joined.groupby(["regime", "strategy", "size_spec"], sort=False)
        .agg(
            size_unit=("size_unit", "first"),
            mean_size_shares=("size_shares", "mean"),
            predicted_equal_usd=("predicted_cost_usd_equal", "mean"),
            predicted_usd=("predicted_cost_usd", "mean"),
            realized_equal_usd=("realized_cost_usd_equal", "mean"),
            realized_usd=("realized_cost_usd", "mean"),
        )
        .reset_index()
    )
    grouped["predicted_improvement_pct"] = 100.0 * (
        1.0 - grouped["predicted_usd"] / grouped["predicted_equal_usd"]
    )
    grouped["realized_improvement_pct"] = 100.0 * (
        1.0 - grouped["realized_usd"] / grouped["realized_equal_usd"]
    )
    cols = [
        "regime",
        "strategy",
        "size_spec",
        "size_unit",
        "mean_size_shares",
        "predicted_equal_usd",
        "predicted_usd",
        "predicted_improvement_pct",
        "realized_equal_usd",
        "realized_usd",
        "realized_improvement_pct",
    ]
    return grouped[cols].sort_values(
        ["regime", "strategy", "size_spec"], kind="stable", ignore_index=True
    )


def pick_sizes(specs: Sequence[float], limit: int = 3) -> list[float]:
    """At most ``limit`` order sizes for the per-size figures: all when few, otherwise the
    smallest, the middle and the largest (the tables keep every size)."""
    specs = sorted(set(float(s) for s in specs))
    if len(specs) <= limit:
        return specs
    # Half-way positions round up, so 10 sizes give the 1st, 6th and 10th.
    idx = np.unique(np.floor(np.linspace(0, len(specs) - 1, limit) + 0.5).astype(int))
    return [specs[i] for i in idx]


def size_label(spec: float, unit: str) -> str:
    """'2% ADV' for a fraction of average daily volume, '50,000 sh' for shares."""
    if unit == "adv_fraction":
        return f"{100 * spec:.3g}% ADV"
    return f"{spec:,.0f} sh"
