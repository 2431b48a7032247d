"""SciPy, scikit-learn and array-api-extra run on xpgrad tensors and are differentiated through.

Gradients of ``scipy.special.logsumexp``, of scikit-learn's RBF and polynomial kernels and of
``array_api_extra.cov``/``sinc``/``atleast_nd`` are compared with closed forms (and central
differences) on the numpy and array_api_strict backends.

SciPy reads ``SCIPY_ARRAY_API`` once, when it is first imported (scikit-learn imports SciPy and
insists on the same variable). This module sets it before importing either; if SciPy was
already imported without it by an earlier test module, the SciPy and scikit-learn tests of this
module run in a fresh pytest process instead (one subprocess for all of them), so the result does
not depend on the order in which pytest imports the test modules.
"""

from __future__ import annotations

import os
import subprocess
import sys

if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")

import array_api_extra as xpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sklearn  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel  # noqa: E402

import xpgrad  # noqa: E402
import xpgrad.array_api as xp  # noqa: E402

BACKENDS = ["numpy", "array_api_strict"]
# cov's axis= and correction= arrived in array-api-extra 0.11.2 (which needs Python 3.11); before, only the defaults.
XPX_COV_OPTIONS = tuple(int(p) for p in xpx.__version__.split(".")[:3] if p.isdigit()) >= (0, 11, 2)
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def host(a):
    """A NumPy copy of a tensor or of a backend array (``.grad`` is a backend array)."""
    return np.asarray(a.tolist()) if isinstance(a, xpgrad.Tensor) else np.from_dlpack(a)


def leaf(a, requires_grad=True):
    return xpgrad.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=requires_grad)


def close(actual, expected, tol=1e-10):
    np.testing.assert_allclose(host(actual), expected, rtol=tol, atol=tol)


# -- the checks ------------------------------------------------------------------------------

def check_logsumexp(a, axis, b=None):
    """logsumexp(a, b=b) along ``axis``; the gradient of sum(r * lse) is r times the (weighted) softmax."""
    a = np.asarray(a)
    t = leaf(a)
    bt = None if b is None else leaf(b, requires_grad=False)
    out = logsumexp(t, axis=axis, b=bt)
    assert isinstance(out, xpgrad.Tensor) and out.requires_grad, type(out)
    w = np.ones_like(a) if b is None else np.asarray(b)
    e = w * np.exp(a)
    s = e.sum(axis=axis, keepdims=True)
    close(out, np.log(s).squeeze(axis=axis))
    r = np.random.default_rng(a.size).uniform(0.5, 1.5, np.shape(host(out)))
    xp.sum(leaf(r, requires_grad=False) * out).backward()
    close(t.grad, np.expand_dims(r, axis) * e / s)


def check_rbf(x, y, gamma):
    """K_ij = exp(-gamma |x_i - y_j|^2); L = sum(R * K): dL/dx_i = -2 gamma sum_j R_ij K_ij (x_i - y_j), and
    dL/dy_j = 2 gamma sum_i R_ij K_ij (x_i - y_j)."""
    x, y = np.asarray(x), np.asarray(y)
    X, Y = leaf(x), leaf(y)
    with sklearn.config_context(array_api_dispatch=True):
        K = rbf_kernel(X, Y, gamma=gamma)
    assert isinstance(K, xpgrad.Tensor) and K.requires_grad, type(K)
    diff = x[:, None, :] - y[None, :, :]
    k = np.exp(-gamma * (diff**2).sum(-1))
    close(K, k)
    r = np.random.default_rng(x.size).uniform(-1, 1, k.shape)
    xp.sum(leaf(r, requires_grad=False) * K).backward()
    rk = (r * k)[..., None]
    close(X.grad, -2 * gamma * (rk * diff).sum(1), 1e-9)
    close(Y.grad, 2 * gamma * (rk * diff).sum(0), 1e-9)


