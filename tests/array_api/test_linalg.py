"""Linear algebra, part 1: products, determinants, inverses, solves, cholesky, traces and diagonals.

Every function: values against NumPy and a float64 gradcheck (central finite
differences) on numpy and array_api_strict, with hypothesis-drawn batch shapes
(broadcast between the operands of binary functions). Square inputs are kept
well conditioned (``A + n I``), Cholesky inputs positive definite. Complex
inputs are ``a + i b`` of two real leaves, so the gradcheck compares dL/da and
dL/db: PyTorch's convention makes the gradient of a complex input dL/da + i dL/db.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEEDS = st.integers(0, 2**32 - 1)
BATCH = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


def host(t):
    """A NumPy copy of a tensor."""
    return np.asarray(t.tolist())


def square(rng, shape):
    """Random matrices of ``shape`` (..., n, n) shifted by n I: well conditioned, det far from 0."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def spd(xp, a):
    """A Aᵀ + n I: symmetric positive definite, differentiable in ``a``."""
    n = a.shape[-1]
    return xp.matmul(a, xp.matrix_transpose(a)) + n * xp.eye(n, dtype=a.dtype)


def complex_of(xp, a, b):
    """``a + i b`` from two real tensors, differentiable in both."""
    return xp.astype(a, xp.complex128) + 1j * xp.astype(b, xp.complex128)


def real_view(xp, y):
    """A real function of a complex result that sees both of its parts (so the gradcheck tests both)."""
    return xp.real(y) + 0.7 * xp.imag(y) if y.dtype == xp.complex128 else y


# name: (function of xp and one square float64 tensor, its NumPy reference)
SQUARE = {
    "det": (lambda xp, a: xp.linalg.det(a), np.linalg.det),
    "inv": (lambda xp, a: xp.linalg.inv(a), np.linalg.inv),
    "slogdet.logabsdet": (lambda xp, a: xp.linalg.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1]),
    "matrix_power 3": (lambda xp, a: xp.linalg.matrix_power(a, 3), lambda a: np.linalg.matrix_power(a, 3)),
    "matrix_power 2": (lambda xp, a: xp.linalg.matrix_power(a, 2), lambda a: np.linalg.matrix_power(a, 2)),
    "matrix_power 1": (lambda xp, a: xp.linalg.matrix_power(a, 1), lambda a: np.linalg.matrix_power(a, 1)),
    "matrix_power -1": (lambda xp, a: xp.linalg.matrix_power(a, -1), lambda a: np.linalg.matrix_power(a, -1)),
    "matrix_power -2": (lambda xp, a: xp.linalg.matrix_power(a, -2), lambda a: np.linalg.matrix_power(a, -2)),
    "cholesky": (lambda xp, a: xp.linalg.cholesky(spd(xp, a)),
                 lambda a: np.linalg.cholesky(a @ np.swapaxes(a, -1, -2) + a.shape[-1] * np.eye(a.shape[-1]))),
    "cholesky upper": (lambda xp, a: xp.linalg.cholesky(spd(xp, a), upper=True),
                       lambda a: np.swapaxes(np.linalg.cholesky(a @ np.swapaxes(a, -1, -2)
                                                                + a.shape[-1] * np.eye(a.shape[-1])), -1, -2)),
}

# name: (function of xp and one (..., m, n) float64 tensor, its NumPy reference)
MATRIX = {
    "matrix_transpose": (lambda xp, a: xp.matrix_transpose(a), lambda a: np.swapaxes(a, -1, -2)),
    "linalg.matrix_transpose": (lambda xp, a: xp.linalg.matrix_transpose(a), lambda a: np.swapaxes(a, -1, -2)),
    **{f"trace {k}": (lambda xp, a, k=k: xp.linalg.trace(a, offset=k),
                      lambda a, k=k: np.trace(a, offset=k, axis1=-2, axis2=-1)) for k in (-1, 0, 2)},
    **{f"diagonal {k}": (lambda xp, a, k=k: xp.linalg.diagonal(a, offset=k),
                         lambda a, k=k: np.diagonal(a, offset=k, axis1=-2, axis2=-1)) for k in (-2, 0, 1)},
}


