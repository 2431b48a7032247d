"""Statistical functions and utilities of xpgrad.array_api: values against NumPy, float64 gradchecks, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def array_and_axis(draw, min_dims=1, max_dims=3, min_side=1, zeros=False):
    """A float64 array of a drawn shape, a drawn axis spec (None, an int, negative or a tuple) and keepdims."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(min_side, 4), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2**16))
    a = np.random.default_rng(seed).uniform(0.5, 1.5, shape) * np.random.default_rng(seed + 1).choice([-1, 1], shape)
    if zeros and a.size:
        a.flat[draw(st.integers(0, a.size - 1))] = 0.0
    axis = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                          st.lists(st.integers(0, ndim - 1), unique=True, min_size=1).map(tuple)))
    return a, axis, draw(st.booleans())


def host(a):
    """A NumPy copy of a tensor or of a backend array (``.grad`` is a backend array)."""
    return np.asarray(a.tolist()).reshape(a.shape) if isinstance(a, xpgrad.Tensor) else np.from_dlpack(a)


def _np_axis(axis):
    return axis if axis is None or isinstance(axis, int) else tuple(axis)


# name: (function of (xp, tensor, axis, keepdims), NumPy reference of (array, axis, keepdims))
REDUCTIONS = {
    "sum": (lambda xp, t, ax, kd: xp.sum(t, axis=ax, keepdims=kd), lambda a, ax, kd: np.sum(a, axis=ax, keepdims=kd)),
    "mean": (lambda xp, t, ax, kd: xp.mean(t, axis=ax, keepdims=kd),
             lambda a, ax, kd: np.mean(a, axis=ax, keepdims=kd)),
    "prod": (lambda xp, t, ax, kd: xp.prod(t, axis=ax, keepdims=kd),
             lambda a, ax, kd: np.prod(a, axis=ax, keepdims=kd)),
    "max": (lambda xp, t, ax, kd: xp.max(t, axis=ax, keepdims=kd), lambda a, ax, kd: np.max(a, axis=ax, keepdims=kd)),
    "min": (lambda xp, t, ax, kd: xp.min(t, axis=ax, keepdims=kd), lambda a, ax, kd: np.min(a, axis=ax, keepdims=kd)),
    "var": (lambda xp, t, ax, kd: xp.var(t, axis=ax, keepdims=kd), lambda a, ax, kd: np.var(a, axis=ax, keepdims=kd)),
    "var_correction": (lambda xp, t, ax, kd: xp.var(t, axis=ax, correction=1, keepdims=kd),
                       lambda a, ax, kd: np.var(a, axis=ax, ddof=1, keepdims=kd)),
    "std": (lambda xp, t, ax, kd: xp.std(t, axis=ax, keepdims=kd), lambda a, ax, kd: np.std(a, axis=ax, keepdims=kd)),
    "std_correction": (lambda xp, t, ax, kd: xp.std(t, axis=ax, correction=0.5, keepdims=kd),
                       lambda a, ax, kd: np.std(a, axis=ax, ddof=0.5, keepdims=kd)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(data=array_and_axis(min_side=2))
def test_reduction_value_and_gradient(xp, grad_check, name, data):
    a, axis, keepdims = data
    fn, ref = REDUCTIONS[name]
    t = xpgrad.tensor(a, dtype="float64")
    np.testing.assert_allclose(np.asarray(fn(xp, t, axis, keepdims).tolist()), ref(a, _np_axis(axis), keepdims),
                               rtol=1e-12, atol=1e-12)
    grad_check(lambda u: fn(xp, u, axis, keepdims), a)


@pytest.mark.parametrize("name", ["prod", "sum", "mean"])
@SETTINGS
@given(data=array_and_axis(zeros=True))
def test_reductions_with_a_zero_entry(xp, grad_check, name, data):
    a, axis, keepdims = data
    grad_check(lambda u: REDUCTIONS[name][0](xp, u, axis, keepdims), a)


def test_prod_gradient_is_exact_with_zeros(xp):
    x = xpgrad.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0]], dtype="float64", requires_grad=True)
    xp.sum(xp.prod(x, axis=1)).backward()
    assert host(x.grad).tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]]


