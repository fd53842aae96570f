"""Robust planning: the exact optimum of a model whose per-interval parameters are shrunk
toward a flat profile by as much as their day-to-day noise says (issue 14).

Why
---
A per-interval impact model fitted on a few training days is noisy, and an exact optimiser
concentrates trading exactly where the noise looks cheapest ("error maximisation", Michaud
1989): where liquidity switches state at random within the day (the synthetic ``markov``
regime) there is no intraday pattern to exploit, and every static optimiser pays for the
noise out of sample.  Where a pattern persists (``u_shape``) the same optimiser saves basis
points.  Telling the two apart needs the fit's noise, measured the right way: the pooled
fit's least-squares standard errors treat each (day, level) observation as independent, but
a day's observations move together (a stressed spell widens the spread and thins every
level of the book for many minutes), so the noise of a pooled parameter is its dispersion
*across days* divided by the number of days (days as clusters; Cameron & Miller 2015).  The
problem's :class:`~strategies.evidence.TrainingEvidence` carries each training day's own
parameters for that.

Method
------
For each parameter profile p_t over the N intervals - the log slippage slope at equal's child
order size, ``log(slope_t) + delta_t log(S / N)`` (``slope`` = ``beta`` or ``alpha``), and
the intercept ``h_t`` in dollars per share - :func:`shrink_profile`:

1. splits the pooled estimate into a level, a smooth deviation and a rough remainder:
   ``p = m + s + r`` with ``K p`` the Gaussian kernel smooth of bandwidth
   ``smoothing_fraction * N`` intervals, ``m = mean(K p)``, ``s = K p - m``, ``r = p - K p``;
2. measures the noise of each component from the training days: the same linear maps
   applied to each day's deviation from the days' mean, scaled by 1 / sqrt(n_t (n_t - 1))
   (``n_t`` valid days at t), give matrices E with E'E the noise covariance of the
   component, so the per-interval noise variances v_t and the correlation of the noise
   across neighbouring intervals are both accounted for;
3. shrinks each component by the positive-part empirical-Bayes rule with a prior variance
   tau^2 per component (James & Stein 1961; Efron & Morris 1975; Morris 1983): the
   component at t is multiplied by ``tau^2 / (tau^2 + v_t)``.  tau^2 is a *lower confidence
   bound* of the pattern's variance rather than its unbiased (method-of-moments) estimate:
   ``tau^2 = max(0, mean_t(c_t^2) - mean_t(v_t) q)``, with ``q`` the ``confidence``
   quantile of what the ratio mean(c^2) / mean(v) would be for pure noise: F(k, m k) for a
   noise covariance estimated from m = days - 1 degrees of freedom (chi^2_k / k for a
   known one), where k = tr(C)^2 / tr(C^2) is the effective number of independent
   directions of the noise (Box 1954; Satterthwaite 1946), with tr(C^2) and tr(C)^2
   estimated without the bias a sample covariance gives them (Srivastava 2005).  Under
   Gaussian noise the bound is calibrated (a pure-noise scale is kept in 3.5% of windows at
   0.975, tested).  A profile whose variation the noise explains at that confidence is
   flattened completely; a strong pattern is kept almost entirely.  The unbiased estimate
   (``confidence`` near 0.5) keeps part of a pure-noise component in about half of the
   windows: on markov markets (power model, 40 test days) its interval at 2% of ADV was
   [-0.03, +0.48] and [-0.32, +0.54] bps on two markets, against [-0.00, +0.00] and
   [-0.01, +0.00] bps at 0.975, for no gain where the pattern persists (u_shape, linear,
   30% cap: 1.84 / 1.70 / 2.50 bps against 1.87 / 1.73 / 2.51 at 2 / 8 / 20% of ADV);
4. keeps the level m (well estimated: averaged over every interval) and recombines
   ``m + w_s s + w_r r``.

The shrunk model (same kind, same exponent) is solved exactly by water-filling
(:func:`strategies.exact.solve_exact`) with the problem's bounds.  A flat profile gives the
equal split (projected onto the bounds), so the strategy moves continuously from ``equal``
(nothing persists) to ``exact`` (a strong, persistent pattern).  Finally, the schedule is
never costlier than ``equal`` under the problem's own model: if it were, the best point of
the segment between the two is taken (the cost is convex along it).

Alternatives considered: cross-validating a shrinkage intensity over the training days
(plan on some days, walk the books of the others) needs the training books in every test
day's inputs (1.25 MB per book side, against 62 kB of per-day parameters, for 20 days of
390 intervals x 10 levels) and tens of extra solves per order size, and its selection is
itself noisy on 20 days; a worst-case objective over a parameter ellipsoid needs a conic
solver per schedule.  The empirical-Bayes model stays in the closed-form family, so a
robust schedule costs one exact solve plus a few vectorised passes over the (days, N)
evidence.

Without evidence
----------------
When the problem carries no usable :class:`TrainingEvidence` (None, or fewer than 3
training days - in-sample mode fits on the test day alone), the noise is taken as
independent across intervals with the per-interval standard errors of the model's
diagnostics (``stderr_<parameter>``, from :func:`models.fit_impact_model`); where those are
missing (a hand-built model, or ``h`` in the default ``'half_spread'`` mode, which is not
estimated by least squares) from the differences of neighbouring intervals, ``var =
mean((p_{t+1} - p_t)^2) / 2`` (Rice 1984), which is right for a smooth pattern plus
independent noise. Both understate noise that is correlated across neighbouring intervals
(a stressed spell), so without evidence the schedule is closer to ``exact`` (markov, power
model, 40 test days, 2 / 8 / 20% of ADV: +0.14 / -0.09 / -0.37 bps against exact's +0.08 /
-0.19 / -0.52 and 0.00 with evidence); it is still a sensible, feasible schedule, never
worse than equal under the model.
``SolveResult.message`` names the noise source used.

References
----------
Box, G. E. P. (1954). Some theorems on quadratic forms applied in the study of analysis of
variance problems, I. Annals of Mathematical Statistics 25(2), 290-302.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
Journal of Human Resources 50(2), 317-372.
Efron, B. and Morris, C. (1975). Data analysis using Stein's estimator and its
generalizations. Journal of the American Statistical Association 70(350), 311-319.
James, W. and Stein, C. (1961). Estimation with quadratic loss. Proceedings of the Fourth
Berkeley Symposium on Mathematical Statistics and Probability 1, 361-379.
Jorion, P. (1986). Bayes-Stein estimation for portfolio analysis. Journal of Financial and
Quantitative Analysis 21(3), 279-292.
Michaud, R. O. (1989). The Markowitz optimization enigma: is 'optimized' optimal? Financial
Analysts Journal 45(1), 31-42.
Morris, C. N. (1983). Parametric empirical Bayes inference: theory and applications.
Journal of the American Statistical Association 78(381), 47-55.
Rice, J. (1984). Bandwidth choice for nonparametric regression. Annals of Statistics 12(4),
1215-1230.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
components. Biometrics Bulletin 2(6), 110-114.
Srivastava, M. S. (2005). Some tests concerning the covariance matrix in high dimensional
data. Journal of the Japan Statistical Society 35(2), 251-272.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from models import LinearImpact, PowerLawImpact
from models.errors import InvalidParameterError

from .base import OptimizingStrategy, SolveResult
from .evidence import SLOPE_NAMES, TrainingEvidence
from .exact import project_capped_simplex, solve_exact
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "RobustStrategy",
    "ShrunkModel",
    "ProfileShrinkage",
    "shrink_profile",
    "day_deviations",
    "effective_dims",
    "noise_quantile",
    "NOISE_SOURCES",
    "MIN_EVIDENCE_DAYS",
]

MIN_EVIDENCE_DAYS = 3
"""Training days the evidence needs before its dispersion is used as the noise."""

NOISE_SOURCES = ("per_day", "stderr", "differences")
"""Where the noise of a parameter profile came from (see the module docstring)."""

_SCALES = ("smooth", "rough")
_COST_RTOL = 1e-12  # relative excess over equal's model cost treated as rounding


@dataclass(frozen=True, eq=False)
class ProfileShrinkage:
    """Outcome of :func:`shrink_profile` for one parameter profile.

    Attributes
    ----------
    values : ndarray (N,)
        The shrunk profile, units of the input.
    kept : dict of str to float
        Per scale (``'smooth'``, ``'rough'``), the mean over intervals of the factor
        ``tau^2 / (tau^2 + v_t)`` the component was multiplied by (0 = flattened, 1 = kept).
    effective_dims : dict of str to float
        Per scale, k = tr(C)^2 / tr(C^2) of the component's noise covariance C.
    """

    values: np.ndarray
    kept: dict[str, float]
    effective_dims: dict[str, float]


@dataclass(frozen=True, eq=False)
class ShrunkModel:
    """The model robust planning optimises, and how it was obtained.

    Attributes
    ----------
    model : LinearImpact or PowerLawImpact
        The problem's model with shrunk slope and intercept profiles (same kind, exponent
        and side).
    noise_source : dict of str to str
        Per parameter (``'beta'`` or ``'alpha'``, and ``'h'``), one of :data:`NOISE_SOURCES`.
    kept : dict of str to float
        ``'<parameter>_<scale>'`` -> mean factor kept (see :class:`ProfileShrinkage`).
    """

    model: object
    noise_source: dict[str, str]
    kept: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: the noise sources and the shares of each component kept."""
        sources = ", ".join(f"{k} from {v}" for k, v in self.noise_source.items())
        kept = ", ".join(f"{k} {v:.2f}" for k, v in self.kept.items())
        return f"noise: {sources}; kept: {kept}"