@pytest.mark.parametrize("name", sorted(SQUARE))
@SETTINGS
@given(batch=BATCH, n=st.integers(1, 4), seed=SEEDS)
def test_square_values_and_gradients(xp, grad_check, name, batch, n, seed):
    fn, ref = SQUARE[name]
    a = square(np.random.default_rng(seed), (*batch, n, n))
    np.testing.assert_allclose(host(fn(xp, xpgrad.tensor(a, dtype="float64"))), ref(a), rtol=1e-9, atol=1e-9)
    grad_check(lambda t: fn(xp, t), a)


@pytest.mark.parametrize("name", sorted(MATRIX))
@SETTINGS
@given(batch=BATCH, m=st.integers(1, 4), n=st.integers(1, 4), seed=SEEDS)
def test_matrix_values_and_gradients(xp, grad_check, name, batch, m, n, seed):
    fn, ref = MATRIX[name]
    a = np.random.default_rng(seed).standard_normal((*batch, m, n))
    np.testing.assert_allclose(host(fn(xp, xpgrad.tensor(a, dtype="float64"))), ref(a), rtol=1e-12)
    grad_check(lambda t: fn(xp, t), a)


def _broadcast_pair(draw, core1, core2):
    """Two batch shapes that broadcast together (size-1 or missing axes), in front of the core shapes."""
    batch = draw(BATCH)
    b1 = tuple(draw(st.sampled_from((1, s))) for s in batch)
    b2 = tuple(draw(st.sampled_from((1, s))) for s in batch)
    b2 = b2[draw(st.integers(0, len(b2))):]
    return (*b1, *core1), (*b2, *core2)


