"""The lean eager engine (issue 12, parts 1 and 4): fused backend methods, gradients written into flat slots."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.backend import resolve

RNG = np.random.default_rng(12)


def _arrays(backend, *host):
    b = resolve(backend)
    return b, [b.asarray(h) for h in host]


def _host(b, a):
    return b.to_numpy(a)


# -- the fused Backend methods against their unfused formulas -------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_relu_is_max_of_zero_and_y_plus_b(cpu_backend, dtype, with_bias):
    y = RNG.standard_normal((5, 4)).astype(dtype)
    bias = RNG.standard_normal(4).astype(dtype)
    want = np.maximum(y + bias, 0) if with_bias else np.maximum(y, 0)
    b, (ya, ba) = _arrays(cpu_backend, y.copy(), bias)
    got = _host(b, b.bias_relu_(ya, ba if with_bias else None))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.dtype(dtype)
    assert (got >= 0).all() and (got == 0).any()


def test_bias_relu_keeps_nan_as_maximum_does(cpu_backend):
    b, (ya, ba) = _arrays(cpu_backend, np.array([[np.nan, -1.0, 2.0]]), np.array([0.0, 0.0, 0.0]))
    got = _host(b, b.bias_relu_(ya, ba))
    assert np.isnan(got[0, 0]) and got[0, 1] == 0 and got[0, 2] == 2


def test_bias_relu_on_numpy_writes_into_y():
    b = resolve("numpy")
    y = np.array([[1.0, -2.0]], dtype=np.float32)
    out = b.bias_relu_(y, np.array([0.5, 0.5], dtype=np.float32))
    assert out is y
    assert y.tolist() == [[1.5, 0.0]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_grad_is_g_times_the_mask_of_positive_outputs(cpu_backend, dtype):
    g = RNG.standard_normal((6, 3)).astype(dtype)
    y = np.maximum(RNG.standard_normal((6, 3)), 0).astype(dtype)
    b, (ga, ya) = _arrays(cpu_backend, g, y)
    got = _host(b, b.relu_grad(ga, ya))
    np.testing.assert_array_equal(got, g * (y > 0))
    assert got.dtype == np.dtype(dtype)
    assert _host(b, ga).tolist() == g.tolist()  # g itself is left alone


def test_relu_grad_keeps_a_nan_gradient_where_the_unit_was_on(cpu_backend):
    b, (ga, ya) = _arrays(cpu_backend, np.array([np.nan, 1.0]), np.array([1.0, 0.0]))
    got = _host(b, b.relu_grad(ga, ya))
    assert np.isnan(got[0]) and got[1] == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_grad_in_place_gives_relu_grads_values(cpu_backend, dtype):
    g = RNG.standard_normal((6, 3)).astype(dtype)
    y = np.maximum(RNG.standard_normal((6, 3)), 0).astype(dtype)
    b, (ga, ya) = _arrays(cpu_backend, g.copy(), y)
    got = b.relu_grad_(ga, ya)
    np.testing.assert_array_equal(_host(b, got), g * (y > 0))
    if cpu_backend == "numpy":
        assert got is ga  # written into the owned gradient


@pytest.mark.parametrize("shapes", [((32, 64), (64, 64)), ((64, 784), (784, 100)), ((5, 1), (1, 3))])
def test_mm_and_matmul_into_are_the_matrix_product(cpu_backend, shapes):
    (m, k), (_, n) = shapes
    a, w = RNG.standard_normal((m, k)), RNG.standard_normal((n, k))  # w.T: a transposed view, as a layer uses it
    b, (aa, wa) = _arrays(cpu_backend, a, w)
    np.testing.assert_allclose(_host(b, b.mm(aa, wa.T)), a @ w.T, rtol=1e-12)
    out = b.asarray(np.zeros((m, n)))
    assert b.matmul_into(aa, wa.T, out) is out
    np.testing.assert_array_equal(_host(b, out), _host(b, b.mm(aa, wa.T)))  # the same function: the same bits


def test_numpy_products_use_np_dot_for_small_sizes_and_matmul_for_large_ones(monkeypatch):
    b = resolve("numpy")
    assert b.product_function(32, 64, 64) is np.dot and b.product_function(256, 3072, 1024) is np.matmul
    assert resolve("array_api_strict").product_function(32, 64, 64) is None  # replays call its methods
    calls = []
    monkeypatch.setattr(np, "dot", lambda *a, **kw: calls.append("dot") or np.matmul(*a, **kw))
    a, w = np.ones((4, 3)), np.ones((2, 3))
    b.mm(a, w.T)
    out = np.empty((4, 2))
    b.matmul_into(a, w.T, out)
    b.matmul_into(a, w.T, np.empty((2, 4)).T)  # an out np.dot cannot write into: np.matmul takes it
    assert calls == ["dot", "dot"] and out.tolist() == [[3.0, 3.0]] * 4
    monkeypatch.setattr(b, "dot_limit", 0)
    b.mm(a, w.T)
    assert calls == ["dot", "dot"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_rows_into_writes_the_sum_over_axis_0_into_out(cpu_backend, dtype):
    a = RNG.standard_normal((33, 5)).astype(dtype)
    b, (aa,) = _arrays(cpu_backend, a)
    out = b.asarray(np.zeros(5, dtype))
    assert b.sum_rows_into(aa, out) is out
    np.testing.assert_allclose(_host(b, out), a.sum(axis=0), rtol=1e-5 if dtype == "float32" else 1e-12)
    np.testing.assert_array_equal(_host(b, out), _host(b, b.sum_rows(aa)))  # the same function: the same bits


def test_numpy_row_sums_are_one_blas_product_with_a_cached_vector_of_ones():
    b = resolve("numpy")
    f = b.sum_rows_function(7, np.dtype("float32"))
    assert f.func is np.dot and f.args[0].tolist() == [1.0] * 7 and not f.args[0].flags.writeable
    assert b.sum_rows_function(7, np.dtype("float32")).args[0] is f.args[0]  # made once per (rows, dtype)
    assert b.sum_rows_function(7, np.dtype("int64")) is None and b.sum_rows_function(7, np.dtype("float16")) is None
    assert resolve("array_api_strict").sum_rows_function(7, np.dtype("float32")) is None
    ints = np.arange(6).reshape(3, 2)
    assert b.sum_rows(ints).tolist() == [6, 9]  # not floating: np.add.reduce, the exact integer sum
    strided = np.zeros((2, 3))[:, 0]  # an out np.dot cannot write into
    assert b.sum_rows_into(np.ones((4, 2)), strided) is strided and strided.tolist() == [4.0, 4.0]


def test_sum_rows_is_the_sum_over_axis_0(cpu_backend):
    a = RNG.standard_normal((7, 3)).astype(np.float32)
    b, (aa,) = _arrays(cpu_backend, a)
    np.testing.assert_allclose(_host(b, b.sum_rows(aa)), a.sum(axis=0), rtol=1e-6)


def test_numpy_fast_namespace_keeps_the_standard_results():
    xp = resolve("numpy").xp
    assert xp.isdtype(np.dtype("int64"), "integral") and not xp.isdtype(np.dtype("float32"), "integral")
    assert xp.isdtype(np.dtype("float32"), ("integral", "real floating"))
    assert xp.arange(3).tolist() == [0, 1, 2] and xp.arange(1, 7, 2, dtype=np.int32).dtype == np.int32
    one = xp.ones_like(np.float32(3.0))
    assert type(one) is np.ndarray and one.shape == () and one.dtype == np.float32 and one == 1
    assert xp.ones_like(np.zeros((2, 3), np.float64)).tolist() == [[1.0] * 3] * 2
    x = np.arange(3.0)
    y = xp.astype(x, np.float32)
    assert y.dtype == np.float32 and y.tolist() == [0.0, 1.0, 2.0]
    assert xp.astype(x, np.float64, copy=False) is x


# -- gradients written straight into a FlatBuffer's slots -------------------------------------------------


def _mlp(seed, backend="numpy", dtype="float32"):
    xpgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5, dtype=dtype, backend=backend), nn.ReLU(),
                         nn.Linear(5, 4, dtype=dtype, backend=backend), nn.ReLU(),
                         nn.Linear(4, 2, dtype=dtype, backend=backend))


def _loss(model, x, y):
    return xpgrad.loss("softmax_cross_entropy")(model(x), y)


@pytest.mark.parametrize("backend", ["numpy", "strict"])
def test_linear_gradients_land_in_the_slots_and_equal_the_unflattened_ones(backend):
    flat, plain = _mlp(1, backend), _mlp(1, backend)
    buf = xpgrad.FlatBuffer(list(flat.parameters()))
    x = xpgrad.tensor(RNG.standard_normal((6, 3)).astype(np.float32), backend=backend)
    y = xpgrad.tensor([0, 1, 1, 0, 1, 0], backend=backend)
    _loss(flat, x, y).backward()
    _loss(plain, x, y).backward()
    assert buf.grads_ready()  # every .grad is its slot: the whole gradient is buf.grad
    for p, q, slot in zip(flat.parameters(), plain.parameters(), buf.grad_views, strict=True):
        assert p.grad is slot
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-6, atol=1e-7)
    assert float(np.abs(_np(buf.grad)).sum()) > 0


def _np(a):
    return np.asarray(xpgrad.backend.to_numpy(a))


def test_slot_writes_accumulate_over_two_backwards():
    flat, plain, once = _mlp(2), _mlp(2), _mlp(2)
    buf = xpgrad.FlatBuffer(list(flat.parameters()))
    x = xpgrad.randn(4, 3)
    y = xpgrad.tensor([1, 0, 1, 1])
    for _ in range(2):  # no zero_grad in between: the second backward adds to the first
        _loss(flat, x, y).backward()
        _loss(plain, x, y).backward()
    _loss(once, x, y).backward()
    assert buf.grads_ready()
    for p, q, r in zip(flat.parameters(), plain.parameters(), once.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(p.grad, 2 * r.grad, rtol=1e-6, atol=1e-7)


def test_a_weight_used_twice_gets_both_contributions_in_its_slot():
    xpgrad.manual_seed(3)
    layer = nn.Linear(4, 4)
    buf = xpgrad.FlatBuffer(list(layer.parameters()))
    twin = nn.Linear(4, 4)
    twin.load_state_dict(layer.state_dict())
    x = xpgrad.randn(3, 4)
    layer.forward_relu(layer.forward_relu(x)).sum().backward()  # one weight, two LinearReLU nodes
    twin.forward_relu(twin.forward_relu(x)).sum().backward()
    assert buf.grads_ready()
    for p, q in zip(layer.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-6, atol=1e-7)
    # the same sum computed by hand: dW = g2ᵀ h1 + g1ᵀ x through both uses
    w, bias = twin.weight.numpy(), twin.bias.numpy()
    xn = x.numpy()
    h1 = np.maximum(xn @ w.T + bias, 0)
    h2 = np.maximum(h1 @ w.T + bias, 0)
    g2 = (h2 > 0).astype(np.float32)
    g1 = (g2 @ w) * (h1 > 0)
    np.testing.assert_allclose(layer.weight.grad, g2.T @ h1 + g1.T @ xn, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, g2.sum(0) + g1.sum(0), rtol=1e-5, atol=1e-6)


def test_a_parameter_with_a_gradient_already_is_added_to_not_overwritten():
    xpgrad.manual_seed(4)
    layer = nn.Linear(2, 3)
    buf = xpgrad.FlatBuffer(list(layer.parameters()))
    x = xpgrad.randn(5, 2)
    layer(x).sum().backward()
    first = buf.grad.copy()
    layer(x).sum().backward()
    np.testing.assert_allclose(buf.grad, 2 * first, rtol=1e-6)


def test_the_slot_is_left_alone_for_a_functional_weight_that_is_not_a_leaf():
    xpgrad.manual_seed(5)
    w = xpgrad.randn(3, 2, requires_grad=True)
    buf = xpgrad.FlatBuffer([w])
    w2 = w * 2.0  # computed: the Linear node's weight input has no slot of its own
    xpgrad.linear(xpgrad.ones((4, 2)), w2, activation="relu").sum().backward()
    assert w.grad is buf.grad_views[0]
    y = np.maximum(np.ones((4, 2), np.float32) @ (2 * w.numpy()).T, 0)
    np.testing.assert_allclose(w.grad, 2 * ((y > 0).astype(np.float32).T @ np.ones((4, 2), np.float32)), rtol=1e-6)


# -- gradcheck of the fused layers still passes in float64 ------------------------------------------------


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("flat", [False, True])
def test_linear_gradcheck_float64(activation, flat):
    xpgrad.manual_seed(6)
    x = xpgrad.randn(4, 3, dtype="float64", requires_grad=True)
    w = xpgrad.randn(5, 3, dtype="float64", requires_grad=True)
    b = xpgrad.randn(5, dtype="float64", requires_grad=True)
    if flat:
        xpgrad.FlatBuffer([w, b])
    assert xpgrad.gradcheck(lambda x, w, b: xpgrad.linear(x, w, b, activation=activation), (x, w, b))


def test_linear_with_three_dimensional_input_folds_rows_into_the_slot():
    xpgrad.manual_seed(7)
    layer = nn.Linear(3, 2)
    buf = xpgrad.FlatBuffer(list(layer.parameters()))
    x = xpgrad.randn(2, 4, 3)
    layer(x).sum().backward()
    xn = x.numpy().reshape(-1, 3)
    np.testing.assert_allclose(layer.weight.grad, np.ones((8, 2), np.float32).T @ xn, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, np.full(2, 8.0), rtol=1e-6)
    assert buf.grads_ready()


def test_softmax_cross_entropy_values_and_gradient_match_the_formula(cpu_backend):
    s = RNG.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    for reduction in ("mean", "sum", "none"):
        t = xpgrad.tensor(s, dtype="float64", backend=cpu_backend, requires_grad=True)
        out = xpgrad.losses.softmax_cross_entropy(t, xpgrad.tensor(labels, backend=cpu_backend),
                                                  reduction=reduction)
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        per = -np.log(p[np.arange(5), labels])
        want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
        np.testing.assert_allclose(np.asarray(out.numpy()), want, rtol=1e-12)
        out.sum().backward()
        d = p.copy()
        d[np.arange(5), labels] -= 1
        np.testing.assert_allclose(_np(t.grad), d / 5 if reduction == "mean" else d, rtol=1e-12, atol=1e-15)
