"""Complex values through the unary math: forward against NumPy, gradients of real losses by finite differences.

z = x + iy is built from two real float64 leaves by a small Function of this
file (so only the functions under test are involved); the loss is real:
Re f(z) + c·Im f(z) with a constant c, or |f(z)|. PyTorch's convention makes
the gradient dL/dx + i dL/dy, so the real leaves must receive dL/dx and dL/dy,
which central differences in x and y check.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import xpgrad
from xpgrad.backend import to_numpy

SHAPES = array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
FEW = settings(max_examples=10, deadline=None)


class MakeComplex(xpgrad.Function):
    """z = x + iy from real x and y; with g = dL/du + i dL/dv, dL/dx = Re g and dL/dy = Im g."""

    @staticmethod
    def forward(ctx, x, y):
        xp = ctx.xp
        return xp.astype(x, xp.complex128) + xp.astype(y, xp.complex128) * 1j

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.real(g), ctx.xp.imag(g)


HOLOMORPHIC = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "expm1": np.expm1, "log2": np.log2, "log10": np.log10, "square": np.square, "reciprocal": np.reciprocal,
    "positive": np.positive,
}
OTHERS = {"conj": np.conj, "sign": np.sign}


def _points(seed, shape):
    """x in [0.2, 1.2], |y| in [0.2, 0.9]: off the branch cuts (real and imaginary axes) and the poles."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 1.2, shape)
    y = rng.uniform(0.2, 0.9, shape) * rng.choice([-1.0, 1.0], shape)
    return x, y


@pytest.mark.parametrize("name", sorted({**HOLOMORPHIC, **OTHERS}))
def test_complex_values_and_gradients(xp, grad_check, name):
    fn = getattr(xp, name)
    ref = {**HOLOMORPHIC, **OTHERS}[name]

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x, y = _points(seed, shape)
        c = xpgrad.tensor(np.random.default_rng(seed + 1).uniform(-2, 2, shape), dtype="float64")

        def loss(a, b):
            w = fn(MakeComplex.apply(a, b))
            assert w.dtype == xp.complex128
            return xp.real(w) + c * xp.imag(w)

        a, b = grad_check(loss, x, y)
        np.testing.assert_allclose(fn(MakeComplex.apply(a, b)).numpy(), ref(x + 1j * y), rtol=1e-12, atol=1e-12)

    check()


CHAINS = {
    "|sin z|": lambda xp, z: xp.abs(xp.sin(z)),
    "Re(z²)": lambda xp, z: xp.real(xp.square(z)),
    "Im(1/conj z)": lambda xp, z: xp.imag(xp.reciprocal(xp.conj(z))),
    "Im(log10 cosh z) + Re sign(z)": lambda xp, z: xp.imag(xp.log10(xp.cosh(z))) + xp.real(xp.sign(z)),
    "|expm1(atan z)| * Re(acosh z)": lambda xp, z: xp.abs(xp.expm1(xp.atan(z))) * xp.real(xp.acosh(z)),
    "Re(round z) + Im(tan z)": lambda xp, z: xp.real(xp.round(z)) + xp.imag(xp.tan(z)),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_real_losses_through_complex_chains(xp, grad_check, name):
    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x, y = _points(seed, shape)
        if name.startswith("Re(round"):
            x, y = x + 0.05, np.where(np.abs(y) > 0.45, y, 0.3)  # off the steps of round at ±0.5
        grad_check(lambda a, b: CHAINS[name](xp, MakeComplex.apply(a, b)), x, y)

    check()


def test_real_and_imag_send_the_gradient_to_their_part(xp):
    x = xpgrad.tensor([0.5, -1.0], dtype="float64", requires_grad=True)
    y = xpgrad.tensor([2.0, 0.25], dtype="float64", requires_grad=True)
    xp.sum(xp.real(MakeComplex.apply(x, y)) * 3.0 + xp.imag(MakeComplex.apply(x, y)) * 5.0).backward()
    assert to_numpy(x.grad).tolist() == [3.0, 3.0]
    assert to_numpy(y.grad).tolist() == [5.0, 5.0]
    assert xp.real(MakeComplex.apply(x, y)).dtype == xp.float64


def test_sign_of_complex_zero_is_zero_with_zero_gradient(xp):
    x = xpgrad.tensor([0.0, 3.0], dtype="float64", requires_grad=True)
    y = xpgrad.tensor([0.0, 4.0], dtype="float64", requires_grad=True)
    s = xp.sign(MakeComplex.apply(x, y))
    np.testing.assert_allclose(s.numpy(), [0j, 0.6 + 0.8j], rtol=1e-15)
    xp.sum(xp.real(s)).backward()  # d/dx (x/|z|) = y²/|z|³, d/dy = -xy/|z|³
    np.testing.assert_allclose(to_numpy(x.grad), [0.0, 16 / 125])
    np.testing.assert_allclose(to_numpy(y.grad), [0.0, -12 / 125])


def test_sign_of_signed_complex_zeros_is_plus_zero_without_a_warning(xp):
    z = xpgrad.tensor([complex(-0.0, -0.0), complex(-0.0, 0.0), complex(0.0, -0.0)], dtype="complex128")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = xp.sign(z).numpy()
    assert s.tolist() == [0j, 0j, 0j]
    assert not np.signbit(s.real).any() and not np.signbit(s.imag).any()


INF, NAN = float("inf"), float("nan")
EXPM1_CASES = [  # (z, expected) from the standard's special cases of expm1
    (complex(0.0, 0.0), 0j), (complex(-0.0, 0.0), 0j), (complex(INF, 0.0), complex(INF, 0.0)),
    (complex(-INF, 2.0), complex(-1.0, 0.0)), (complex(-INF, INF), complex(-1.0, 0.0)),
    (complex(-INF, NAN), complex(-1.0, 0.0)), (complex(NAN, 0.0), complex(NAN, 0.0)),
    (complex(INF, NAN), complex(INF, NAN)), (complex(1.0, NAN), complex(NAN, NAN)),
]


def test_complex_expm1_special_cases_and_accuracy_near_zero(xp):
    z = xpgrad.tensor([c for c, _ in EXPM1_CASES], dtype="complex128")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp(inf) and NaN arithmetic in the far branch
        got = xp.expm1(z).tolist()
    for (c, want), out in zip(EXPM1_CASES, got, strict=True):
        for part in ("real", "imag"):
            w, o = getattr(want, part), getattr(out, part)
            assert (np.isnan(w) and np.isnan(o)) or (w == o and np.signbit(w) == np.signbit(o)), (c, out)
    small = np.array([1e-10 + 1e-10j, -3e-9 + 2e-12j, complex(1e-12, -0.0)])
    series = small + small**2 / 2 + small**3 / 6
    np.testing.assert_allclose(xp.expm1(xpgrad.tensor(small, dtype="complex128")).numpy(), series, rtol=1e-15)
    assert np.signbit(xp.expm1(xpgrad.tensor([complex(1e-12, -0.0)])).numpy().imag[0])  # conj symmetry kept


def test_complex64_stays_complex64(xp):
    z = xpgrad.tensor([0.5 + 0.25j], dtype="complex64")
    for name in [*HOLOMORPHIC, *OTHERS, "round"]:
        assert getattr(xp, name)(z).dtype == xp.complex64, name
    assert xp.real(z).dtype == xp.imag(z).dtype == xp.float32
    assert xp.imag(z).tolist() == [0.25]
