"""The training loop: history, shuffling, schedules, modes, callbacks, non-finite losses and input forms."""

import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.train import Callback, EarlyStopping, History, ModelCheckpoint, NonFiniteLossError, evaluate, fit


def _data(n=40, seed=0):
    return xpgrad.data.spiral(n, 3, seed=seed)


def _net(seed=0, hidden=32):
    xpgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}



def ce():
    return xpgrad.loss("cross_entropy")


def test_fit_learns_the_spiral_and_records_history(cpu_backend):
    X, y = _data()
    Xv, yv = _data(seed=1)
    model = _net()
    opt = xpgrad.optimizer("adam", model.parameters(), lr=2e-2)
    h = fit(model, ce(), opt, (X, y), 60, batch_size=30, val_data=(Xv, yv),
            regularizer=xpgrad.regularizer("l2", 1e-4), progress=False)
    assert isinstance(h, History) and len(h) == 60 and h.epoch == list(range(1, 61))
    for key in ("loss", "accuracy", "lr", "time", "val_loss", "val_accuracy"):
        assert len(h[key]) == 60 and all(math.isfinite(v) for v in h[key])
    assert h.loss[-1] < h.loss[0] / 3
    assert h.accuracy[-1] > 0.9 and h.val_accuracy[-1] > 0.8
    assert all(lr == 2e-2 for lr in h.lr)
    assert evaluate(model, ce(), (X, y))["accuracy"] > 0.9
    assert h.last()["epoch"] == 60 and set(h.to_dict()) >= {"loss", "val_accuracy"}


def test_shuffling_follows_manual_seed(cpu_backend):
    X, y = _data()

    def run(seed):
        model = _net()
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
        xpgrad.manual_seed(seed)
        fit(model, ce(), opt, (X, y), 3, batch_size=16, progress=False)
        return _weights(model)

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_full_batch_does_not_draw_from_the_generator():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    state = xpgrad.backend.current().rng_state()
    fit(model, ce(), opt, (X, y), 2, progress=False)
    assert xpgrad.backend.current().rng_state() == state


def test_schedule_steps_once_per_optimizer_step(cpu_backend):
    X, y = _data()  # 120 samples -> 4 steps of 32 (the last one has 24)
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    sched = xpgrad.schedule("linear", opt, total_steps=12)
    h = fit(model, ce(), opt, (X, y), 3, batch_size=32, schedule=sched, progress=False)
    assert sched.last_step == 12
    # each epoch records the lr of its last step: steps 3, 7, 11 of a linear decay over 12
    assert h.lr == pytest.approx([0.1 * (1 - t / 12) for t in (3, 7, 11)])


