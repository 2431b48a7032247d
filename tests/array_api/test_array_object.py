"""The Tensor as the standard's array object: operators vs NumPy, conversions, DLPack, devices, methods."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import xpgrad
from xpgrad.autograd import methods

FLOAT_OPS = {
    "__add__": operator.add, "__sub__": operator.sub, "__mul__": operator.mul, "__truediv__": operator.truediv,
    "__pow__": operator.pow, "__floordiv__": operator.floordiv, "__mod__": operator.mod,
    "__lt__": operator.lt, "__le__": operator.le, "__gt__": operator.gt, "__ge__": operator.ge,
    "__eq__": operator.eq, "__ne__": operator.ne,
}
INT_OPS = {
    "__and__": operator.and_, "__or__": operator.or_, "__xor__": operator.xor, "__lshift__": operator.lshift,
    "__rshift__": operator.rshift, "__floordiv__": operator.floordiv, "__mod__": operator.mod,
    "__add__": operator.add, "__mul__": operator.mul,
}
INPLACE = {
    "__iadd__": operator.iadd, "__isub__": operator.isub, "__imul__": operator.imul, "__itruediv__": operator.itruediv,
    "__ipow__": operator.ipow, "__ifloordiv__": operator.ifloordiv, "__imod__": operator.imod,
}
INT_INPLACE = {"__iand__": operator.iand, "__ior__": operator.ior, "__ixor__": operator.ixor,
               "__ilshift__": operator.ilshift, "__irshift__": operator.irshift}

A = np.array([[1.5, -2.0, 3.25], [0.5, 4.0, -1.0]])
B = np.array([0.75, 2.0, -3.0])
IA = np.array([[5, 6, 7], [1, 12, 3]])
IB = np.array([2, 3, 1])


def _np(t):
    return np.asarray(t.numpy())


@pytest.mark.parametrize("name", sorted(FLOAT_OPS))
def test_float_operators_match_numpy_with_tensors_scalars_and_reflection(xp, name):
    op = FLOAT_OPS[name]
    a, b = xp.asarray(A), xp.asarray(B)
    np.testing.assert_allclose(_np(op(a, b)), op(A, B), rtol=1e-6)
    np.testing.assert_allclose(_np(op(a, 2.0)), op(A, 2.0), rtol=1e-6)
    if name not in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        np.testing.assert_allclose(_np(op(2.0, b)), op(2.0, B), rtol=1e-6)  # the reflected form


@pytest.mark.parametrize("name", sorted(INT_OPS))
def test_integer_operators_match_numpy(xp, name):
    op = INT_OPS[name]
    a, b = xp.asarray(IA), xp.asarray(IB)
    np.testing.assert_array_equal(_np(op(a, b)), op(IA, IB))
    np.testing.assert_array_equal(_np(op(a, 3)), op(IA, 3))
    np.testing.assert_array_equal(_np(op(3, b)), op(3, IB))


def test_unary_operators(xp):
    a = xp.asarray(A)
    np.testing.assert_array_equal(_np(-a), -A)
    np.testing.assert_array_equal(_np(+a), A)
    np.testing.assert_array_equal(_np(abs(a)), abs(A))
    np.testing.assert_array_equal(_np(~xp.asarray(IA)), ~IA)
    np.testing.assert_array_equal(_np(~xp.asarray([True, False])), [False, True])
    np.testing.assert_allclose(_np(a @ xp.asarray(B)), A @ B)
    np.testing.assert_allclose(_np(xp.asarray(B) @ xp.asarray(A.T)), B @ A.T)


def test_comparison_with_a_foreign_object_falls_back_to_python(xp):
    a = xp.asarray(B)
    assert (a == None) is False  # noqa: E711 (NotImplemented, then Python's identity comparison)
    assert (a != "text") is True
    with pytest.raises(TypeError):
        a + "text"


@pytest.mark.filterwarnings("ignore:invalid value encountered in power:RuntimeWarning")  # (-2.0) ** 0.75 is nan
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_operators_match_numpy_and_keep_identity(xp, name):
    op = INPLACE[name]
    a, expected = xp.asarray(A.copy()), op(A.copy(), B)  # a copy: asarray shares NumPy's memory
    same, version = a, a.version
    a = op(a, xp.asarray(B))
    assert a is same and a.version > version and a.dtype == xp.float64 and a.shape == A.shape
    np.testing.assert_allclose(_np(a), expected, rtol=1e-6)
    a = op(a, 1.5)
    np.testing.assert_allclose(_np(a), op(expected.copy(), 1.5), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(INT_INPLACE))
def test_integer_inplace_operators(xp, name):
    op = INT_INPLACE[name]
    a = xp.asarray(IA.copy())
    a = op(a, xp.asarray(IB))
    np.testing.assert_array_equal(_np(a), op(IA.copy(), IB))


def test_inplace_matmul(xp):
    m = xp.asarray(np.eye(3) * 2.0)
    m @= xp.asarray(np.arange(9.0).reshape(3, 3))
    np.testing.assert_allclose(_np(m), 2 * np.arange(9.0).reshape(3, 3))


def test_inplace_refuses_promotion_and_growth(xp):
    i = xp.asarray([1, 2])
    with pytest.raises(TypeError, match=r"__iadd__: .*keeps the dtype .*float 1.5"):
        i += 1.5
    with pytest.raises(TypeError, match=r"__itruediv__: .*keeps the dtype .*int64.*true division"):
        i /= xp.asarray([2, 2])
    f = xp.asarray([1.0, 2.0], dtype=xp.float32)
    with pytest.raises(TypeError, match=r"__imul__: .*float64 would promote"):
        f *= xp.asarray([1.0, 2.0], dtype=xp.float64)
    with pytest.raises(ValueError, match=r"__iadd__: .*keeps the shape \(2,\).*\(3, 2\)"):
        f += xp.ones((3, 2), dtype=xp.float32)
    assert f.tolist() == [1.0, 2.0]


def test_python_conversions(xp):
    assert bool(xp.asarray(0.5)) is True and bool(xp.asarray([0.0])) is False
    assert int(xp.asarray(-3.7)) == -3 and int(xp.asarray(7)) == 7
    assert float(xp.asarray([[2.5]])) == 2.5
    assert complex(xp.asarray(1.0 + 2.0j)) == 1.0 + 2.0j  # the imaginary part is kept
    assert complex(xp.asarray(3.0)) == 3.0 + 0j
    assert operator.index(xp.asarray(4)) == 4
    assert [10, 20, 30][xp.asarray(2)] == 30
    with pytest.raises(TypeError, match=r"bool\(\) of a tensor needs exactly one element.*\(2,\)"):
        bool(xp.asarray([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"only integer tensors can be used as an index.*float"):
        operator.index(xp.asarray(1.0))
    with pytest.raises(TypeError, match=r"float\(\) of a complex tensor would drop the imaginary part"):
        float(xp.asarray(1.0 + 1.0j))
    with pytest.raises(TypeError, match=r"int\(\) of a complex"):
        int(xp.asarray(1.0j))
    with pytest.raises(OverflowError):
        int(xp.asarray(float("inf")))


def test_numpy_and_dlpack_export(xp):
    t = xp.asarray([1.0, 2.0], dtype=xp.float64)
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.from_dlpack(t), [1.0, 2.0])
    assert t.__dlpack_device__()[0] == 1  # kDLCPU
    back = xpgrad.array_api.from_dlpack(np.arange(3.0))
    assert back.tolist() == [0.0, 1.0, 2.0]
    scalar = xp.sum(t)  # a 0-d result (a NumPy scalar on NumPy) still exports
    assert float(np.from_dlpack(scalar)) == 3.0


def test_export_of_a_tensor_that_requires_grad_names_detach(xp):
    t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"np.asarray\(\) of a tensor that requires grad.*\.detach\(\)"):
        np.asarray(t)
    with pytest.raises(RuntimeError, match=r"DLPack export of a tensor that requires grad.*\.detach\(\)"):
        np.from_dlpack(t)
    np.testing.assert_array_equal(np.asarray(t.detach()), [1.0, 2.0])


def test_numpy_copy_false_on_numpy_shares_memory():
    with xpgrad.use_backend("numpy"):
        t = xpgrad.tensor([1.0, 2.0])
        assert np.shares_memory(np.asarray(t), t.data)
        with pytest.raises(ValueError, match="copy is needed"):
            t.__array__(dtype=np.float64, copy=False)


def test_to_device_on_array_api_strict_is_differentiable():
    strict = xpgrad.backend.resolve("array_api_strict").xp
    with xpgrad.use_backend("array_api_strict"):
        x = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        y = x.to_device(strict.Device("device1"))
        assert y.device == strict.Device("device1") and y.grad_fn is not None
        (y * y).sum().backward()
        assert x.grad.device == x.device and xpgrad.backend.to_numpy(x.grad).tolist() == [2.0, 4.0]
        assert x.to_device(x.device) is x


def test_attributes(xp):
    t = xp.reshape(xp.arange(24, dtype=xp.float32), (2, 3, 4))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and t.dtype == xp.float32
    assert t.mT.shape == (2, 4, 3) and t[0].T.shape == (4, 3)
    assert t.__array_namespace__() is xpgrad.array_api
    with pytest.raises(ValueError, match=r"\.mT needs a tensor with at least 2 dimensions"):
        _ = xp.asarray([1.0]).mT


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sqrt", "tanh", "abs", "sin", "cos", "tan", "sinh", "cosh",
                                  "atan", "asinh", "expm1", "log2", "log10", "square", "reciprocal", "sign",
                                  "floor", "ceil", "trunc", "round", "isnan", "isfinite", "isinf", "negative",
                                  "positive"])
def test_elementwise_methods_are_the_functions(xp, name):
    a = xp.asarray(np.array([0.25, 1.5, 3.0]))
    np.testing.assert_allclose(_np(getattr(a, name)()), _np(getattr(xp, name)(a)))


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "prod", "max", "min", "argmax", "argmin", "all", "any"])
def test_reduction_methods(xp, name):
    a = xp.asarray(A)
    np.testing.assert_allclose(_np(getattr(a, name)()), _np(getattr(xp, name)(a)))
    np.testing.assert_allclose(_np(getattr(a, name)(1)), _np(getattr(xp, name)(a, axis=1)))  # axis positional


def test_shape_methods(xp):
    t = xp.zeros((2, 3, 4))
    assert t.flatten().shape == (24,) and t.flatten(1).shape == (2, 12) and t.flatten(0, 1).shape == (6, 4)
    assert xp.asarray(1.0).flatten().shape == (1,)
    assert t.unsqueeze(0).shape == (1, 2, 3, 4) and t.expand_dims(-1).shape == (2, 3, 4, 1)
    assert t.unsqueeze(1).squeeze(1).shape == (2, 3, 4) and t.permute_dims((2, 0, 1)).shape == (4, 2, 3)
    assert t.reshape(6, 4).shape == (6, 4) and t.reshape((4, 6)).shape == (4, 6)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        t.flatten(2, 1)


def test_methods_differentiate(xp, grad_check):
    grad_check(lambda t: t.var(1).sum() + t.std() + t.prod() + t.sin().sum() + t.flatten().square().sum(), A)
    grad_check(lambda t: (t.unsqueeze(0) ** 2).mean() + t.max(0).sum() + t.to_device(t.device).sum(), A)


def test_standard_array_methods_and_attributes_are_present():
    names = ["__abs__", "__add__", "__and__", "__array_namespace__", "__bool__", "__complex__", "__dlpack__",
             "__dlpack_device__", "__eq__", "__float__", "__floordiv__", "__ge__", "__getitem__", "__gt__",
             "__index__", "__int__", "__invert__", "__le__", "__lshift__", "__lt__", "__matmul__", "__mod__",
             "__mul__", "__ne__", "__neg__", "__or__", "__pos__", "__pow__", "__rshift__", "__setitem__",
             "__sub__", "__truediv__", "__xor__", "to_device", "dtype", "device", "mT", "ndim", "shape", "size", "T"]
    t = xpgrad.tensor([[1.0]])
    assert [n for n in names if not hasattr(t, n)] == []
    assert set(methods._METHODS) >= {f"__r{op}__" for op in ("add", "and", "floordiv", "lshift", "mod", "pow")}
