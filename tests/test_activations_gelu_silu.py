"""GELU (exact erf form and tanh approximation) and SiLU: values against closed forms, derivatives by central
differences in float64, the nn modules and the functional forms."""

import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn, testing
from xpgrad.nn.functional.norm import gelu, silu

X = np.concatenate([np.linspace(-9.0, 9.0, 181), [-40.0, -12.0, -5.7, -1.4142, -0.7071, 0.7071, 1.4142, 40.0]])


def _t(x, dtype="float64", requires_grad=False):
    return xpgrad.tensor(np.asarray(x), dtype=dtype, requires_grad=requires_grad, backend=xpgrad.get_backend())


def _np(t):
    return xpgrad.backend.to_numpy(t.data if isinstance(t, xpgrad.Tensor) else t)


def gelu_exact(x):
    """x·Φ(x) through the standard library's erfc (no cancellation for negative x)."""
    return np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in np.ravel(x)]).reshape(np.shape(x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def test_exact_gelu_matches_x_phi_to_float64_precision(backend):
    y = _np(gelu(_t(X)))
    # relative 1e-14 in the far tail, where e^(−x²/2) amplifies the rounding of x²/2 (math.erfc's too)
    np.testing.assert_allclose(y, gelu_exact(X), rtol=2e-14, atol=1e-300)
    near = np.abs(X) < 3
    np.testing.assert_allclose(y[near], gelu_exact(X[near]), rtol=2e-15, atol=1e-300)
    assert y[X == -40.0][0] == 0.0 and y[X == 40.0][0] == 40.0


def test_exact_gelu_in_float32(backend):
    y = gelu(_t(X, dtype="float32"))
    assert "float32" in str(y.dtype)
    np.testing.assert_allclose(_np(y), gelu_exact(X), rtol=1e-6, atol=1e-6)


def test_tanh_gelu_matches_its_formula_and_stays_near_the_exact_one(backend):
    y = _np(gelu(_t(X), approximate="tanh"))
    np.testing.assert_allclose(y, gelu_tanh(X), rtol=1e-13, atol=1e-300)
    assert np.max(np.abs(y - gelu_exact(X))) < 1e-3  # the approximation PyTorch documents


def test_silu_matches_x_sigmoid(backend):
    x = np.clip(X, -30, 30)
    np.testing.assert_allclose(_np(silu(_t(x))), x / (1.0 + np.exp(-x)), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(cpu_backend, approximate):
    x = _t(np.linspace(-6.0, 6.0, 25).reshape(5, 5) + 0.013, requires_grad=True)
    assert xpgrad.gradcheck(lambda x: gelu(x, approximate=approximate), [x])


def test_exact_gelu_derivative_is_phi_plus_x_density(cpu_backend):
    x = _t(X, requires_grad=True)
    gelu(x).sum().backward()
    density = np.exp(-0.5 * X ** 2) / math.sqrt(2.0 * math.pi)
    want = gelu_exact(X) / np.where(X == 0, 1.0, X) + X * density
    want[X == 0] = 0.5
    np.testing.assert_allclose(_np(x.grad), want, rtol=1e-13, atol=1e-300)


def test_silu_gradcheck_and_derivative(cpu_backend):
    x = _t(np.linspace(-6.0, 6.0, 25).reshape(5, 5), requires_grad=True)
    assert xpgrad.gradcheck(silu, [x])
    x.grad = None
    silu(x).sum().backward()
    v = _np(x)
    s = 1.0 / (1.0 + np.exp(-v))
    np.testing.assert_allclose(_np(x.grad), s * (1.0 + v * (1.0 - s)), rtol=1e-13)


@pytest.mark.parametrize("kw", [{}, {"approximate": "tanh"}])
def test_registered_gelu_passes_the_activation_contract(kw):
    assert testing.check_activation("gelu", **kw)
    assert testing.check_activation("silu")


def test_extreme_inputs_give_finite_values_and_gradients(cpu_backend):
    for dtype in ("float32", "float64"):
        x = _t([-1e30, -1e4, 1e4, 1e30], dtype=dtype, requires_grad=True)
        gelu(x).sum().backward()
        assert np.all(np.isfinite(_np(gelu(x)))) and np.all(np.isfinite(_np(x.grad)))
        np.testing.assert_array_equal(_np(x.grad), [0.0, 0.0, 1.0, 1.0])


def test_modules_match_the_functions_and_print_like_pytorch(backend):
    x = _t(X)
    np.testing.assert_array_equal(_np(nn.GELU()(x)), _np(gelu(x)))
    np.testing.assert_array_equal(_np(nn.GELU(approximate="tanh")(x)), _np(gelu(x, approximate="tanh")))
    np.testing.assert_array_equal(_np(nn.SiLU()(x)), _np(silu(x)))
    assert repr(nn.GELU()) == "GELU(approximate='none')" and repr(nn.SiLU()) == "SiLU()"
    assert list(nn.GELU().state_dict()) == [] and list(nn.SiLU().parameters()) == []
    assert xpgrad.activation("swish") is xpgrad.activation("silu")


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate='erf'; approximate must be one of 'none', 'tanh'"):
        nn.GELU(approximate="erf")
    with pytest.raises(ValueError, match="approximate"):
        gelu(xpgrad.ones(2), approximate="fast")
    with pytest.raises(ValueError, match="approximate"):
        xpgrad.activation("gelu", approximate=None)(xpgrad.ones(2))
