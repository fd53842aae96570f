"""Impact models: validation, vectorised evaluation, serialisation and summaries."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from models import (
    BaseImpact,
    BookImpact,
    DataError,
    ImpactModel,
    InvalidParameterError,
    InvalidTypeError,
    LinearImpact,
    NotFittedError,
    PowerLawImpact,
    load_model,
    walk_levels,
)

N = 6


def _linear():
    return LinearImpact(beta=np.linspace(1e-5, 3e-5, N), h=np.linspace(0.0, 0.02, N))


def _power():
    return PowerLawImpact(
        alpha=np.linspace(1e-3, 2e-3, N), delta=np.linspace(0.3, 1.5, N), h=0.01, side="sell"
    )


def _book():
    offsets = np.array([[0.01, 0.02, 0.05, np.nan]] * N) + np.arange(N)[:, None] * 0.001
    sizes = np.where(np.isfinite(offsets), np.array([100.0, 50.0, 300.0, 0.0]), 0.0)
    return BookImpact(
        offsets=offsets, sizes=sizes, reference_mid=np.full(N, 40.0), beyond_depth_bps=10.0
    )


MODELS = {"linear": _linear, "power": _power, "book": _book}


@pytest.fixture(params=sorted(MODELS))
def model(request):
    return MODELS[request.param]()


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("factory", "name", "value"),
    [
        (lambda: LinearImpact(beta=[1e-5, -2e-5]), "beta", "-2e-05"),
        (lambda: LinearImpact(beta=[1e-5, 0.0]), "beta", "0.0"),
        (lambda: LinearImpact(beta=[1e-5, 1e-5], h=[0.0, -0.01]), "h", "-0.01"),
        (lambda: LinearImpact(beta=[1e-5, np.nan]), "beta", "nan"),
        (lambda: PowerLawImpact(alpha=[1.0, 1.0], delta=0.0), "delta", "0.0"),
        (lambda: PowerLawImpact(alpha=[1.0, -3.0], delta=0.5), "alpha", "-3.0"),
        (lambda: PowerLawImpact(alpha=[1.0, 1.0], delta=[0.5, np.inf]), "delta", "inf"),
        (
            lambda: BookImpact(offsets=[[0.02, 0.01]], sizes=[[1.0, 1.0]], reference_mid=[10.0]),
            "offsets",
            "0.01",
        ),
        (
            lambda: BookImpact(offsets=[[-0.02, 0.01]], sizes=[[1.0, 1.0]], reference_mid=[10.0]),
            "offsets",
            "-0.02",
        ),
        (
            lambda: BookImpact(offsets=[[0.01, 0.02]], sizes=[[1.0, -1.0]], reference_mid=[10.0]),
            "sizes",
            "-1.0",
        ),
        (
            lambda: BookImpact(offsets=[[0.01]], sizes=[[1.0]], reference_mid=[0.0]),
            "reference_mid",
            "0.0",
        ),
    ],
)
def test_validation_error_names_parameter_and_value(factory, name, value):
    with pytest.raises(InvalidParameterError) as info:
        factory()
    message = str(info.value)
    assert message.startswith(name)
    assert value in message
    assert "\n" not in message


def test_scalar_parameters_need_n_intervals():
    with pytest.raises(InvalidParameterError, match="n_intervals"):
        LinearImpact(beta=1e-5)
    model = LinearImpact(beta=1e-5, h=0.01, n_intervals=4)
    np.testing.assert_array_equal(model.beta, np.full(4, 1e-5))
    assert model.n_intervals == 4
    with pytest.raises(InvalidParameterError, match="h must have length 3; got length 2"):
        LinearImpact(beta=[1.0, 1.0, 1.0], h=[0.0, 0.0])
    with pytest.raises(InvalidTypeError, match="beta"):
        LinearImpact(beta=["a", "b"])
    with pytest.raises(InvalidParameterError, match="side must be 'buy' or 'sell'; got 'hold'"):
        LinearImpact(beta=[1.0], side="hold")


def test_parameters_are_read_only(model):
    arrays = [v for v in vars(model).values() if isinstance(v, np.ndarray)]
    assert arrays
    for arr in arrays:
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


def test_shares_validation(model):
    with pytest.raises(InvalidParameterError, match=r"x must have shape \(\.\.\., 6\)"):
        model.cost(np.ones(5))
    with pytest.raises(InvalidParameterError, match="x must be finite and >= 0 shares; got -1.0"):
        model.cost(np.r_[np.ones(5), -1.0])


# ---------------------------------------------------------------------- evaluation
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_shapes_vectorised_over_schedules(model, lead):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 600, lead + (N,))
    for method in (model.cost, model.marginal_cost, model.slippage):
        assert method(x).shape == lead + (N,)
    assert model.total_cost(x).shape == lead
    np.testing.assert_allclose(model.total_cost(x), model.cost(x).sum(axis=-1))
    # Each schedule evaluates as if on its own.
    flat = x.reshape(-1, N)
    for i, row in enumerate(flat):
        np.testing.assert_allclose(model.cost(x).reshape(-1, N)[i], model.cost(row))


def test_closed_forms():
    lin = _linear()
    x = np.linspace(0, 500, N)
    np.testing.assert_allclose(lin.cost(x), lin.h * x + lin.beta * x**2)
    np.testing.assert_allclose(lin.slippage(x), lin.h + lin.beta * x)
    np.testing.assert_allclose(lin.marginal_cost(x), lin.h + 2 * lin.beta * x)
    pw = _power()
    np.testing.assert_allclose(pw.cost(x), pw.h * x + pw.alpha * x ** (1 + pw.delta))
    np.testing.assert_allclose(pw.slippage(x), pw.h + pw.alpha * x**pw.delta)
    np.testing.assert_allclose(pw.marginal_cost(x), pw.h + (1 + pw.delta) * pw.alpha * x**pw.delta)


def test_slippage_is_cost_per_share(model):
    x = np.linspace(1, 900, N)
    np.testing.assert_allclose(model.slippage(x) * x, model.cost(x), rtol=1e-12)
    np.testing.assert_allclose(model.cost(np.zeros(N)), 0.0)


def test_book_cost_is_walking_the_book():
    book = _book()
    x = np.random.default_rng(3).uniform(0, 700, (5, N))
    price = book.reference_mid[:, None] - book.offsets  # a sell walks bids below the mid
    sell = BookImpact(
        offsets=book.offsets,
        sizes=book.sizes,
        reference_mid=book.reference_mid,
        side="sell",
        beyond_depth_bps=10.0,
    )
    ref = walk_levels(price, book.sizes, book.reference_mid, x[..., None], "sell", 10.0)
    np.testing.assert_allclose(sell.cost(x), ref.cost[..., 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(book.cost(x), ref.cost[..., 0], rtol=1e-12, atol=1e-12)
    # Beyond depth (450 shares) the marginal offset rises from the deepest level: 3 levels
    # spanning 0.04 give 3/2 * 0.04 = 0.06 $/share per 450 shares, above the floor of
    # 10 bps of the mid 40 (0.04 per 450 shares).
    slope = 0.06 / 450
    np.testing.assert_allclose(book.tail_slope, slope, rtol=1e-12)
    deep = np.full(N, 1000.0)
    expected = (
        100 * book.offsets[:, 0]
        + 50 * book.offsets[:, 1]
        + 300 * book.offsets[:, 2]
        + 550 * book.offsets[:, 2]
        + 0.5 * slope * 550**2
    )
    np.testing.assert_allclose(book.cost(deep), expected, rtol=1e-12)
    np.testing.assert_allclose(book.marginal_cost(deep), book.offsets[:, 2] + slope * 550)
    np.testing.assert_allclose(book.beyond_shares(deep), 550.0)
    # A steeper floor binds: 100 bps of 40 = 0.4 $/share per 450 shares.
    steep = dataclasses.replace(book, beyond_depth_bps=100.0)
    np.testing.assert_allclose(steep.tail_slope, 0.4 / 450, rtol=1e-12)


def test_book_marginal_is_level_offset():
    book = _book()
    x = np.array([0.0, 100.0, 100.5, 150.0, 449.0, 451.0])
    expected = np.array(
        [
            book.offsets[0, 0],
            book.offsets[1, 0],
            book.offsets[2, 1],
            book.offsets[3, 1],
            book.offsets[4, 2],
            book.offsets[5, 2] + 0.06 / 450,
        ]
    )
    np.testing.assert_allclose(book.marginal_cost(x), expected)


@pytest.mark.parametrize("lam_shape", [(1,), (N,), (4, 1), (4, N)])
def test_inverse_marginal_inverts_marginal(model, lam_shape):
    rng = np.random.default_rng(7)
    x = rng.uniform(1, 400, (4, N))
    lam = model.marginal_cost(x)[: lam_shape[0] if len(lam_shape) == 2 else 1, : lam_shape[-1]]
    lam = lam.reshape(lam_shape)
    inv = model.inverse_marginal(lam)
    assert inv.shape == lam.shape[:-1] + (N,)
    lam_b = np.broadcast_to(lam, inv.shape)
    # Where lam reaches the first share's cost, inv is the largest x with marginal <= lam:
    # the marginal at inv is <= lam and just above inv it exceeds lam.
    check = np.isfinite(inv) & (lam_b >= model.marginal_cost(np.zeros(N)))
    assert np.any(check)
    at = model.marginal_cost(np.where(check, inv, 0.0))
    assert np.all(at[check] <= lam_b[check] + 1e-12)
    above = model.marginal_cost(np.where(check, inv + 1e-6 * (1 + inv), 0.0))
    assert np.all(above[check] > lam_b[check])
    np.testing.assert_array_equal(inv[~check & np.isfinite(inv)], 0.0)
    if model.kind != "book":
        # Strictly increasing marginals: inverse_marginal(marginal_cost(x)) == x.
        np.testing.assert_allclose(model.inverse_marginal(model.marginal_cost(x)), x, rtol=1e-9)


def test_inverse_marginal_is_zero_below_first_share_cost(model):
    lam = model.marginal_cost(np.zeros(N)) - 1e-9
    np.testing.assert_array_equal(model.inverse_marginal(lam), np.zeros(N))


def test_book_inverse_marginal_is_cumulative_depth():
    book = _book()
    lam = book.offsets[:, 1] + 1e-9
    np.testing.assert_allclose(book.inverse_marginal(lam), np.full(N, 150.0))
    # Past the deepest offset the tail supplies (lam - deepest) / slope more shares.
    lam = book.deepest_offset + book.tail_slope * 123.0
    np.testing.assert_allclose(book.inverse_marginal(lam), 450.0 + 123.0, rtol=1e-12)
    np.testing.assert_allclose(book.marginal_cost(np.full(N, 573.0)), lam, rtol=1e-12)
    flat = BookImpact(
        offsets=book.offsets[:, :1],
        sizes=book.sizes[:, :1],
        reference_mid=40.0 + np.zeros(N),
        beyond_depth_bps=0.0,
    )
    np.testing.assert_array_equal(flat.tail_slope, 0.0)
    assert np.all(np.isinf(flat.inverse_marginal(flat.deepest_offset)))


# ---------------------------------------------------------------------- serialisation
def _assert_same(a, b):
    assert type(a) is type(b)
    assert a.side == b.side
    da, db = a.to_dict(), b.to_dict()
    assert da == db
    x = np.random.default_rng(1).uniform(0, 800, (3, a.n_intervals))
    np.testing.assert_array_equal(a.cost(x), b.cost(x))


def test_dict_round_trip(model):
    d = model.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["kind"] == model.kind
    _assert_same(model, BaseImpact.from_dict(d))
    _assert_same(model, type(model).from_dict(d))


def test_save_load_round_trip_with_diagnostics(tmp_path, model):
    diagnostics = pd.DataFrame(
        {
            "r2": np.r_[np.nan, np.linspace(0.5, 0.9, N - 1)],
            "n_obs": np.arange(N),
            "filled": np.arange(N) == 0,
            "status": ["too_few_obs"] + ["ok"] * (N - 1),
        }
    )
    params = {**model.to_dict()["params"]}
    fitted = type(model).from_dict(
        {"kind": model.kind, "side": model.side, "params": params, "diagnostics": None}
    )
    import dataclasses

    fitted = dataclasses.replace(fitted, diagnostics=diagnostics)
    path = fitted.save(tmp_path / "sub" / "model.json")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.json"]  # no temp file left
    loaded = load_model(path)
    _assert_same(fitted, loaded)
    pd.testing.assert_frame_equal(loaded.diagnostics, fitted.diagnostics)
    assert type(model).load(path).kind == model.kind


def test_load_rejects_wrong_kind_and_bad_files(tmp_path):
    path = _power().save(tmp_path / "p.json")
    with pytest.raises(DataError, match="kind must be 'linear' for LinearImpact; got 'power'"):
        LinearImpact.load(path)
    with pytest.raises(DataError, match="model file not found"):
        load_model(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_model(tmp_path / "bad.json")
    with pytest.raises(DataError, match="kind must be one of book, linear, power; got 'cubic'"):
        BaseImpact.from_dict({"kind": "cubic", "params": {}})


# ---------------------------------------------------------------------- summaries
def test_summary_columns():
    assert list(_linear().summary().columns) == ["beta", "h"]
    assert list(_power().summary().columns) == ["alpha", "delta", "h"]
    assert {"half_spread", "visible_depth", "levels"} <= set(_book().summary().columns)
    for m in (_linear(), _power(), _book()):
        s = m.summary()
        assert len(s) == N
        assert s.index.name == "interval"


def test_impact_model_not_fitted_raises():
    wrapper = ImpactModel("nonlinear")
    for attr in ("model", "parameters", "fitted_models"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(wrapper, attr)
    with pytest.raises(NotFittedError):
        wrapper.get_model_summary()
    with pytest.raises(NotFittedError):
        wrapper.cost(np.ones(3))
    with pytest.raises(InvalidParameterError, match="model_type must be"):
        ImpactModel("quadratic")
