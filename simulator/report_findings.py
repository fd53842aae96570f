"""The report's findings: sentences that follow the summary's verdicts, never the raw numbers.

Rules (issue 11 and 14), per (regime, order size):

* A strategy is called better or worse than ``equal`` only when its ``verdict`` says so;
  an ``equivalent`` strategy is "equivalent to equal within +-m bps" when
  ``equivalence_established`` (the whole interval within the margin), otherwise "not
  distinguishable from equal".  No sentence says "significantly".
* Strategies with identical results on every day (``identical_to``) are named together
  as identical ("analytical = exact") and never ranked against each other.
* The best strategy is named only among ``better`` strategies; those whose mean
  improvements lie within the margin of the top one are tied and named together.
* ``equal`` (the baseline) and ``oracle`` (the hindsight bound) are never ranked.
* A ``worse`` strategy is shown with its prediction bias (mean realised minus predicted
  bps) beside equal's; when the planning model predicted it would save more than the
  margin over equal, it believed the minutes it chose were cheap (error maximisation on a
  noisy fit), and the sentence says so and points to the ``robust`` strategy.
* Every group states the model and the market that produced its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .score import BASELINE, ORACLE
from .summary import size_label

__all__ = ["GroupFindings", "group_findings", "ROBUST"]

ROBUST = "robust"
"""Registry name of the strategy the findings point to when an optimiser loses to equal."""


@dataclass(frozen=True)
class GroupFindings:
    """Findings of one (regime, order size) group.

    Attributes
    ----------
    regime : str
    size_spec : float
    title : str
        "u_shape · 2% ADV (4,621 sh on average) · 10 test days".
    context : str
        The model and the market that produced the numbers.
    sentences : tuple of str
        Headline first (best or none), then one sentence per strategy (identical ones
        together), then the oracle.
    """

    regime: str
    size_spec: float
    title: str
    context: str
    sentences: tuple[str, ...]


def _bps(value: float, signed: bool = True) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _pct(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.0f}%"


def _ci(row) -> str:
    lo, hi = row["improvement_ci_low_bps"], row["improvement_ci_high_bps"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no 95% interval"
    return f"95% CI {_bps(lo)} to {_bps(hi)} bps"


def _partners(cell) -> list[str]:
    return [p.strip() for p in str(cell).split(",") if p.strip()] if isinstance(cell, str) else []


def _identity_units(group: pd.DataFrame) -> list[list[str]]:
    """Strategies of a group merged into sets with identical results (drawing order)."""
    names = list(group["strategy"])
    present = set(names)
    seen: set[str] = set()
    units = []
    for name in names:
        if name in seen:
            continue
        row = group.loc[group["strategy"] == name].iloc[0]
        unit = [name] + [p for p in _partners(row["identical_to"]) if p in present and p != name]
        unit = [u for u in dict.fromkeys(unit) if u not in seen]
        seen.update(unit)
        units.append(unit)
    return units


def _win_tie_loss(row) -> str:
    return (
        f"wins {_pct(row['win_share'])}, ties {_pct(row['tie_share'])}, "
        f"losses {_pct(row['loss_share'])} of {int(row['paired_days'])} paired days"
    )


def _verdict_sentence(name: str, row, margin: float, equal, robust: dict) -> str:
    verdict = row["verdict"]
    mean = row["improvement_bps"]
    if verdict == "better":
        text = (
            f"{name}: better than equal, saves {_bps(mean, False)} bps ({_ci(row)}; "
            f"{_bps(row['improvement_pct'], False)}% of equal's cost); {_win_tie_loss(row)}."
        )
    elif verdict == "worse":
        text = (
            f"{name}: worse than equal, costs {_bps(-mean, False)} bps more (improvement "
            f"{_bps(mean)} bps, {_ci(row)}); {_win_tie_loss(row)}. "
            + _bias_sentence(row, margin, equal, robust)
        )
    elif verdict == "equivalent" and bool(row["equivalence_established"]):
        text = (
            f"{name}: equivalent to equal within ±{margin:g} bps "
            f"(mean {_bps(mean)} bps, {_ci(row)})."
        )
    elif verdict == "equivalent":
        reason = str(row.get("verdict_reason", "") or "").strip()
        if reason.startswith("interval excludes 0"):
            why = f"the mean {_bps(mean)} bps lies within the ±{margin:g} bps margin; {_ci(row)}"
        elif reason.startswith("no interval") or not np.isfinite(row["improvement_ci_low_bps"]):
            n = int(row["paired_days"])
            why = f"{_bps(mean)} bps on {n} paired day{'s' * (n != 1)}, too few for an interval"
        else:
            why = f"the interval includes 0: mean {_bps(mean)} bps, {_ci(row)}"
        text = f"{name}: not distinguishable from equal ({why})."
    else:
        text = f"{name}: no verdict (no day paired with equal)."
    return text


def _bias_sentence(row, margin: float, equal: pd.Series | None, robust: dict) -> str:
    """Prediction bias of a ``worse`` strategy beside equal's; when the planning model
    predicted a saving over equal (it chose minutes it believed cheap), say so and point to
    ``robust``."""
    bias = row["bias_bps"]
    equal_bias = float(equal["bias_bps"]) if equal is not None else np.nan
    predicted_saving = (
        float(equal["mean_predicted_bps"]) - float(row["mean_predicted_bps"])
        if equal is not None
        else np.nan
    )
    ref = f"equal's {_bps(equal_bias)} bps"
    if np.isfinite(predicted_saving) and predicted_saving > margin:
        return (
            f"It believed the minutes it chose were cheap: bias {_bps(bias)} bps (realised "
            f"minus predicted; {ref}); the model predicted a saving of "
            f"{_bps(predicted_saving, False)} bps over equal. " + _robust_pointer(robust)
        )
    return f"Prediction bias {_bps(bias)} bps (realised minus predicted; {ref})."


def _robust_pointer(robust: dict) -> str:
    if not robust:
        return (
            "The signature of error maximisation on a noisy per-minute fit; the `robust` "
            "strategy (not in this run) is built for it."
        )
    parts = []
    for label, row in robust.items():
        verdict = row["verdict"]
        if verdict == "better":
            state = "better than equal"
        elif verdict == "worse":
            state = "worse than equal"
        elif verdict == "equivalent" and bool(row["equivalence_established"]):
            state = "equivalent to equal"
        else:
            state = "not distinguishable from equal"
        parts.append(
            f"{label} in the same setting: {state}, improvement {_bps(row['improvement_bps'])} "
            f"bps ({_ci(row)})"
        )
    return (
        "The signature of error maximisation on a noisy per-minute fit; compare "
        + "; ".join(parts)
        + "."
    )


def group_findings(
    summary: pd.DataFrame,
    *,
    margin_bps: float,
    contexts: dict[str, str] | None = None,
    certified: dict[str, bool | None] | None = None,
    robust_labels: set[str] | frozenset[str] = frozenset(),
) -> list[GroupFindings]:
    """Findings per (regime, size_spec) of a summary, following its verdicts.

    Parameters
    ----------
    summary : DataFrame
        :func:`simulator.summary.summarize` output (``identical_to`` as text, '' = none).
    margin_bps : float
        The practical-equivalence margin the verdicts used, bps.
    contexts : dict of str to str, optional
        Model and market description per regime.
    certified : dict of str to bool or None, optional
        Whether each regime's oracle is certified for its market (captured shares are
        quoted only then).
    robust_labels : set of str
        Labels of the run whose registry name is ``robust``.

    Returns
    -------
    list of GroupFindings
    """
    contexts = contexts or {}
    certified = certified or {}
    out = []
    for (regime, spec), group in summary.groupby(["regime", "size_spec"], sort=False):
        regime = str(regime)
        group = group[group["days"] > 0]
        if group.empty:
            continue
        unit = group["size_unit"].iloc[0]
        shares = float(group["mean_size_shares"].mean())
        n_days = int(group["days"].max())
        size_text = size_label(spec, unit)
        if unit == "adv_fraction" and np.isfinite(shares):
            size_text += f" ({shares:,.0f} sh on average)"
        title = f"{regime} · {size_text} · {n_days} test day{'s' * (n_days != 1)}"
        by_name = group.set_index("strategy")
        equal = by_name.loc[BASELINE] if BASELINE in by_name.index else None
        tradable = group[~group["strategy"].isin([BASELINE, ORACLE])]
        robust = {name: by_name.loc[name] for name in tradable["strategy"] if name in robust_labels}
        units = _identity_units(tradable)
        sentences = []
        # Identity first: the reader must know which names are one schedule.
        for unit_names in units:
            if len(unit_names) > 1:
                sentences.append(
                    f"{' and '.join(unit_names)} gave identical results on every day "
                    f"(identical schedules); reported together as {' = '.join(unit_names)}."
                )
        sentences.insert(0, _best_sentence(by_name, units, margin_bps, certified.get(regime)))
        if BASELINE in by_name.index:
            eq = by_name.loc[BASELINE]
            sentences.append(
                f"equal (baseline): realised {_bps(eq['mean_realized_bps'], False)} bps, "
                f"predicted {_bps(eq['mean_predicted_bps'], False)} bps."
            )
        ordered = sorted(
            units,
            key=lambda u: -np.nan_to_num(by_name.loc[u[0], "improvement_bps"], nan=-np.inf),
        )
        for unit_names in ordered:
            row = by_name.loc[unit_names[0]]
            sentences.append(
                _verdict_sentence(
                    " = ".join(unit_names),
                    row,
                    margin_bps,
                    equal,
                    {k: v for k, v in robust.items() if k not in unit_names},
                )
            )
        if ORACLE in by_name.index:
            sentences.append(_oracle_sentence(by_name.loc[ORACLE], certified.get(regime)))
        out.append(
            GroupFindings(
                regime=regime,
                size_spec=float(spec),
                title=title,
                context=contexts.get(regime, ""),
                sentences=tuple(sentences),
            )
        )
    return out


def _best_sentence(by_name: pd.DataFrame, units, margin: float, certified) -> str:
    better = [u for u in units if by_name.loc[u[0], "verdict"] == "better"]
    if not better:
        worse = [u for u in units if by_name.loc[u[0], "verdict"] == "worse"]
        text = "No strategy beat equal at this size"
        if worse:
            text += "; worse than equal: " + ", ".join(" = ".join(u) for u in worse)
        return text + "."
    top = max(float(by_name.loc[u[0], "improvement_bps"]) for u in better)
    tied = [u for u in better if float(by_name.loc[u[0], "improvement_bps"]) >= top - margin]
    tied.sort(key=lambda u: -float(by_name.loc[u[0], "improvement_bps"]))

    def one(u):
        row = by_name.loc[u[0]]
        text = f"{' = '.join(u)} ({_bps(row['improvement_bps'], False)} bps"
        if certified and np.isfinite(row.get("mean_captured_saving", np.nan)):
            text += f", {_pct(row['mean_captured_saving'])} of the hindsight saving"
        return text + ")"

    if len(tied) == 1:
        return f"Best: {one(tied[0])}, better than equal."
    return (
        f"Best, tied (mean improvements within the ±{margin:g} bps margin of each other): "
        + "; ".join(one(u) for u in tied)
        + "."
    )


def _oracle_sentence(row, certified) -> str:
    text = (
        f"Hindsight bound (oracle, not a tradable strategy and not ranked): "
        f"{_bps(row['improvement_bps'], False)} bps below equal were available on average"
    )
    if certified is False:
        text += (
            " under a static book; it is not the optimum under this market's transient impact, "
            "so no captured share is computed"
        )
    return text + "."
