"""fit, evaluate and the DataLoader refuse bad input where it enters and never keep (or save) a bad update.

Classes tested: non-finite gradients and weights (host: before the update; device: in the deferred
per-epoch check, no per-step read), checkpoints never written from non-finite weights, class labels
(integer, one per sample, in [0, C)) at fit/evaluate/DataLoader, fit's arguments, the form of the
batches an iterable yields, and empty training data.
"""

import math
import pathlib

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.data import DataLoader
from xpgrad.optimizers import SGD
from xpgrad.train import Callback, EarlyStopping, ModelCheckpoint, NonFiniteLossError, evaluate, fit

# NaN and inf are made on purpose here: NumPy's warnings about them are expected
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _data(n=40, seed=0):
    return xpgrad.data.spiral(n, 3, seed=seed)  # 3 classes, 3 * n samples


def _net(seed=0):
    xpgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))


def _weights(model):
    return {k: np.array(xpgrad.backend.to_numpy(getattr(v, "data", v))) for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def ce():
    return xpgrad.loss("cross_entropy")


def group_lasso(params):
    """sum_g ||w_g||_2 over the rows of each weight matrix: its gradient w_g/||w_g|| is NaN on an all-zero row."""
    return sum(xpgrad.sum(xpgrad.sqrt(xpgrad.sum(p * p, axis=1))) for p in params)


def _zero_first_row(model):
    w = model[0].weight
    data = xpgrad.backend.to_numpy(w.data).copy()
    data[0] = 0.0
    w.set_(w.backend.asarray(data, dtype=w.dtype))


# -- non-finite gradients and weights ------------------------------------------------------------


def test_a_finite_loss_with_a_nan_gradient_stops_before_the_update(cpu_backend, tmp_path):
    X, y = _data()
    model = _net()
    model.to(cpu_backend)
    _zero_first_row(model)
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    before = _weights(model)
    ckpt = ModelCheckpoint(tmp_path / "run-{epoch}.safetensors")
    with pytest.raises(NonFiniteLossError, match=r"gradient of parameter '0.weight'.*epoch 1, step 1.*before this "
                                                 r"update.*eps") as err:
        fit(model, ce(), opt, (X, y), 2, batch_size=40, regularizer=group_lasso, callbacks=[ckpt], progress=False)
    assert err.value.kind == "gradient" and err.value.parameter == "0.weight" and err.value.step == 1
    assert _same(_weights(model), before)  # the update was not applied
    assert list(tmp_path.iterdir()) == []  # and nothing was written


def test_a_nan_gradient_at_a_later_step_keeps_the_earlier_checkpoint(tmp_path):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)

    class ZeroRowAfterEpoch1(Callback):
        def on_epoch_end(self, state):
            _zero_first_row(state.model)

    path = tmp_path / "last.safetensors"
    # ModelCheckpoint runs before the callback that zeroes the row: epoch 1's checkpoint holds good weights
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 1") as err:
        fit(model, ce(), opt, (X, y), 3, batch_size=40, regularizer=group_lasso,
            callbacks=[ModelCheckpoint(path), ZeroRowAfterEpoch1()], progress=False)
    assert err.value.epoch == 2 and len(err.value.history) == 1
    loaded = xpgrad.load(path, model=_net(1))
    assert loaded["epoch"] == 1
    assert all(np.all(np.isfinite(v)) for v in _weights(_net(1)).values())


class _Overflow(SGD):
    """SGD whose ``bad_step``-th update writes inf into the first parameter (its gradients stay finite)."""

    bad_step = 3

    def step(self, closure=None):
        self.count = getattr(self, "count", 0) + 1
        super().step(closure)
        if self.count == self.bad_step:
            p = self.param_groups[0]["params"][0]
            p.set_(p.data * float("inf"))


@pytest.mark.parametrize("bad_step, where", [(3, r"step 3 at epoch 1, step 3"), (2, r"step 2 at epoch 1, step 2")])
def test_a_weight_that_becomes_non_finite_is_named_and_never_saved(tmp_path, bad_step, where):
    X, y = _data()  # 120 samples: 3 steps of 40 per epoch
    model = _net()
    opt = _Overflow(model.parameters(), lr=0.1)
    opt.bad_step = bad_step
    path = tmp_path / "ckpt.safetensors"
    with pytest.raises(NonFiniteLossError, match=rf"weight '0.weight' became non-finite.*{where}.*overflowed") as err:
        fit(model, ce(), opt, (X, y), 2, batch_size=40, callbacks=[ModelCheckpoint(path)], progress=False)
    assert err.value.kind == "weight" and err.value.parameter == "0.weight"
    assert not path.exists()


