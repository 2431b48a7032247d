"""Sorting functions of xpgrad.array_api: sort (values and float64 gradchecks) and argsort, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def arrays_and_axis(draw, distinct=False):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if distinct:  # well-separated values: the sorting permutation is stable under gradcheck's perturbation
        a = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5 + rng.uniform(-0.1, 0.1, shape)
    else:
        a = rng.integers(-2, 3, shape).astype(np.float64)
    return a, draw(st.integers(-ndim, ndim - 1)), draw(st.booleans())


def host(t):
    return np.asarray(t.tolist()) if isinstance(t, xpgrad.Tensor) else np.from_dlpack(t)


def _np_sort(a, axis, descending):
    order = np.argsort(-a if descending else a, axis=axis, kind="stable")
    return np.take_along_axis(a, order, axis=axis), order


@SETTINGS
@given(data=arrays_and_axis())
def test_sort_and_argsort_match_numpy_with_ties(xp, data):
    a, axis, descending = data
    t = xpgrad.tensor(a, dtype="float64")
    values, order = _np_sort(a, axis, descending)
    np.testing.assert_array_equal(host(xp.sort(t, axis=axis, descending=descending)), values)
    got = xp.argsort(t, axis=axis, descending=descending, stable=True)
    assert got.dtype == xp.int64 and not got.requires_grad
    np.testing.assert_array_equal(host(got), order)


@SETTINGS
@given(data=arrays_and_axis(distinct=True))
def test_sort_gradient(xp, grad_check, data):
    a, axis, descending = data
    grad_check(lambda u: xp.sort(u, axis=axis, descending=descending), a)


def test_sort_gradient_goes_back_to_each_position_with_ties(xp):
    x = xpgrad.tensor([2.0, 1.0, 2.0, 0.0], dtype="float64", requires_grad=True)
    w = xpgrad.tensor([1.0, 10.0, 100.0, 1000.0], dtype="float64")
    xp.sum(xp.sort(x) * w).backward()
    assert host(x.grad).tolist() == [100.0, 10.0, 1000.0, 1.0]


def test_sort_puts_nans_last(xp):
    x = xpgrad.tensor([np.nan, 1.0, -1.0], dtype="float64")
    out = host(xp.sort(x))
    assert out[:2].tolist() == [-1.0, 1.0] and np.isnan(out[2])


def test_sorting_errors(xp):
    x = xpgrad.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="sort: axis 2 is out of range"):
        xp.sort(x, axis=2)
    with pytest.raises(TypeError, match="argsort: x must be a Tensor"):
        xp.argsort([3, 1, 2])
    with pytest.raises(TypeError, match="sort: complex numbers have no order"):
        xp.sort(xpgrad.tensor(np.array([1j, 2.0]), dtype="complex128"))
