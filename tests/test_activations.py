"""Activations: values against NumPy formulas, float64 gradient checks on each backend, stability."""

import math
import warnings

import numpy as np
import pytest

import xpgrad
from xpgrad import activations as A


def T(values, dtype="float64", **kw):
    """A tensor on the current backend (a NumPy array given to xpgrad.tensor would stay on NumPy)."""
    return xpgrad.tensor(np.asarray(values).tolist(), dtype=dtype, **kw)


X = np.array([[-3.0, -1.2, -0.3, 0.4, 1.1, 2.5], [0.7, -0.9, 1.9, -2.2, 0.2, -0.15]])


def _sig(x):
    return 1 / (1 + np.exp(-x))


REFERENCE = {
    "sigmoid": ({}, _sig),
    "tanh": ({}, np.tanh),
    "relu": ({}, lambda x: np.maximum(x, 0)),
    "leaky_relu": ({}, lambda x: np.where(x > 0, x, 0.01 * x)),
    "elu": ({}, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    "maxout": ({"pieces": 3}, lambda x: x.reshape(2, 2, 3).max(-1)),
    "softmax": ({}, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    "log_softmax": ({}, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    "gelu": ({"approximate": "tanh"},
             lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "silu": ({}, lambda x: x * _sig(x)),
    "softplus": ({}, lambda x: np.log1p(np.exp(x))),
    "identity": ({}, lambda x: x),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_match_the_formula(name, backend):
    kw, ref = REFERENCE[name]
    x = T(X)
    y = xpgrad.activation(name, **kw)(x)
    assert y.backend == backend
    np.testing.assert_allclose(y.numpy(), ref(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_gradients_match_central_differences(name, cpu_backend):
    kw, _ = REFERENCE[name]
    x = T(X, requires_grad=True)
    assert xpgrad.gradcheck(xpgrad.activation(name, **kw), [x])


@pytest.mark.parametrize("kw, expected", [({}, [-0.02, 3.0]), ({"negative_slope": 0.1}, [-0.2, 3.0])])
def test_leaky_relu_default_and_lecture_slope(kw, expected):
    assert xpgrad.activation("leaky_relu", **kw)(xpgrad.tensor([-2.0, 3.0], dtype="float64")).tolist() == expected


def test_elu_alpha_and_saturation():
    y = xpgrad.activation("elu", alpha=2.0)(xpgrad.tensor([-100.0, 0.5], dtype="float64"))
    assert y.tolist() == [-2.0, 0.5]


def test_maxout_groups_consecutive_features_and_routes_gradient():
    x = xpgrad.tensor([[1.0, 4.0, -1.0, -2.0]], requires_grad=True)
    y = A.maxout(x, pieces=2)
    assert y.tolist() == [[4.0, -1.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match="pieces=3"):
        A.maxout(x, pieces=3)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "leaky_relu", "elu", "softmax", "log_softmax", "tanh"])
def test_common_activations_are_one_fused_node(name):
    x = xpgrad.tensor([1.0, -1.0], requires_grad=True)
    y = xpgrad.activation(name)(x)
    # one graph node whose only tensor input is x itself: nothing was composed from smaller ops
    assert y.grad_fn is not None
    assert [p for p in y._ctx.parents if isinstance(p, xpgrad.Tensor)] == [x]


def test_softmax_rows_sum_to_one_and_log_softmax_matches(backend):
    x = T(X * 100)
    p = A.softmax(x)
    np.testing.assert_allclose(np.sum(p.numpy(), axis=-1), 1.0)
    np.testing.assert_allclose(A.log_softmax(x).numpy(), np.log(np.maximum(p.numpy(), 1e-300)), atol=1e-9)
    col = A.softmax(x, axis=0).numpy()
    np.testing.assert_allclose(col.sum(axis=0), 1.0)


@pytest.mark.parametrize("name", ["sigmoid", "elu", "softmax", "log_softmax", "softplus", "silu", "gelu", "tanh"])
def test_extreme_inputs_are_finite_without_warnings(name, cpu_backend):
    x = T([[1e4, -1e4, 0.0]], dtype="float32", requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = xpgrad.activation(name)(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(xpgrad.backend.to_numpy(x.grad)))


def test_float32_in_float32_out(backend):
    for name in REFERENCE:
        kw, _ = REFERENCE[name]
        y = xpgrad.activation(name, **kw)(T(X, dtype="float32"))
        assert y.dtype == xpgrad.tensor([1.0], dtype="float32").to(backend).dtype
