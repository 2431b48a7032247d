"""Complex arithmetic of ``xpgrad.array_api``: values against NumPy and gradients through complex intermediates.

A complex ``z = x + 1j*y`` is built from two real float64 leaves and a real loss of ``f(z)`` is
gradchecked in ``x`` and ``y`` (PyTorch's convention: the gradient of a complex input is
dL/dx + i dL/dy, so each real leaf gets its part). Closed forms check the convention itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import xpgrad
from xpgrad.backend import to_numpy

FEW = settings(max_examples=10, deadline=None)
SHAPES = array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)


def _parts(rng, shape, lo=0.3, hi=1.5):
    """Real and imaginary parts away from 0 and from the negative real axis (log and sqrt's branch cut)."""
    return rng.uniform(lo, hi, shape), rng.uniform(-hi, hi, shape)


# name -> loss of complex z (one input) or of z, w (two inputs): all real-valued
CHAINS_1 = {
    "exp": lambda xp, z: xp.abs(xp.exp(z)) + xp.abs(xp.exp(z) + 1j),
    "log": lambda xp, z: xp.abs(xp.log(z) + 0.5j),
    "log1p": lambda xp, z: xp.abs(xp.log1p(z) - 0.25),
    "sqrt": lambda xp, z: xp.abs(xp.sqrt(z) - 1j),
    "tanh": lambda xp, z: xp.abs(xp.tanh(z) + 1.0),
    "abs": lambda xp, z: xp.abs(z) * 2.0,
    "negative": lambda xp, z: xp.abs(xp.negative(z) + (0.5 - 0.5j)),
    "pow_scalar_exponent": lambda xp, z: xp.abs(z ** 2.5 + 1.0) + xp.abs(xp.pow(z, 1.5j)),
    "pow_scalar_base": lambda xp, z: xp.abs(xp.pow(2.0 + 1j, z)),
    "mul_div_exp_log_sqrt": lambda xp, z: xp.abs(xp.exp(z * (0.5 - 1j)) / xp.sqrt(z) + xp.log(z) * z),
}
CHAINS_2 = {
    "multiply": lambda xp, z, w: xp.abs(xp.multiply(z, w) + 1.0),
    "divide": lambda xp, z, w: xp.abs(xp.divide(z, w) - 1j),
    "add_subtract": lambda xp, z, w: xp.abs(xp.add(z, w) * xp.subtract(z, w)),
    "pow": lambda xp, z, w: xp.abs(xp.pow(z, w)),
    "where": lambda xp, z, w: xp.abs(xp.where(xp.real(z) > 0.9, z, w) + 0.1),
}


@pytest.mark.parametrize("name", sorted(CHAINS_1))
def test_complex_chain_gradients_of_one_input(xp, grad_check, name):
    loss = CHAINS_1[name]

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x, y = _parts(np.random.default_rng(seed), shape)
        grad_check(lambda a, b: loss(xp, a + 1j * b), x, y)

    check()


@pytest.mark.parametrize("name", sorted(CHAINS_2))
def test_complex_chain_gradients_of_two_broadcast_inputs(xp, grad_check, name):
    loss = CHAINS_2[name]

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (s1, s2), _ = shapes
        (x, y), (u, v) = _parts(rng, s1), _parts(rng, s2)
        grad_check(lambda a, b, c, d: loss(xp, a + 1j * b, c + 1j * d), x, y, u, v)

    check()


def _complex_leaves(z):
    x = xpgrad.tensor(np.real(z), dtype="float64", requires_grad=True)
    y = xpgrad.tensor(np.imag(z), dtype="float64", requires_grad=True)
    return x, y, x + 1j * y


def _grad(x, y):
    return to_numpy(x.grad) + 1j * to_numpy(y.grad)


def test_abs_gradient_is_z_over_its_modulus_and_zero_at_zero(xp):
    z = np.array([3 + 4j, -1 + 0j, 0j, 1j])
    x, y, t = _complex_leaves(z)
    xp.sum(xp.abs(t)).backward()
    np.testing.assert_allclose(_grad(x, y), [0.6 + 0.8j, -1, 0, 1j])


def test_holomorphic_gradients_are_the_conjugate_derivative(xp):
    # L = real(sum(c * f(z))) gives dL/dx + i dL/dy = conj(c f'(z)) for holomorphic f
    z = np.array([0.5 + 0.7j, 1.2 - 0.4j])
    c = 0.3 - 1.1j
    for name, deriv in [("exp", np.exp), ("log", lambda v: 1 / v), ("sqrt", lambda v: 0.5 / np.sqrt(v)),
                        ("tanh", lambda v: 1 - np.tanh(v) ** 2), ("log1p", lambda v: 1 / (1 + v))]:
        x, y, t = _complex_leaves(z)
        out = getattr(xp, name)(t) * c
        xp.sum(xp.real(out)).backward()
        np.testing.assert_allclose(_grad(x, y), np.conj(c * deriv(z)), rtol=1e-12, err_msg=name)


def test_multiply_sends_the_conjugate_of_the_other_factor(xp):
    a, b = np.array([1 + 2j, -0.5j]), np.array([0.3 - 1j, 2 + 0.1j])
    x1, y1, z1 = _complex_leaves(a)
    x2, y2, z2 = _complex_leaves(b)
    xp.sum(xp.real(xp.multiply(z1, z2))).backward()
    np.testing.assert_allclose(_grad(x1, y1), np.conj(b))
    np.testing.assert_allclose(_grad(x2, y2), np.conj(a))


@pytest.mark.parametrize("name,ref", [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
                                      ("divide", np.divide), ("pow", np.power)])
def test_complex_values_match_numpy(xp, name, ref):
    a, b = np.array([1 + 2j, -0.5 + 0.25j]), np.array([0.3 - 1j, 2 + 0.1j])
    ta, tb = xpgrad.tensor(a, dtype="complex128"), xpgrad.tensor(b, dtype="complex128")
    np.testing.assert_allclose(getattr(xp, name)(ta, tb).numpy(), ref(a, b), rtol=1e-12)
    np.testing.assert_allclose(getattr(xp, name)(ta, 1j).numpy(), ref(a, 1j), rtol=1e-12)
    np.testing.assert_allclose(getattr(xp, name)(2.0, tb).numpy(), ref(2.0, b), rtol=1e-12)


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sqrt", "tanh", "abs", "negative"])
def test_complex_unary_values_match_numpy(xp, name):
    z = np.array([1 + 2j, -0.5 + 0.25j, 3 - 1j])
    out = getattr(xp, name)(xpgrad.tensor(z, dtype="complex128"))
    np.testing.assert_allclose(out.numpy(), getattr(np, name)(z), rtol=1e-12)
    assert out.dtype == (xp.float64 if name == "abs" else xp.complex128)


def test_complex64_stays_complex64_with_a_python_complex(xp):
    z = xpgrad.tensor([1 + 1j], dtype="complex64")
    assert xp.multiply(z, 2j).dtype == xp.complex64
    assert xp.add(xpgrad.tensor([1.0], dtype="float32"), 1j).dtype == xp.complex64


def test_complex_tanh_at_infinity_follows_the_standard(xp):
    # tanh(±inf + iy) = ±1 + 0j for finite y > 0, whatever the sign of sin(2y) (NumPy gives -0j for y = 3)
    z = xp.asarray(np.array([complex(np.inf, 3.0), complex(-np.inf, 3.0), complex(np.inf, 1.0)]))
    out = np.asarray(xp.tanh(z).tolist())
    np.testing.assert_array_equal(out.real, [1.0, -1.0, 1.0])
    assert not np.signbit(out.imag).any()
