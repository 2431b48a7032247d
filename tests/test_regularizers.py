"""Regularizers: strength * R(W) values, gradients, inputs accepted, errors."""

import numpy as np
import pytest

import xpgrad

W = np.array([[0.5, -1.5, 2.0], [-0.25, 1.0, -3.0]])
B = np.array([0.3, -0.7])


def T(values, **kw):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype="float64", **kw)


@pytest.mark.parametrize("name, kw, formula", [
    ("l2", {}, lambda w: np.sum(w ** 2)),
    ("l1", {}, lambda w: np.sum(np.abs(w))),
    ("elastic_net", {}, lambda w: np.sum(w ** 2 + np.abs(w))),
    ("elastic_net", {"beta": 0.25}, lambda w: np.sum(0.25 * w ** 2 + np.abs(w))),
])
def test_values(name, kw, formula, backend):
    r = xpgrad.regularizer(name, 0.3, **kw)
    assert r([T(W), T(B)]).item() == pytest.approx(0.3 * (formula(W) + formula(B)))


def test_l2_gradient_is_two_strength_w():
    w = T(W, requires_grad=True)
    xpgrad.regularizer("l2", 0.5)([w]).backward()
    np.testing.assert_allclose(xpgrad.backend.to_numpy(w.grad), W)


@pytest.mark.parametrize("name", ["l1", "l2", "elastic_net"])
def test_gradients_match_central_differences(name, cpu_backend):
    w, b = T(W, requires_grad=True), T(B, requires_grad=True)
    r = xpgrad.regularizer(name, 0.7)
    assert xpgrad.gradcheck(lambda p, q: r([p, q]), [w, b])


def test_accepts_one_tensor_or_an_object_with_parameters():
    class Model:
        def parameters(self):
            return iter([T(W), T(B)])

    r = xpgrad.regularizer("l1", 1.0)
    assert r(T(W)).item() == pytest.approx(np.abs(W).sum())
    assert r(Model()).item() == pytest.approx(np.abs(W).sum() + np.abs(B).sum())


def test_bad_inputs():
    with pytest.raises(ValueError, match="strength must be a non-negative number, got -0.1"):
        xpgrad.regularizer("l2", -0.1)
    with pytest.raises(ValueError, match="beta"):
        xpgrad.regularizer("elastic_net", 0.1, beta=-1)
    with pytest.raises(ValueError, match="no parameters"):
        xpgrad.regularizer("l2", 0.1)([])
    with pytest.raises(TypeError, match="Tensors"):
        xpgrad.regularizer("l2", 0.1)([W])
    assert "strength=0.1" in repr(xpgrad.regularizer("elastic_net", 0.1))
