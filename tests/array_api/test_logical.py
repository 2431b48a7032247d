"""Comparisons, logic, bitwise operations and floating-point tests of ``xpgrad.array_api``: values and dtypes
against NumPy on NumPy and array-api-strict, with a Python scalar on either side; nothing is recorded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import xpgrad
from xpgrad.autograd.ops import logical

FEW = settings(max_examples=10, deadline=None)
PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)

COMPARISONS = {"equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
               "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal}
LOGIC = {"logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor}
BITWISE = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor}
SHIFTS = {"bitwise_left_shift": np.left_shift, "bitwise_right_shift": np.right_shift}
TESTS = {"isfinite": np.isfinite, "isinf": np.isinf, "isnan": np.isnan, "signbit": np.signbit}
NAMES = (*COMPARISONS, *LOGIC, *BITWISE, *SHIFTS, *TESTS, "logical_not", "bitwise_invert")


def test_every_name_is_in_the_namespace_and_top_level():
    assert sorted(logical.__all__) == sorted(NAMES)
    for name in NAMES:
        assert getattr(xpgrad.array_api, name) is getattr(logical, name) is getattr(xpgrad, name)


def _values(rng, shape):
    """Small integers as floats, so comparisons see many ties."""
    return rng.integers(-2, 3, shape).astype(np.float64)


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_broadcast_and_match_numpy(xp, name):
    fn, ref = getattr(xp, name), COMPARISONS[name]

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (s1, s2), _ = shapes
        a, b = _values(rng, s1), _values(rng, s2)
        t1 = xpgrad.tensor(a, dtype="float64", requires_grad=True)
        t2 = xpgrad.tensor(b, dtype="float64")
        out = fn(t1, t2)
        assert out.dtype == xp.bool and not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), ref(a, b))
        np.testing.assert_array_equal(fn(t1, 1.0).numpy(), ref(a, 1.0))
        np.testing.assert_array_equal(fn(1, t2).numpy(), ref(1, b))

    check()


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8", "float32", "float64"])
def test_comparisons_of_every_real_dtype(xp, dtype):
    a, b = np.array([0, 1, 2, 3], dtype=dtype), np.array([3, 1, 0, 3], dtype=dtype)
    ta, tb = xpgrad.tensor(a, dtype=dtype), xpgrad.tensor(b, dtype=dtype)
    for name, ref in COMPARISONS.items():
        assert getattr(xp, name)(ta, tb).tolist() == ref(a, b).tolist(), name
        assert getattr(xp, name)(ta, 2).tolist() == ref(a, 2).tolist(), name


def test_equality_of_complex_tensors_and_nan(xp):
    z = xpgrad.tensor([1 + 1j, 2 - 1j], dtype="complex128")
    assert xp.equal(z, 1 + 1j).tolist() == [True, False]
    assert xp.not_equal(2 - 1j, z).tolist() == [True, False]
    x = xpgrad.tensor([np.nan, 1.0])
    assert xp.equal(x, x).tolist() == [False, True] and xp.not_equal(x, x).tolist() == [True, False]


@pytest.mark.parametrize("name", sorted(LOGIC))
def test_logic_matches_numpy(xp, name):
    fn, ref = getattr(xp, name), LOGIC[name]

    @FEW
    @given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
    def check(shapes, seed):
        rng = np.random.default_rng(seed)
        (s1, s2), _ = shapes
        a, b = rng.integers(0, 2, s1).astype(bool), rng.integers(0, 2, s2).astype(bool)
        t1, t2 = xpgrad.tensor(a), xpgrad.tensor(b)
        out = fn(t1, t2)
        assert out.dtype == xp.bool
        np.testing.assert_array_equal(out.numpy(), ref(a, b))
        np.testing.assert_array_equal(fn(t1, True).numpy(), ref(a, True))
        np.testing.assert_array_equal(fn(False, t2).numpy(), ref(False, b))
        np.testing.assert_array_equal(xp.logical_not(t1).numpy(), np.logical_not(a))

    check()


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_bitwise_and_shifts_of_every_integer_dtype(xp, dtype):
    a, b = np.array([0, 5, 12, 127], dtype=dtype), np.array([3, 1, 2, 6], dtype=dtype)
    ta, tb = xpgrad.tensor(a, dtype=dtype), xpgrad.tensor(b, dtype=dtype)
    for name, ref in {**BITWISE, **SHIFTS}.items():
        out = getattr(xp, name)(ta, tb)
        assert out.dtype == ta.dtype and not out.requires_grad, name
        assert out.tolist() == ref(a, b).tolist(), name
        assert getattr(xp, name)(ta, 2).tolist() == ref(a, np.array(2, dtype=dtype)).tolist(), name
        assert getattr(xp, name)(3, tb).tolist() == ref(np.array(3, dtype=dtype), b).tolist(), name
    assert xp.bitwise_invert(ta).tolist() == np.invert(a).tolist()


def test_bitwise_of_booleans(xp):
    a, b = np.array([True, True, False]), np.array([True, False, False])
    ta, tb = xpgrad.tensor(a), xpgrad.tensor(b)
    for name, ref in BITWISE.items():
        out = getattr(xp, name)(ta, tb)
        assert out.dtype == xp.bool and out.tolist() == ref(a, b).tolist(), name
    assert xp.bitwise_invert(ta).tolist() == [False, False, True]


def test_negative_numbers_shift_and_invert_like_twos_complement(xp):
    t = xpgrad.tensor([-16, -1, 7], dtype="int64")
    assert xp.bitwise_right_shift(t, 2).tolist() == [-4, -1, 1]
    assert xp.bitwise_left_shift(t, 1).tolist() == [-32, -2, 14]
    assert xp.bitwise_invert(t).tolist() == [15, 0, -8]


@pytest.mark.parametrize("name", sorted(TESTS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floating_point_tests_match_numpy(xp, name, dtype):
    x = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan], dtype=dtype)
    t = xpgrad.tensor(x, dtype=dtype, requires_grad=True)
    out = getattr(xp, name)(t)
    assert out.dtype == xp.bool and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), TESTS[name](x))


@pytest.mark.parametrize("name", ["isfinite", "isinf", "isnan"])
def test_floating_point_tests_of_complex_and_integer_tensors(xp, name):
    z = np.array([1 + 1j, complex(np.inf, 0), complex(0, np.nan), complex(np.nan, np.inf)])
    np.testing.assert_array_equal(getattr(xp, name)(xpgrad.tensor(z, dtype="complex128")).numpy(),
                                  getattr(np, name)(z))
    ints = xpgrad.tensor([1, -2], dtype="int32")
    assert getattr(xp, name)(ints).tolist() == getattr(np, name)(np.array([1, -2])).tolist()


def test_results_record_nothing_even_under_a_graph(xp):
    x = xpgrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    y = x * 2.0
    for out in (xp.greater(y, 0.0), xp.isnan(y), xp.signbit(y), xp.logical_not(xp.less(y, x))):
        assert not out.requires_grad and out.grad_fn is None
    assert xp.where(xp.greater(y, 0.0), y, 0.0).requires_grad


def test_a_zero_dim_comparison_is_a_tensor(xp):
    out = xp.less(xpgrad.tensor(1.0), 2.0)
    assert isinstance(out, xpgrad.Tensor) and out.shape == () and bool(out.numpy())


@pytest.mark.parametrize("name", [*COMPARISONS, *LOGIC, *BITWISE, *SHIFTS])
def test_binary_refuses_bad_operands_naming_the_function(xp, name):
    fn = getattr(xp, name)
    with pytest.raises(TypeError, match=rf"{name}: x2 must be a Tensor or a Python number, got str"):
        fn(xpgrad.tensor([1]), "a")
    with pytest.raises(TypeError, match=rf"{name}: x1 must be a Tensor or a Python number, got list"):
        fn([1], xpgrad.tensor([1]))
    with pytest.raises(TypeError, match=rf"{name} needs at least one xpgrad.Tensor argument"):
        fn(1, 2)


@pytest.mark.parametrize("name", [*TESTS, "logical_not", "bitwise_invert"])
def test_unary_refuses_a_non_tensor(xp, name):
    with pytest.raises(TypeError, match=rf"{name}: x must be a Tensor, got list"):
        getattr(xp, name)([1.0])


def test_mixed_backends_are_refused(xp):
    a = xpgrad.tensor([1.0])
    other = "array_api_strict" if a.backend.name == "numpy" else "numpy"
    with pytest.raises(ValueError, match=r"equal: arguments live on different backends"):
        xp.equal(a, a.to(other))


def test_the_backend_refusal_names_the_function(xp):
    x = xpgrad.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"bitwise_and: the .* library refused the inputs"):
        xp.bitwise_and(x, x)
