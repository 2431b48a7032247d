"""The extension point for custom ops: subclass xpgrad.Function, run it with .apply."""

import numpy as np
import pytest

import xpgrad
from xpgrad import backend as B


class ScaledSoftplus(xpgrad.Function):
    """y = log(1 + exp(alpha * x)) / alpha, with dy/dx = sigmoid(alpha * x)."""

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = ctx.xp
        z = alpha * x
        ctx.save_for_backward(z)
        ctx.alpha = alpha
        return xp.log1p(xp.exp(z)) / alpha

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad / (1.0 + ctx.xp.exp(-z))


class AffineWithScalar(xpgrad.Function):
    """y = a * x + c with a Python scalar ``a`` in the middle of the arguments."""

    seen = []

    @staticmethod
    def forward(ctx, x, a, c):
        ctx.save_for_backward(x, c)
        ctx.a = a
        return a * x + c

    @staticmethod
    def backward(ctx, grad):
        AffineWithScalar.seen.append(tuple(ctx.needs_input_grad))
        x, c = ctx.saved_tensors
        return grad * ctx.a, None, grad  # grad for c keeps the broadcast shape: the engine sums it


def t64(values, requires_grad=True):
    return xpgrad.tensor(np.asarray(values, dtype=np.float64), dtype="float64", backend=xpgrad.get_backend(),
                         requires_grad=requires_grad)


def test_custom_function_forward_backward_and_gradcheck(cpu_backend):
    values = np.array([[-1.5, 0.0], [0.7, 3.0]])
    x = t64(values)
    y = ScaledSoftplus.apply(x, alpha=2.0)
    assert isinstance(y, xpgrad.Tensor) and y.backend == cpu_backend
    assert y.grad_fn is ScaledSoftplus and y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.log1p(np.exp(2 * values)) / 2)
    y.sum().backward()
    np.testing.assert_allclose(xpgrad.tensor(x.grad).numpy(), 1 / (1 + np.exp(-2 * values)))
    assert xpgrad.gradcheck(lambda t: ScaledSoftplus.apply(t, alpha=0.5), [t64(values)])


def test_ctx_offers_the_namespace_backend_and_saved_arrays(cpu_backend):
    seen = {}

    class Probe(xpgrad.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["xp"], seen["backend"] = ctx.xp, ctx.backend
            seen["types"] = (type(x), type(y))
            ctx.save_for_backward(x, y)
            ctx.note = "kept"
            return x * y

        @staticmethod
        def backward(ctx, grad):
            seen["saved"] = ctx.saved_tensors
            seen["note"] = ctx.note
            seen["needs"] = tuple(ctx.needs_input_grad)
            return grad * ctx.saved_tensors[1], grad * ctx.saved_tensors[0]

    a, b = t64([1.0, 2.0]), t64([3.0, 4.0], requires_grad=False)
    Probe.apply(a, b).sum().backward()
    backend = B.resolve(cpu_backend)
    assert seen["xp"] is backend.xp and seen["backend"] is backend
    assert seen["types"] == (type(a.data), type(b.data))  # forward works on raw backend arrays
    assert seen["saved"][0] is a.data and seen["saved"][1] is b.data
    assert seen["note"] == "kept"
    assert seen["needs"] == (True, False)
    assert b.grad is None  # the gradient returned for b is dropped: b does not require grad
    np.testing.assert_array_equal(xpgrad.tensor(a.grad).numpy(), [3.0, 4.0])


def test_scalars_pass_through_and_returned_grads_are_unbroadcast(cpu_backend):
    AffineWithScalar.seen.clear()
    x = t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    c = t64([0.5, -0.5, 1.0])
    y = AffineWithScalar.apply(x, 3.0, c)
    np.testing.assert_allclose(y.numpy(), 3.0 * x.numpy() + c.numpy())
    y.sum().backward()
    assert AffineWithScalar.seen == [(True, False, True)]
    np.testing.assert_allclose(xpgrad.tensor(x.grad).numpy(), np.full((2, 3), 3.0))
    np.testing.assert_allclose(xpgrad.tensor(c.grad).numpy(), [2.0, 2.0, 2.0])
    assert xpgrad.gradcheck(lambda u, v: AffineWithScalar.apply(u, -2.0, v), [t64(x.numpy()), t64(c.numpy())])


def test_single_input_backward_may_return_a_bare_array(cpu_backend):
    class Double(xpgrad.Function):
        @staticmethod
        def forward(ctx, x):
            return 2.0 * x

        @staticmethod
        def backward(ctx, grad):
            return 2.0 * grad

    assert xpgrad.gradcheck(lambda t: Double.apply(Double.apply(t)), [t64([1.0, -1.0])])


def test_custom_function_composes_with_builtins(cpu_backend):
    def f(w, x):
        return xpgrad.mean(ScaledSoftplus.apply(x @ w, alpha=1.5) * xpgrad.tanh(x @ w))

    rng = np.random.default_rng(0)
    assert xpgrad.gradcheck(f, [t64(rng.normal(size=(3, 2))), t64(rng.normal(size=(4, 3)))])


def test_nothing_is_recorded_under_no_grad_or_without_grad_inputs(cpu_backend):
    x = t64([0.5])
    with xpgrad.no_grad():
        y = ScaledSoftplus.apply(x)
    assert not y.requires_grad and y.grad_fn is None
    z = ScaledSoftplus.apply(t64([0.5], requires_grad=False))
    assert not z.requires_grad and z._ctx is None
    np.testing.assert_allclose(y.numpy(), np.log1p(np.exp([0.5])))


def test_builtin_ops_use_the_same_contract():
    x = xpgrad.tensor([1.0], requires_grad=True)
    for y in (xpgrad.exp(x), x + 1.0, x @ x, x.sum(), x[0], xpgrad.concat([x, x])):
        assert issubclass(y.grad_fn, xpgrad.Function)
        assert callable(y.grad_fn.forward) and callable(y.grad_fn.backward)
    assert repr(ScaledSoftplus) == "<xpgrad Function ScaledSoftplus>"


def test_apply_needs_a_tensor_and_separate_tensor_arguments():
    with pytest.raises(TypeError, match="ScaledSoftplus needs at least one xpgrad.Tensor argument; got float"):
        ScaledSoftplus.apply(1.0)
    with pytest.raises(TypeError, match="ScaledSoftplus: pass tensors as separate arguments, not a list"):
        ScaledSoftplus.apply([xpgrad.tensor([1.0])])


def test_apply_refuses_mixed_backends():
    with pytest.raises(ValueError, match="AffineWithScalar: arguments live on different backends"):
        AffineWithScalar.apply(xpgrad.tensor([1.0]), 2.0, xpgrad.tensor([1.0], backend="array_api_strict"))


def test_missing_methods_say_what_to_define():
    class Empty(xpgrad.Function):
        pass

    with pytest.raises(NotImplementedError, match="must define forward"):
        Empty.apply(xpgrad.tensor([1.0]))

    class ForwardOnly(xpgrad.Function):
        @staticmethod
        def forward(ctx, x):
            return x

    y = ForwardOnly.apply(xpgrad.tensor([1.0], requires_grad=True))
    with pytest.raises(NotImplementedError, match="must define backward"):
        y.sum().backward()