def check_polynomial(x, y, degree, gamma, coef0):
    """K = (gamma X Y^T + c)^d; L = sum(R * K): dL/dX = (R d base^(d-1) gamma) Y, dL/dY = (...)^T X."""
    x, y = np.asarray(x), np.asarray(y)
    X, Y = leaf(x), leaf(y)
    with sklearn.config_context(array_api_dispatch=True):
        K = polynomial_kernel(X, Y, degree=degree, gamma=gamma, coef0=coef0)
    assert isinstance(K, xpgrad.Tensor) and K.requires_grad, type(K)
    base = gamma * x @ y.T + coef0
    close(K, base**degree, 1e-9)
    r = np.random.default_rng(x.size).uniform(-1, 1, base.shape)
    xp.sum(leaf(r, requires_grad=False) * K).backward()
    d = r * degree * base ** (degree - 1) * gamma
    close(X.grad, d @ y, 1e-9)
    close(Y.grad, d.T @ x, 1e-9)


def _scipy_dispatches() -> bool:
    """Whether SciPy, as imported in this process, dispatches on the array API (it returns a tensor)."""
    return (isinstance(logsumexp(xpgrad.tensor([0.0, 1.0], dtype="float64")), xpgrad.Tensor)
            and os.environ.get("SCIPY_ARRAY_API") == "1")


IN_PROCESS = _scipy_dispatches()
DISPATCH_TESTS = "logsumexp_gradient or rbf_kernel or polynomial_kernel_gradient"


def in_process_only(test):
    """The test where SciPy dispatches in this process; otherwise not collected here (None), because
    test_scipy_and_sklearn_in_a_fresh_process runs it in a fresh process."""
    return test if IN_PROCESS else None


def test_scipy_and_sklearn_in_a_fresh_process():
    """With SCIPY_ARRAY_API=1 from the start: the dispatching tests of this module pass (here or there)."""
    if IN_PROCESS:
        assert logsumexp(leaf([0.0, 1.0])).requires_grad
        return
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           __file__, "-k", DISPATCH_TESTS], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and " passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def _rng(seed):
    return np.random.default_rng(seed)


@st.composite
def array_and_axis(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(-ndim, ndim - 1))
    return _rng(draw(st.integers(0, 2**16))).uniform(-3, 3, shape), axis


@st.composite
def two_matrices(draw):
    n, m, f = (draw(st.integers(1, 4)) for _ in range(3))
    rng = _rng(draw(st.integers(0, 2**16)))
    return rng.uniform(-1, 1, (n, f)), rng.uniform(-1, 1, (m, f))


# -- SciPy -----------------------------------------------------------------------------------

@in_process_only
@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=array_and_axis(), weighted=st.booleans())
def test_logsumexp_gradient_is_the_softmax(backend, case, weighted):
    a, axis = case
    b = _rng(a.size).uniform(0.5, 2.0, a.shape) if weighted else None
    with xpgrad.use_backend(backend):
        check_logsumexp(a, axis, b)


def test_logsumexp_without_the_scipy_switch_refuses_a_tensor_that_requires_grad():
    """Without SCIPY_ARRAY_API SciPy converts with np.asarray: refused, naming .detach(); detached it converts."""
    code = ("import xpgrad\nfrom scipy.special import logsumexp\n"
            "x = xpgrad.tensor([0.0, 1.0], dtype='float64', requires_grad=True)\n"
            "print(type(logsumexp(x.detach())).__module__)\n"
            "try:\n    logsumexp(x)\nexcept RuntimeError as e:\n    print('refused:', e)\n")
    env = {k: v for k, v in os.environ.items() if k != "SCIPY_ARRAY_API"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "numpy"  # the detached tensor went through NumPy
    assert lines[1].startswith("refused: np.asarray() of a tensor that requires grad") and ".detach()" in lines[1]


# -- scikit-learn ----------------------------------------------------------------------------

@in_process_only
@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(xy=two_matrices(), gamma=st.sampled_from([0.1, 0.5, 2.0]))
def test_rbf_kernel_gradient_matches_the_closed_form(backend, xy, gamma):
    x, y = xy
    with xpgrad.use_backend(backend):
        check_rbf(x, y, gamma)


@in_process_only
@pytest.mark.parametrize("backend", BACKENDS)
def test_rbf_kernel_of_one_set_of_rows(backend):
    """rbf_kernel(X): Y is X (scikit-learn then zeroes the diagonal distances in place, recorded copy-on-write);
    d/dx_i sum(K) = -4 gamma sum_j K_ij (x_i - x_j)."""
    x = _rng(5).normal(size=(4, 3))
    with xpgrad.use_backend(backend), sklearn.config_context(array_api_dispatch=True):
        X = leaf(x)
        K = rbf_kernel(X, gamma=0.3)
        diff = x[:, None, :] - x[None, :, :]
        k = np.exp(-0.3 * (diff**2).sum(-1))
        close(K, k)
        xp.sum(K).backward()
        close(X.grad, -4 * 0.3 * (k[..., None] * diff).sum(1))


@in_process_only
@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(xy=two_matrices(), degree=st.integers(1, 3), gamma=st.sampled_from([0.5, 1.0]),
       coef0=st.sampled_from([0.0, 1.0]))
def test_polynomial_kernel_gradient_matches_the_closed_form(backend, xy, degree, gamma, coef0):
    x, y = xy
    with xpgrad.use_backend(backend):
        check_polynomial(x, y, degree, gamma, coef0)


def test_sklearn_without_dispatch_refuses_a_tensor_that_requires_grad():
    X = leaf([[0.0, 1.0], [1.0, 0.0]])
    with sklearn.config_context(array_api_dispatch=False), pytest.raises(RuntimeError, match=r"\.detach\(\)"):
        rbf_kernel(X)


# -- array-api-extra (no switch: it always dispatches) ---------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(n_vars=st.integers(1, 3), n_obs=st.integers(2, 5), seed=st.integers(0, 2**16),
       correction=st.sampled_from([0, 1] if XPX_COV_OPTIONS else [1]))
