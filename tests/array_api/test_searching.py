"""Searching functions of xpgrad.array_api: integer results that match NumPy and record nothing; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def arrays(draw, min_dims=1, max_dims=3):
    """A float64 array of a drawn shape with repeated values (ties) and zeros."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float64)


def host(t):
    return np.asarray(t.tolist())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@SETTINGS
@given(a=arrays(), data=st.data())
def test_argmax_argmin_match_numpy(xp, name, a, data):
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1))
    keepdims = data.draw(st.booleans())
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    out = getattr(xp, name)(t, axis=axis, keepdims=keepdims)
    assert not out.requires_grad and out.dtype == xp.int64
    np.testing.assert_array_equal(host(out), getattr(np, name)(a, axis=axis, keepdims=keepdims))


@SETTINGS
@given(a=arrays(), data=st.data())
def test_count_nonzero_matches_numpy(xp, a, data):
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1)
                     | st.lists(st.integers(0, a.ndim - 1), unique=True, min_size=1).map(tuple))
    keepdims = data.draw(st.booleans())
    out = xp.count_nonzero(xpgrad.tensor(a, dtype="float64", requires_grad=True), axis=axis, keepdims=keepdims)
    assert not out.requires_grad
    np.testing.assert_array_equal(host(out), np.count_nonzero(a, axis=axis, keepdims=keepdims))


@SETTINGS
@given(a=arrays())
def test_nonzero_matches_numpy(xp, a):
    out = xp.nonzero(xpgrad.tensor(a, dtype="float64", requires_grad=True))
    assert isinstance(out, tuple) and len(out) == a.ndim
    for got, want in zip(out, np.nonzero(a), strict=True):
        assert not got.requires_grad
        np.testing.assert_array_equal(host(got), want)


@pytest.mark.parametrize("side", ["left", "right"])
@SETTINGS
@given(x1=arrays(max_dims=1), x2=arrays(), use_sorter=st.booleans())
def test_searchsorted_matches_numpy(xp, side, x1, x2, use_sorter):
    sorter = np.argsort(x1, kind="stable") if use_sorter else None
    sorted_x1 = x1 if use_sorter else np.sort(x1)
    t1 = xpgrad.tensor(sorted_x1, dtype="float64", requires_grad=True)
    kw = {"sorter": xpgrad.tensor(sorter, dtype="int64")} if use_sorter else {}
    out = xp.searchsorted(t1, xpgrad.tensor(x2, dtype="float64"), side=side, **kw)
    assert not out.requires_grad
    np.testing.assert_array_equal(host(out), np.searchsorted(sorted_x1, x2, side=side, sorter=sorter))


def test_searching_errors(xp):
    x = xpgrad.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="argmax: cannot search an empty axis"):
        xp.argmax(xpgrad.tensor(np.ones((2, 0))), axis=1)
    with pytest.raises(ValueError, match="argmin: cannot search an empty tensor"):
        xp.argmin(xpgrad.tensor(np.ones((0,))))
    with pytest.raises(ValueError, match="argmax: axis 2 is out of range"):
        xp.argmax(x, axis=2)
    with pytest.raises(ValueError, match="nonzero: x must have at least one dimension"):
        xp.nonzero(xpgrad.tensor(1.0))
    with pytest.raises(ValueError, match="searchsorted: x1 must be 1-D"):
        xp.searchsorted(x, x)
    with pytest.raises(ValueError, match="searchsorted: side must be 'left' or 'right'"):
        xp.searchsorted(x[0], x, side="middle")
    with pytest.raises(TypeError, match="count_nonzero: x must be a Tensor"):
        xp.count_nonzero([1, 0])