def test_std_gradient_is_zero_at_constant_rows(xp):
    x = xpgrad.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], dtype="float64", requires_grad=True)
    xp.sum(xp.std(x, axis=1)).backward()
    g = np.asarray(host(x.grad).tolist())
    assert np.all(np.isfinite(g)) and g[0].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(g[1], [-0.5 / np.sqrt(2 / 3) / 1.5 * 1.0, 0.0, 0.5 / np.sqrt(2 / 3) / 1.5])


@pytest.mark.parametrize("name", ["var", "std"])
def test_no_degrees_of_freedom_give_nan_not_an_exception(xp, name):
    x = xpgrad.tensor([1.0], dtype="float64", requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = getattr(xp, name)(x, correction=1)
        y.backward()
    assert np.isnan(host(y)) and np.isnan(host(x.grad)).all()


@pytest.mark.parametrize("name", ["sum", "prod"])
def test_dtype_argument_changes_the_result_and_the_gradient_keeps_the_input_dtype(xp, name):
    x = xpgrad.tensor([1.5, 2.0], dtype="float32", requires_grad=True)
    y = getattr(xp, name)(x, dtype=xp.float64)
    assert y.dtype == xp.float64
    y.backward()
    assert x.grad.dtype == xp.float32
    assert host(x.grad).tolist() == ([1.0, 1.0] if name == "sum" else [2.0, 1.5])
    assert getattr(xp, name)(xpgrad.tensor([1, 2], dtype="int32")).dtype == xp.int64


def test_empty_reductions_follow_the_standard(xp):
    e = xpgrad.tensor(np.zeros((0, 3)), dtype="float64")
    assert xp.sum(e).item() == 0.0 and xp.prod(e).item() == 1.0
    assert xp.sum(e, axis=0).tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="empty axis"):
        xp.max(e)
    with pytest.raises(ValueError, match="empty axis"):
        xp.min(e, axis=0)


@pytest.mark.parametrize("name", ["sum", "mean", "prod"])
def test_complex_reductions_are_conjugate_correct(xp, name):
    z = np.array([1.0 + 2.0j, -0.5 + 0.25j, 2.0 - 1.0j])
    re = xpgrad.tensor(z.real, dtype="float64", requires_grad=True)
    im = xpgrad.tensor(z.imag, dtype="float64", requires_grad=True)
    t = re + im * xpgrad.tensor(np.full(3, 1j), dtype="complex128")
    y = getattr(xp, name)(t)
    np.testing.assert_allclose(host(y), getattr(np, name)(z))
    xp.real(y).backward()  # the loss Re(y) (a complex output needs an explicit real loss, as in PyTorch)
    # d Re(f)/dx + i d Re(f)/dy = conj(f'(z)) for holomorphic f
    deriv = {"sum": np.ones(3), "mean": np.ones(3) / 3,
             "prod": np.array([z[1] * z[2], z[0] * z[2], z[0] * z[1]])}[name]
    np.testing.assert_allclose(host(re.grad) + 1j * host(im.grad), np.conj(deriv), atol=1e-12)


CUMULATIVE = {
    "cumulative_sum": np.cumsum,
    "cumulative_prod": np.cumprod,
}


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
@pytest.mark.parametrize("include_initial", [False, True])
@SETTINGS
@given(data=array_and_axis(zeros=True), zero=st.booleans())
def test_cumulative_value_and_gradient(xp, grad_check, name, include_initial, data, zero):
    a, axis, _ = data
    axis = axis[0] if isinstance(axis, tuple) else (0 if axis is None and a.ndim > 1 else axis)
    if not zero:
        a = np.where(a == 0, 0.75, a)
    fn = getattr(xp, name)
    out = fn(xpgrad.tensor(a, dtype="float64"), axis=axis, include_initial=include_initial)
    ref = CUMULATIVE[name](a, axis=0 if axis is None else axis)
    if include_initial:
        ax = 0 if axis is None else axis % a.ndim
        first = np.full_like(np.take(a, [0], axis=ax), 0.0 if name == "cumulative_sum" else 1.0)
        ref = np.concatenate([first, ref], axis=ax)
    np.testing.assert_allclose(np.asarray(out.tolist()), ref, rtol=1e-12)
    grad_check(lambda u: fn(u, axis=axis, include_initial=include_initial), a)


