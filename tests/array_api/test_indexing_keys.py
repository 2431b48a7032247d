"""``x[key]``: basic and advanced keys vs NumPy, float64 gradchecks (duplicates summed), range errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad

X = np.arange(24.0).reshape(2, 3, 4) / 7.0 - 1.0

# (key as NumPy takes it, key as the backend takes it: the arrays made tensors) -- valid on array_api_strict too
BASIC = [0, -1, (1, 2), (0, slice(1, None), slice(None, None, 2)), (Ellipsis, 1), (None, 0),
         (slice(None, None, -1), slice(None), slice(3, 0, -2)), (), Ellipsis, (1, Ellipsis, None)]


def _grad(fn, x):
    """d fn(t) / dt at ``x`` (float64) on the current backend, as NumPy."""
    t = xpgrad.tensor(x, dtype="float64", requires_grad=True)
    fn(t).backward()
    return xpgrad.backend.to_numpy(t.grad)


def _key(xp, key):
    if isinstance(key, tuple):
        return tuple(_key(xp, k) for k in key)
    if isinstance(key, np.ndarray):
        return xp.asarray(key)
    return key


ADVANCED = [
    (np.array([1, 0, 1]), np.array([2, 2, 0]), np.array([3, 3, 3])),  # duplicate picks
    (np.array([[0, 1], [1, 1]]), np.array([[2, 0], [2, 2]]), np.array([[0, -1], [1, -4]])),  # 2-D, negatives
    (1, np.array([0, 2, 2]), np.array([1, 1, 3])),  # an int with integer arrays
    X > 0.2,  # a mask over every axis
    np.array([True, False]),  # a mask over the first axis only
]


@pytest.mark.parametrize("key", BASIC, ids=repr)
def test_basic_keys_match_numpy_and_differentiate(xp, grad_check, key):
    x = xp.asarray(X)
    got = x[key]
    np.testing.assert_array_equal(np.asarray(got.numpy()), X[key])
    assert got.shape == X[key].shape
    grad_check(lambda t: (t[key] * t[key]).sum(), X)
    expected = np.zeros_like(X)
    expected[key] += 2 * X[key]
    np.testing.assert_allclose(_grad(lambda t: (t[key] * t[key]).sum(), X), expected)


@pytest.mark.parametrize("key", ADVANCED, ids=lambda k: "mask" if isinstance(k, np.ndarray) else repr(k)[:30])
def test_advanced_keys_match_numpy_and_scatter_add_their_gradient(xp, grad_check, key):
    x = xp.asarray(X)
    k = _key(xp, key)
    np.testing.assert_array_equal(np.asarray(x[k].numpy()), X[key])
    grad_check(lambda t: (t[k] ** 2).sum(), X)
    expected = np.zeros_like(X)
    np.add.at(expected, key, 2 * X[key])  # each pick sends its gradient back; duplicates add up
    np.testing.assert_allclose(_grad(lambda t: (t[k] ** 2).sum(), X), expected)


def test_lists_host_arrays_and_0d_tensors_are_indices(xp):
    x = xp.asarray(X[0])
    assert x[[2, 0]].tolist() == X[0][[2, 0]].tolist()
    assert x[np.array([1]), np.array([3])].tolist() == [X[0][1, 3]]
    assert x[xp.asarray(1)].tolist() == X[0][1].tolist()
    assert x[xp.asarray(1), xp.asarray(-1)].tolist() == X[0][1, -1]
    assert x[xp.asarray(True)].shape == (1, 3, 4) and x[xp.asarray(False)].shape == (0, 3, 4)


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
@settings(max_examples=12, deadline=None)
def test_gather_gradcheck_on_drawn_shapes(shape, data):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    n = data.draw(st.integers(1, 5))
    idx = tuple(np.array(data.draw(st.lists(st.integers(-s, s - 1), min_size=n, max_size=n))) for s in shape)
    mask = rng.random(shape) > 0.5
    for backend in ("numpy", "array_api_strict"):
        with xpgrad.use_backend(backend):
            xp = xpgrad.array_api
            ki = tuple(xp.asarray(i) for i in idx)
            km = xp.asarray(mask)
            t = xpgrad.tensor(x, dtype="float64", requires_grad=True)
            xpgrad.gradcheck(lambda t, ki=ki, km=km, xp=xp: (t[ki] * t[ki]).sum() + xp.sum(xp.sin(t[km])), [t])
            np.testing.assert_allclose(xpgrad.backend.to_numpy(t[ki].data), x[idx])


@pytest.mark.parametrize("key, match", [
    (5, r"index 5 is out of range for axis 0 of size 2"),
    ((0, -4), r"index -4 is out of range for axis 1 of size 3"),
    ((0, 0, 0, 0), "too many indices"),
    ((np.array([0, 2]),), r"values in \[0, 2\]; valid: \[-2, 2\)"),
    (np.ones((3,), dtype=bool), r"boolean mask of shape \(3,\) does not match"),
])
def test_out_of_range_indices_are_index_errors_naming_the_axis(xp, key, match):
    x = xp.asarray(X)
    with pytest.raises(IndexError, match=match):
        x[_key(xp, key)]


def test_bad_index_types(xp):
    x = xp.asarray(X)
    with pytest.raises(TypeError, match="index arrays must be integer or boolean"):
        x[xp.asarray([0.5])]
    with pytest.raises(TypeError, match="got float"):
        x[1.5]
    other = "array_api_strict" if x.backend.name == "numpy" else "numpy"
    with pytest.raises(TypeError, match=f"on backend '{other}'.*move it"):
        x[xpgrad.tensor([0], backend=other)]
