"""Higher-order gradients: xpgrad.grad, backward(create_graph=True), gradgradcheck; float64, each CPU backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn, registry, testing

X = xpgrad.array_api


def t64(array, requires_grad=True):
    """A float64 tensor on the current backend."""
    return xpgrad.tensor(array, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


def values(t):
    """The values of a tensor or of a backend array (``.grad`` without create_graph) as float64 NumPy."""
    if not isinstance(t, xpgrad.Tensor):
        t = xpgrad.as_tensor(t, backend=xpgrad.get_backend())
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def second_derivative(fn, x):
    """d²/dx² Σ fn(x), elementwise (fn acts elementwise), through two calls of xpgrad.grad."""
    (dy,) = xpgrad.grad(fn(x).sum(), x, create_graph=True)
    assert dy.requires_grad
    (d2y,) = xpgrad.grad(dy.sum(), x)
    return values(d2y)


# -- closed forms --------------------------------------------------------------------------------

CLOSED_FORMS = {
    "cube": (lambda x: x ** 3, lambda v: 6 * v),
    "sin": (X.sin, lambda v: -np.sin(v)),
    "exp": (X.exp, np.exp),
    "log": (X.log, lambda v: -1 / v ** 2),
    "tanh": (X.tanh, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
    "sigmoid": (xpgrad.activation("sigmoid"), lambda v: (s := 1 / (1 + np.exp(-v))) * (1 - s) * (1 - 2 * s)),
    "sqrt": (X.sqrt, lambda v: -0.25 * v ** -1.5),
    "softplus": (xpgrad.activation("softplus"), lambda v: (s := 1 / (1 + np.exp(-v))) * (1 - s)),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_second_derivative_matches_closed_form(cpu_backend, name):
    fn, d2 = CLOSED_FORMS[name]
    v = np.array([0.3, 0.7, 1.5, 2.5])
    x = t64(v)
    np.testing.assert_allclose(second_derivative(fn, x), d2(v), rtol=1e-10, atol=1e-12)
    assert x.grad is None  # grad() accumulates nothing


def test_third_derivative_of_x4(cpu_backend):
    x = t64([0.5, -2.0])
    (d1,) = xpgrad.grad((x ** 4).sum(), x, create_graph=True)
    (d2,) = xpgrad.grad(d1.sum(), x, create_graph=True)
    (d3,) = xpgrad.grad(d2.sum(), x)
    np.testing.assert_allclose(values(d1), 4 * np.array([0.5, -2.0]) ** 3)
    np.testing.assert_allclose(values(d2), 12 * np.array([0.5, -2.0]) ** 2)
    np.testing.assert_allclose(values(d3), 24 * np.array([0.5, -2.0]))


def test_mixed_partials_of_x2y3(cpu_backend):
    x, y = t64(1.5), t64(-0.5)
    gx, gy = xpgrad.grad(x * x * y ** 3, [x, y], create_graph=True)
    (gxy,) = xpgrad.grad(gx, y)  # d²/dxdy = 6 x y²
    (gyx,) = xpgrad.grad(gy, x, retain_graph=True)
    assert float(gxy) == pytest.approx(6 * 1.5 * 0.25) and float(gyx) == pytest.approx(6 * 1.5 * 0.25)


# -- Hessian-vector products and the gradient penalty ----------------------------------------

def _mlp(backend_seed=0):
    xpgrad.manual_seed(backend_seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    return model.to(dtype="float64")


def _loss(model, x, y):
    return xpgrad.loss("cross_entropy")(model(x), y)


def test_hessian_vector_product_of_mlp_loss_matches_finite_differences(cpu_backend):
    model = _mlp()
    rng = np.random.default_rng(3)
    x = t64(rng.standard_normal((6, 3)), requires_grad=False)
    y = xpgrad.tensor(rng.integers(0, 2, 6), backend=xpgrad.get_backend())
    params = list(model.parameters())
    vs = [t64(rng.standard_normal(p.shape), requires_grad=False) for p in params]
    grads = xpgrad.grad(_loss(model, x, y), params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vs, strict=True))
    hvp = xpgrad.grad(dot, params)

    def flat_grad(shift):
        with xpgrad.no_grad():
            originals = [p.detach().numpy().copy() for p in params]
            for p, v in zip(params, vs, strict=True):
                p.data = p.backend.asarray(values(p) + shift * values(v), dtype=p.dtype)
        try:
            return [values(g) for g in xpgrad.grad(_loss(model, x, y), params)]
        finally:
            for p, o in zip(params, originals, strict=True):
                p.data = p.backend.asarray(o, dtype=p.dtype)

    eps = 1e-5
    hi, lo = flat_grad(eps), flat_grad(-eps)
    for h, a, b in zip(hvp, hi, lo, strict=True):
        np.testing.assert_allclose(values(h), (a - b) / (2 * eps), rtol=1e-5, atol=1e-7)
    assert all(p.grad is None for p in params)


def _penalty(model, x):
    """(‖∂Σf/∂x‖ − 1)² per sample, averaged: a gradient penalty, differentiated w.r.t. the weights."""
    (gx,) = xpgrad.grad(model(x).sum(), x, create_graph=True)
    norms = X.linalg.vector_norm(gx, axis=1)
    return ((norms - 1.0) ** 2).mean()


def test_gradient_penalty_gradient_matches_finite_differences(cpu_backend):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(dtype="float64")
    x = t64(np.random.default_rng(5).standard_normal((4, 3)))
    w0, b0, w1, b1 = model.parameters()

    @xpgrad.enable_grad()  # gradcheck evaluates it under no_grad(); the inner grad() needs a graph
    def penalty(w0_, b0_, w1_, b1_):
        h = xpgrad.tanh(xpgrad.linear(x, w0_, b0_))
        (gx,) = xpgrad.grad(xpgrad.linear(h, w1_, b1_).sum(), x, create_graph=True)
        return ((X.linalg.vector_norm(gx, axis=1) - 1.0) ** 2).mean()

    assert xpgrad.gradcheck(penalty, [w0, b0, w1, b1], atol=1e-7, rtol=1e-5)
    # the module's own forward gives the same penalty and the same weight gradients
    loss = _penalty(model, x)
    loss.backward()
    assert float(loss) == pytest.approx(float(penalty(w0, b0, w1, b1)))
    assert all(p.grad is not None and not isinstance(p.grad, xpgrad.Tensor) for p in (w0, b0, w1))
    assert b1.grad is None  # the last bias does not change ∂f/∂x


def test_gradient_penalty_training_drives_the_gradient_norm_to_one(cpu_backend):
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype="float64")
    x = t64(np.random.default_rng(6).standard_normal((16, 2)))
    opt = xpgrad.optimizer("adam", model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = _penalty(model, x)
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(_penalty(model, x)) < 0.05 * first


# -- every registered component, layers and ops ---------------------------------------------

@pytest.mark.parametrize("name", list(registry.activations))
def test_double_backward_of_every_activation(name):
    assert testing.check_activation(name, backends=["numpy", "array_api_strict"], second_order=True)


@pytest.mark.parametrize("name", list(registry.losses))
def test_double_backward_of_every_loss(name):
    assert testing.check_loss(name, backends=["numpy", "array_api_strict"], second_order=True)


@pytest.mark.parametrize("name", list(registry.regularizers))
def test_double_backward_of_every_regularizer(name):
    assert testing.check_regularizer(name, backends=["numpy", "array_api_strict"], second_order=True)


def test_in_place_change_on_a_graph_is_differentiated_twice(cpu_backend):
    def fn(x):
        y = x * x
        y[0] = x[1] ** 3
        y += x * y
        return y

    assert xpgrad.gradgradcheck(fn, [t64(np.random.default_rng(9).uniform(0.2, 1.0, (2, 3)))])


# -- Tensor.backward(create_graph=True) --------------------------------------------------------

def test_backward_create_graph_leaves_a_grad_with_a_graph_and_accumulates(cpu_backend):
    x = t64([1.0, 2.0])
    y = (x ** 3).sum()
    y.backward(create_graph=True)  # retain_graph defaults to create_graph
    g1 = x.grad
    assert isinstance(g1, xpgrad.Tensor) and g1.requires_grad
    np.testing.assert_allclose(values(g1), [3.0, 12.0])
    y.backward(create_graph=True)  # a second pass adds to it, still with a graph
    np.testing.assert_allclose(values(x.grad), [6.0, 24.0])
    g = x.grad
    x.grad = None
    g.sum().backward()  # d/dx Σ 6x² = 12x
    np.testing.assert_allclose(values(x.grad), [12.0, 24.0])


def test_backward_create_graph_adds_to_an_existing_array_grad(cpu_backend):
    x = t64([2.0])
    (x * x).sum().backward()
    assert not isinstance(x.grad, xpgrad.Tensor)
    (x ** 3).sum().backward(create_graph=True)
    assert isinstance(x.grad, xpgrad.Tensor)
    np.testing.assert_allclose(values(x.grad), [4.0 + 12.0])


def test_backward_takes_gradient_positionally_and_by_the_former_name(cpu_backend):
    x = t64([1.0, 2.0])
    (x * x).backward(t64([1.0, 0.5], requires_grad=False))
    np.testing.assert_allclose(values(x.grad), [2.0, 2.0])
    x.grad = None
    (x * x).backward(grad=[1.0, 1.0])
    np.testing.assert_allclose(values(x.grad), [2.0, 4.0])
    with pytest.raises(TypeError, match="pass the gradient once"):
        (x * x).backward([1.0, 1.0], grad=[1.0, 1.0])


# -- xpgrad.grad: behaviour and errors -------------------------------------------------------

def test_grad_returns_a_tuple_and_leaves_grad_alone(cpu_backend):
    x, w = t64([1.0, 2.0]), t64([3.0, 4.0])
    w.grad = w.backend.asarray(np.array([9.0, 9.0]))
    gx, gw = xpgrad.grad((x * w).sum(), (x, w))
    np.testing.assert_allclose(values(gx), [3.0, 4.0])
    np.testing.assert_allclose(values(gw), [1.0, 2.0])
    assert not gx.requires_grad
    assert x.grad is None and values(xpgrad.as_tensor(w.grad)).tolist() == [9.0, 9.0]


def test_grad_of_several_outputs_with_grad_outputs(cpu_backend):
    x = t64([1.0, 2.0])
    (g,) = xpgrad.grad([x * x, x.sum()], x, grad_outputs=[t64([1.0, 2.0], False), None])
    np.testing.assert_allclose(values(g), [2 * 1.0 + 1, 2 * 2.0 * 2 + 1])


def test_grad_with_respect_to_an_intermediate(cpu_backend):
    x = t64([1.0, 2.0])
    h = x * 3.0
    (gh,) = xpgrad.grad((h * h).sum(), h)
    np.testing.assert_allclose(values(gh), [6.0, 12.0])


def test_grad_through_a_flat_buffer_leaves_the_slots_alone(cpu_backend):
    layer = nn.Linear(3, 2).to(dtype="float64")
    buf = xpgrad.FlatBuffer(list(layer.parameters()))
    x = t64(np.ones((4, 3)), requires_grad=False)
    gw, gb = xpgrad.grad(layer(x).sum(), list(layer.parameters()))
    np.testing.assert_allclose(values(gb), [4.0, 4.0])
    layer(x).sum().backward()  # writes into the slots; the returned gradients must not change
    np.testing.assert_allclose(values(gw), np.full((2, 3), 4.0))
    assert buf.grads_ready()


def test_grad_errors(cpu_backend):
    x, unused = t64([1.0, 2.0]), t64([1.0])
    with pytest.raises(RuntimeError, match="shape \\(2,\\).*grad_outputs"):
        xpgrad.grad(x * x, x)
    with pytest.raises(RuntimeError, match="inputs\\[1\\].*not used.*allow_unused=True"):
        xpgrad.grad((x * x).sum(), [x, unused])
    g, none = xpgrad.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert none is None and g is not None
    with pytest.raises(RuntimeError, match="inputs\\[0\\].*does not require grad"):
        xpgrad.grad((x * x).sum(), t64([1.0], requires_grad=False))
    with pytest.raises(RuntimeError, match="outputs\\[0\\].*does not require grad"):
        xpgrad.grad(t64([1.0], requires_grad=False).sum(), x)
    with pytest.raises(ValueError, match="grad_outputs\\[0\\] has shape \\(3,\\)"):
        xpgrad.grad(x * x, x, grad_outputs=t64([1.0, 1.0, 1.0], False))
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        xpgrad.grad([x.sum(), x.sum()], x, grad_outputs=[None])
    with pytest.raises(TypeError, match="inputs\\[0\\] is a list"):
        xpgrad.grad(x.sum(), [[x]])
    with pytest.raises(ValueError, match="inputs is empty"):
        xpgrad.grad(x.sum(), [])
    y = (x * x).sum()
    xpgrad.grad(y, x)  # frees the graph (retain_graph defaults to create_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        xpgrad.grad(y, x)


class _SavesIntermediate(xpgrad.Function):
    """x³ whose backward uses a saved x² (an intermediate of the forward pass)."""

    @staticmethod
    def forward(ctx, x):
        sq = x * x
        ctx.save_for_backward(sq)
        return sq * x

    @staticmethod
    def backward(ctx, g):
        (sq,) = ctx.saved_tensors
        return 3.0 * sq * g


class _ClaimsWrongly(_SavesIntermediate):
    create_graph_safe = True  # wrong: sq depends on x, so second derivatives come out wrong


class _Rebuilds(_SavesIntermediate):
    create_graph_safe = True

    @staticmethod
    def backward(ctx, g):
        (sq,) = ctx.saved_tensors
        if ctx.create_graph:
            sq = ctx.parents[0] * ctx.parents[0]
        return 3.0 * sq * g


class _ScalarBackward(xpgrad.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.xp.ones_like(ctx.parents[0].data) * 2.0  # a raw array, not a tensor


def test_user_functions_under_create_graph(cpu_backend):
    x = t64([0.5, 1.5])
    with pytest.raises(RuntimeError, match="_SavesIntermediate does not support create_graph=True.*intermediate"):
        xpgrad.grad(_SavesIntermediate.apply(x).sum(), x, create_graph=True)
    with pytest.raises(xpgrad.GradcheckError):
        xpgrad.gradgradcheck(_ClaimsWrongly.apply, [x])
    assert xpgrad.gradgradcheck(_Rebuilds.apply, [x])
    np.testing.assert_allclose(second_derivative(_Rebuilds.apply, x), [3.0, 9.0])
    with pytest.raises(RuntimeError, match="_ScalarBackward does not support create_graph=True.*not a tensor"):
        xpgrad.grad(_ScalarBackward.apply(x).sum(), x, create_graph=True)


def test_gradgradcheck_validates_its_arguments(cpu_backend):
    x = t64([1.0, 2.0])
    with pytest.raises(ValueError, match="no input has requires_grad"):
        xpgrad.gradgradcheck(X.sin, [t64([1.0], requires_grad=False)])
    with pytest.raises(ValueError, match="grad_outputs has shape \\(3,\\)"):
        xpgrad.gradgradcheck(X.sin, [x], grad_outputs=np.ones(3))
    assert xpgrad.gradgradcheck(lambda a: a * 2.0, [x])  # a linear function: the second derivative is 0
    assert xpgrad.gradgradcheck(X.sin, [x], grad_outputs=np.array([1.0, -2.0]))


def test_testing_helpers_check_second_derivatives_when_claimed():
    class Plugin:
        @xpgrad.hookimpl
        def register_activations(self, register):
            register("frozen_tanh", _FrozenTanh)

    xpgrad.plugin_manager().register(Plugin(), name="frozen")
    try:
        # the first derivative is right, so without a claim (or with second_order=False) the check passes
        assert testing.check_activation("frozen_tanh", backends=["numpy"])
        with pytest.raises(AssertionError, match="'frozen_tanh' on backend 'numpy': second-derivative check"):
            testing.check_activation("frozen_tanh", backends=["numpy"], second_order=True)
        _FrozenTanh.second_derivatives = True  # the component claims them: checked by default
        with pytest.raises(AssertionError, match="second-derivative check"):
            testing.check_activation("frozen_tanh", backends=["numpy"])
        assert testing.check_activation("frozen_tanh", backends=["numpy"], second_order=False)
    finally:
        del _FrozenTanh.second_derivatives
        xpgrad.plugin_manager().unregister(name="frozen")


class _FrozenTanh(xpgrad.Function):
    create_graph_safe = True  # wrongly: the saved 1 - tanh² is treated as a constant

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(1.0 - y * y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


# -- xpgrad.compile ---------------------------------------------------------------------------

def test_compile_runs_a_create_graph_step_eagerly_with_a_warning(cpu_backend):
    w = t64([0.5, -1.0])

    @xpgrad.compile
    def step(x):
        (gx,) = xpgrad.grad((xpgrad.tanh(x * w)).sum(), x, create_graph=True)
        loss = (gx * gx).sum()
        loss.backward()
        return loss

    x = t64([0.3, 0.7])
    with pytest.warns(xpgrad.CompileWarning, match="create_graph"):
        first = float(step(x))
    want = float(((w * (1 - xpgrad.tanh(x * w) ** 2)) ** 2).sum())
    assert first == pytest.approx(want)
    w.grad = None
    assert float(step(x)) == pytest.approx(want)  # later calls stay eager and stay right
    assert w.grad is not None and not math.isnan(float(xpgrad.as_tensor(w.grad).sum()))


def test_grad_returns_memory_of_its_own(cpu_backend):
    x = t64([1.0, 2.0])
    v = t64([3.0, 4.0], requires_grad=False)
    (g,) = xpgrad.grad(x + 0.0, x, grad_outputs=v)  # Add hands the incoming gradient through
    g += 1.0
    np.testing.assert_allclose(values(v), [3.0, 4.0])
    np.testing.assert_allclose(values(g), [4.0, 5.0])
