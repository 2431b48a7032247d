"""xpgrad.gradcheck itself: success, the details of a failure, the non-raising mode and its warnings."""

import warnings

import numpy as np
import pytest

import xpgrad


class WrongSquare(xpgrad.Function):
    """x² with a backward that is off by 10% for one element: gradcheck must catch it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = ctx.xp
        scale = 2.0 + 0.2 * xp.astype(xp.arange(x.shape[0]) == 2, x.dtype)
        return g * scale * x


def t64(values, requires_grad=True):
    return xpgrad.tensor(np.asarray(values, dtype=np.float64), dtype="float64", backend=xpgrad.get_backend(),
                         requires_grad=requires_grad)


def test_returns_true_for_correct_gradients(cpu_backend):
    assert xpgrad.gradcheck(lambda a, b: xpgrad.tanh(a) * b, [t64([0.1, -0.7]), t64([1.5, 2.0])]) is True


def test_accepts_a_single_tensor_and_non_tensor_arguments(cpu_backend):
    x = t64([0.3, 0.4])
    assert xpgrad.gradcheck(lambda t: xpgrad.exp(t), x)
    assert xpgrad.gradcheck(lambda t, k, c: t ** k + c, [x, 3, t64([1.0, 2.0], requires_grad=False)])


def test_mismatch_names_input_element_values_and_relative_error(cpu_backend):
    x = t64([0.5, 1.0, 1.5, 2.0])
    y = t64([1.0, 2.0])
    with pytest.raises(xpgrad.GradcheckError) as err:
        xpgrad.gradcheck(lambda a, b: a.sum() + WrongSquare.apply(b), [y, x])
    e = err.value
    assert e.input_index == 1 and e.element == (2,)
    # analytic = weight·2.2·x, numeric = weight·2·x: off by exactly 10% of the numeric value
    assert e.analytic == pytest.approx(1.1 * e.numeric, rel=1e-6)
    assert e.relative_error == pytest.approx(0.1, rel=1e-4)
    msg = str(e)
    assert "input 1" in msg and "element (2,)" in msg
    assert f"analytic {e.analytic:.8g}" in msg and f"numeric {e.numeric:.8g}" in msg
    assert "relative error 0.1" in msg
    assert isinstance(e, AssertionError)  # reads as a test failure under pytest


def test_raise_exception_false_returns_false(cpu_backend):
    assert xpgrad.gradcheck(lambda a: WrongSquare.apply(a), [t64([1.0, 2.0, 3.0])], raise_exception=False) is False


def test_a_gradient_that_never_arrives_is_caught(cpu_backend):
    x = t64([1.0, 2.0])
    detached = lambda a: a.detach() * a.detach() + a  # noqa: E731 - the square term gets no gradient
    with pytest.raises(xpgrad.GradcheckError, match="input 0 at element"):
        xpgrad.gradcheck(detached, [x])


def test_tolerances_are_used(cpu_backend):
    # a 10% error passes with rtol=0.2 and fails with the default rtol=1e-3
    assert xpgrad.gradcheck(lambda a: WrongSquare.apply(a), [t64([1.0, 2.0, 3.0])], rtol=0.2)
    assert not xpgrad.gradcheck(lambda a: WrongSquare.apply(a), [t64([1.0, 2.0, 3.0])], raise_exception=False)


def test_warns_when_an_input_is_not_float64(cpu_backend):
    x = xpgrad.tensor([0.5, 1.0], requires_grad=True)  # float32
    with pytest.warns(UserWarning, match="input 0 has dtype .*float32.*float64"):
        xpgrad.gradcheck(lambda t: t * 2.0, [x], eps=1e-2, atol=1e-2, rtol=1e-2)


def test_no_warning_for_float64_inputs(cpu_backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert xpgrad.gradcheck(lambda t: t * 2.0, [t64([0.5, 1.0])])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        xpgrad.gradcheck(lambda t: t * 2.0, [xpgrad.tensor([1.0], dtype="float64")])


def test_fn_must_return_a_tensor():
    with pytest.raises(TypeError, match="fn must return a Tensor, got float"):
        xpgrad.gradcheck(lambda t: 1.0, [xpgrad.tensor([1.0], dtype="float64", requires_grad=True)])


def test_inputs_are_left_unchanged_and_only_checked_inputs_get_gradients(cpu_backend):
    x = t64([0.5, 1.0])
    c = t64([2.0, 3.0], requires_grad=False)
    assert xpgrad.gradcheck(lambda a, b: a * b, [x, c])
    np.testing.assert_array_equal(x.numpy(), [0.5, 1.0])
    assert c.grad is None and x.grad is not None
