"""Losses: hand-worked values, reductions, gradients (float64 central differences), stability, errors."""

import math

import numpy as np
import pytest

import xpgrad


def T(values, dtype="float64", **kw):
    """A tensor on the current backend."""
    return xpgrad.tensor(np.asarray(values).tolist(), dtype=dtype, **kw)


# The lecture's three examples (cat, car, frog): class scores and the correct class of each column.
SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]
LABELS = [0, 1, 2]


def test_svm_hand_worked(backend):
    s = T([[3.2, 5.1, -1.7]])
    # max(0, 5.1 − 3.2 + 1) + max(0, −1.7 − 3.2 + 1) = 2.9 + 0
    assert xpgrad.loss("multiclass_svm")(s, T([0], dtype="int64")).item() == pytest.approx(2.9)
    per = xpgrad.loss("svm", reduction="none")(T(SCORES), LABELS)
    np.testing.assert_allclose(per.numpy(), [2.9, 0.0, 12.9], atol=1e-12)
    assert xpgrad.loss("hinge")(T(SCORES), LABELS).item() == pytest.approx((2.9 + 0 + 12.9) / 3)


def test_svm_margin_and_gradient():
    s = T([[3.2, 5.1, -1.7]], requires_grad=True)
    loss = xpgrad.loss("svm", margin=5.0)(s, [0])
    assert loss.item() == pytest.approx(6.9 + 0.1)  # both wrong classes inside the margin
    loss.backward()
    assert s.grad.tolist() == [[-2.0, 1.0, 1.0]]


def test_cross_entropy_of_zero_scores_is_log_classes(backend):
    loss = xpgrad.loss("softmax_cross_entropy")(T(np.zeros((4, 10))), T([0, 3, 9, 5], dtype="int64"))
    assert loss.item() == pytest.approx(math.log(10))


def test_cross_entropy_lecture_example_and_aliases():
    s = np.array(SCORES)
    expected = np.log(np.exp(s).sum(1)) - s[np.arange(3), LABELS]
    for name in ("softmax_cross_entropy", "cross_entropy", "softmax"):
        per = xpgrad.loss(name, reduction="none")(T(SCORES), LABELS)
        np.testing.assert_allclose(per.numpy(), expected, rtol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(backend):
    s = T(SCORES, requires_grad=True)
    xpgrad.loss("cross_entropy")(s, T(LABELS, dtype="int64")).backward()
    p = np.exp(SCORES) / np.exp(SCORES).sum(1, keepdims=True)
    np.testing.assert_allclose(xpgrad.backend.to_numpy(s.grad), (p - np.eye(3)[LABELS]) / 3, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_is_stable_for_huge_scores(dtype, backend):
    s = T([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]], dtype=dtype, requires_grad=True)
    loss = xpgrad.loss("cross_entropy", reduction="none")(s, T([0, 0, 1], dtype="int64"))
    np.testing.assert_allclose(loss.numpy(), [0.0, 2e4, math.log(2)], rtol=1e-6)
    loss.sum().backward()
    grad = xpgrad.backend.to_numpy(s.grad)
    np.testing.assert_allclose(grad, [[0, 0], [-1, 1], [0.5, -0.5]], atol=1e-6)


def test_mse_and_bce_formulas(backend):
    s, t = np.array([[0.5, -2.0], [3.0, 0.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    assert xpgrad.loss("mse")(T(s), T(t)).item() == pytest.approx(np.mean((s - t) ** 2))
    assert xpgrad.loss("mse", reduction="sum")(T(s), T(t)).item() == pytest.approx(np.sum((s - t) ** 2))
    sig = 1 / (1 + np.exp(-s))
    bce = -(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    np.testing.assert_allclose(xpgrad.loss("bce", reduction="none")(T(s), T(t)).numpy(), bce, rtol=1e-12)
    big = xpgrad.loss("binary_cross_entropy", reduction="none")(T([1e4, -1e4]), T([0.0, 0.0]))
    np.testing.assert_allclose(big.numpy(), [1e4, 0.0])


CASES = {
    "softmax_cross_entropy": lambda: LABELS,
    "multiclass_svm": lambda: LABELS,
    "mse": lambda: T(np.linspace(-1, 1, 9).reshape(3, 3)),
    "binary_cross_entropy": lambda: T(np.linspace(0, 1, 9).reshape(3, 3)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_central_differences(name, reduction, cpu_backend):
    s = T(np.array(SCORES) + 0.05, requires_grad=True)  # shifted so no SVM margin sits exactly at 0
    targets = CASES[name]()
    assert xpgrad.gradcheck(lambda x: xpgrad.loss(name, reduction=reduction)(x, targets), [s])


@pytest.mark.parametrize("name", ["mse", "binary_cross_entropy"])
def test_float_targets_can_take_gradients(name):
    s = T([[0.3, -0.2]], requires_grad=True)
    t = T([[0.9, 0.1]], requires_grad=True)
    assert xpgrad.gradcheck(lambda a, b: xpgrad.loss(name)(a, b), [s, t])


def test_reductions_agree(cpu_backend):
    for name, targets in CASES.items():
        s = T(SCORES)
        none = xpgrad.loss(name, reduction="none")(s, targets()).numpy()
        assert xpgrad.loss(name, reduction="sum")(s, targets()).item() == pytest.approx(none.sum())
        assert xpgrad.loss(name)(s, targets()).item() == pytest.approx(none.mean())


def test_errors_name_the_problem():
    s = T(SCORES)
    with pytest.raises(TypeError, match="integer class indices"):
        xpgrad.loss("cross_entropy")(s, T([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"targets of shape \(N,\)"):
        xpgrad.loss("svm")(s, [0, 1])
    with pytest.raises(ValueError, match="do not match"):
        xpgrad.loss("mse")(s, T([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="reduction"):
        xpgrad.losses.mse(s, s, reduction="avg")
    with pytest.raises(ValueError, match="backend"):
        xpgrad.loss("svm")(s, xpgrad.tensor(LABELS, backend="array_api_strict"))
