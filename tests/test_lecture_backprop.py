"""The lecture's backpropagation examples, computed by the engine (see the section
"Computational graphs + Backpropagation" of the reference lecture)."""

import math

import numpy as np
import pytest

import xpgrad


def scalar(v):
    return xpgrad.tensor(v, dtype="float64", requires_grad=True)


def grad(t):
    return float(xpgrad.tensor(t.grad).numpy())


def test_simple_example_f_equals_x_plus_y_times_z(backend):
    x, y, z = scalar(-2.0), scalar(5.0), scalar(-4.0)
    q = x + y
    f = q * z
    assert f.item() == -12.0
    f.backward()
    assert (grad(x), grad(y), grad(z)) == (-4.0, -4.0, 3.0)  # df/dx = df/dy = z, df/dz = q
    assert xpgrad.gradcheck(lambda a, b, c: (a + b) * c, [scalar(-2.0), scalar(5.0), scalar(-4.0)])


def sigmoid(t):
    return 1.0 / (1.0 + xpgrad.exp(-t))


def test_sigmoid_neuron(backend):
    """f(w, x) = σ(w0 x0 + w1 x1 + w2) at w = (2, -3, -3), x = (-1, -2): the lecture's "flat" backprop."""
    w0, x0, w1, x1, w2 = (scalar(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    s3 = w0 * x0 + w1 * x1 + w2  # = 1
    L = sigmoid(s3)
    L.backward()

    sig = 1.0 / (1.0 + math.exp(-1.0))
    grad_s3 = (1.0 - sig) * sig  # the sigmoid gate's local gradient, ≈ 0.1966
    assert L.item() == pytest.approx(sig, rel=1e-12)
    expected = {"w0": grad_s3 * -1.0, "x0": grad_s3 * 2.0, "w1": grad_s3 * -2.0, "x1": grad_s3 * -3.0,
                "w2": grad_s3}
    got = {"w0": grad(w0), "x0": grad(x0), "w1": grad(w1), "x1": grad(x1), "w2": grad(w2)}
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-12), k
    # the rounded values on the lecture's slide
    assert [round(got[k], 2) for k in ("w0", "w1", "w2")] == [-0.20, -0.39, 0.20]
    assert [round(got[k], 2) for k in ("x0", "x1")] == [0.39, -0.59]


def test_sigmoid_neuron_vectorised_with_dot_product(backend):
    w = xpgrad.tensor([2.0, -3.0, -3.0], dtype="float64", requires_grad=True)
    x = xpgrad.tensor([-1.0, -2.0, 1.0], dtype="float64", requires_grad=True)  # bias input fixed at 1
    sigmoid(w @ x).backward()
    s = 1.0 / (1.0 + math.exp(-1.0))
    np.testing.assert_allclose(xpgrad.tensor(w.grad).numpy(), (1 - s) * s * np.array([-1.0, -2.0, 1.0]))
    np.testing.assert_allclose(xpgrad.tensor(x.grad).numpy(), (1 - s) * s * np.array([2.0, -3.0, -3.0]))


# -- patterns in gradient flow ---------------------------------------------------------------

def test_add_gate_distributes_the_gradient(backend):
    a, b = scalar(4.0), scalar(-7.0)
    ((a + b) * 2.0).backward()  # upstream gradient 2
    assert (grad(a), grad(b)) == (2.0, 2.0)


def test_copy_gate_adds_the_gradients(backend):
    x = scalar(3.0)
    u = x * 2.0  # one copy of x goes this way...
    v = x * 5.0  # ...the other this way
    (u + v).backward()
    assert grad(x) == 7.0


def test_mul_gate_swaps_its_inputs(backend):
    a, b = scalar(3.0), scalar(-4.0)
    ((a * b) * 2.0).backward()
    assert (grad(a), grad(b)) == (2.0 * -4.0, 2.0 * 3.0)


def test_max_gate_routes_the_gradient_to_the_larger_input(backend):
    a, b = scalar(4.0), scalar(-1.0)
    (xpgrad.maximum(a, b) * 2.0).backward()
    assert (grad(a), grad(b)) == (2.0, 0.0)
    v = xpgrad.tensor([4.0, -1.0, 2.0], dtype="float64", requires_grad=True)
    (xpgrad.max(v) * 2.0).backward()
    assert xpgrad.tensor(v.grad).numpy().tolist() == [2.0, 0.0, 0.0]