class Recorder(nn.Module):
    """Wraps a model and records the training flag and grad mode of every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, xpgrad.is_grad_enabled(), x.shape[0]))
        return self.inner(x)


def test_train_and_eval_modes_and_no_grad_in_validation(cpu_backend):
    X, y = _data()
    model = Recorder(_net())
    model.eval()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with xpgrad.no_grad():  # fit trains with the graph on even inside no_grad
        fit(model, ce(), opt, (X, y), 2, batch_size=60, val_data=(X[:10], y[:10]), progress=False)
    assert model.calls == [(True, True, 60), (True, True, 60), (False, False, 10)] * 2
    assert model.training is False  # the mode the model had before fit


def test_regularizer_sees_weight_matrices_only():
    X, y = _data()
    model = _net()
    seen = []

    def reg(params):
        seen.append([p.shape for p in params])
        return xpgrad.regularizer("l2", 1e-3)(params)

    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    fit(model, ce(), opt, (X, y), 1, regularizer=reg, progress=False)
    weights = [model.state_dict()[k].shape for k in ("0.weight", "2.weight")]
    assert seen == [weights] and sorted(map(sorted, weights)) == [[2, 32], [3, 32]]


def test_loader_tensor_and_onehot_inputs(cpu_backend):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    loader = xpgrad.data.DataLoader(X, y, batch_size=32, shuffle=True)
    h = fit(model, ce(), opt, loader, 2, progress=False, val_data=loader)
    assert len(h) == 2 and 0.0 <= h.val_accuracy[-1] <= 1.0
    h = fit(model, ce(), opt, (xpgrad.tensor(X), xpgrad.tensor(y)), 1, batch_size=50, progress=False)
    assert len(h) == 1
    onehot = np.eye(3, dtype=np.float32)[y]
    h = fit(model, xpgrad.loss("mse"), opt, (X, onehot), 1, progress=False)
    accuracy = evaluate(model, xpgrad.loss("mse"), (X, onehot))["accuracy"]
    assert h.accuracy[0] >= 0 and accuracy == evaluate(model, ce(), (X, y))["accuracy"]


def test_float64_data_is_cast_to_the_model_dtype():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    fit(model, ce(), opt, (X.astype(np.float64), y.astype(np.int32)), 1, progress=False)
    assert model.state_dict()["0.weight"].numpy().dtype == np.float32


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_checkpoints(tmp_path):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    calls = [0]
    base = ce()

    def flaky(scores, targets):  # finite for two epochs of 4 steps, then NaN at epoch 3, step 2
        calls[0] += 1
        out = base(scores, targets)
        return out * float("nan") if calls[0] == 10 else out

    saver = ModelCheckpoint(tmp_path / "ep{epoch}.safetensors")
    before = {}

    class Snap(Callback):
        def on_epoch_end(self, state):
            before.update(_weights(state.model))

    with pytest.raises(NonFiniteLossError, match=r"epoch 3, step 2.*learning rate \(0\.1\).*lower") as err:
        fit(model, flaky, opt, (X, y), 5, batch_size=32, callbacks=[saver, Snap()], progress=False)
    assert err.value.epoch == 3 and err.value.step == 2 and len(err.value.history) == 2
    after = _weights(model)
    assert all(np.isfinite(v).all() for v in after.values())
    # only step 1 of epoch 3 was applied after the last snapshot; the NaN step never reached the weights
    fresh = _net(seed=5)
    meta = xpgrad.load(tmp_path / "ep2.safetensors", model=fresh)
    assert meta["epoch"] == 2 and meta["history"]["epoch"] == [1, 2]
    assert all(np.array_equal(_weights(fresh)[k], before[k]) for k in before)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy reports the overflow that makes the loss inf
def test_huge_learning_rate_raises_a_clear_error():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=1e30)
    with pytest.raises(NonFiniteLossError, match="lower one"):
        fit(model, ce(), opt, (X, y), 20, progress=False)


def test_early_stopping_stops_and_restores_best():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=1e-9)
    seen = []

    class Snap(Callback):
        def on_epoch_end(self, state):
            seen.append(_weights(state.model))

    stop = EarlyStopping(monitor="loss", patience=2, min_delta=1.0)
    h = fit(model, ce(), opt, (X, y), 50, callbacks=[Snap(), stop], progress=False)
    assert len(h) == 3 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert all(np.array_equal(_weights(model)[k], seen[0][k]) for k in seen[0])
    with pytest.raises(KeyError, match="val_loss.*pass val_data"):
        fit(model, ce(), opt, (X, y), 1, callbacks=[EarlyStopping()], progress=False)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_model_checkpoint_best_only_and_resume(tmp_path):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    best = ModelCheckpoint(tmp_path / "best.safetensors", monitor="accuracy", save_best_only=True, run="a")
    every = ModelCheckpoint(tmp_path / "e{epoch}.safetensors", every=2)
    xpgrad.manual_seed(3)
    fit(model, ce(), opt, (X, y), 4, batch_size=16, callbacks=[best, every], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "e2.safetensors", "e4.safetensors"]
    assert xpgrad.checkpoint.read_metadata(best.last_path)["run"] == "a"
    # resume from epoch 2 into fresh objects: the same weights as the uninterrupted run
    m2 = _net(seed=7)
    o2 = xpgrad.optimizer("adam", m2.parameters(), lr=1e-2)
    meta = xpgrad.load(tmp_path / "e2.safetensors", model=m2, optimizer=o2)
    fit(m2, ce(), o2, (X, y), 2, batch_size=16, start_epoch=meta["epoch"], progress=False)
    assert all(np.array_equal(_weights(m2)[k], v) for k, v in _weights(model).items())
    with pytest.raises(ValueError, match="monitor"):
        ModelCheckpoint(tmp_path / "x", save_best_only=True)


def test_progress_bar_and_epoch_lines(capsys):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    fit(model, ce(), opt, (X, y), 3, batch_size=60, progress=True, log_every=1)
    err = capsys.readouterr().err
    assert "epoch 1/3  loss" in err and "epoch 3/3  loss" in err and "accuracy" in err
    assert "6/6" in err  # the bar counts optimizer steps
    fit(model, ce(), opt, (X, y), 3, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_epoch_lines_go_to_logging_without_progress(caplog):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with caplog.at_level("INFO", logger="xpgrad.train"):
        fit(model, ce(), opt, (X, y), 20, progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "xpgrad.train"]
    assert len(lines) == 10 and lines[0].startswith("epoch 2/20") and lines[-1].startswith("epoch 20/20")


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(kwargs, match):
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    args = {"epochs": 1, **kwargs}
    epochs = args.pop("epochs")
    with pytest.raises(ValueError, match=match):
        fit(model, ce(), opt, (X, y), epochs, progress=False, **args)


def test_bad_data():
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="one row per sample"):
        fit(model, ce(), opt, (np.zeros((4, 2)), np.zeros(5, int)), 1, progress=False)
    with pytest.raises(TypeError, match="pair of arrays"):
        fit(model, ce(), opt, 42, 1, progress=False)


def test_device_training_reads_the_host_only_at_epoch_ends(device_like_strict):
    X, y = _data()  # 120 samples: 4 steps of 32 per epoch
    model = _net()
    model.to("array_api_strict")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    losses = []

    class KeepLoss(Callback):  # the step seam hands over the loss tensor without reading it
        def on_step_end(self, state):
            losses.append(state.loss)

    history = fit(model, ce(), opt, (X, y), 3, batch_size=32, callbacks=[KeepLoss()], progress=False)
    # loss sum, accuracy count and first-bad-step flag: three reads per epoch, none per step
    assert len(device_like_strict) == 3 * 3, device_like_strict
    assert len(history) == 3 and all(math.isfinite(v) for v in history.loss)
    assert len(losses) == 12 and all(t.backend == "array_api_strict" and t.ndim == 0 for t in losses)


def test_device_training_reports_the_first_non_finite_step(device_like_strict):
    X, y = _data()
    model = _net()
    model.to("array_api_strict")
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    base, calls = ce(), [0]

    def flaky(scores, targets):  # NaN at epoch 2, step 3 (the 7th call)
        calls[0] += 1
        out = base(scores, targets)
        return out * float("nan") if calls[0] == 7 else out

    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3.*read once per epoch") as err:
        fit(model, flaky, opt, (X, y), 4, batch_size=32, progress=False)
    assert err.value.epoch == 2 and err.value.step == 3 and len(err.value.history) == 1
