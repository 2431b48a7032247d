"""Unary math of ``xpgrad.array_api``: values against NumPy, gradients against central differences (float64).

Every differentiable name is gradchecked on hypothesis-drawn shapes with inputs
inside its domain, on NumPy and array-api-strict; the piecewise-constant names
give zero gradients; complex chains (a complex z built from two real leaves x,
y, a real loss of f(z)) are checked against finite differences in x and y.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import xpgrad
from xpgrad.autograd.ops import unary_math
from xpgrad.backend import to_numpy

SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
FEW = settings(max_examples=12, deadline=None)


def _uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def _away_from_zero(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


# name -> (NumPy reference, sampler of inputs inside the domain)
DIFFERENTIABLE = {
    "sin": (np.sin, _uniform(-3, 3)),
    "cos": (np.cos, _uniform(-3, 3)),
    "tan": (np.tan, _uniform(-1.2, 1.2)),
    "asin": (np.arcsin, _uniform(-0.9, 0.9)),
    "acos": (np.arccos, _uniform(-0.9, 0.9)),
    "atan": (np.arctan, _uniform(-3, 3)),
    "sinh": (np.sinh, _uniform(-2, 2)),
    "cosh": (np.cosh, _uniform(-2, 2)),
    "asinh": (np.arcsinh, _uniform(-3, 3)),
    "acosh": (np.arccosh, _uniform(1.1, 3)),
    "atanh": (np.arctanh, _uniform(-0.9, 0.9)),
    "expm1": (np.expm1, _uniform(-2, 2)),
    "log2": (np.log2, _uniform(0.2, 4)),
    "log10": (np.log10, _uniform(0.2, 4)),
    "square": (np.square, _uniform(-2, 2)),
    "reciprocal": (np.reciprocal, _away_from_zero(0.3, 2)),
    "positive": (np.positive, _uniform(-2, 2)),
    "conj": (np.conj, _uniform(-2, 2)),
    "real": (np.real, _uniform(-2, 2)),
}


def _off_integers(rng, shape):
    """Values k + f with f in [0.1, 0.4] and either sign: away from the steps of floor/ceil/trunc/round."""
    return (rng.integers(-3, 4, shape) + rng.uniform(0.1, 0.4, shape)) * rng.choice([-1.0, 1.0], shape)


ZERO_GRADIENT = {"ceil": np.ceil, "floor": np.floor, "trunc": np.trunc, "round": np.round, "sign": np.sign}

ALL_NAMES = ("acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "expm1", "log2",
             "log10", "square", "reciprocal", "ceil", "floor", "trunc", "round", "sign", "real", "imag", "conj",
             "positive")


def test_every_name_is_in_the_namespace_and_top_level():
    for name in ALL_NAMES:
        assert name in unary_math.__all__
        assert getattr(xpgrad.array_api, name) is getattr(unary_math, name) is getattr(xpgrad, name)


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradients_match_finite_differences(xp, grad_check, name):
    ref, sample = DIFFERENTIABLE[name]
    fn = getattr(xp, name)

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x = sample(np.random.default_rng(seed), shape)
        (t,) = grad_check(fn, x)
        np.testing.assert_allclose(fn(t).numpy(), ref(x), rtol=1e-12, atol=1e-12)

    check()


@pytest.mark.parametrize("name", sorted(ZERO_GRADIENT))
def test_piecewise_constant_functions_have_zero_gradients(xp, grad_check, name):
    fn = getattr(xp, name)

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x = _off_integers(np.random.default_rng(seed), shape)
        (t,) = grad_check(fn, x)  # the finite differences are 0 off the steps
        y = fn(t)
        assert y.requires_grad  # a node is recorded (so a graph through it stays connected)
        np.testing.assert_array_equal(y.numpy(), ZERO_GRADIENT[name](x))
        t.grad = None
        xp.sum(y * 3.0).backward()
        np.testing.assert_array_equal(to_numpy(t.grad), np.zeros(shape))

    check()


@pytest.mark.parametrize("name", sorted(ZERO_GRADIENT))
def test_zero_gradient_at_the_steps(xp, name):
    x = xpgrad.tensor([-1.0, -0.5, 0.0, 0.5, 2.0], dtype="float64", requires_grad=True)
    xp.sum(getattr(xp, name)(x)).backward()
    np.testing.assert_array_equal(to_numpy(x.grad), np.zeros(5))


def test_round_halves_to_even_and_sign_of_zero_is_zero(xp):
    x = xpgrad.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], dtype="float64")
    assert xp.round(x).tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]
    assert xp.sign(xpgrad.tensor([-0.0, 0.0, -3.0])).tolist() == [0.0, 0.0, -1.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_keeps_the_input_dtype(xp, dtype):
    for name in [*DIFFERENTIABLE, *ZERO_GRADIENT]:
        x = xpgrad.tensor([0.3, 0.6], dtype=dtype, requires_grad=True) + (1.0 if name == "acosh" else 0.0)
        y = getattr(xp, name)(x)
        assert y.dtype == x.dtype, name
        xp.sum(y).backward()


@pytest.mark.parametrize("name", ["ceil", "floor", "trunc", "round", "sign", "square", "positive", "conj", "real"])
def test_integer_inputs_run_forward_as_the_backend_does_and_record_nothing(xp, name):
    x = xpgrad.tensor([-3, 0, 2], dtype="int64")
    y = getattr(xp, name)(x)
    assert not y.requires_grad and y.grad_fn is None
    assert y.dtype == x.dtype
    assert y.tolist() == getattr(np, name)(np.array([-3, 0, 2])).tolist()


@pytest.mark.parametrize("name", ["sin", "floor", "real", "imag", "conj"])
def test_non_tensor_input_is_refused_naming_the_function(name):
    with pytest.raises(TypeError, match=rf"{name}: x must be a Tensor, got list"):
        getattr(xpgrad.array_api, name)([1.0, 2.0])


def test_strict_refuses_integer_input_of_a_floating_function():
    with xpgrad.use_backend("array_api_strict"):
        with pytest.raises(TypeError, match=r"Sin: the array_api_strict library refused the inputs.*int64"):
            xpgrad.array_api.sin(xpgrad.tensor([1, 2], dtype="int64"))


def test_no_node_under_no_grad(xp):
    x = xpgrad.tensor([0.5], dtype="float64", requires_grad=True)
    with xpgrad.no_grad():
        assert not xp.sin(x).requires_grad
    assert xp.sin(x).requires_grad
