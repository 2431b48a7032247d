"""The step seam of the training loop: on_step_end, custom steps (accumulation, clipping), one batching path."""

import functools
import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.data import DataLoader
from xpgrad.train import Callback, NonFiniteLossError, StepResult, TrainState, evaluate, fit, train_step


def _data(n=40, seed=0):
    return xpgrad.data.spiral(n, 3, seed=seed)  # 3 * n samples


def _net(seed=0, hidden=16):
    xpgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def ce():
    return xpgrad.loss("cross_entropy")


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class StepLog(Callback):
    def __init__(self):
        self.seen = []

    def on_step_end(self, state):
        self.seen.append((state.step, state.epoch, state.loss))


def test_on_step_end_sees_the_global_step_the_epoch_and_the_loss_tensor(cpu_backend):
    X, y = _data()  # 120 samples: 4 steps of 32 per epoch
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    log = StepLog()
    h = fit(model, ce(), opt, (X, y), 3, batch_size=32, callbacks=[log], progress=False)
    assert [(s, e) for s, e, _ in log.seen] == [(i + 1, i // 4 + 1) for i in range(12)]
    losses = [loss for _, _, loss in log.seen]
    assert all(isinstance(t, xpgrad.Tensor) and t.ndim == 0 and t.backend == cpu_backend for t in losses)
    # the epoch's loss is the batch losses weighted by batch size: sizes 32, 32, 32, 24
    sizes = [32, 32, 32, 24]
    for epoch in range(3):
        values = [float(t) for t in losses[4 * epoch:4 * epoch + 4]]
        assert h.loss[epoch] == pytest.approx(sum(v * n for v, n in zip(values, sizes, strict=True)) / 120, rel=1e-6)


def test_step_callback_can_stop_training(cpu_backend):
    X, y = _data()

    class StopAt(Callback):
        def on_step_end(self, state):
            if state.step == 6:
                state.stop_training = True

    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    h = fit(model, ce(), opt, (X, y), 10, batch_size=32, callbacks=[StopAt()], progress=False)
    assert len(h) == 2  # the run ends after the epoch in which the flag was set


class Accumulate:
    """Gradient accumulation as a custom step: one optimizer step per ``k`` batches, on the mean of their losses."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def __call__(self, state, x, y):
        scores = state.model(x)
        loss = state.loss_fn(scores, y)
        state.check_loss(loss)
        if self.calls % self.k == 0:
            state.optimizer.zero_grad()
        (loss * (1.0 / self.k)).backward()  # gradients add up over the k backward passes
        self.calls += 1
        if self.calls % self.k == 0:
            state.optimizer.step()
        return StepResult(loss, scores)


@pytest.mark.parametrize("name", ["sgd", "momentum"])
def test_accumulating_two_micro_batches_equals_one_step_on_both(cpu_backend, name):
    xpgrad.set_default_dtype("float64")
    X, y = _data(4)  # 12 samples: micro-batches of 6, or one batch of 12
    X = X.astype(np.float64)

    def train(data, step=None):
        model = _net(seed=3)
        opt = xpgrad.optimizer(name, model.parameters(), lr=0.5)
        fit(model, ce(), opt, data, 3, progress=False, step=step)
        return _weights(model)

    whole = train((X, y))  # batch_size None: one step per epoch on all 12 rows
    accumulated = train(DataLoader(X, y, batch_size=6), step=Accumulate(2))
    assert whole.keys() == accumulated.keys()
    for k in whole:
        assert whole[k].dtype == np.float64
        np.testing.assert_allclose(accumulated[k], whole[k], rtol=1e-12, atol=1e-14)
    # and it differs from two plain steps on the micro-batches, so the test can fail
    plain = train(DataLoader(X, y, batch_size=6))
    assert not all(np.allclose(plain[k], whole[k], rtol=1e-6) for k in whole)


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients by min(1, max_norm / ||g||), ||g|| the norm of all of them together (no host read)."""
    params = [p for p in parameters if p.grad is not None]
    xp = params[0].backend.xp
    total = xp.sqrt(sum(xp.sum(p.grad * p.grad) for p in params))
    scale = xp.minimum(max_norm / (total + 1e-12), 1.0)
    for p in params:
        p.grad = p.grad * scale  # assignment, not *=: works for immutable arrays too
    return total


def _grad_norm(model):
    return math.sqrt(sum(float(np.sum(xpgrad.backend.to_numpy(p.grad) ** 2)) for p in model.parameters()))


def test_clipping_as_a_custom_step_keeps_the_gradient_norm_below_c(cpu_backend):
    X, y = _data()
    norms = []

    def clip(state):
        before = float(clip_grad_norm(state.model.parameters(), 0.05))
        norms.append((before, _grad_norm(state.model)))

    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=1.0)
    start = _weights(model)
    fit(model, ce(), opt, (X, y), 2, batch_size=40, step=functools.partial(train_step, before_update=clip),
        progress=False)
    assert len(norms) == 6 and all(before > 0.05 for before, _ in norms)  # clipping really happened
    assert all(after == pytest.approx(0.05, rel=1e-4) for _, after in norms)
    # SGD moved the weights by lr * (clipped gradient): at most 0.05 per step
    moved = math.sqrt(sum(np.sum((_weights(model)[k] - start[k]) ** 2) for k in start))
    assert 0.0 < moved <= 6 * 0.05 * (1 + 1e-4)


def test_a_custom_step_that_skips_check_loss_still_stops_on_nan():
    X, y = _data()
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)

    def unchecked(state, x, y):
        scores = state.model(x)
        loss = state.loss_fn(scores, y) * (float("nan") if state.step == 5 else 1.0)
        state.optimizer.zero_grad()
        loss.backward()
        state.optimizer.step()
        return StepResult(loss, scores)

    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 2.*after the update.*check_loss") as err:
        fit(model, ce(), opt, (X, y), 3, batch_size=32, step=unchecked, progress=False)
    assert err.value.epoch == 2 and len(err.value.history) == 1


