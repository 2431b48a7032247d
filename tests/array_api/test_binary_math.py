"""Binary math of ``xpgrad.array_api`` (atan2, hypot, logaddexp, copysign, remainder, floor_divide, nextafter):
values against NumPy, gradients against central differences in float64, on NumPy and array-api-strict.

Inputs are drawn away from each function's kinks and jumps; floor_divide and nextafter are
piecewise constant and must give zero gradients while still recording a node.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import xpgrad
from xpgrad.autograd.ops import binary_math
from xpgrad.backend import to_numpy

FEW = settings(max_examples=12, deadline=None)
SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def _uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def _away_from_zero(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def _dividend(rng, shape):
    """Values whose quotient by a divisor in [0.7, 1.3] (either sign) stays off integers often enough."""
    return rng.integers(-4, 5, shape) + rng.uniform(0.05, 0.3, shape)


# name -> (NumPy reference, sampler of x1, sampler of x2, a Python scalar inside both domains)
DIFFERENTIABLE = {
    "atan2": (np.arctan2, _uniform(-2, 2), _away_from_zero(0.3, 2), 0.75),
    "hypot": (np.hypot, _away_from_zero(0.3, 2), _away_from_zero(0.3, 2), -1.25),
    "logaddexp": (np.logaddexp, _uniform(-3, 3), _uniform(-3, 3), 0.5),
    "copysign": (np.copysign, _away_from_zero(0.3, 2), _away_from_zero(0.3, 2), -1.5),
}
ZERO_GRADIENT = {"floor_divide": np.floor_divide, "nextafter": np.nextafter}
NAMES = ("atan2", "copysign", "floor_divide", "hypot", "logaddexp", "nextafter", "remainder")


def test_every_name_is_in_the_namespace_and_top_level():
    assert sorted(binary_math.__all__) == sorted(NAMES)
    for name in NAMES:
        assert getattr(xpgrad.array_api, name) is getattr(binary_math, name) is getattr(xpgrad, name)


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradients_with_broadcasting(xp, grad_check, name):
    ref, s1, s2, _ = DIFFERENTIABLE[name]
    fn = getattr(xp, name)

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (shape1, shape2), _ = shapes
        a, b = s1(rng, shape1), s2(rng, shape2)
        t1, t2 = grad_check(fn, a, b)
        np.testing.assert_allclose(fn(t1, t2).numpy(), ref(a, b), rtol=1e-12, atol=1e-12)

    check()


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradients_with_a_python_scalar_on_either_side(xp, grad_check, name):
    ref, s1, s2, scalar = DIFFERENTIABLE[name]
    fn = getattr(xp, name)

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        rng = np.random.default_rng(seed)
        a, b = s1(rng, shape), s2(rng, shape)
        (t1,) = grad_check(lambda t: fn(t, scalar), a)
        (t2,) = grad_check(lambda t: fn(scalar, t), b)
        np.testing.assert_allclose(fn(t1, scalar).numpy(), ref(a, scalar), rtol=1e-12)
        np.testing.assert_allclose(fn(scalar, t2).numpy(), ref(scalar, b), rtol=1e-12)

    check()


def test_remainder_gradients_off_the_jumps(xp, grad_check):
    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (shape1, shape2), _ = shapes
        b = rng.uniform(0.7, 1.3, shape2) * rng.choice([-1.0, 1.0], shape2)
        a = _dividend(rng, shape1)
        q = np.floor(a / b)
        frac = a / b - q
        if np.any((frac < 1e-3) | (frac > 1 - 1e-3)):  # too near a jump for finite differences
            return
        t1, t2 = grad_check(xp.remainder, a, b)
        np.testing.assert_allclose(xp.remainder(t1, t2).numpy(), np.remainder(a, b), rtol=1e-12, atol=1e-12)
        grad_check(lambda t: xp.remainder(t, 0.75), a)

    check()


def test_remainder_gradient_wrt_the_divisor_is_minus_the_floor_quotient(xp):
    a = xpgrad.tensor([5.5, -5.5, 1.0], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([2.0, 2.0, -0.75], dtype="float64", requires_grad=True)
    xp.sum(xp.remainder(a, b)).backward()
    assert to_numpy(a.grad).tolist() == [1.0, 1.0, 1.0]
    assert to_numpy(b.grad).tolist() == [-2.0, 3.0, 2.0]


@pytest.mark.parametrize("name", sorted(ZERO_GRADIENT))
def test_piecewise_constant_functions_record_a_node_with_zero_gradients(xp, name):
    fn = getattr(xp, name)

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (shape1, shape2), _ = shapes
        a, b = _dividend(rng, shape1), rng.uniform(0.7, 1.3, shape2)
        t1 = xpgrad.tensor(a, dtype="float64", requires_grad=True)
        t2 = xpgrad.tensor(b, dtype="float64", requires_grad=True)
        y = fn(t1, t2)
        assert y.requires_grad
        np.testing.assert_array_equal(y.numpy(), ZERO_GRADIENT[name](a, b))
        xp.sum(y * 3.0).backward()
        np.testing.assert_array_equal(to_numpy(t1.grad), np.zeros(shape1))
        np.testing.assert_array_equal(to_numpy(t2.grad), np.zeros(shape2))
        t1.grad = None
        xp.sum(fn(t1, 2.0) + fn(2.0, t1)).backward()
        np.testing.assert_array_equal(to_numpy(t1.grad), np.zeros(shape1))

    check()


def test_copysign_gradient_follows_the_sign_change_and_is_zero_for_x2(xp):
    a = xpgrad.tensor([1.5, -2.0, 0.0, 3.0], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([-1.0, -1.0, -1.0, 2.0], dtype="float64", requires_grad=True)
    y = xp.copysign(a, b)
    assert y.tolist() == [-1.5, -2.0, -0.0, 3.0]
    xp.sum(y).backward()
    assert to_numpy(a.grad).tolist() == [-1.0, 1.0, 0.0, 1.0]
    assert to_numpy(b.grad).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_logaddexp_is_stable_and_its_gradient_is_the_two_way_softmax(xp):
    a = xpgrad.tensor([1000.0, 0.0, -np.inf], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([1000.0, np.log(3.0), -np.inf], dtype="float64", requires_grad=True)
    y = xp.logaddexp(a, b)
    np.testing.assert_allclose(y.numpy(), [1000.0 + np.log(2.0), np.log(4.0), -np.inf])
    xp.sum(y[:2]).backward()
    np.testing.assert_allclose(to_numpy(a.grad), [0.5, 0.25, 0.0])
    np.testing.assert_allclose(to_numpy(b.grad), [0.5, 0.75, 0.0])


def test_origin_gradients_are_zero_for_atan2_and_hypot(xp):
    for name in ("atan2", "hypot"):
        a = xpgrad.tensor([0.0], dtype="float64", requires_grad=True)
        b = xpgrad.tensor([0.0], dtype="float64", requires_grad=True)
        xp.sum(getattr(xp, name)(a, b)).backward()
        assert to_numpy(a.grad).tolist() == [0.0] and to_numpy(b.grad).tolist() == [0.0], name


def test_floor_divide_follows_the_standard_at_infinities(xp):
    a = xpgrad.tensor([np.inf, np.inf, -np.inf, 1.0, -1.0, 1.0, 7.0], dtype="float64")
    b = xpgrad.tensor([2.0, -2.0, 2.0, np.inf, np.inf, -np.inf, 2.0], dtype="float64")
    out = xp.floor_divide(a, b).numpy()
    np.testing.assert_array_equal(out, [np.inf, -np.inf, -np.inf, 0.0, -0.0, -0.0, 3.0])
    assert list(np.signbit(out[3:6])) == [False, True, True]
    assert xp.floor_divide(np.inf, xpgrad.tensor([2.0])).tolist() == [np.inf]


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_integer_floor_divide_and_remainder_run_forward_and_record_nothing(xp, dtype):
    a, b = np.array([7, 9, 12], dtype=dtype), np.array([2, 4, 5], dtype=dtype)
    ta, tb = xpgrad.tensor(a, dtype=dtype), xpgrad.tensor(b, dtype=dtype)
    for name, ref in [("floor_divide", np.floor_divide), ("remainder", np.remainder)]:
        y = getattr(xp, name)(ta, tb)
        assert y.dtype == ta.dtype and not y.requires_grad
        assert y.tolist() == ref(a, b).tolist()
        assert getattr(xp, name)(ta, 3).tolist() == ref(a, 3).tolist()


def test_float32_stays_float32_with_python_floats_and_gradients_keep_dtypes(xp):
    a = xpgrad.tensor([0.5, 1.5], dtype="float32", requires_grad=True)
    b = xpgrad.tensor([1.25, -0.75], dtype="float64", requires_grad=True)
    for name in NAMES:
        assert getattr(xp, name)(a, 2.0).dtype == xp.float32, name
        y = getattr(xp, name)(a, b)
        assert y.dtype == xp.float64, name
        xp.sum(y).backward()
        assert a.grad.dtype == xp.float32 and b.grad.dtype == xp.float64, name


@pytest.mark.parametrize("name", NAMES)
def test_bad_operands_are_refused_naming_the_function(xp, name):
    with pytest.raises(TypeError, match=rf"{name}: x2 must be a Tensor or a real number, got str"):
        getattr(xp, name)(xpgrad.tensor([1.0]), "2")
    with pytest.raises(TypeError, match=rf"{name}: x1 must be a Tensor or a real number, got complex"):
        getattr(xp, name)(1j, xpgrad.tensor([1.0]))
