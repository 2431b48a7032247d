"""``x[key] = value`` and in-place operators: values, versions, copy-on-write gradients, the leaf error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad


def _np(a):
    return xpgrad.backend.to_numpy(a.data if isinstance(a, xpgrad.Tensor) else a)


def test_setitem_without_a_graph_changes_the_array_in_place(xp):
    x = xp.zeros((3, 4))
    data, version = x.data, x.version
    x[1] = 1.0
    x[:, ::-2] = xp.asarray([5.0, 6.0])
    fancy = x.backend.name == "numpy"  # array_api_strict refuses integer-array assignment (the standard allows it)
    if fancy:
        x[xp.asarray([0, 2]), xp.asarray([0, 0])] = -1.0
    x[x > 5.5] = 9.0
    if fancy:
        x[np.array([2]), np.array([2])] = xp.asarray([7.0])
    x[(Ellipsis, 0)] = 3.0
    expected = np.zeros((3, 4))
    expected[1] = 1.0
    expected[:, ::-2] = [5.0, 6.0]
    if fancy:
        expected[[0, 2], [0, 0]] = -1.0
    expected[expected > 5.5] = 9.0
    if fancy:
        expected[2, 2] = 7.0
    expected[..., 0] = 3.0
    np.testing.assert_array_equal(_np(x), expected)
    assert x.data is data and x.version > version  # same array, changed in place, version bumped


def test_setitem_values_and_errors(xp):
    i = xp.asarray([1, 2, 3])
    i[0] = 7
    assert i.tolist() == [7, 2, 3]
    with pytest.raises(TypeError, match=r"the Python float 1.5 does not fit the dtype"):
        i[0] = 1.5
    with pytest.raises(TypeError, match="value must be a Tensor, an array or a Python number, got str"):
        i[0] = "a"
    with pytest.raises(IndexError, match="index 3 is out of range for axis 0"):
        i[3] = 1
    f = xp.asarray([1.0, 2.0], dtype=xp.float32)
    with pytest.raises(TypeError, match="value's dtype .*float64 does not fit"):
        f[0] = xp.asarray(1.0, dtype=xp.float64)


def test_cow_setitem_sends_gradients_to_value_and_the_rest(xp, grad_check):
    x0 = np.array([1.0, -2.0, 3.0, 0.5])
    w0 = np.array([4.0, -1.5])

    def fn(x, w):
        y = x * 2
        y[1:3] = w * w
        return (y * y).sum()

    grad_check(fn, x0, w0)
    x = xpgrad.tensor(x0, dtype="float64", requires_grad=True)
    w = xpgrad.tensor(w0, dtype="float64", requires_grad=True)
    fn(x, w).backward()
    np.testing.assert_allclose(_np(x.grad), [8 * x0[0], 0.0, 0.0, 8 * x0[3]])  # overwritten entries get nothing
    np.testing.assert_allclose(_np(w.grad), 4 * w0 ** 3)


def test_cow_keeps_earlier_consumers_on_the_old_state(xp, grad_check):
    def fn(x, w):
        y = x * 2
        z = y * y  # consumes y before it changes
        y[0] = w[0] * 3
        y += w
        y *= y
        return z.sum() + y.sum()

    grad_check(fn, np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]))
    x = xpgrad.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    w = xpgrad.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    fn(x, w).backward()
    # y = [3 w0 + w0, 2 x1 + w1, 2 x2 + w2]**2, z = 4 x**2
    np.testing.assert_allclose(_np(x.grad), [8.0, 16 + 4 * (4 - 1), 24 + 4 * (6 + 2)])
    np.testing.assert_allclose(_np(w.grad), [32 * 0.5, 2 * 3.0, 2 * 8.0])


def test_inplace_on_a_tensor_without_grad_with_a_value_that_requires_grad(xp, grad_check):
    def fn(w):
        buf = xp.zeros((2, 3), dtype=xp.float64)
        buf[:, 1] = w
        buf -= w[0]
        return xp.sum(xp.sin(buf))

    grad_check(fn, np.array([0.3, -0.7]))


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data())
@settings(max_examples=12, deadline=None)
def test_cow_setitem_gradcheck_with_broadcast_values(shape, data):
    rng = np.random.default_rng(len(shape))
    x0 = rng.standard_normal(shape)
    row = data.draw(st.integers(0, shape[0] - 1))
    value_shape = tuple(data.draw(st.sampled_from([1, s])) for s in shape[1:])
    v0 = rng.standard_normal(value_shape)
    mask = rng.random(shape) > 0.5
    for backend in ("numpy", "array_api_strict"):
        with xpgrad.use_backend(backend):
            km = xpgrad.array_api.asarray(mask)

            def fn(x, v, km=km):
                y = x * 1.5
                y[row, ...] = v
                y[km] = 0.0
                return (y * y * x).sum()

            ts = [xpgrad.tensor(a, dtype="float64", requires_grad=True) for a in (x0, v0)]
            xpgrad.gradcheck(fn, ts)


def test_leaf_that_requires_grad_refuses_in_place_changes(xp):
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__iadd__(1.0), lambda: w.__setitem__(0, 5.0), lambda: w.__imul__(w)):
        with pytest.raises(RuntimeError, match=r"a leaf tensor that requires grad .* in-place operation.*detach"):
            change()
    assert w.tolist() == [1.0, 2.0]
    with xpgrad.no_grad():  # a parameter update: allowed, in place, version bumped
        data, version = w.data, w.version
        w -= 0.5
        w[1] = 0.0
    assert w.tolist() == [0.5, 0.0] and w.data is data and w.version > version and w.is_leaf
    w.detach()[0] = 9.0  # detach shares the array, as in PyTorch
    assert w.tolist() == [9.0, 0.0]


def test_no_grad_change_of_a_saved_array_is_refused_at_backward(xp):
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    loss = (h * h).sum()  # Mul saved h's array
    with xpgrad.no_grad():
        h[0] = 0.0
    with pytest.raises(RuntimeError, match="changed in place after the forward pass"):
        loss.backward()


def test_no_grad_change_of_an_input_that_was_not_saved_still_differentiates(xp):
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    loss = (h + 1.0).sum()  # Add saves nothing
    with xpgrad.no_grad():
        h += 1.0
    loss.backward()
    assert _np(w.grad).tolist() == [3.0, 3.0]


def test_cow_versions_and_history(xp):
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    v0 = y.version
    y[0] = 0.0
    y += 1.0
    assert y.version > v0 and len(y._history) == 2 and y.grad_fn.__name__ == "Add"
    assert y.tolist() == [1.0, 5.0]
    y.sum().backward()
    assert _np(x.grad).tolist() == [0.0, 2.0]


def test_retain_graph_through_rebound_tensors(xp):
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y.sum()
    y[1] = 0.0
    loss = z + y.sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert _np(x.grad).tolist() == [8.0, 8.0]  # twice (2 x0 + 2 x0, 2 x1 + 0)