def day_deviations(values: np.ndarray) -> np.ndarray:
    """Noise factor E of the mean over days of per-day profiles: E'E is its covariance.

    Parameters
    ----------
    values : ndarray (D, N)
        Each day's value at each interval; NaN where the day has none.

    Returns
    -------
    ndarray (M, N)
        Rows ``(p_d - mean_t) / sqrt(n_t (n_t - 1))`` per day (0 where the day has no
        value), ``n_t`` the valid days at t; so ``E'E`` is the sample covariance of the
        days divided by the number of days, the covariance of their mean.  Intervals with
        fewer than 2 valid days have no measurable noise: they get the largest variance of
        the others in an extra row of their own (M = D + 1), so they are shrunk the most.
    """
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    n = ok.sum(axis=0)
    total = np.where(ok, values, 0.0).sum(axis=0)
    mean = total / np.maximum(n, 1)
    scale = np.where(n > 1, 1.0 / np.sqrt(np.maximum(n * (n - 1.0), 1.0)), 0.0)
    e = np.where(ok, values - mean, 0.0) * scale
    few = n < 2
    if few.any():
        var = np.einsum("dn,dn->n", e, e)
        worst = float(np.sqrt(var[~few].max())) if (~few).any() else 0.0
        e = np.vstack([e, np.where(few, worst, 0.0)[None, :]])
    return e