def test_cumulative_prod_gradient_with_zeros_matches_the_closed_form(xp):
    x = xpgrad.tensor([2.0, 0.0, 3.0, 0.5], dtype="float64", requires_grad=True)
    xp.sum(xp.cumulative_prod(x)).backward()
    # d/dx0 = 1 + x1 + x1x2 + ..., d/dx1 = x0 + x0x2 + x0x2x3, d/dx2 = 0 (x1 = 0), d/dx3 = 0
    assert host(x.grad).tolist() == [1.0, 2.0 + 6.0 + 3.0, 0.0, 0.0]


def test_cumulative_needs_an_axis_beyond_one_dimension(xp):
    with pytest.raises(ValueError, match="axis is required"):
        xp.cumulative_sum(xpgrad.tensor(np.ones((2, 2))))


@SETTINGS
@given(data=array_and_axis(min_side=2), n=st.integers(0, 2),
       ends=st.sampled_from(["none", "prepend", "append", "both"]))
def test_diff_value_and_gradient(xp, grad_check, data, n, ends):
    a, axis, _ = data
    axis = -1 if axis is None else (axis[0] if isinstance(axis, tuple) else axis)
    side = list(a.shape)
    side[axis] = 2
    p = np.linspace(-1.0, 1.0, int(np.prod(side))).reshape(side)
    kw = {k: p for k in {"none": [], "prepend": ["prepend"], "append": ["append"],
                         "both": ["prepend", "append"]}[ends]}
    ref = np.diff(a, n=n, axis=axis, **kw)
    t = xpgrad.tensor(a, dtype="float64")
    got = xp.diff(t, axis=axis, n=n, **{k: xpgrad.tensor(v, dtype="float64") for k, v in kw.items()})
    np.testing.assert_allclose(host(got), ref, rtol=1e-12, atol=1e-12)
    names = list(kw)
    grad_check(lambda u, *ext: xp.diff(u, axis=axis, n=n, **dict(zip(names, ext, strict=True))), a, *kw.values())


@pytest.mark.parametrize("n", [3, 4, 6])
def test_diff_past_the_length_is_empty_with_zero_gradient(xp, n):
    x = xpgrad.tensor([1.0, 4.0], dtype="float64", requires_grad=True)
    y = xp.diff(x, n=n, prepend=xpgrad.tensor([0.5], dtype="float64"))
    assert y.shape == (0,)
    xp.sum(y).backward()
    assert host(x.grad).tolist() == [0.0, 0.0]


def test_diff_errors(xp):
    x = xpgrad.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n must be >= 0"):
        xp.diff(x, n=-1)
    with pytest.raises(ValueError, match="prepend of shape"):
        xp.diff(x, prepend=xpgrad.tensor(np.ones((3, 1))))
    with pytest.raises(ValueError, match="0-d"):
        xp.diff(xpgrad.tensor(1.0))


@pytest.mark.parametrize("name", ["all", "any"])
@SETTINGS
@given(data=array_and_axis(zeros=True))
def test_all_any_match_numpy_and_record_nothing(xp, name, data):
    a, axis, keepdims = data
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    out = getattr(xp, name)(t, axis=axis, keepdims=keepdims)
    assert not out.requires_grad and out.dtype == xp.bool
    np.testing.assert_array_equal(np.asarray(out.tolist()), getattr(np, name)(a, axis=_np_axis(axis),
                                                                               keepdims=keepdims))


def test_argument_errors_name_the_op(xp):
    x = xpgrad.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="var: axis 2 is out of range"):
        xp.var(x, axis=2)
    with pytest.raises(TypeError, match="std: correction must be a real number"):
        xp.std(x, correction="1")
    with pytest.raises(TypeError, match="prod: x must be a Tensor"):
        xp.prod([1.0, 2.0])
    with pytest.raises(ValueError, match="sum: axis .* names an axis twice"):
        xp.sum(x, axis=(0, 0))
