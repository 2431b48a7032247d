"""CuPy backend on a real GPU: skipped (by conftest) where cupy.is_available() is false."""

import numpy as np
import pytest

import xpgrad
from xpgrad import backend as B

pytestmark = pytest.mark.gpu


def t64(values, requires_grad=True):
    return xpgrad.tensor(np.asarray(values, dtype=np.float64), dtype="float64", backend="cupy",
                         requires_grad=requires_grad)


def test_cupy_is_available_and_selectable():
    import cupy

    assert xpgrad.gpu_available() is True
    assert "cupy" in xpgrad.available_backends()
    with xpgrad.use_backend("gpu"):
        assert xpgrad.get_backend() == "cupy"
        x = xpgrad.ones((2, 3))
    assert isinstance(x.data, cupy.ndarray)
    assert x.backend == "cupy" and x.dtype == cupy.float32
    assert xpgrad.get_backend() == "numpy"


def test_ops_on_cupy_match_numpy():
    import cupy

    rng = np.random.default_rng(0)
    a, b, w = rng.normal(size=(4, 3)), rng.normal(size=(3,)), rng.normal(size=(3, 2))
    with xpgrad.use_backend("cupy"):
        ta, tb, tw = (xpgrad.tensor(v, dtype="float64", backend="cupy") for v in (a, b, w))
        out = xpgrad.logsumexp(xpgrad.tanh(ta * tb + 1.0) @ tw, axis=1)
        assert isinstance(out.data, cupy.ndarray)
    want = np.log(np.exp(np.tanh(a * b + 1.0) @ w).sum(axis=1))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)


def test_to_cupy_round_trip_and_numpy_returns_host_arrays():
    import cupy

    x = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    g = x.to("cupy")
    assert isinstance(g.data, cupy.ndarray) and g.requires_grad and g.dtype == cupy.float32
    assert g.to("cupy") is g and g.device == cupy.cuda.Device()  # already on the current device: no copy
    back = g.to("numpy")
    assert type(back.numpy()) is np.ndarray and type(g.numpy()) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    strict = g.to("array_api_strict")
    np.testing.assert_array_equal(strict.numpy(), x.numpy())
    assert strict.to("cupy").backend == "cupy"


def test_backward_on_cupy_leaves_gradients_on_the_gpu():
    import cupy

    x = t64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    assert isinstance(x.grad, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(x.grad), [2.0, -4.0, 6.0])


@pytest.mark.parametrize("name", ["elementwise", "reductions", "matmul", "linear", "take", "take_along_axis",
                                  "getitem", "concat_stack", "maximum_where"])
def test_gradcheck_on_cupy(name):
    rng = np.random.default_rng(1)
    a = t64(rng.uniform(0.5, 2.0, size=(3, 4)))
    b = t64(rng.uniform(-1.0, 1.0, size=(4,)))
    idx = xpgrad.tensor([2, 0, 2, 2], backend="cupy")
    fns = {
        "elementwise": lambda x, y: xpgrad.exp(y) * xpgrad.log(x) / xpgrad.sqrt(x) + x ** y - xpgrad.abs(y),
        "reductions": lambda x, y: xpgrad.sum(x, axis=0) * xpgrad.mean(x) + xpgrad.max(x, axis=1, keepdims=True)
        - xpgrad.logsumexp(x * y, axis=1, keepdims=True),
        "matmul": lambda x, y: x @ y + (x @ x.mT)[0],
        "linear": lambda x, y: xpgrad.linear(x, x, y[:3]),
        "take": lambda x, y: xpgrad.take(x, idx, axis=0) * y,
        "take_along_axis": lambda x, y: xpgrad.take_along_axis(x, xpgrad.reshape(idx[:3], (3, 1)), axis=1) + y,
        "getitem": lambda x, y: x[1:, ::2] * y[None, 1:3] + x[0, -1],
        "concat_stack": lambda x, y: xpgrad.concat([x, xpgrad.stack([y, y * 2.0])], axis=0),
        "maximum_where": lambda x, y: xpgrad.where(y > 0, xpgrad.maximum(x, 1.0), xpgrad.clip(x, 0.7, 1.5)),
    }
    assert xpgrad.gradcheck(fns[name], [a, b])


def test_manual_seed_reproduces_on_cupy():
    with xpgrad.use_backend("cupy"):
        xpgrad.manual_seed(5)
        first = (xpgrad.randn(5).numpy(), xpgrad.rand(5).numpy(), xpgrad.randint(0, 9, (5,)).numpy())
        xpgrad.manual_seed(5)
        second = (xpgrad.randn(5).numpy(), xpgrad.rand(5).numpy(), xpgrad.randint(0, 9, (5,)).numpy())
    for u, v in zip(first, second, strict=True):
        np.testing.assert_array_equal(u, v)
    assert isinstance(B.resolve("cupy").permutation(4), np.ndarray)


def test_mixing_cupy_and_numpy_names_the_fix():
    with pytest.raises(ValueError, match=r"Add: .*'numpy'.*'cupy'.*\.to\('numpy'\) or \.to\('cupy'\)"):
        xpgrad.tensor([1.0]) + xpgrad.tensor([1.0], backend="cupy")


def test_index_helpers_and_synchronize_on_cupy():
    import cupy

    b = B.resolve("cupy")
    out = cupy.zeros((2, 3), dtype=cupy.float64)
    got = b.index_add(out, 1, cupy.asarray([2, 2, 0]), cupy.ones((2, 3), dtype=cupy.float64))
    np.testing.assert_array_equal(cupy.asnumpy(got), [[1.0, 0.0, 2.0]] * 2)
    b.synchronize()
