"""Failed rows at a glance: which strategy failed at which size, how often, and why."""

from __future__ import annotations

import pandas as pd

__all__ = ["failure_table"]


def failure_table(results: pd.DataFrame) -> pd.DataFrame:
    """Failed (regime, size, strategy) groups: count of failed rows and the first reason.

    Returns
    -------
    DataFrame
        Columns ``regime, size_spec, strategy, failed_rows, of_rows, first_reason``; empty
        when every row succeeded.
    """
    cols = ["regime", "size_spec", "strategy", "failed_rows", "of_rows", "first_reason"]
    if results.empty or results["success"].all():
        return pd.DataFrame(columns=cols)
    keys = ["regime", "size_spec", "strategy"]
    grouped = results.groupby(keys, sort=False)
    table = grouped.agg(
        failed_rows=("success", lambda s: int((~s.astype(bool)).sum())),
        of_rows=("success", "size"),
    ).reset_index()
    first = (
        results[~results["success"].astype(bool)]
        .groupby(keys, sort=False)["message"]
        .first()
        .rename("first_reason")
        .reset_index()
    )
    table = table[table["failed_rows"] > 0].merge(first, on=keys, how="left")
    return table[cols].reset_index(drop=True)