def test_train_step_outside_fit():
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    sched = xpgrad.schedule("linear", opt, total_steps=10)
    calls = []
    state = TrainState(model, opt, sched, None, loss_fn=ce(), regularizer=lambda ps: calls.append(len(ps)) or 0.0,
                       penalized=[p for p in model.parameters() if p.ndim >= 2])
    X, y = _data()
    out = train_step(state, xpgrad.tensor(X), xpgrad.tensor(y))
    assert out.loss.ndim == 0 and out.scores.shape == (120, 3) and calls == [2] and sched.last_step == 1


class Seen(nn.Module):
    """Wraps a model and records the backend and dtypes of every batch."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, x):
        self.calls.append((x.backend.name, xpgrad.backend.dtype_name(x.dtype)))
        return self.inner(x)


def test_one_dtype_rule_for_pairs_loaders_and_other_iterables():
    xpgrad.set_default_dtype("float64")
    model = Seen(_net())  # float64 parameters
    xpgrad.set_default_dtype("float32")  # the default differs from the model: the model wins
    X, y = _data()
    labels = []
    loss = ce()

    def spy(scores, targets):
        labels.append(xpgrad.backend.dtype_name(targets.dtype))
        return loss(scores, targets)

    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    batches = [(X[:60].astype(np.float32), y[:60].astype(np.int8)), (X[60:], y[60:].astype(np.int32))]
    for data in [(X.astype(np.float32), y.astype(np.int32)), DataLoader(X, y, batch_size=60), batches]:
        model.calls.clear()
        labels.clear()
        fit(model, spy, opt, data, 1, progress=False)
        assert {c for c in model.calls} == {("numpy", "float64")} and set(labels) == {"int64"}, data
    assert evaluate(model, loss, iter(batches))["accuracy"] >= 0.0


def test_host_data_goes_to_the_current_backend():
    X, y = _data()  # NumPy arrays
    with xpgrad.use_backend("array_api_strict"):
        model = Seen(_net())
        opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
        val = DataLoader(X.tolist(), y.tolist(), batch_size=50)  # lists go through the loader
        h = fit(model, ce(), opt, (X, y), 2, batch_size=40, val_data=val, progress=False)
    assert {c[0] for c in model.calls} == {"array_api_strict"} and len(h.val_loss) == 2


def test_empty_iterable_and_bad_pair_are_reported():
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="train_data is empty"):
        fit(model, ce(), opt, [], 1, progress=False)
    with pytest.raises(ValueError, match="data is empty"):
        evaluate(model, ce(), [])
    with pytest.raises(ValueError, match=r"val_data: X of shape \(4, 2\).*one row per sample"):
        fit(model, ce(), opt, _data(), 1, val_data=(np.zeros((4, 2)), np.zeros(3, int)), progress=False)


def test_no_cross_library_dtype_comparisons_when_switching_backends():
    import warnings

    X, y = _data(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # array-api-strict warns when its dtypes are compared with NumPy's
        for name in ("numpy", "array_api_strict", "numpy"):
            with xpgrad.use_backend(name):
                model = _net()
                opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
                onehot = np.eye(3, dtype=np.float32)[y]
                fit(model, xpgrad.loss("mse"), opt, (X, onehot), 1, batch_size=10, progress=False)
                fit(model, ce(), opt, (X, y), 1, batch_size=10, progress=False, val_data=(X, y))
