"""Linear algebra, part 2: eigh, eigvalsh, svd, svdvals, qr, pinv, matrix_norm and vector_norm.

Values against NumPy (or the reconstruction A = U diag(S) Vh, Q R, V diag(w) Vᴴ
where the factors are not unique) and float64 gradchecks on numpy and
array_api_strict, hypothesis-drawn shapes. Inputs are built with distinct,
well separated eigenvalues / singular values, and losses of eigenvectors and
singular vectors are gauge invariant (|U|² weighted, or the reconstruction),
the conditions under which these gradients exist. Complex inputs are ``a + i b``
of two real leaves (the gradcheck then checks dL/da and dL/db).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpgrad

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEEDS = st.integers(0, 2**32 - 1)
BATCH = st.lists(st.integers(1, 3), min_size=0, max_size=1).map(tuple)


def host(t):
    """A NumPy copy of a tensor."""
    return np.asarray(t.tolist())


def separated(rng, shape):
    """Matrices of ``shape`` with singular values 1, 2, ..., k (k = min(m, n)) and random singular vectors."""
    *batch, m, n = shape
    k = min(m, n)
    q1 = np.linalg.qr(rng.standard_normal((*batch, m, m)))[0][..., :k]
    q2 = np.linalg.qr(rng.standard_normal((*batch, n, n)))[0][..., :k, :]
    return (q1 * np.arange(k, 0, -1.0)) @ q2


def hermitian_input(rng, shape):
    """Symmetric matrices with eigenvalues spaced by 1 (some negative)."""
    n = shape[-1]
    q = np.linalg.qr(rng.standard_normal(shape))[0]
    return (q * (np.arange(n) - n / 2 + 0.25)) @ np.swapaxes(q, -1, -2)


def sym(xp, a):
    """(A + Aᴴ) / 2, differentiable: eigh reads one triangle, so the gradients checked are the Hermitian ones."""
    return (a + xp.conj(xp.matrix_transpose(a))) / 2


def weights(xp, shape):
    """A fixed weighting of shape ``shape`` (deterministic, so the loss is the same function at every call)."""
    return xp.reshape(xp.cos(xp.arange(math.prod(shape), dtype=xp.float64)), shape) + 1.5


def norm2(xp, v):
    """|v|² elementwise (gauge invariant for eigenvectors and singular vectors)."""
    return xp.real(v * xp.conj(v))


def svd_loss(xp, a, part, full):
    u, s, vh = xp.linalg.svd(a, full_matrices=full)
    k = s.shape[-1]
    if part == "U":
        return norm2(xp, u[..., :k]) * weights(xp, u[..., :k].shape)
    if part == "Vh":
        return norm2(xp, vh[..., :k, :]) * weights(xp, vh[..., :k, :].shape)
    if part == "S":
        return s
    return xp.matmul(u[..., :k] * s[..., None, :], vh[..., :k, :])  # the reconstruction


# name: (function of xp and a tensor, NumPy reference (None: checked in the test's own way), input maker)
CASES = {
    "eigvalsh": (lambda xp, a: xp.linalg.eigvalsh(sym(xp, a)), np.linalg.eigvalsh, "hermitian"),
    "eigh.eigenvalues": (lambda xp, a: xp.linalg.eigh(sym(xp, a)).eigenvalues, np.linalg.eigvalsh, "hermitian"),
    "eigh.eigenvectors": (lambda xp, a: norm2(xp, xp.linalg.eigh(sym(xp, a)).eigenvectors)
                          * weights(xp, a.shape), None, "hermitian"),
    "svdvals": (lambda xp, a: xp.linalg.svdvals(a), lambda a: np.linalg.svd(a, compute_uv=False), "separated"),
    **{f"svd.{part} full={full}": (lambda xp, a, part=part, full=full: svd_loss(xp, a, part, full), None, "separated")
       for part in ("U", "S", "Vh", "A") for full in (False, True)},
    "qr.Q": (lambda xp, a: xp.linalg.qr(a).Q, lambda a: np.linalg.qr(a)[0], "separated"),
    "qr.R": (lambda xp, a: xp.linalg.qr(a).R, lambda a: np.linalg.qr(a)[1], "separated"),
    "qr complete": (lambda xp, a: xp.linalg.qr(xp.matrix_transpose(a) if a.shape[-2] > a.shape[-1] else a,
                                               mode="complete").R,
                    lambda a: np.linalg.qr(np.swapaxes(a, -1, -2) if a.shape[-2] > a.shape[-1] else a,
                                           mode="complete")[1], "separated"),
    "pinv": (lambda xp, a: xp.linalg.pinv(a), np.linalg.pinv, "separated"),
    **{f"matrix_norm {o}": (lambda xp, a, o=o: xp.linalg.matrix_norm(a, ord=o),
                            lambda a, o=o: np.linalg.norm(a, ord=o, axis=(-2, -1)), "separated")
       for o in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)},
    "matrix_norm keepdims": (lambda xp, a: xp.linalg.matrix_norm(a, keepdims=True, ord="nuc"),
                             lambda a: np.linalg.norm(a, ord="nuc", axis=(-2, -1), keepdims=True), "separated"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(batch=BATCH, m=st.integers(1, 4), n=st.integers(1, 4), seed=SEEDS)
def test_values_and_gradients(xp, grad_check, name, batch, m, n, seed):
    fn, ref, kind = CASES[name]
    rng = np.random.default_rng(seed)
    a = hermitian_input(rng, (*batch, n, n)) if kind == "hermitian" else separated(rng, (*batch, m, n))
    out = fn(xp, xpgrad.tensor(a, dtype="float64"))
    if ref is not None:
        np.testing.assert_allclose(host(out), ref(a), rtol=1e-9, atol=1e-9)
    grad_check(lambda t: fn(xp, t), a)


@SETTINGS
@given(batch=BATCH, m=st.integers(1, 4), n=st.integers(1, 4), full=st.booleans(), seed=SEEDS)
def test_factorizations_reconstruct(xp, batch, m, n, full, seed):
    rng = np.random.default_rng(seed)
    a = separated(rng, (*batch, m, n))
    t = xpgrad.tensor(a, dtype="float64")
    u, s, vh = (host(v) for v in xp.linalg.svd(t, full_matrices=full))
    k = min(m, n)
    assert u.shape == (*batch, m, m if full else k) and vh.shape == (*batch, n if full else k, n)
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, atol=1e-10)
    for mode in ("reduced", "complete"):
        q, r = (host(v) for v in xp.linalg.qr(t, mode=mode))
        np.testing.assert_allclose(q @ r, a, atol=1e-10)
        np.testing.assert_allclose(r, np.triu(r))
    h = hermitian_input(rng, (*batch, n, n))
    w, v = (host(x) for x in xp.linalg.eigh(xpgrad.tensor(h, dtype="float64")))
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), h, atol=1e-10)


@st.composite
def vector_norm_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1)
                | st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1).map(tuple))
    ord = draw(st.sampled_from((2, 1, math.inf, -math.inf, 3, 0.5, -1.5)))
    return shape, axis, draw(st.booleans()), ord


@SETTINGS
@given(case=vector_norm_case(), seed=SEEDS)
def test_vector_norm(xp, grad_check, case, seed):
    shape, axis, keepdims, ord = case
    a = np.random.default_rng(seed).standard_normal(shape)
    out = xp.linalg.vector_norm(xpgrad.tensor(a, dtype="float64"), axis=axis, keepdims=keepdims, ord=ord)
    axes = tuple(range(a.ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    ax = np.abs(a)
    want = (np.max(ax, axis=axes, keepdims=keepdims) if ord == math.inf else
            np.min(ax, axis=axes, keepdims=keepdims) if ord == -math.inf else
            np.sum(ax ** ord, axis=axes, keepdims=keepdims) ** (1 / ord))
    np.testing.assert_allclose(host(out), want, rtol=1e-10)
    grad_check(lambda t: xp.linalg.vector_norm(t, axis=axis, keepdims=keepdims, ord=ord), a)


def test_norm_subgradients_and_zero_gradients(xp):
    t = xpgrad.tensor([[0.0, 0.0], [3.0, -4.0]], dtype="float64", requires_grad=True)
    xp.sum(xp.linalg.vector_norm(t, axis=-1)).backward()  # the 2-norm's subgradient at 0 is 0
    assert host(xpgrad.tensor(t.grad)).tolist() == [[0.0, 0.0], [0.6, -0.8]]
    t.grad = None
    xp.sum(xp.linalg.vector_norm(t, ord=0, axis=-1)).backward()  # counts non-zeros: zero gradient
    assert host(xpgrad.tensor(t.grad)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert host(xp.linalg.vector_norm(t, ord=0)).tolist() == 2.0
    ties = xpgrad.tensor([2.0, -2.0, 1.0], dtype="float64", requires_grad=True)
    xp.linalg.vector_norm(ties, ord=math.inf).backward()  # tied maxima share the gradient
    assert host(xpgrad.tensor(ties.grad)).tolist() == [0.5, -0.5, 0.0]


# name: (function of xp and a complex tensor, NumPy reference or None); each loss is real
COMPLEX = {
    "vector_norm 2": (lambda xp, z: xp.linalg.vector_norm(z, axis=-1), lambda z: np.linalg.norm(z, axis=-1)),
    "vector_norm 1": (lambda xp, z: xp.linalg.vector_norm(z, ord=1), lambda z: np.sum(np.abs(z))),
    "vector_norm inf": (lambda xp, z: xp.linalg.vector_norm(z, ord=math.inf), lambda z: np.max(np.abs(z))),
    "vector_norm 3": (lambda xp, z: xp.linalg.vector_norm(z, ord=3), lambda z: np.sum(np.abs(z) ** 3) ** (1 / 3)),
    **{f"matrix_norm {o}": (lambda xp, z, o=o: xp.linalg.matrix_norm(z, ord=o), lambda z, o=o: np.linalg.norm(z, o))
       for o in ("fro", "nuc", 2, -2, 1, math.inf)},
    "svdvals": (lambda xp, z: xp.linalg.svdvals(z), lambda z: np.linalg.svd(z, compute_uv=False)),
    "svd reconstruction": (lambda xp, z: xp.real(svd_loss(xp, z, "A", False)), np.real),
    "svd.U": (lambda xp, z: svd_loss(xp, z, "U", True), None),
    "svd.Vh": (lambda xp, z: svd_loss(xp, z, "Vh", False), None),
    "eigvalsh": (lambda xp, z: xp.linalg.eigvalsh(sym(xp, z)), lambda z: np.linalg.eigvalsh((z + z.conj().T) / 2)),
    "eigh.eigenvectors": (lambda xp, z: norm2(xp, xp.linalg.eigh(sym(xp, z)).eigenvectors) * weights(xp, z.shape),
                          None),
    "qr.R": (lambda xp, z: xp.real(xp.linalg.qr(z).R) + xp.imag(xp.linalg.qr(z).R),
             lambda z: np.real(np.linalg.qr(z)[1]) + np.imag(np.linalg.qr(z)[1])),
    "qr.Q": (lambda xp, z: xp.real(xp.linalg.qr(z).Q) - xp.imag(xp.linalg.qr(z).Q),
             lambda z: np.real(np.linalg.qr(z)[0]) - np.imag(np.linalg.qr(z)[0])),
    "pinv": (lambda xp, z: xp.real(xp.linalg.pinv(z[:, :2])) + xp.imag(xp.linalg.pinv(z[:, :2])),
             lambda z: np.real(np.linalg.pinv(z[:, :2])) + np.imag(np.linalg.pinv(z[:, :2]))),
}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_values_and_gradients(xp, grad_check, name):
    fn, ref = COMPLEX[name]
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))

    def f(ta, tb):
        return fn(xp, xp.astype(ta, xp.complex128) + 1j * xp.astype(tb, xp.complex128))

    if ref is not None:
        np.testing.assert_allclose(host(f(*(xpgrad.tensor(v, dtype="float64") for v in (a, b)))), ref(a + 1j * b),
                                   rtol=1e-9, atol=1e-12)
    grad_check(f, a, b)


ERRORS = [
    (lambda xp, t: xp.linalg.eigh(t[0, 0]), "square matrices"),
    (lambda xp, t: xp.linalg.eigvalsh(t[..., :2]), "square matrices"),
    (lambda xp, t: xp.linalg.qr(t, mode="r"), "mode must be 'reduced' or 'complete'"),
    (lambda xp, t: xp.linalg.svd(t[0, 0]), "stack of matrices"),
    (lambda xp, t: xp.linalg.matrix_norm(t, ord=3), "ord must be one of"),
    (lambda xp, t: xp.linalg.matrix_norm(t, ord="euclid"), "ord must be one of"),
    (lambda xp, t: xp.linalg.vector_norm(t, ord="fro"), "ord must be a number"),
    (lambda xp, t: xp.linalg.vector_norm(t, axis=3), "axis 3 is out of range"),
    (lambda xp, t: xp.linalg.vector_norm(t, axis=(0, 0)), "names an axis twice"),
    (lambda xp, t: xp.linalg.pinv([[1.0]]), "x must be a Tensor"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors(xp, case):
    fn, match = ERRORS[case]
    t = xpgrad.tensor(np.ones((2, 3, 3)), dtype="float64")
    with pytest.raises((ValueError, TypeError), match=match):
        fn(xp, t)


def test_qr_complete_gradient_of_a_tall_matrix_is_refused(xp):
    t = xpgrad.tensor(separated(np.random.default_rng(5), (4, 2)), dtype="float64", requires_grad=True)
    q, r = xp.linalg.qr(t, mode="complete")
    assert q.shape == (4, 4) and r.shape == (4, 2)
    with pytest.raises(ValueError, match="mode='complete' with more rows than columns"):
        xp.sum(q).backward()
