"""nn.functional: values against NumPy references of PyTorch's documented formulas, gradients, reductions, errors."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn import functional as F

RNG = np.random.default_rng(7)
X = RNG.normal(size=(5, 4))
Y = np.array([0, 3, 1, 1, 2])
W = np.array([0.5, 2.0, 1.0, 1.5])
PROBS = RNG.dirichlet(np.ones(4), size=5)
TARGETS = RNG.uniform(size=(5, 4))


def T(values, dtype="float64", **kw):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype=dtype, **kw)


def L(values):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype="int64")


def logsoftmax(x, axis=1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def reduce(per, reduction, count=None):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / (per.size if count is None else count)


def close(t, expected, tol=1e-10):
    np.testing.assert_allclose(np.asarray(t.tolist()), expected, rtol=tol, atol=tol)


# -- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_plain_weighted_smoothed_and_ignored(reduction, cpu_backend):
    lp = logsoftmax(X)
    nll = -lp[np.arange(5), Y]
    close(F.cross_entropy(T(X), L(Y), reduction=reduction), reduce(nll, reduction))
    wy = W[Y]
    close(F.cross_entropy(T(X), L(Y), T(W), reduction=reduction), reduce(wy * nll, reduction, wy.sum()))
    # label smoothing ε: (1 − ε)·w_y·nll + ε/C·Σ_c w_c·(−logp_c); mean divides by Σ w_y (PyTorch's rule)
    eps = 0.2
    per = (1 - eps) * wy * nll + eps * (-(lp * W).sum(1)) / 4
    close(F.cross_entropy(T(X), L(Y), T(W), reduction=reduction, label_smoothing=eps),
          reduce(per, reduction, wy.sum()))
    y2 = np.array([0, -100, 1, -100, 2])
    keep = y2 != -100
    per = np.where(keep, -lp[np.arange(5), np.where(keep, y2, 0)], 0.0)
    close(F.cross_entropy(T(X), L(y2), ignore_index=-100, reduction=reduction), reduce(per, reduction, keep.sum()))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_and_extra_dims(reduction, cpu_backend):
    per = -(PROBS * logsoftmax(X)).sum(1)
    close(F.cross_entropy(T(X), T(PROBS), reduction=reduction), reduce(per, reduction))
    x3 = RNG.normal(size=(2, 4, 3))
    y3 = RNG.integers(0, 4, size=(2, 3))
    lp = logsoftmax(x3, axis=1)
    per = -np.take_along_axis(lp, y3[:, None, :], axis=1)[:, 0, :]
    close(F.cross_entropy(T(x3), L(y3), reduction=reduction), reduce(per, reduction))
    # one unbatched sample: scores (C,) and a 0-d target
    assert F.cross_entropy(T(X[1]), L(3)).item() == pytest.approx(-logsoftmax(X[1:2])[0, 3])


def test_cross_entropy_plain_case_is_the_registered_loss(cpu_backend):
    a = F.cross_entropy(T(X), L(Y), reduction="none")
    b = xpgrad.loss("softmax_cross_entropy", reduction="none")(T(X), L(Y))
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, cpu_backend):
    per = -W[Y] * X[np.arange(5), Y]
    close(F.nll_loss(T(X), L(Y), T(W), reduction=reduction), reduce(per, reduction, W[Y].sum()))
    close(F.nll_loss(T(X), L(Y), reduction=reduction), reduce(-X[np.arange(5), Y], reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_l1_and_bce_with_logits(reduction, cpu_backend):
    d = X - TARGETS
    close(F.mse_loss(T(X), T(TARGETS), reduction=reduction), reduce(d * d, reduction))
    close(F.l1_loss(T(X), T(TARGETS), reduction=reduction), reduce(np.abs(d), reduction))
    sig = 1 / (1 + np.exp(-X))
    bce = -(TARGETS * np.log(sig) + (1 - TARGETS) * np.log(1 - sig))
    close(F.binary_cross_entropy_with_logits(T(X), T(TARGETS), reduction=reduction), reduce(bce, reduction))
    pw = np.array([1.0, 3.0, 0.5, 2.0])
    per = -(pw * TARGETS * np.log(sig) + (1 - TARGETS) * np.log(1 - sig)) * W
    got = F.binary_cross_entropy_with_logits(T(X), T(TARGETS), T(W), reduction=reduction, pos_weight=T(pw))
    close(got, reduce(per, reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_divides_by_classes(p, reduction, cpu_backend):
    margin = 0.7
    m = np.maximum(margin - X[np.arange(5), Y][:, None] + X, 0.0) ** p
    m[np.arange(5), Y] = 0.0
    per = m.sum(1) / 4
    close(F.multi_margin_loss(T(X), L(Y), p=p, margin=margin, reduction=reduction), reduce(per, reduction))
    close(F.multi_margin_loss(T(X), L(Y), p, margin, T(W), reduction=reduction), reduce(per * W[Y], reduction))


def test_multi_margin_is_the_lecture_svm_over_classes():
    s = T([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    svm = xpgrad.loss("multiclass_svm")(s, [0, 1, 2]).item()
    assert svm == pytest.approx((2.9 + 0 + 12.9) / 3)
    assert F.multi_margin_loss(s, L([0, 1, 2])).item() * 3 == pytest.approx(svm)


def test_activations_softmax_and_linear(cpu_backend):
    x = T(X)
    close(F.relu(x), np.maximum(X, 0))
    close(F.leaky_relu(x, 0.2), np.where(X > 0, X, 0.2 * X))
    close(F.elu(x, alpha=0.5), np.where(X > 0, X, 0.5 * np.expm1(np.minimum(X, 0))))
    close(F.sigmoid(x), 1 / (1 + np.exp(-X)))
    close(F.tanh(x), np.tanh(X))
    for dim in (0, 1, -1):
        e = np.exp(X - X.max(dim, keepdims=True))
        close(F.softmax(x, dim=dim), e / e.sum(dim, keepdims=True))
        close(F.log_softmax(x, dim), logsoftmax(X, axis=dim))
    assert F.softmax(T(X, dtype="float32"), 1, dtype="float64").dtype == T([0.0]).dtype
    w, b = RNG.normal(size=(3, 4)), RNG.normal(size=3)
    close(F.linear(x, T(w), T(b)), X @ w.T + b)
    close(F.linear(x, T(w)), X @ w.T)


def test_dropout_and_one_hot(cpu_backend):
    x = xpgrad.ones((2000,), dtype="float64")
    out = np.asarray(F.dropout(x, p=0.25).tolist())
    assert set(np.unique(out).tolist()) == {0.0, 1 / 0.75}
    assert 0.2 < (out == 0).mean() < 0.3
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 1.0).tolist() == [0.0] * 2000
    xpgrad.manual_seed(3)
    a = F.dropout(x, 0.5).tolist()
    xpgrad.manual_seed(3)
    assert nn.Dropout(0.5)(x).tolist() == a  # the module's op, same mask from the same seed
    assert F.one_hot(L([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert F.one_hot(L([[1], [0]]), num_classes=2).tolist() == [[[0, 1]], [[1, 0]]]


# -- gradients (float64 central differences) --------------------------------------------------

GRAD_CASES = {
    "ce": lambda x: F.cross_entropy(x, L(Y)),
    "ce_weight_smooth": lambda x: F.cross_entropy(x, L(Y), T(W), label_smoothing=0.1),
    "ce_ignore_none": lambda x: F.cross_entropy(x, L([0, -1, 2, 3, -1]), ignore_index=-1, reduction="none"),
    "ce_probs": lambda x: F.cross_entropy(x, T(PROBS), reduction="sum"),
    "nll": lambda x: F.nll_loss(x, L(Y), T(W)),
    "mse": lambda x: F.mse_loss(x, T(TARGETS)),
    "l1": lambda x: F.l1_loss(x, T(TARGETS), reduction="sum"),
    "bce": lambda x: F.binary_cross_entropy_with_logits(x, T(TARGETS)),
    "bce_pos_weight": lambda x: F.binary_cross_entropy_with_logits(x, T(TARGETS), T(W), pos_weight=T(W[::-1])),
    "mm_p1": lambda x: F.multi_margin_loss(x, L(Y), margin=0.7),
    "mm_p2_weight": lambda x: F.multi_margin_loss(x, L(Y), p=2, weight=T(W), reduction="none"),
    "softmax": lambda x: F.softmax(x, 0),
    "log_softmax": lambda x: F.log_softmax(x, -1),
    "elu": lambda x: F.elu(x, 0.5),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_central_differences(case, cpu_backend):
    # scores kept away from the kinks of relu/l1/hinge so central differences are exact enough
    x = T(np.round(X * 4) / 4 + 0.1, requires_grad=True)
    assert xpgrad.gradcheck(GRAD_CASES[case], [x])


def test_gradients_reach_targets_and_weights(cpu_backend):
    x, t = T(X, requires_grad=True), T(TARGETS, requires_grad=True)
    assert xpgrad.gradcheck(lambda a, b: F.mse_loss(a, b), [x, t])
    assert xpgrad.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=T(W)), [x, t])
    w, b = T(RNG.normal(size=(3, 4)), requires_grad=True), T(RNG.normal(size=3), requires_grad=True)
    assert xpgrad.gradcheck(lambda a, ww, bb: F.linear(a, ww, bb), [x, w, b])


# -- errors ----------------------------------------------------------------------------------

def test_errors_name_the_argument_and_the_fix():
    x = T(X)
    with pytest.raises(TypeError, match="input must be an xpgrad.Tensor"):
        F.relu(np.ones(3))
    with pytest.raises(ValueError, match="reduction='avg'"):
        F.cross_entropy(x, L(Y), reduction="avg")
    with pytest.raises(ValueError, match=r"class label 4 at position 0 is not in \[0, 4\)"):
        F.cross_entropy(x, L([4, 0, 0, 0, 0]), T(W))
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(x, L([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, L(Y), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight of shape \(3,\)"):
        F.nll_loss(x, L(Y), T([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="ignore_index applies to class-index targets"):
        F.cross_entropy(x, T(PROBS), ignore_index=0)
    with pytest.raises(ValueError, match="does not match input"):
        F.mse_loss(x, T(TARGETS[:, :2]))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(x, T(TARGETS), pos_weight=T([1.0, 2.0]))
    with pytest.raises(ValueError, match="p must be 1"):
        F.multi_margin_loss(x, L(Y), p=3)
    with pytest.raises(ValueError, match=r"dim=2 is out of range"):
        F.softmax(x, 2)
    with pytest.raises(ValueError, match="dropout: p must be"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"class index 3 is not in \[0, 3\)"):
        F.one_hot(L([3]), 3)
    with pytest.raises(ValueError, match="bias of shape"):
        F.linear(x, T(np.ones((2, 4))), T([1.0]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(x, T(Y))
