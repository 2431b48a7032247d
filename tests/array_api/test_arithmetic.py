"""Arithmetic of ``xpgrad.array_api`` (the ``elementwise`` family): values against NumPy, gradients against
central differences in float64, on NumPy and array-api-strict.

Binary names are checked on hypothesis-drawn mutually broadcastable shapes and with a Python scalar on
either side; every input is drawn inside the function's domain. Type promotion: a Python scalar is weak,
and each input gets its gradient in its own dtype.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import xpgrad
from xpgrad.autograd.ops import elementwise
from xpgrad.backend import to_numpy

FEW = settings(max_examples=12, deadline=None)
SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
TRIPLES = mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3)


def _uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def _away_from_zero(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


ANY = _uniform(-2, 2)
POSITIVE = _uniform(0.3, 2.5)
NONZERO = _away_from_zero(0.4, 2)

# name -> (NumPy reference, sampler of x1, sampler of x2, a Python scalar that is in x1's and x2's domain)
BINARY = {
    "add": (np.add, ANY, ANY, 1.5),
    "subtract": (np.subtract, ANY, ANY, -0.75),
    "multiply": (np.multiply, ANY, ANY, 2.5),
    "divide": (np.divide, ANY, NONZERO, 1.25),
    "pow": (np.power, POSITIVE, ANY, 1.5),
    "maximum": (np.maximum, ANY, ANY, 0.25),
    "minimum": (np.minimum, ANY, ANY, -0.25),
}

# name -> (NumPy reference, sampler)
UNARY = {
    "negative": (np.negative, ANY),
    "exp": (np.exp, ANY),
    "log": (np.log, POSITIVE),
    "log1p": (np.log1p, _uniform(-0.6, 2.5)),
    "sqrt": (np.sqrt, POSITIVE),
    "tanh": (np.tanh, ANY),
    "abs": (np.abs, NONZERO),
}

NAMES = ("abs", "add", "clip", "divide", "exp", "log", "log1p", "maximum", "minimum", "multiply", "negative", "pow",
         "sqrt", "subtract", "tanh", "where")


def test_every_name_is_in_the_namespace_and_top_level():
    assert sorted(elementwise.__all__) == sorted(NAMES)
    for name in NAMES:
        assert getattr(xpgrad.array_api, name) is getattr(elementwise, name) is getattr(xpgrad, name)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_with_broadcasting(xp, grad_check, name):
    ref, s1, s2, _ = BINARY[name]
    fn = getattr(xp, name)

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (shape1, shape2), _ = shapes
        a, b = s1(rng, shape1), s2(rng, shape2)
        t1, t2 = grad_check(fn, a, b)
        out = fn(t1, t2)
        assert out.shape == np.broadcast_shapes(shape1, shape2)
        np.testing.assert_allclose(out.numpy(), ref(a, b), rtol=1e-12, atol=1e-12)

    check()


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_with_a_python_scalar_on_either_side(xp, grad_check, name):
    ref, s1, s2, scalar = BINARY[name]
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
        assert fn(t1, scalar).dtype == t1.dtype == fn(scalar, t2).dtype

    check()


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients(xp, grad_check, name):
    ref, sample = UNARY[name]
    fn = getattr(xp, name)

    @FEW
    @given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
    def check(shape, seed):
        x = sample(np.random.default_rng(seed), shape)
        (t,) = grad_check(fn, x)
        np.testing.assert_allclose(fn(t).numpy(), ref(x), rtol=1e-12, atol=1e-12)

    check()


def test_clip_gradients_reach_x_and_tensor_bounds(xp, grad_check):
    @FEW
    @given(shapes=TRIPLES, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (sx, slo, shi), _ = shapes
        x, lo, hi = rng.uniform(-3, 3, sx), rng.uniform(-2, -0.3, slo), rng.uniform(0.3, 2, shi)
        t, tlo, thi = grad_check(lambda a, b, c: xp.clip(a, min=b, max=c), x, lo, hi)
        np.testing.assert_allclose(xp.clip(t, tlo, thi).numpy(), np.clip(x, lo, hi), rtol=1e-12)
        grad_check(lambda a: xp.clip(a, min=-0.5), x)
        grad_check(lambda a: xp.clip(a, max=0.5), x)
        grad_check(lambda a: xp.clip(a, -0.5, 0.5), x)

    check()


def test_clip_sends_each_element_to_the_bound_it_took(xp):
    x = xpgrad.tensor([-2.0, 0.5, 2.0, -0.5], dtype="float64", requires_grad=True)
    lo = xpgrad.tensor([-1.0, 0.0, -1.0, 0.0], dtype="float64", requires_grad=True)
    hi = xpgrad.tensor(1.0, dtype="float64", requires_grad=True)
    y = xp.clip(x, lo, hi)
    assert y.tolist() == [-1.0, 0.5, 1.0, 0.0]
    xp.sum(y * xpgrad.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64")).backward()
    assert to_numpy(x.grad).tolist() == [0.0, 2.0, 0.0, 0.0]
    assert to_numpy(lo.grad).tolist() == [1.0, 0.0, 0.0, 4.0]
    assert float(to_numpy(hi.grad)) == 3.0


def test_clip_keeps_the_dtype_of_x_and_handles_none(xp):
    x = xpgrad.tensor([-2.0, 0.5, 2.0])
    assert xp.clip(x, -1, 1).dtype == x.dtype
    assert xp.clip(x).tolist() == [-2.0, 0.5, 2.0]
    assert xp.clip(xpgrad.tensor([-5, 3, 9]), 0, 4).tolist() == [0, 3, 4]


def test_where_gradients_with_broadcasting_and_scalar_branches(xp, grad_check):
    @FEW
    @given(shapes=TRIPLES, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (sc, s1, s2), _ = shapes
        c = rng.uniform(-1, 1, sc) > 0
        a, b = rng.uniform(-2, 2, s1), rng.uniform(-2, 2, s2)
        cond = xpgrad.tensor(c)
        t1, t2 = grad_check(lambda u, v: xp.where(cond, u, v), a, b)
        np.testing.assert_array_equal(xp.where(cond, t1, t2).numpy(), np.where(c, a, b))
        grad_check(lambda u: xp.where(cond, u, 0.5), a)
        grad_check(lambda v: xp.where(cond, -1.5, v), b)
        np.testing.assert_array_equal(xp.where(cond, t1, 0.5).numpy(), np.where(c, a, 0.5))

    check()


def test_where_refuses_two_scalars_and_a_non_boolean_condition(xp):
    cond = xpgrad.tensor([True, False])
    with pytest.raises(TypeError, match=r"where: at least one of x1 and x2 must be a Tensor"):
        xp.where(cond, 1.0, 2.0)
    with pytest.raises(TypeError, match=r"where: condition must be a boolean Tensor, got dtype"):
        xp.where(xpgrad.tensor([1.0, 0.0]), xpgrad.tensor([1.0, 2.0]), 0.0)
    with pytest.raises(TypeError, match=r"where: condition must be a boolean Tensor, got list"):
        xp.where([True], xpgrad.tensor([1.0]), 0.0)


def test_maximum_and_minimum_share_the_gradient_on_ties(xp):
    a = xpgrad.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([1.0, 3.0, 2.0], dtype="float64", requires_grad=True)
    xp.sum(xp.maximum(a, b) + 2.0 * xp.minimum(a, b)).backward()
    assert to_numpy(a.grad).tolist() == [1.5, 2.0, 1.0]
    assert to_numpy(b.grad).tolist() == [1.5, 1.0, 2.0]


def test_pow_edge_gradients_are_finite(xp):
    a = xpgrad.tensor([0.0, 2.0], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([0.0, 3.0], dtype="float64", requires_grad=True)
    xp.sum(xp.pow(a, b)).backward()
    # d/da at b == 0 is 0 (a**0 is constant); d/db at a == 0 is taken as 0
    assert to_numpy(a.grad).tolist() == [0.0, 12.0]
    np.testing.assert_allclose(to_numpy(b.grad), [0.0, 8.0 * np.log(2.0)])


def test_abs_subgradient_is_zero_at_zero(xp):
    x = xpgrad.tensor([0.0, -0.0, -2.0], dtype="float64", requires_grad=True)
    xp.sum(xp.abs(x)).backward()
    assert to_numpy(x.grad).tolist() == [0.0, 0.0, -1.0]


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "pow", "maximum", "minimum"])
def test_a_python_float_is_weak_so_float32_stays_float32(xp, name):
    x = xpgrad.tensor([0.5, 1.5], dtype="float32", requires_grad=True)
    y = getattr(xp, name)(x, 2.0)
    assert y.dtype == xp.float32
    assert getattr(xp, name)(2.0, x).dtype == xp.float32
    xp.sum(y).backward()
    assert x.grad.dtype == xp.float32


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "pow", "maximum", "minimum"])
def test_float32_with_float64_promotes_and_each_gradient_keeps_its_dtype(xp, name):
    a = xpgrad.tensor([0.5, 1.5], dtype="float32", requires_grad=True)
    b = xpgrad.tensor([1.25, 0.75], dtype="float64", requires_grad=True)
    y = getattr(xp, name)(a, b)
    assert y.dtype == xp.float64
    xp.sum(y).backward()
    assert a.grad.dtype == xp.float32 and b.grad.dtype == xp.float64
    # the float32 gradient is the float64 one rounded
    ref_a = xpgrad.tensor([0.5, 1.5], dtype="float64", requires_grad=True)
    xp.sum(getattr(xp, name)(ref_a, b)).backward()
    np.testing.assert_allclose(to_numpy(a.grad), to_numpy(ref_a.grad).astype(np.float32), rtol=1e-6)


def test_a_complex_python_scalar_makes_a_complex_result_and_a_real_gradient(xp):
    x = xpgrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    z = xp.multiply(x, 2j)
    assert z.dtype == xp.complex128
    xp.sum(xp.abs(xp.add(z, 1.0))).backward()  # |1 + 2ix| = sqrt(1 + 4x²): d/dx = 4x / sqrt(1 + 4x²)
    assert x.grad.dtype == xp.float64
    np.testing.assert_allclose(to_numpy(x.grad), [4 / np.sqrt(5), -8 / np.sqrt(17)])


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_integer_arithmetic_runs_forward_and_records_nothing(xp, dtype):
    a = xpgrad.tensor([1, 2, 7], dtype=dtype)
    b = xpgrad.tensor([3, 1, 2], dtype=dtype)
    for name, ref in [("add", np.add), ("multiply", np.multiply), ("maximum", np.maximum),
                      ("minimum", np.minimum), ("pow", np.power)]:
        y = getattr(xp, name)(a, b)
        assert y.dtype == a.dtype and not y.requires_grad and y.grad_fn is None
        assert y.tolist() == ref(np.array([1, 2, 7], dtype=dtype), np.array([3, 1, 2], dtype=dtype)).tolist()
    assert xp.add(a, 1).dtype == a.dtype


def test_bool_and_integer_abs_and_negative(xp):
    x = xpgrad.tensor([-3, 0, 4], dtype="int64")
    assert xp.abs(x).tolist() == [3, 0, 4] and xp.negative(x).tolist() == [3, 0, -4]


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "pow", "maximum", "minimum"])
def test_bad_operands_are_refused_naming_the_function_and_the_argument(xp, name):
    fn = getattr(xp, name)
    with pytest.raises(TypeError, match=rf"{name}: x2 must be a Tensor or a real number, got str"):
        fn(xpgrad.tensor([1.0]), "a")
    with pytest.raises(TypeError, match=rf"{name}: x1 must be a Tensor or a real number, got NoneType"):
        fn(None, xpgrad.tensor([1.0]))
    with pytest.raises(TypeError, match=r"needs at least one xpgrad.Tensor argument"):
        fn(1.0, 2.0)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_refuses_a_non_tensor(name):
    with pytest.raises(TypeError, match=rf"{name}: x must be a Tensor, got list"):
        getattr(xpgrad.array_api, name)([1.0])


def test_clip_refuses_a_complex_bound(xp):
    with pytest.raises(TypeError, match=r"clip: min must be a real number or a Tensor, got the complex number"):
        xp.clip(xpgrad.tensor([1.0]), min=1j)


def test_signatures_are_the_standards():
    import inspect

    assert str(inspect.signature(xpgrad.array_api.add)).startswith("(x1: 'Operand', x2: 'Operand', /)")
    assert str(inspect.signature(xpgrad.array_api.exp)).startswith("(x: 'Tensor', /)")
    params = inspect.signature(xpgrad.array_api.clip).parameters
    assert [(p.name, p.kind.name, p.default) for p in params.values()] == [
        ("x", "POSITIONAL_ONLY", inspect.Parameter.empty), ("min", "POSITIONAL_OR_KEYWORD", None),
        ("max", "POSITIONAL_OR_KEYWORD", None)]
    assert [p.kind.name for p in inspect.signature(xpgrad.array_api.where).parameters.values()] == [
        "POSITIONAL_ONLY"] * 3