def test_weights_that_are_non_finite_from_the_start_are_named():
    X, y = _data()
    model = _net()
    w = model[2].weight
    w.set_(w.data * float("inf"))
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError, match=r"weight '2.weight' was already non-finite.*before the first "
                                                 r"update at epoch 1, step 0") as err:
        fit(model, ce(), opt, (X, y), 1, progress=False)
    assert err.value.kind == "weight" and err.value.parameter == "2.weight"


def test_model_checkpoint_refuses_non_finite_weights_and_keeps_the_file(tmp_path):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    path = tmp_path / "ckpt.safetensors"
    cb = ModelCheckpoint(path)
    fit(model, ce(), opt, (X, y), 1, callbacks=[cb], progress=False)
    good = path.read_bytes()
    w = model[2].bias
    w.set_(w.data * float("nan"))

    class State:
        epoch, step, stop_training, history = 2, 6, False, xpgrad.train.History()

    state = State()
    state.model, state.optimizer, state.schedule = model, opt, None
    with pytest.raises(NonFiniteLossError, match=r"weight '2.bias' is non-finite.*epoch 2.*was not written") as err:
        cb.on_epoch_end(state)
    assert err.value.parameter == "2.bias" and path.read_bytes() == good


# -- device backends: the same checks without a per-step read -------------------------------------


def test_device_nan_gradient_is_raised_at_the_epoch_end_and_nothing_is_saved(device_like_strict, tmp_path):
    X, y = _data()
    model = _net()
    model.to("array_api_strict")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)

    class ZeroRowAtStep5(Callback):  # after epoch 2's first step (3 steps per epoch)
        def on_step_end(self, state):
            if state.step == 4:
                _zero_first_row(state.model)

    path = tmp_path / "ckpt-{epoch}.safetensors"
    with pytest.raises(NonFiniteLossError, match=r"gradient of parameter '0.weight'.*epoch 2, step 2.*end of that "
                                                 r"epoch") as err:
        fit(model, ce(), opt, (X, y), 3, batch_size=40, regularizer=group_lasso,
            callbacks=[ZeroRowAtStep5(), ModelCheckpoint(path)], progress=False)
    assert err.value.kind == "gradient" and err.value.step == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1.safetensors"]


def test_device_checks_add_no_read_per_step(device_like_strict):
    X, y = _data()
    model = _net()
    model.to("array_api_strict")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    batches = [(X[i:i + 30], y[i:i + 30]) for i in range(0, 120, 30)]  # per-batch label checks as well
    fit(model, ce(), opt, batches, 2, regularizer=xpgrad.regularizer("l2", 1e-3), progress=False)
    assert len(device_like_strict) == 2 * 3, device_like_strict  # flag, loss sum, accuracy count per epoch


def test_device_bad_label_is_named_at_the_epoch_end(device_like_strict):
    X, y = _data()
    y = y.copy()
    y[37] = 7
    model = _net()
    model.to("array_api_strict")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    batches = [(X[i:i + 30], y[i:i + 30]) for i in range(0, 120, 30)]
    with pytest.raises(ValueError, match=r"train_data: class label y\[7\] of batch 1 \(epoch 1\) = 7 is out of "
                                         r"range: labels must be in \[0, 3\)"):
        fit(model, ce(), opt, batches, 2, progress=False)


# -- class labels where data enters ---------------------------------------------------------------

def _at(i, value):
    return lambda y: np.where(np.arange(len(y)) == i, value, y)


BAD_LABELS = [
    (_at(5, 3), ValueError, r"y\[5\]( of batch 0)? = 3 is out of range.*\[0, 3\)"),
    (_at(9, -1), ValueError, r"y\[9\]( of batch 0)? = -1 is out of range"),
    (_at(0, 100), ValueError, r"y\[0\]( of batch 0)? = 100 is out of range"),
    (lambda y: y.astype("float32"), TypeError, r"class labels y must be integers.*float32.*astype"),
    (lambda y: y.reshape(-1, 1).repeat(2, axis=1), ValueError, r"one label per sample.*shape \(\d+, 2\)"),
]