def test_cov_gradient_matches_the_closed_form(backend, n_vars, n_obs, seed, correction):
    """C = (m - mean)(m - mean)^T / (N - correction); L = sum(W * C): dL/dm = (W + W^T)(m - mean) / (N - corr)."""
    m = _rng(seed).uniform(-2, 2, (n_vars, n_obs))
    w = _rng(seed + 1).uniform(-1, 1, (n_vars, n_vars))
    with xpgrad.use_backend(backend):
        t = leaf(m)
        c = xpx.cov(t, correction=correction) if XPX_COV_OPTIONS else xpx.cov(t)
        assert isinstance(c, xpgrad.Tensor) and c.requires_grad
        close(c, np.cov(m, ddof=correction))
        xp.sum(leaf(w, requires_grad=False) * xp.reshape(c, (n_vars, n_vars))).backward()
        centred = m - m.mean(axis=1, keepdims=True)
        close(t.grad, (w + w.T) @ centred / (n_obs - correction))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axis", [0, 1, -2] if XPX_COV_OPTIONS else [-1])
def test_cov_over_other_axes_passes_gradcheck(backend, axis, grad_check):
    m = _rng(3).uniform(-1, 1, (3, 4))
    with xpgrad.use_backend(backend):
        grad_check(lambda t: xpx.cov(t, axis=axis) if XPX_COV_OPTIONS else xpx.cov(t), m)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(x=st.lists(st.floats(-3, 3).filter(lambda v: abs(v) > 1e-3), min_size=1, max_size=6))
def test_sinc_gradient_matches_the_closed_form(backend, x):
    """sinc x = sin(pi x)/(pi x); d/dx = (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 at x = 0."""
    a = np.asarray(x + [0.0])
    with xpgrad.use_backend(backend):
        t = leaf(a)
        y = xpx.sinc(t)
        close(y, np.sinc(a))
        xp.sum(y).backward()
        u = np.pi * a[:-1]
        expected = np.append((u * np.cos(u) - np.sin(u)) / (np.pi * a[:-1] ** 2), 0.0)
        close(t.grad, expected, 1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_atleast_nd_is_differentiable(backend, grad_check):
    with xpgrad.use_backend(backend):
        (t,) = grad_check(lambda t: xpx.atleast_nd(t, ndim=3) * 2.0, np.asarray([1.0, -2.0]))
        assert xpx.atleast_nd(t, ndim=3).shape == (1, 1, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_array_api_compat_finds_the_namespace(backend):
    import array_api_compat

    with xpgrad.use_backend(backend):
        t = leaf([1.0, 2.0])
        assert array_api_compat.array_namespace(t) is xp
        assert xpx.at(t.detach() * 1.0)[0].set(5.0).tolist() == [5.0, 2.0]