def effective_dims(noise: np.ndarray, noise_dof: float | None = None) -> float:
    """Effective number k = tr(C)^2 / tr(C^2) of independent directions of a noise.

    Parameters
    ----------
    noise : ndarray (M, N)
        Noise factor E, C = E'E.
    noise_dof : float or None
        Degrees of freedom m of C when it is a sample covariance (days - 1); None when C
        is known.  The plug-in ratio is then biased low (tr(S^2) carries sampling noise):
        tr(C^2) and tr(C)^2 are replaced by their unbiased estimates under normality,
        (tr(S^2) - tr(S)^2 / m) / (1 + 1/m - 2/m^2) and tr(S)^2 - 2 tr(C^2) / m
        (Srivastava 2005).

    Returns
    -------
    float
        k in [1, N], or 0 when the noise is 0.
    """
    v = np.einsum("mn,mn->n", noise, noise)
    trace = float(v.sum())
    if not trace > 0:
        return 0.0
    gram = noise @ noise.T
    a = trace * trace
    b = float(np.einsum("ij,ij->", gram, gram))
    if noise_dof is not None and noise_dof > 2:
        m = float(noise_dof)
        b_hat = (b - a / m) / (1.0 + 1.0 / m - 2.0 / (m * m))
        a_hat = a - 2.0 * b_hat / m
        k = a_hat / b_hat if b_hat > 0 and a_hat > 0 else float(noise.shape[1])
    else:
        k = a / b
    return float(min(max(k, 1.0), noise.shape[1]))