@pytest.mark.parametrize("spoil, error, match", BAD_LABELS)
@pytest.mark.parametrize("form", ["pair", "loader", "batches", "val_data", "evaluate"])
def test_bad_labels_are_refused_where_data_enters(cpu_backend, spoil, error, match, form):
    X, y = _data()
    bad = spoil(y.copy())
    model = _net()
    model.to(cpu_backend)
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    before = _weights(model)
    with pytest.raises(error, match=match):
        if form == "pair":
            fit(model, ce(), opt, (X, bad), 1, batch_size=40, progress=False)
        elif form == "loader":
            loader = DataLoader(X, y, batch_size=40, shuffle=True)
            loader.y = bad  # labels that slipped past construction are still caught, whole, once
            fit(model, ce(), opt, loader, 1, progress=False)
        elif form == "batches":
            fit(model, ce(), opt, [(X, bad)], 1, progress=False)
        elif form == "val_data":
            fit(model, ce(), opt, (X, y), 1, val_data=(X, bad), progress=False)
        else:
            evaluate(model, ce(), (X, bad))
    if form != "val_data":
        assert _same(_weights(model), before)  # refused before any update


def test_labels_of_a_shuffled_loader_are_checked_once_and_named_by_dataset_position():
    X, y = _data()
    y = y.copy()
    y[77] = 5
    loader = DataLoader(X, y, batch_size=16, shuffle=True)  # 5 >= 0: construction cannot know C
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"train_data: class label y\[77\] = 5 is out of range: labels must be in "
                                         r"\[0, 3\)"):
        fit(model, ce(), opt, loader, 1, progress=False)


@pytest.mark.parametrize("y, kwargs, match", [
    ([0, 1, -2], {}, r"y\[2\] = -2 is out of range: labels must be >= 0"),
    ([0, 1, 4], {"num_classes": 3}, r"y\[2\] = 4 is out of range: labels must be in \[0, 3\)"),
    ([[0, 1], [1, 0], [0, 0]], {}, r"one label per sample, shape \(n,\), got shape \(3, 2\)"),
    ([0, 1, 2], {"num_classes": 0}, r"num_classes must be a positive integer"),
    ([0, [1, 2], 3], {}, r"ragged"),
])
def test_data_loader_checks_labels_at_construction(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(np.zeros((3, 2)), y, **kwargs)


def test_float_targets_and_binary_scores_are_not_class_labels():
    X, y = _data()
    model = nn.Sequential(nn.Linear(2, 1))
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    targets = (y == 1).astype("float32").reshape(-1, 1)
    h = fit(model, xpgrad.loss("bce"), opt, (X, targets), 2, progress=False)
    assert len(h) == 2 and all(math.isfinite(v) for v in h.loss)


# -- fit's arguments ----------------------------------------------------------------------------------


def _schedule_function(step, lr):
    return lr


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 1.5}, TypeError, r"epochs must be an integer, got 1.5"),
    ({"epochs": "3"}, TypeError, r"epochs must be an integer, got '3'"),
    ({"epochs": True}, TypeError, r"epochs must be an integer, got True"),
    ({"epochs": -2}, ValueError, r"epochs must be a non-negative integer, got -2"),
    ({"batch_size": 2.0}, TypeError, r"batch_size must be an integer or None, got 2.0"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer or None, got 0"),
    ({"batch_size": -8}, ValueError, r"batch_size must be a positive integer"),
    ({"start_epoch": -1}, ValueError, r"start_epoch must be a non-negative integer"),
    ({"log_every": 0}, ValueError, r"log_every must be a positive integer"),
    ({"callbacks": [EarlyStopping]}, TypeError, r"callbacks\[0\] must be a Callback instance.*a class"),
    ({"callbacks": [lambda state: None]}, TypeError, r"callbacks\[0\] must be a Callback instance.*function"),
    ({"callbacks": EarlyStopping(monitor="loss")}, TypeError, r"callbacks must be a list of Callback objects"),
    ({"schedule": _schedule_function}, TypeError, r"schedule must be a scheduler with a step\(\) method.*Scheduler"),
    ({"schedule": 0.1}, TypeError, r"schedule must be a scheduler.*got float"),
    ({"loss": xpgrad.loss("cross_entropy", reduction="none")}, ValueError, r"reduction='none'.*scalar.*'mean'"),
    ({"loss": "cross_entropy"}, TypeError, r"loss must be a callable.*got str"),
    ({"optimizer": "sgd"}, TypeError, r"optimizer must have step\(\) and zero_grad\(\).*got str"),
    ({"regularizer": "l2"}, TypeError, r"regularizer must be a callable.*got str"),
    ({"step": 3}, TypeError, r"step must be a callable"),
    ({"history": {"loss": []}}, TypeError, r"history must be a History.*got dict"),
    ({"model": None}, TypeError, r"model must be callable"),
])
def test_bad_fit_arguments_are_refused_before_training(kwargs, error, match):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    args = {"model": model, "loss": ce(), "optimizer": opt, "train_data": (X, y), "epochs": 1, **kwargs}
    started = []

    class Watch(Callback):
        def on_train_begin(self, state):
            started.append(1)

    if "callbacks" not in kwargs:
        args["callbacks"] = [Watch()]
    before = _weights(model)
    with pytest.raises(error, match=match):
        fit(progress=False, **args)
    assert started == [] and _same(_weights(model), before)