@st.composite
def binary_case(draw, name):
    """Shapes of the two operands of ``name`` (a key of BINARY) and its keywords."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    if name == "matmul":
        return (*_broadcast_pair(draw, (m, n), (n, k)), {})
    if name == "matmul vector":
        return (m, n), (n,), {}
    if name == "vector matmul":
        return (n,), (*draw(BATCH), n, k), {}
    if name == "solve":
        return (*_broadcast_pair(draw, (n, n), (n, k)), {})
    if name == "solve vector":
        return (*draw(BATCH), n, n), (n,), {}
    if name == "vecdot":
        axis = draw(st.sampled_from((-1, -2)))
        s1, s2 = _broadcast_pair(draw, (n, m), (n, m))
        return s1, s2, {"axis": axis}
    if name == "cross":
        axis = draw(st.sampled_from((-1, -2)))
        core = (3, m) if axis == -2 else (m, 3)
        s1, s2 = _broadcast_pair(draw, core, core)
        return s1, s2, {"axis": axis}
    if name == "outer":
        return (n,), (m,), {}
    # tensordot: x1 (a, b, c) and x2 holding a permutation of some of those sizes
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(3))
    contracted = draw(st.lists(st.integers(0, 2), unique=True, max_size=3))
    order = draw(st.permutations(contracted)) if contracted else []
    free2 = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2))))
    shape2 = tuple(sizes[i] for i in order) + free2
    ax2 = list(range(len(order)))
    if draw(st.booleans()):  # negative axes on x1
        order = [i - 3 for i in order]
    return sizes, shape2, {"axes": (list(order), ax2)}


# name: (function of xp and two tensors with keywords, NumPy reference with the same keywords)
BINARY = {
    "matmul": (lambda xp, a, b: xp.matmul(a, b), np.matmul),
    "matmul vector": (lambda xp, a, b: xp.linalg.matmul(a, b), np.matmul),
    "vector matmul": (lambda xp, a, b: xp.matmul(a, b), np.matmul),
    "solve": (lambda xp, a, b: xp.linalg.solve(a, b), np.linalg.solve),
    "solve vector": (lambda xp, a, b: xp.linalg.solve(a, b),
                     lambda a, b: np.linalg.solve(a, np.broadcast_to(b[:, None], (*a.shape[:-1], 1)))[..., 0]),
    "vecdot": (lambda xp, a, b, axis: xp.vecdot(a, b, axis=axis),
               lambda a, b, axis: np.sum(a * b, axis=axis)),
    "cross": (lambda xp, a, b, axis: xp.linalg.cross(a, b, axis=axis),
              lambda a, b, axis: np.cross(a, b, axis=axis)),
    "outer": (lambda xp, a, b: xp.linalg.outer(a, b), np.outer),
    "tensordot": (lambda xp, a, b, axes: xp.tensordot(a, b, axes=axes), lambda a, b, axes: np.tensordot(a, b, axes)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data(), seed=SEEDS)
def test_binary_values_and_gradients(xp, grad_check, name, data, seed):
    fn, ref = BINARY[name]
    s1, s2, kw = data.draw(binary_case(name))
    rng = np.random.default_rng(seed)
    a = square(rng, s1) if name.startswith("solve") else rng.standard_normal(s1)
    b = rng.standard_normal(s2)
    out = fn(xp, xpgrad.tensor(a, dtype="float64"), xpgrad.tensor(b, dtype="float64"), **kw)
    np.testing.assert_allclose(host(out), ref(a, b, **kw), rtol=1e-9, atol=1e-12)
    grad_check(lambda t1, t2: fn(xp, t1, t2, **kw), a, b)


def test_tensordot_int_axes(xp, grad_check):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4))
    others = {0: rng.standard_normal((2, 2)), 1: rng.standard_normal((4, 5)), 2: rng.standard_normal((3, 4, 5)),
              3: rng.standard_normal((2, 3, 4))}
    for axes, b in others.items():
        out = xp.tensordot(xpgrad.tensor(a, dtype="float64"), xpgrad.tensor(b, dtype="float64"), axes=axes)
        np.testing.assert_allclose(host(out), np.tensordot(a, b, axes), rtol=1e-12)
        grad_check(lambda t1, t2, axes=axes: xp.tensordot(t1, t2, axes=axes), a, b)
    grad_check(lambda t1, t2: xp.tensordot(t1, t2), a, others[2])


def test_det_gradient_closed_form(xp):
    a = square(np.random.default_rng(1), (2, 3, 3))
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    xp.sum(xp.linalg.det(t)).backward()
    want = np.linalg.det(a)[:, None, None] * np.swapaxes(np.linalg.inv(a), -1, -2)
    np.testing.assert_allclose(host(xpgrad.tensor(t.grad)), want, rtol=1e-10)


@pytest.mark.parametrize("name", ["slogdet.sign", "matrix_power 0"])
def test_zero_gradients(xp, name):
    a = square(np.random.default_rng(2), (2, 3, 3)) * np.array([1.0, -1.0])[:, None, None]
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    out = xp.linalg.slogdet(t).sign if name == "slogdet.sign" else xp.linalg.matrix_power(t, 0)
    want = np.linalg.slogdet(a)[0] if name == "slogdet.sign" else np.broadcast_to(np.eye(3), a.shape)
    np.testing.assert_array_equal(host(out), want)
    assert out.requires_grad
    xp.sum(out * 3.0).backward()
    np.testing.assert_array_equal(host(xpgrad.tensor(t.grad)), np.zeros(a.shape))


def test_matrix_rank_records_nothing(xp):
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 0.5]]])
    t = xpgrad.tensor(a, dtype="float64", requires_grad=True)
    rank = xp.linalg.matrix_rank(t)
    assert host(rank).tolist() == [1, 2] and not rank.requires_grad
    assert host(xp.linalg.matrix_rank(t, rtol=0.9)).tolist() == [1, 1]


# name: (function of xp and a complex tensor (and a second one), NumPy reference); inputs complex, losses real
COMPLEX = {
    "det": (lambda xp, z, w: xp.linalg.det(z), lambda z, w: np.linalg.det(z)),
    "inv": (lambda xp, z, w: xp.linalg.inv(z), lambda z, w: np.linalg.inv(z)),
    "slogdet.logabsdet": (lambda xp, z, w: xp.linalg.slogdet(z).logabsdet, lambda z, w: np.linalg.slogdet(z)[1]),
    "slogdet.sign": (lambda xp, z, w: xp.linalg.slogdet(z).sign, lambda z, w: np.linalg.slogdet(z)[0]),
    "solve": (lambda xp, z, w: xp.linalg.solve(z, w), np.linalg.solve),
    "matmul": (lambda xp, z, w: xp.matmul(z, w), np.matmul),
    "vecdot": (lambda xp, z, w: xp.vecdot(z, w), lambda z, w: np.sum(np.conj(z) * w, axis=-1)),
    "tensordot": (lambda xp, z, w: xp.tensordot(z, w, axes=([0], [1])), lambda z, w: np.tensordot(z, w, ([0], [1]))),
    "outer": (lambda xp, z, w: xp.linalg.outer(z[0], w[1]), lambda z, w: np.outer(z[0], w[1])),
    "trace": (lambda xp, z, w: xp.linalg.trace(z, offset=1), lambda z, w: np.trace(z, 1)),
    "cross": (lambda xp, z, w: xp.linalg.cross(z, w, axis=-2), lambda z, w: np.cross(z, w, axis=-2)),
    "matrix_power": (lambda xp, z, w: xp.linalg.matrix_power(z, -2), lambda z, w: np.linalg.matrix_power(z, -2)),
    "cholesky": (lambda xp, z, w: xp.linalg.cholesky(xp.matmul(z, xp.conj(xp.matrix_transpose(z)))),
                 lambda z, w: np.linalg.cholesky(z @ np.conj(z.T))),
}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_values_and_gradients(xp, grad_check, name):
    fn, ref = COMPLEX[name]
    rng = np.random.default_rng(3)
    a, b, c, d = (rng.standard_normal((3, 3)) + 3 * np.eye(3) * (i == 0) for i in range(4))
    z, w = a + 1j * b, c + 1j * d
    out = fn(xp, complex_of(xp, *(xpgrad.tensor(v, dtype="float64") for v in (a, b))),
             complex_of(xp, *(xpgrad.tensor(v, dtype="float64") for v in (c, d))))
    np.testing.assert_allclose(host(out), ref(z, w), rtol=1e-9, atol=1e-12)
    grad_check(lambda ta, tb, tc, td: real_view(xp, fn(xp, complex_of(xp, ta, tb), complex_of(xp, tc, td))),
               a, b, c, d)


ERRORS = [
    (lambda xp, t: xp.linalg.det(t[0, 0]), "square matrices"),
    (lambda xp, t: xp.linalg.inv(t[..., :2]), r"shape \(2, 3, 2\)"),
    (lambda xp, t: xp.linalg.outer(t, t), "1-D vectors"),
    (lambda xp, t: xp.matrix_transpose(t[0, 0]), "at least 2 dimensions"),
    (lambda xp, t: xp.tensordot(t, t, axes=([0], [1])), "must have the same size"),
    (lambda xp, t: xp.tensordot(t, t, axes=([0, 1], [0])), "same length"),
    (lambda xp, t: xp.tensordot(t, t, axes=4), r"axes=4 must be in \[0, 3\]"),
    (lambda xp, t: xp.tensordot(t, t, axes=(0, 1)), "pair of sequences"),
    (lambda xp, t: xp.vecdot(t, t, axis=-4), r"axis -4 must be in \[-3, -1\]"),
    (lambda xp, t: xp.vecdot(t, t[..., :2], axis=-1), "same size in both"),
    (lambda xp, t: xp.linalg.cross(t[..., :2], t[..., :2]), "size 3"),
    (lambda xp, t: xp.linalg.solve(t, t[0, :2]), r"x2 must be \(\.\.\., 3, K\) or \(3,\)"),
    (lambda xp, t: xp.linalg.matrix_power(t, 1.5), "n must be an integer"),
    (lambda xp, t: xp.linalg.det(np.eye(3)), "x must be a Tensor"),
    (lambda xp, t: xp.linalg.inv(t * 0), "Singular matrix|singular"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors(xp, case):
    fn, match = ERRORS[case]
    t = xpgrad.tensor(np.ones((2, 3, 3)), dtype="float64")
    with pytest.raises((ValueError, TypeError), match=match):
        fn(xp, t)


def test_trace_dtype_and_gradient_dtype(xp):
    t = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float32", requires_grad=True)
    out = xp.linalg.trace(t, dtype=xp.float64)
    assert out.dtype == xp.float64 and float(out) == 5.0
    out.backward()
    assert t.grad.dtype == xp.float32
    assert host(xpgrad.tensor(t.grad)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