def noise_quantile(confidence: float, k: float, noise_dof: float | None = None) -> float:
    """The ``confidence`` quantile of the ratio (pure-noise mean square) / (its expectation).

    chi^2_k / k when the noise covariance is known (``noise_dof`` None); F(k, m k) when it
    is estimated from m = ``noise_dof`` degrees of freedom (the denominator's own
    chi^2_{m k} / (m k) spread, Satterthwaite 1946).
    """
    from scipy.special import fdtri, gammaincinv  # imported on first use, as scipy.ndimage

    if noise_dof is None:
        return float(2.0 * gammaincinv(0.5 * k, confidence) / k)
    return float(fdtri(k, k * float(noise_dof), confidence))


def _smooth(values: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel smooth along the last axis (edges repeated), or the mean for 0."""
    if bandwidth <= 0:
        return np.broadcast_to(values.mean(axis=-1, keepdims=True), values.shape)
    # Imported here: scipy.ndimage and scipy.special cost about 110 ms to import, and
    # `import strategies` should not pay it for a strategy that may never run.
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values, bandwidth, axis=-1, mode="nearest", truncate=4.0)


def shrink_profile(
    estimate: np.ndarray,
    noise: np.ndarray,
    bandwidth: float,
    confidence: float = 0.975,
    noise_dof: float | None = None,
) -> ProfileShrinkage:
    """Two-scale positive-part empirical-Bayes shrinkage of a profile toward its level.

    Parameters
    ----------
    estimate : ndarray (N,)
        The pooled estimate of the profile (any units).
    noise : ndarray (M, N)
        Noise factor E of ``estimate``: E'E is its noise covariance (:func:`day_deviations`,
        or ``diag(stderr)`` for independent noise).
    bandwidth : float
        Standard deviation of the Gaussian kernel of the smooth scale, in intervals (>= 0;
        0: the smooth scale is empty and the whole deviation from the mean is one scale).
    confidence : float, default 0.975
        Level of the lower confidence bound of each scale's pattern variance, in (0, 1)
        (module docstring).
    noise_dof : float or None, default None
        Degrees of freedom of the noise covariance when it is estimated (days - 1 for
        :func:`day_deviations`); None when it is known (standard errors).

    Returns
    -------
    ProfileShrinkage
    """
    p = np.asarray(estimate, dtype=float)
    e = np.asarray(noise, dtype=float)
    smoothed = _smooth(np.vstack([p[None, :], e]), bandwidth)  # one pass for both
    smooth_p, smooth_e = smoothed[0], smoothed[1:]
    level = float(smooth_p.mean())
    parts = {
        "smooth": (smooth_p - level, smooth_e - smooth_e.mean(axis=-1, keepdims=True)),
        "rough": (p - smooth_p, e - smooth_e),
    }
    out = np.full(p.shape, level)
    kept, dims = {}, {}
    for scale in _SCALES:
        c, ec = parts[scale]
        v = np.einsum("mn,mn->n", ec, ec)
        k = effective_dims(ec, noise_dof)
        if k > 0:
            q = noise_quantile(confidence, k, noise_dof)
            tau2 = max(0.0, float(np.mean(c * c)) - float(np.mean(v)) * q)
        else:  # no measurable noise: the component is what it is (unless only rounding)
            scale_p = float(np.max(np.abs(p))) if p.size else 0.0
            tau2 = math.inf if np.max(np.abs(c), initial=0.0) > 1e-12 * scale_p else 0.0
        if math.isinf(tau2):
            w = np.ones_like(v)
        else:
            denom = tau2 + v
            w = np.divide(tau2, denom, out=np.zeros_like(v), where=denom > 0)
        out += w * c
        kept[scale] = float(w.mean())
        dims[scale] = k
    return ProfileShrinkage(values=out, kept=kept, effective_dims=dims)


def _independent(stderr: np.ndarray | None, values: np.ndarray) -> tuple[np.ndarray, str]:
    """diag(stderr) where finite, else the difference-based (Rice 1984) noise level."""
    n = values.shape[0]
    if stderr is not None and np.all(np.isfinite(stderr)):
        return np.diag(stderr), "stderr"
    var = float(np.mean(np.diff(values) ** 2) / 2.0) if n > 1 else 0.0
    return np.diag(np.full(n, math.sqrt(var))), "differences"


def _model_stderr(problem: AllocationProblem, name: str) -> np.ndarray | None:
    ev = problem.evidence
    if ev is not None and name in ev.stderr:
        return np.asarray(ev.stderr[name], dtype=float)
    diag = getattr(problem.model, "diagnostics", None)
    column = f"stderr_{name}"
    if diag is not None and column in diag.columns:
        return diag[column].to_numpy(dtype=float)
    return None


def _usable(evidence: TrainingEvidence | None, kind: str) -> bool:
    return (
        evidence is not None
        and evidence.kind == kind
        and int(np.max(evidence.valid_days())) >= MIN_EVIDENCE_DAYS
    )


@register("robust")
@dataclass(frozen=True)
class RobustStrategy(OptimizingStrategy):
    """Exact optimum of the model with its per-interval parameters shrunk by their noise.

    Empirical-Bayes shrinkage of the slippage slope (in logs, at equal's child order size)
    and the intercept h toward a flat profile, on two scales (smooth and rough), by a lower
    confidence bound of how much intraday pattern the training days show beyond their
    day-to-day noise; then exact water-filling on the shrunk model.  With no persistent
    pattern the schedule is the equal split; with a strong one it is close to ``exact``'s.
    Method, justification and references: :mod:`strategies.robust`.

    The noise comes from the problem's ``evidence`` (each training day's own parameters,
    filled in by the evaluator).  Without evidence, the model's per-interval standard
    errors or the differences of neighbouring intervals are used as independent noise: a
    sensible schedule still, but closer to ``exact`` when the noise is correlated across
    intervals.  The schedule is never costlier than ``equal`` under the problem's model.
    Linear and power-law models; bounds (caps) are respected exactly.

    Parameters
    ----------
    smoothing_fraction : float, default 0.015
        Bandwidth (standard deviation) of the Gaussian kernel that separates the smooth
        scale from the rough one, as a fraction of the N intervals of the day (0.015 = 5.85
        one-minute intervals of 390); finite, in [0, 1].  0 shrinks the whole deviation
        from the mean as one scale.
    confidence : float, default 0.975
        Confidence level of the lower bound of each scale's pattern variance, in (0, 1):
        higher flattens more.  0.5 is close to the unbiased (method-of-moments) estimate.
    """

    description: ClassVar[str] = (
        "Exact optimum of the model shrunk toward flat by its day-to-day noise (empirical Bayes)"
    )
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear", "power")
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"smoothing_fraction": -0.1},
        {"smoothing_fraction": 1.5},
        {"confidence": 1.0},
        {"confidence": 0.0},
        {"confidence": "high"},
    )

    smoothing_fraction: float = 0.015
    confidence: float = 0.975

    def __post_init__(self) -> None:
        for name, low, high, closed in (
            ("smoothing_fraction", 0.0, 1.0, True),
            ("confidence", 0.0, 1.0, False),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameterError(
                    f"The {name!r} parameter of RobustStrategy must be a number; got {value!r}"
                )
            ok = math.isfinite(value) and (low <= value <= high if closed else low < value < high)
            if not ok:
                interval = f"[{low:g}, {high:g}]" if closed else f"({low:g}, {high:g})"
                raise InvalidParameterError(
                    f"The {name!r} parameter of RobustStrategy must be in {interval}; got {value!r}"
                )
            object.__setattr__(self, name, float(value))

    def shrunk_model(self, problem: AllocationProblem) -> ShrunkModel:
        """The shrunk model of ``problem`` (the one :meth:`solve` optimises).

        Parameters
        ----------
        problem : AllocationProblem
            Linear or power-law model, with or without ``evidence``.

        Returns
        -------
        ShrunkModel

        Raises
        ------
        InvalidParameterError
            If the model is not linear or power-law (the message names the kind).
        """
        problem = self._check(problem)
        model = problem.model
        kind = problem.kind
        n = problem.n_intervals
        slope_name = SLOPE_NAMES[kind]
        delta = np.ones(n) if kind == "linear" else np.asarray(model.delta, dtype=float)
        # The log slippage slope at equal's child order: comparable across intervals even
        # when the exponent differs between them.
        shift = delta * math.log(problem.total_shares / n)
        theta = np.log(np.asarray(getattr(model, slope_name), dtype=float)) + shift
        h = np.asarray(model.h, dtype=float)
        ev = problem.evidence
        sources = {}
        if _usable(ev, kind):
            with np.errstate(invalid="ignore", divide="ignore"):
                per_theta = np.log(np.asarray(ev.per_day[slope_name], dtype=float)) + shift
            noise_theta = day_deviations(per_theta)
            noise_h = day_deviations(np.asarray(ev.per_day["h"], dtype=float))
            sources = {slope_name: "per_day", "h": "per_day"}
            dof = float(ev.n_days - 1)
        else:
            dof = None
            se = _model_stderr(problem, slope_name)
            se_theta = None if se is None else se / np.asarray(getattr(model, slope_name))
            noise_theta, sources[slope_name] = _independent(se_theta, theta)
            noise_h, sources["h"] = _independent(_model_stderr(problem, "h"), h)
        bandwidth = self.smoothing_fraction * n
        s_theta = shrink_profile(theta, noise_theta, bandwidth, self.confidence, dof)
        s_h = shrink_profile(h, noise_h, bandwidth, self.confidence, dof)
        slope = np.exp(s_theta.values - shift)
        h_new = np.maximum(s_h.values, 0.0)
        if kind == "linear":
            shrunk = LinearImpact(beta=slope, h=h_new, side=model.side)
        else:
            shrunk = PowerLawImpact(alpha=slope, delta=delta, h=h_new, side=model.side)
        kept = {f"{slope_name}_{k}": v for k, v in s_theta.kept.items()}
        kept.update({f"h_{k}": v for k, v in s_h.kept.items()})
        return ShrunkModel(model=shrunk, noise_source=sources, kept=kept)

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Shrink, solve exactly, and keep the schedule no costlier than equal's.

        Returns
        -------
        SolveResult
            ``message`` names the noise source of each parameter and the share of each
            component kept; ``objective`` is under the problem's (unshrunk) model.  Always
            ``success``: the solve is exact on a valid problem.

        Raises
        ------
        InvalidParameterError
            If the model is not linear or power-law.
        """
        problem = self._check(problem)
        t0 = time.perf_counter()
        shrunk = self.shrunk_model(problem)
        s = problem.total_shares
        x = solve_exact(shrunk.model, s, problem.lower, problem.upper, validate=False)
        n = problem.n_intervals
        equal = project_capped_simplex(np.full(n, s / n), s, problem.lower, problem.upper)[0]
        fx, fe = problem.objective(x), problem.objective(equal)
        note = ""
        # A flattened model's optimum is equal's split to rounding: only a real excess (not
        # the last ulps of two sums) calls for the segment search.
        if fx > fe * (1.0 + _COST_RTOL):
            x, t = _best_on_segment(problem, equal, x, fe)
            note = f"; moved to {t:.3f} of the way from equal (costlier than equal under the model)"
        return self._remember(
            SolveResult(
                x=x,
                success=True,
                message=f"robust: {shrunk.describe()}{note}",
                objective=problem.objective(x),
                n_iter=0,
                solve_ms=1e3 * (time.perf_counter() - t0),
            )
        )


def _best_on_segment(problem, equal, x, f_equal, iterations: int = 60):
    """Golden-section minimum of the (convex) model cost on [equal, x]; never above equal."""
    d = x - equal
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = 0.0, 1.0
    c, e = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fe_ = problem.objective(equal + c * d), problem.objective(equal + e * d)
    for _ in range(iterations):
        if fc <= fe_:
            b, e, fe_ = e, c, fc
            c = b - inv_phi * (b - a)
            fc = problem.objective(equal + c * d)
        else:
            a, c, fc = c, e, fe_
            e = a + inv_phi * (b - a)
            fe_ = problem.objective(equal + e * d)
    t = c if fc <= fe_ else e
    if min(fc, fe_) > f_equal:
        t = 0.0
    # Convex combination of two feasible schedules: feasible, with the exact total.
    return equal + t * d, t