def test_a_loss_that_returns_one_value_per_sample_is_refused_before_the_update():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    before = _weights(model)
    per_sample = xpgrad.loss("cross_entropy", reduction="none")
    with pytest.raises(ValueError, match=r"the loss must be a scalar \(0-d\) Tensor, got Tensor of shape \(120,\)"):
        fit(model, lambda s, t: per_sample(s, t), opt, (X, y), 1, progress=False)
    assert _same(_weights(model), before)
    with pytest.raises(ValueError, match=r"loss must be a scalar"):
        evaluate(model, lambda s, t: per_sample(s, t), (X, y))


# -- the form of the data -------------------------------------------------------------------------


def _tensor_batches(X, y):
    for i in range(0, len(X), 40):
        yield xpgrad.tensor(X[i:i + 40])


@pytest.mark.parametrize("make, error, match", [
    (lambda X, y: _tensor_batches(X, y), TypeError, r"train_data yielded a Tensor at batch 0.*\(x, y\) batches"),
    (lambda X, y: [{"x": X, "y": y}], TypeError, r"train_data yielded a dict at batch 0.*batch\['x'\]"),
    (lambda X, y: [(X, y, y)], TypeError, r"yielded a tuple of length 3 at batch 0"),
    (lambda X, y: [(X[i], int(y[i])) for i in range(len(X))], TypeError, r"single value.*list of samples"),
    (lambda X, y: [list(row) for row in X], TypeError, r"single value.*list of samples"),
    (lambda X, y: [(X[:0], y[:0])], ValueError, r"empty batch \(0 rows\) at batch 0"),
    (lambda X, y: [(X[:40], y[:40]), (X[40:40], y[40:40])], ValueError, r"empty batch \(0 rows\) at batch 1"),
    (lambda X, y: (X[:0], y[:0]), ValueError, r"train_data is empty: X has 0 rows"),
    (lambda X, y: [], ValueError, r"train_data is empty"),
    (lambda X, y: xpgrad.tensor(X), TypeError, r"train_data must be an \(X, y\) pair.*got Tensor"),
    (lambda X, y: X, TypeError, r"train_data must be an \(X, y\) pair.*got ndarray"),
    (lambda X, y: {"X": X, "y": y}, TypeError, r"train_data must be an \(X, y\) pair.*got dict"),
    (lambda X, y: 42, TypeError, r"train_data must be an \(X, y\) pair"),
    (lambda X, y: DataLoader(X, y, batch_size=500, drop_last=True), ValueError, r"train_data is empty"),
])
def test_bad_training_data_is_refused_before_an_update(make, error, match):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    before = _weights(model)
    with pytest.raises(error, match=match) as err:
        fit(model, ce(), opt, make(X, y), 2, progress=False)
    assert "learning rate" not in str(err.value)
    if "at batch 1" not in match:
        assert _same(_weights(model), before)


def test_a_used_up_generator_says_so_in_the_second_epoch():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    batches = ((X[i:i + 40], y[i:i + 40]) for i in range(0, 120, 40))
    with pytest.raises(ValueError, match=r"train_data is empty.*generator that was already used up"):
        fit(model, ce(), opt, batches, 2, progress=False)


def test_a_pair_of_lists_is_a_dataset():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    h = fit(model, ce(), opt, (X.tolist(), y.tolist()), 2, batch_size=40, progress=False)
    assert len(h) == 2 and all(math.isfinite(v) for v in h.loss)


@pytest.mark.parametrize("make, match", [
    (lambda p: ModelCheckpoint(p, every=0), r"every must be a positive integer.*got 0"),
    (lambda p: ModelCheckpoint(p, every=1.5), r"every must be a positive integer.*got 1.5"),
    (lambda p: EarlyStopping(patience=-1), r"patience must be a non-negative integer"),
    (lambda p: EarlyStopping(patience=2.5), r"patience must be a non-negative integer"),
    (lambda p: EarlyStopping(min_delta=float("nan")), r"min_delta must be a finite number"),
    (lambda p: EarlyStopping(min_delta="0.1"), r"min_delta must be a finite number"),
])
def test_callback_arguments_are_checked_at_construction(tmp_path, make, match):
    with pytest.raises(ValueError, match=match):
        make(pathlib.Path(tmp_path) / "c.safetensors")
