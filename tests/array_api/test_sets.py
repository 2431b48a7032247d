"""Set functions of xpgrad.array_api: unique_* against NumPy; values differentiable (summed over duplicates)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def arrays(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    return np.random.default_rng(draw(st.integers(0, 2**16))).integers(-2, 3, shape).astype(np.float64)


def host(t):
    return np.asarray(t.tolist()) if isinstance(t, xpgrad.Tensor) else np.from_dlpack(t)


@SETTINGS
@given(a=arrays())
def test_unique_functions_match_numpy(xp, a):
    t = xpgrad.tensor(a, dtype="float64")
    values, indices, inverse, counts = np.unique(a, return_index=True, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(host(xp.unique_values(t)), values)
    r = xp.unique_all(t)
    assert r._fields == ("values", "indices", "inverse_indices", "counts")
    for got, want in zip(r, (values, indices, inverse.reshape(a.shape), counts), strict=True):
        np.testing.assert_array_equal(host(got), want)
    c = xp.unique_counts(t)
    assert c._fields == ("values", "counts")
    np.testing.assert_array_equal(host(c.counts), counts)
    i = xp.unique_inverse(t)
    assert i._fields == ("values", "inverse_indices")
    np.testing.assert_array_equal(host(i.inverse_indices), inverse.reshape(a.shape))
    assert not any(o.requires_grad for o in (*r, *c, *i))


NAMES = {
    "unique_values": lambda xp, t: xp.unique_values(t),
    "unique_all": lambda xp, t: xp.unique_all(t).values,
    "unique_counts": lambda xp, t: xp.unique_counts(t).values,
    "unique_inverse": lambda xp, t: xp.unique_inverse(t).values,
}


@pytest.mark.parametrize("name", sorted(NAMES))
@SETTINGS
@given(a=arrays())
def test_unique_values_gradient_is_summed_over_duplicates(xp, name, a):
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    values = NAMES[name](xp, t)
    weights = np.arange(1.0, values.shape[0] + 1.0)
    xp.sum(values * xpgrad.tensor(weights, dtype="float64")).backward()
    _, inverse = np.unique(a, return_inverse=True)
    np.testing.assert_array_equal(host(t.grad), weights[inverse.reshape(a.shape)])


@pytest.mark.parametrize("name", sorted(NAMES))
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_unique_values_gradcheck(xp, grad_check, name, shape, seed):
    # distinct, well-separated values: the finite differences keep the set of values
    a = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.5
    grad_check(lambda u: NAMES[name](xp, u), a)


def test_nan_entries_are_distinct(xp):
    out = host(xp.unique_values(xpgrad.tensor([np.nan, 1.0, np.nan], dtype="float64")))
    assert out.shape == (3,) and out[0] == 1.0 and np.isnan(out[1:]).all()


def test_unique_needs_a_tensor(xp):
    with pytest.raises(TypeError, match="unique_values: x must be a Tensor"):
        xp.unique_values([1, 2])
