"""Manipulation and indexing functions of xpgrad.array_api: values against NumPy, float64 gradchecks, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def arrays(draw, min_dims=1, max_dims=3, min_side=1):
    """A float64 array of a drawn shape (sides 1..4)."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(min_side, 4), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).uniform(-2, 2, shape)


def host(a):
    """A NumPy copy of a tensor or of a backend array."""
    if isinstance(a, xpgrad.Tensor):
        return np.asarray(a.tolist(), dtype=np.float64 if a.ndim and not a.size else None).reshape(a.shape)
    return np.from_dlpack(a)


def _idx(xp, values):
    return xp.asarray(np.asarray(values, dtype=np.int64))


def _np_tile(a, reps):
    return np.tile(a, reps)


# name: (min_dims, function of (xp, tensor), NumPy reference of the array)
UNARY = {
    "flip_all": (1, lambda xp, t: xp.flip(t), lambda a: np.flip(a)),
    "flip_last": (1, lambda xp, t: xp.flip(t, axis=-1), lambda a: np.flip(a, axis=-1)),
    "flip_tuple": (2, lambda xp, t: xp.flip(t, axis=(0, 1)), lambda a: np.flip(a, axis=(0, 1))),
    "moveaxis": (1, lambda xp, t: xp.moveaxis(t, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    "moveaxis_tuple": (2, lambda xp, t: xp.moveaxis(t, (0, 1), (-1, 0)), lambda a: np.moveaxis(a, (0, 1), (-1, 0))),
    "roll_flat": (1, lambda xp, t: xp.roll(t, 3), lambda a: np.roll(a, 3)),
    "roll_axis": (1, lambda xp, t: xp.roll(t, -1, axis=0), lambda a: np.roll(a, -1, axis=0)),
    "roll_tuple": (2, lambda xp, t: xp.roll(t, (1, 2), axis=(0, 1)), lambda a: np.roll(a, (1, 2), axis=(0, 1))),
    "repeat_flat": (1, lambda xp, t: xp.repeat(t, 2), lambda a: np.repeat(a, 2)),
    "repeat_axis": (1, lambda xp, t: xp.repeat(t, 3, axis=-1), lambda a: np.repeat(a, 3, axis=-1)),
    "repeat_tensor": (1, lambda xp, t: xp.repeat(t, _idx(xp, np.arange(t.shape[0]) % 3), axis=0),
                      lambda a: np.repeat(a, np.arange(a.shape[0]) % 3, axis=0)),
    "tile_same_rank": (1, lambda xp, t: xp.tile(t, (2,) * t.ndim), lambda a: _np_tile(a, (2,) * a.ndim)),
    "tile_longer": (1, lambda xp, t: xp.tile(t, (2, 1, 3, 1)), lambda a: _np_tile(a, (2, 1, 3, 1))),
    "tile_shorter": (2, lambda xp, t: xp.tile(t, (3,)), lambda a: _np_tile(a, (3,))),
    "unstack_first": (1, lambda xp, t: xp.unstack(t)[0], lambda a: a[0]),
    "unstack_last": (2, lambda xp, t: xp.stack(xp.unstack(t, axis=-1)[::-1], axis=-1), lambda a: a[..., ::-1]),
    "broadcast_to": (1, lambda xp, t: xp.broadcast_to(t, (2,) + t.shape), lambda a: np.broadcast_to(a, (2,) + a.shape)),
    "reshape_flat": (1, lambda xp, t: xp.reshape(t, (-1,)), lambda a: a.reshape(-1)),
    "reshape_copy": (1, lambda xp, t: xp.reshape(t, (1, -1), copy=True), lambda a: a.reshape(1, -1)),
    "concat_axis": (1, lambda xp, t: xp.concat([t, 2 * t], axis=-1), lambda a: np.concatenate([a, 2 * a], axis=-1)),
    "concat_none": (1, lambda xp, t: xp.concat([t, t[:1]], axis=None),
                    lambda a: np.concatenate([a.ravel(), a[:1].ravel()])),
    "stack": (1, lambda xp, t: xp.stack([t, t * t], axis=1), lambda a: np.stack([a, a * a], axis=1)),
    "expand_dims": (1, lambda xp, t: xp.expand_dims(t, axis=-1), lambda a: a[..., None]),
    "squeeze": (1, lambda xp, t: xp.squeeze(xp.expand_dims(t, axis=0), axis=0), lambda a: a),
    "permute_dims": (2, lambda xp, t: xp.permute_dims(t, tuple(range(t.ndim))[::-1]), lambda a: a.T),
    "take": (1, lambda xp, t: xp.take(t, _idx(xp, [0, -1, 0]), axis=0), lambda a: a[[0, -1, 0]]),
    "take_last": (1, lambda xp, t: xp.take(t, _idx(xp, [-1, -1]), axis=-1), lambda a: a[..., [-1, -1]]),
    "take_along_axis": (2, lambda xp, t: xp.take_along_axis(t, _idx(xp, np.zeros((1,) * (t.ndim - 1) + (3,))
                                                                        - np.array([0, 1, 0])), axis=-1),
                        lambda a: np.take_along_axis(a, np.zeros((1,) * (a.ndim - 1) + (3,), dtype=np.int64)
                                                     - np.array([0, 1, 0]), axis=-1)),
    "tril": (2, lambda xp, t: xp.tril(t), lambda a: np.tril(a)),
    "tril_k": (2, lambda xp, t: xp.tril(t, k=1), lambda a: np.tril(a, k=1)),
    "triu": (2, lambda xp, t: xp.triu(t), lambda a: np.triu(a)),
    "triu_k": (2, lambda xp, t: xp.triu(t, k=-1), lambda a: np.triu(a, k=-1)),
    "astype_complex": (1, lambda xp, t: xp.abs(xp.astype(t, xp.complex128) * (1 + 2j)),
                       lambda a: np.abs(a.astype(np.complex128) * (1 + 2j))),
    "asarray_copy": (1, lambda xp, t: xp.asarray(t, copy=True) * t, lambda a: a * a),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_value_and_gradient(xp, grad_check, name, data):
    min_dims, fn, ref = UNARY[name]
    a = data.draw(arrays(min_dims=min_dims))
    out = fn(xp, xpgrad.tensor(a, dtype="float64"))
    assert out.shape == ref(a).shape
    np.testing.assert_allclose(host(out), ref(a), rtol=1e-12, atol=1e-12)
    grad_check(lambda u: fn(xp, u), a)


@st.composite
def broadcastable_pair(draw):
    """Two arrays whose shapes broadcast together (some axes of length 1, some missing)."""
    full = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(full) - 1))
        shapes.append(tuple(1 if draw(st.booleans()) else s for s in full[drop:]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.uniform(-1, 1, shapes[0]), rng.uniform(-1, 1, shapes[1])


@SETTINGS
@given(pair=broadcastable_pair())
def test_broadcast_arrays_value_and_gradient(xp, grad_check, pair):
    a, b = pair
    got = xp.broadcast_arrays(xpgrad.tensor(a, dtype="float64"), xpgrad.tensor(b, dtype="float64"))
    for g, r in zip(got, np.broadcast_arrays(a, b), strict=True):
        np.testing.assert_array_equal(host(g), r)
    grad_check(lambda u, v: (lambda p, q: p * q + p)(*xp.broadcast_arrays(u, v)), a, b)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@SETTINGS
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_meshgrid_value_and_gradient(xp, grad_check, indexing, sizes):
    arrays_ = [np.linspace(-1, 1, n) + i for i, n in enumerate(sizes)]
    got = xp.meshgrid(*(xpgrad.tensor(a, dtype="float64") for a in arrays_), indexing=indexing)
    for g, r in zip(got, np.meshgrid(*arrays_, indexing=indexing), strict=True):
        np.testing.assert_array_equal(host(g), r)

    def weighted(*ts):
        grids = xp.meshgrid(*ts, indexing=indexing)
        return sum((k + 1) * g * g for k, g in enumerate(grids))

    grad_check(weighted, *arrays_)


def test_repeat_and_take_gradients_sum_over_copies(xp):
    x = xpgrad.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    xp.sum(xp.repeat(x, _idx(xp, [2, 0, 3]))).backward()
    assert host(x.grad).tolist() == [2.0, 0.0, 3.0]
    y = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    xp.sum(xp.take_along_axis(y, _idx(xp, [[-1, -1, 0], [0, -2, 0]]), axis=1)).backward()
    assert host(y.grad).tolist() == [[1.0, 2.0], [3.0, 0.0]]


def test_unstack_returns_a_tuple_of_slices(xp):
    parts = xp.unstack(xpgrad.tensor(np.arange(6.0).reshape(2, 3)), axis=1)
    assert isinstance(parts, tuple) and [p.tolist() for p in parts] == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]


def test_take_without_axis_on_1d(xp):
    assert xp.take(xpgrad.tensor([5.0, 6.0, 7.0]), _idx(xp, [2, 0])).tolist() == [7.0, 5.0]


def test_integer_inputs_record_nothing(xp):
    x = xp.asarray([[1, 2], [3, 4]])
    for out in (xp.flip(x), xp.roll(x, 1), xp.tile(x, (2,)), xp.repeat(x, 2), xp.tril(x), *xp.unstack(x)):
        assert not out.requires_grad and out.dtype == x.dtype


ERRORS = {
    "flip axis": (lambda xp: xp.flip(xp.ones(2), axis=1), ValueError, r"flip: axis 1 is out of range"),
    "moveaxis lengths": (lambda xp: xp.moveaxis(xp.ones((2, 2)), (0, 1), 0), ValueError,
                         r"moveaxis: source .* must name as many axes"),
    "roll tuple shift": (lambda xp: xp.roll(xp.ones(2), (1, 2)), ValueError, r"roll: a tuple shift"),
    "roll shift axis lengths": (lambda xp: xp.roll(xp.ones((2, 2)), (1, 2), axis=0), ValueError,
                                r"roll: shift .* same length"),
    "repeat negative": (lambda xp: xp.repeat(xp.ones(2), -1), ValueError, r"repeat: repeats must be non-negative"),
    "repeat float tensor": (lambda xp: xp.repeat(xp.ones(2), xp.ones(2)), TypeError,
                            r"repeat: repeats must be an int or a 1-D integer tensor"),
    "repeat length": (lambda xp: xp.repeat(xp.ones(3), xp.asarray([1, 2])), ValueError,
                      r"repeat: repeats has 2 entries, but axis 0 of x has 3"),
    "tile list": (lambda xp: xp.tile(xp.ones(2), 2), TypeError, r"tile: repetitions must be a tuple"),
    "tile negative": (lambda xp: xp.tile(xp.ones(2), (-1,)), ValueError, r"tile: repetitions must be non-negative"),
    "unstack 0-d": (lambda xp: xp.unstack(xp.asarray(1.0)), ValueError, r"unstack: x must have at least one"),
    "broadcast_to": (lambda xp: xp.broadcast_to(xp.ones(3), (2, 2)), ValueError, r"broadcast_to: cannot broadcast"),
    "broadcast_arrays": (lambda xp: xp.broadcast_arrays(xp.ones(3), xp.ones(2)), ValueError,
                         r"broadcast_arrays: shapes .* do not broadcast"),
    "meshgrid 2-d": (lambda xp: xp.meshgrid(xp.ones((2, 2))), ValueError, r"meshgrid: every array must be 1-D"),
    "meshgrid indexing": (lambda xp: xp.meshgrid(xp.ones(2), indexing="ji"), ValueError,
                          r"meshgrid: indexing must be"),
    "meshgrid dtypes": (lambda xp: xp.meshgrid(xp.ones(2), xp.asarray([1, 2])), TypeError,
                        r"meshgrid: the arrays must share one dtype"),
    "tril 1-d": (lambda xp: xp.tril(xp.ones(2)), ValueError, r"tril: x must have at least 2 dimensions"),
    "stack shapes": (lambda xp: xp.stack([xp.ones(2), xp.ones(3)]), ValueError, r"stack: the tensors must share"),
    "take axis None 2-d": (lambda xp: xp.take(xp.ones((2, 2)), xp.asarray([0])), TypeError,
                           r"take: axis must be an integer for a 2-D x"),
    "expand_dims range": (lambda xp: xp.expand_dims(xp.ones(2), axis=5), IndexError, r"expand_dims: axis 5"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(xp, name):
    fn, kind, pattern = ERRORS[name]
    with pytest.raises(kind, match=pattern):
        fn(xp)
