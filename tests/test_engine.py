"""The backward pass: order, accumulation, un-broadcasting, graph freeing, grad mode and its errors."""

import sys
import threading

import numpy as np
import pytest

import xpgrad
from xpgrad.autograd.engine import unbroadcast


def g(t):
    """A tensor's gradient as a NumPy array (None stays None)."""
    return None if t.grad is None else xpgrad.tensor(t.grad).numpy()


# -- order and depth ------------------------------------------------------------------------------

def test_a_chain_of_10000_ops_stays_below_the_recursion_limit(cpu_backend):
    assert sys.getrecursionlimit() < 10_000
    x = xpgrad.tensor(1.0, dtype="float64", requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(g(x), 1.0001 ** 10_000, rtol=1e-9)


def test_a_deep_chain_with_a_side_branch_visits_each_node_after_all_its_users(cpu_backend):
    x = xpgrad.tensor(2.0, dtype="float64", requires_grad=True)
    h = x
    for _ in range(3000):
        h = h + 0.0
    y = h * x  # x reaches y directly and through 3000 adds
    y.backward()
    assert g(x) == pytest.approx(4.0)


def test_diamond_graph(cpu_backend):
    x = xpgrad.tensor(3.0, dtype="float64", requires_grad=True)
    a = x * 2.0
    b = xpgrad.exp(a)
    c = a * a
    (b + c).backward()  # d/dx (e^{2x} + 4x^2) = 2e^{2x} + 8x
    assert g(x) == pytest.approx(2 * np.exp(6.0) + 24.0)


# -- accumulation ------------------------------------------------------------------------------------

def test_a_node_used_twice_accumulates_both_gradients(cpu_backend):
    x = xpgrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(g(x), [2.0, -4.0])
    x.grad = None
    (x + x + x).sum().backward()
    np.testing.assert_allclose(g(x), [3.0, 3.0])
    x.grad = None
    y = x * 3.0  # an interior node used twice
    (y * y + y).sum().backward()
    np.testing.assert_allclose(g(x), 2 * 9.0 * np.array([1.0, -2.0]) + 3.0)


def test_gradients_accumulate_across_backward_calls_until_reset(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(g(x), [3.0 + 2.0, 3.0 + 4.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(g(x), [3.0, 3.0])


def test_backward_on_a_leaf(cpu_backend):
    x = xpgrad.tensor(2.0, requires_grad=True)
    x.backward()
    x.backward()
    assert g(x) == 2.0


def test_leaf_gradients_are_independent_writable_arrays():
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = xpgrad.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()  # add hands the same upstream gradient to both; sum's is a broadcast view
    assert x.grad is not y.grad
    x.grad *= 2.0  # optimizers may update .grad in place
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])
    seed = np.array([1.0, 1.0], dtype=np.float32)
    x.grad = None
    x.backward(seed)
    x.grad += 1.0
    np.testing.assert_array_equal(seed, [1.0, 1.0])  # the caller's array is left alone


def test_gradients_have_the_shape_and_backend_of_their_tensor(cpu_backend):
    x = xpgrad.randn(3, 1, dtype="float64", requires_grad=True)
    w = xpgrad.randn(4, dtype="float64", requires_grad=True)
    (x * w).sum().backward()
    assert tuple(x.grad.shape) == (3, 1) and tuple(w.grad.shape) == (4,)
    assert xpgrad.tensor(x.grad).backend == cpu_backend


# -- un-broadcasting -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (1,), (4,), (3, 1), (1, 4), (2, 1, 1), (1, 3, 4), (2, 3, 4)])
def test_unbroadcasting_sums_gradients_back_to_each_input(cpu_backend, shape):
    x = xpgrad.ones(shape, dtype="float64", requires_grad=True)
    big = xpgrad.ones((2, 3, 4), dtype="float64")
    (x * big).sum().backward()
    want = np.full(shape, 24.0 / max(int(np.prod(shape)), 1))
    np.testing.assert_allclose(g(x), want)


def test_unbroadcast_helper(cpu_backend):
    xp = xpgrad.backend.resolve(cpu_backend).xp
    grad = xp.ones((2, 3, 4), dtype=xp.float64)
    assert unbroadcast(xp, grad, (2, 3, 4)) is grad
    assert tuple(unbroadcast(xp, grad, (3, 1)).shape) == (3, 1)
    assert float(unbroadcast(xp, grad, ())) == 24.0
    np.testing.assert_array_equal(xpgrad.tensor(unbroadcast(xp, grad, (1, 3, 1))).numpy(), np.full((1, 3, 1), 8.0))


# -- freeing the graph ----------------------------------------------------------------------------

def test_graph_is_freed_after_backward_and_a_second_backward_is_a_clear_error(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = (xpgrad.exp(x) * x).sum()
    y.backward()
    assert y._ctx.freed and y._ctx.saved_tensors == ()
    with pytest.raises(RuntimeError, match="backward through a graph a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_allclose(g(x), [4.0, 8.0])
    y.backward()  # the last one may free it
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_freed_saved_arrays_are_released():
    import gc
    import weakref

    x = xpgrad.tensor(np.ones(1000), requires_grad=True)
    h = xpgrad.exp(x)  # saves its output
    saved = weakref.ref(h._ctx.saved_tensors[0])
    y = h.sum()
    del h
    y.backward()
    gc.collect()
    assert saved() is None


# -- backward's own errors -----------------------------------------------------------------------

def test_backward_on_a_non_scalar_needs_a_gradient(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"one element; this one has shape \(2,\).*loss.sum\(\)"):
        y.backward()
    y.backward(xpgrad.tensor([1.0, 10.0], dtype="float64"))
    np.testing.assert_allclose(g(x), [2.0, 20.0])


def test_backward_grad_argument_accepts_lists_and_arrays_and_checks_the_shape(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    (x * 2.0).backward([1.0, 0.5], retain_graph=False)
    np.testing.assert_allclose(g(x), [2.0, 1.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2.0).backward([1.0, 1.0, 1.0])
    y = (x * 2.0).sum()
    y.backward(np.float64(2.0))  # a one-element tensor takes a scalar gradient too
    np.testing.assert_allclose(g(x), [2.0 + 4.0, 1.0 + 4.0])


def test_backward_on_a_tensor_that_does_not_require_grad(cpu_backend):
    with pytest.raises(RuntimeError, match="does not require grad"):
        (xpgrad.tensor([1.0]) * 2.0).sum().backward()


def test_backward_reaches_only_inputs_that_require_grad(cpu_backend):
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    c = xpgrad.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(g(x), [3.0, 4.0])


# -- the max gate: routing and ties -----------------------------------------------------------------

def test_max_routes_the_gradient_to_the_maximum(cpu_backend):
    x = xpgrad.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, -1.0]], dtype="float64", requires_grad=True)
    (xpgrad.max(x, axis=1) * xpgrad.tensor([2.0, 3.0], dtype="float64")).sum().backward()
    np.testing.assert_array_equal(g(x), [[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]])


def test_max_and_min_split_ties_evenly(cpu_backend):
    """Documented behaviour: tied extremes share the gradient equally, so it still sums to the upstream one."""
    x = xpgrad.tensor([[3.0, 1.0, 3.0, 3.0], [2.0, 2.0, 0.0, 5.0]], dtype="float64", requires_grad=True)
    xpgrad.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(g(x), [[1 / 3, 0.0, 1 / 3, 1 / 3], [0.0, 0.0, 0.0, 1.0]])
    x.grad = None
    xpgrad.min(x).backward()
    np.testing.assert_allclose(g(x), [[0.0] * 4, [0.0, 0.0, 1.0, 0.0]])
    x.grad = None
    xpgrad.max(xpgrad.tensor([2.0, 2.0], dtype="float64") * x[1, :2]).backward()
    np.testing.assert_allclose(g(x)[1], [1.0, 1.0, 0.0, 0.0])  # half of d(2x)/dx = 2 each


def test_maximum_and_minimum_split_ties_evenly(cpu_backend):
    a = xpgrad.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    b = xpgrad.tensor([2.0, 2.0, 2.0], dtype="float64", requires_grad=True)
    xpgrad.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(g(a), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(g(b), [1.0, 0.5, 0.0])
    a.grad = b.grad = None
    xpgrad.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(g(a), [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(g(b), [0.0, 0.5, 1.0])


def test_kinks_take_documented_subgradients(cpu_backend):
    x = xpgrad.tensor([-1.0, 0.0, 1.0, 2.0], dtype="float64", requires_grad=True)
    xpgrad.abs(x).sum().backward()
    np.testing.assert_array_equal(g(x), [-1.0, 0.0, 1.0, 1.0])  # 0 at 0
    x.grad = None
    xpgrad.clip(x, 0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(g(x), [0.0, 1.0, 1.0, 0.0])  # passes on the closed interval
    x.grad = None
    (x ** 2.0).sum().backward()
    np.testing.assert_array_equal(g(x), [-2.0, 0.0, 2.0, 4.0])


def test_pow_exponent_gradient_at_zero_base_is_finite(cpu_backend):
    base = xpgrad.tensor([0.0, 2.0], dtype="float64")
    e = xpgrad.tensor([2.0, 3.0], dtype="float64", requires_grad=True)
    (base ** e).sum().backward()
    np.testing.assert_allclose(g(e), [0.0, 8.0 * np.log(2.0)])


# -- grad mode ------------------------------------------------------------------------------------

def test_no_grad_context_manager_records_nothing(cpu_backend):
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    assert xpgrad.is_grad_enabled()
    with xpgrad.no_grad():
        assert not xpgrad.is_grad_enabled()
        y = w * 2.0 + 1.0
    assert xpgrad.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [3.0, 5.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_decorator_and_restoring_on_exceptions():
    w = xpgrad.tensor([1.0], requires_grad=True)

    @xpgrad.no_grad()
    def step(t):
        """Docstring kept."""
        assert not xpgrad.is_grad_enabled()
        return t * 3.0

    assert step.__doc__ == "Docstring kept." and step.__name__ == "step"
    assert not step(w).requires_grad
    assert xpgrad.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with xpgrad.no_grad():
            _ = 1 / 0
    assert xpgrad.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    w = xpgrad.tensor([1.0], requires_grad=True)
    with xpgrad.no_grad():
        with xpgrad.enable_grad():
            y = w * 2.0
        z = w * 2.0
    assert y.requires_grad and not z.requires_grad


def test_no_grad_is_local_to_its_thread():
    seen = []
    with xpgrad.no_grad():
        t = threading.Thread(target=lambda: seen.append(xpgrad.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_no_graph_when_no_input_requires_grad(cpu_backend):
    a = xpgrad.tensor([1.0, 2.0])
    b = xpgrad.tensor([3.0, 4.0])
    y = xpgrad.exp(a * b).sum()
    assert not y.requires_grad and y._ctx is None
    w = xpgrad.tensor([1.0, 1.0], requires_grad=True)
    z = a * w
    assert z.requires_grad and z._ctx is not None and z._ctx.parents[0] is a


def test_in_place_update_under_no_grad_then_a_fresh_graph(cpu_backend):
    w = xpgrad.tensor([1.0, -1.0], dtype="float64", requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with xpgrad.no_grad():
            w.data = w.data - 0.25 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.numpy(), [0.125, -0.125])


def test_leaf_gradients_keep_the_leaf_dtype_when_an_op_promotes(cpu_backend):
    xp = xpgrad.backend.resolve(cpu_backend).xp
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = xpgrad.tensor([3.0, 4.0], dtype="float64")
    (x * y).sum().backward()
    assert x.grad.dtype == xp.float32
    (x * y).sum().backward()
    assert x.grad.dtype == xp.float32
    np.testing.assert_array_equal(g(x), [6.0, 8.0])
