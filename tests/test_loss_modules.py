"""Loss modules: the functional values, the registered losses, buffers in the state dict, fit, errors."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn import functional as F

RNG = np.random.default_rng(3)
X = RNG.normal(size=(6, 3))
Y = np.array([0, 2, 1, 1, 0, 2])
W = np.array([1.0, 0.5, 2.0])


def T(values, dtype="float64", **kw):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype=dtype, **kw)


def L(values):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype="int64")


def cases():
    """(module, functional form) pairs, built on the current backend (the weights are its tensors)."""
    return [
        (nn.CrossEntropyLoss(), lambda x, y: F.cross_entropy(x, y)),
        (nn.CrossEntropyLoss(T(W), label_smoothing=0.1, reduction="sum"),
         lambda x, y: F.cross_entropy(x, y, T(W), label_smoothing=0.1, reduction="sum")),
        (nn.NLLLoss(T(W), ignore_index=1), lambda x, y: F.nll_loss(x, y, T(W), ignore_index=1)),
        (nn.MultiMarginLoss(p=2, margin=0.5, reduction="none"),
         lambda x, y: F.multi_margin_loss(x, y, p=2, margin=0.5, reduction="none")),
    ]


@pytest.mark.parametrize("k", range(4))
def test_class_losses_equal_their_functional_form_and_gradcheck(k, cpu_backend):
    module, fn = cases()[k]
    x = T(X, requires_grad=True)
    assert module(x, L(Y)).tolist() == fn(x, L(Y)).tolist()
    assert xpgrad.gradcheck(lambda a: module(a, L(Y)), [x])


def test_regression_losses(cpu_backend):
    t = RNG.uniform(size=X.shape)
    x = T(X, requires_grad=True)
    assert nn.MSELoss()(x, T(t)).item() == pytest.approx(((X - t) ** 2).mean())
    assert nn.L1Loss(reduction="sum")(x, T(t)).item() == pytest.approx(np.abs(X - t).sum())
    sig = 1 / (1 + np.exp(-X))
    pw = np.array([2.0, 1.0, 0.5])
    expected = -(pw * t * np.log(sig) + (1 - t) * np.log(1 - sig)).mean()
    assert nn.BCEWithLogitsLoss(pos_weight=T(pw))(x, T(t)).item() == pytest.approx(expected)
    assert xpgrad.gradcheck(lambda a: nn.BCEWithLogitsLoss(pos_weight=T(pw))(a, T(t)), [x])


def test_multiclass_svm_module_is_the_registered_loss(cpu_backend):
    s = T([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], requires_grad=True)
    loss = nn.MulticlassSVMLoss()(s, L([0, 1, 2]))
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3)  # the lecture's three examples
    assert loss.item() == pytest.approx(xpgrad.loss("svm")(s, L([0, 1, 2])).item())
    assert loss.item() == pytest.approx(3 * nn.MultiMarginLoss()(s, L([0, 1, 2])).item())
    per = nn.MulticlassSVMLoss(margin=5.0, reduction="none")(s, L([0, 1, 2]))
    np.testing.assert_allclose(per.numpy(), xpgrad.loss("svm", margin=5.0, reduction="none")(s, [0, 1, 2]).numpy())
    loss.backward()
    # row 0 has one active margin: +1 for that class, -1 for the true class, over 3 rows
    assert xpgrad.backend.to_numpy(s.grad)[0].tolist() == pytest.approx([-1 / 3, 1 / 3, 0.0])


def test_list_targets_stay_class_indices():
    # Module.__call__ would turn a list into floats; a loss keeps labels as integers
    assert nn.CrossEntropyLoss()(T(X), Y.tolist()).item() == pytest.approx(F.cross_entropy(T(X), L(Y)).item())


def test_weights_are_buffers_with_pytorch_keys():
    assert list(nn.CrossEntropyLoss(T(W)).state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=T(W)).state_dict()) == ["pos_weight"]
    assert nn.CrossEntropyLoss().state_dict() == {}
    assert list(nn.MSELoss().parameters()) == []
    assert "reduction='sum'" in repr(nn.L1Loss(reduction="sum"))
    assert "p=2, margin=0.5" in repr(nn.MultiMarginLoss(p=2, margin=0.5))


def test_loss_modules_train_a_model_with_fit():
    X2, y2 = xpgrad.data.blobs(n_per_class=40, classes=3, seed=0)
    for loss in (nn.CrossEntropyLoss(), nn.MulticlassSVMLoss(), nn.MultiMarginLoss(p=2)):
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.01)
        history = xpgrad.fit(model, loss, opt, (X2, y2), epochs=8, batch_size=20, progress=False)
        assert history.loss[-1] < history.loss[0]


def test_weights_on_another_backend_are_named():
    loss = nn.CrossEntropyLoss(T(W))
    with xpgrad.use_backend("array_api_strict"), pytest.raises(ValueError, match="weight lives on backend 'numpy'"):
        loss(T(X), L(Y))


def test_constructor_errors():
    with pytest.raises(ValueError, match="reduction='avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="weight must be a 1-d float tensor"):
        nn.CrossEntropyLoss(T([[1.0]]))
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        nn.NLLLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match="p must be 1"):
        nn.MultiMarginLoss(p=0)
    with pytest.raises(ValueError, match="margin must be a non-negative number"):
        nn.MulticlassSVMLoss(margin=-1)
