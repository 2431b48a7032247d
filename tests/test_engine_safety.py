"""Gradients are right or refused: version counters catch arrays changed after they were saved,
a custom backward's wrong-shaped gradient is refused, edge-case gradients match PyTorch, and
errors from inside the array library name the xpgrad op and its inputs."""

import numpy as np
import pytest

import xpgrad
from xpgrad.backend import to_numpy


def test_backward_after_an_optimizer_step_is_refused_naming_the_op(cpu_backend):
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    # built first: an optimizer moves its parameters into its flat buffer (a copy the graph would not see)
    opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    y = (w * w).sum()
    y.backward(retain_graph=True)
    opt.step()  # changes w's array in place
    with pytest.raises(RuntimeError, match=r"backward through Mul: an input of shape \(2,\).*changed in place"):
        y.backward()


def test_an_in_place_change_marked_with_bump_version_is_caught_and_a_fresh_forward_works(cpu_backend):
    x = xpgrad.tensor([[1.0, 2.0]], requires_grad=True)
    w = xpgrad.tensor([[3.0], [4.0]], requires_grad=True)
    out = (x @ w).sum()
    w.data[0, 0] = 10.0 if w.backend.name == "numpy" else w.data[0, 0]  # strict arrays refuse item assignment
    w.bump_version()
    with pytest.raises(RuntimeError, match="MatMul"):
        out.backward()
    (x @ w).sum().backward()  # recomputing the forward pass is the fix
    assert to_numpy(x.grad).tolist() == [[float(w.data[0, 0]), 4.0]]


def test_changes_that_do_not_touch_saved_arrays_are_fine(cpu_backend):
    a = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    b = xpgrad.tensor([3.0, 4.0], requires_grad=True)
    y = (a + b).sum()  # Add saves nothing
    b.bump_version()
    y.backward()
    assert to_numpy(a.grad).tolist() == [1.0, 1.0]
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    z = (w * w).sum()
    w.set_(xpgrad.tensor([5.0, 5.0]).data)  # replaced, not mutated: the saved array keeps the old values
    z.backward()
    assert to_numpy(w.grad).tolist() == [2.0, 4.0]


def test_version_grows_with_tracked_changes_only():
    w = xpgrad.zeros(3)
    v0 = w.version
    w.data = w.data + 1  # writes through .data are not tracked, as in PyTorch
    assert w.version == v0
    w.bump_version()
    v1 = w.version
    w.set_(xpgrad.ones(3))
    assert v0 < v1 < w.version


class _WrongShape(xpgrad.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.ones((5,), dtype=g.dtype)


class _WrongRank(_WrongShape):
    @staticmethod
    def backward(ctx, g):
        return ctx.xp.ones((3, 1), dtype=g.dtype)  # broadcasts against (3,) but is not reducible to it


@pytest.mark.parametrize("fn", [_WrongShape, _WrongRank])
def test_a_custom_backward_with_a_wrong_gradient_shape_is_refused(cpu_backend, fn):
    x = xpgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{fn.__name__}\.backward returned a gradient of shape \(\d+(, 1)?,?\) "
                                           r"for argument 0, which has shape \(3,\)"):
        fn.apply(x).sum().backward()
    assert x.grad is None


def test_pow_with_exponent_zero_has_zero_gradient_at_zero(cpu_backend):
    x = xpgrad.tensor([0.0, 2.0], dtype="float64", requires_grad=True)
    (x ** 0.0).sum().backward()
    assert to_numpy(x.grad).tolist() == [0.0, 0.0]
    e = xpgrad.tensor([0.0, 1.0], dtype="float64", requires_grad=True)
    base = xpgrad.tensor([0.0, 3.0], dtype="float64", requires_grad=True)
    (base ** e).sum().backward()
    assert to_numpy(base.grad).tolist() == [0.0, 1.0]  # d/db b**e = e b**(e-1); 0 where e == 0
    assert np.isfinite(to_numpy(e.grad)).all()


def test_where_refuses_a_float_condition(cpu_backend):
    x = xpgrad.ones(2)
    with pytest.raises(TypeError, match=r"condition must be a boolean Tensor, got dtype .*float32.*where\(x > 0"):
        xpgrad.where(x, x, 0.0)


@pytest.mark.parametrize("data", [2**70, [1, -(2**64)], [[0], [2**63]]])
def test_python_ints_that_overflow_int64_are_an_error(data):
    with pytest.raises(ValueError, match="does not fit in int64.*dtype='float64'"):
        xpgrad.tensor(data)
    assert xpgrad.tensor(data, dtype="float64").dtype == np.float64


OP_ERRORS = {
    "add": (lambda a, b: a + b, (2, 3), (4,), "Add"),
    "matmul": (lambda a, b: a @ b, (2, 3), (2, 3), "MatMul"),
    "reshape": (lambda a, b: xpgrad.reshape(a, (4,)), (2, 3), (1,), "Reshape"),
    "concat": (lambda a, b: xpgrad.concat([a, b], axis=1), (2, 3), (3, 3), "Concat"),
    "stack": (lambda a, b: xpgrad.stack([a, b]), (2, 3), (3,), "Stack"),
    "squeeze": (lambda a, b: xpgrad.squeeze(a, axis=0), (2, 3), (1,), "Squeeze"),
    "maximum": (lambda a, b: xpgrad.maximum(a, b), (2, 3), (2, 2), "Maximum"),
}


@pytest.mark.parametrize("case", list(OP_ERRORS))
def test_errors_from_the_array_library_name_the_op_and_the_input_shapes(cpu_backend, case):
    fn, sa, sb, op = OP_ERRORS[case]
    a, b = xpgrad.ones(sa), xpgrad.ones(sb)
    with pytest.raises((ValueError, TypeError)) as err:
        fn(a, b)
    msg = str(err.value)
    assert op.lower() in msg.lower() and str(sa).replace(" ", "") in msg.replace(" ", ""), msg


def test_take_out_of_range_is_an_error_naming_the_op(cpu_backend):
    with pytest.raises((ValueError, IndexError)) as err:
        xpgrad.take(xpgrad.ones((2, 3)), xpgrad.tensor([5]), axis=0)
    assert "take" in str(err.value).lower()
