"""``fit(..., compile=True)`` and ``xpgrad train --compile``: the same numbers as eager training, bit for bit.

Every comparison runs the same seeded training twice, eagerly and with the
compiled step, and asserts identical histories (losses, accuracies, learning
rates, validation figures) and identical final weights and optimizer state
(``numpy.array_equal``). The data has 120 samples in batches of 32, so each
epoch ends with a partial batch of 24: a second signature of the step.
"""

import functools
import math
import re

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.cli import main
from xpgrad.train import Callback, NonFiniteLossError, fit, train_step

# NaN losses are made on purpose below: NumPy's warnings about them are expected
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _data(n=40, seed=0):
    return xpgrad.data.spiral(n, 3, seed=seed)  # 3 classes, 3 * n samples


def _net(dropout=0.0, seed=0):
    xpgrad.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


def _weights(model):
    return {k: np.array(xpgrad.backend.to_numpy(getattr(v, "data", v))) for k, v in model.state_dict().items()}


def _arrays(tree):
    """The optimizer's state_dict with every array as NumPy, for exact comparison."""
    if isinstance(tree, dict):
        return {k: _arrays(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_arrays(v) for v in tree]
    return np.array(xpgrad.backend.to_numpy(tree)) if hasattr(tree, "shape") else tree


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


class _Keep(Callback):
    """Keeps the TrainState (for its compiled_step) and every step's loss as read by a callback."""

    def __init__(self):
        self.state, self.losses = None, []

    def on_train_begin(self, state):
        self.state = state

    def on_step_end(self, state):
        self.losses.append(float(state.loss))


def _train(compile, *, optimizer="sgd", lr=0.1, dropout=0.0, regularizer=None, schedule=None, val=False,
           epochs=4, step=None, data=None, shuffle=True, schedule_kwargs=None):
    X, y = _data() if data is None else data
    model = _net(dropout)
    opt = xpgrad.optimizer(optimizer, model.parameters(), lr=lr)
    kw = {"milestones": [5, 9]} if schedule == "step" else {"total_steps": epochs * 4}
    kw = kw if schedule_kwargs is None else schedule_kwargs
    sched = None if schedule is None else xpgrad.schedule(schedule, opt, **kw)
    reg = None if regularizer is None else xpgrad.regularizer(regularizer, 1e-3)
    keep = _Keep()
    xpgrad.manual_seed(7)  # the shuffling and the dropout masks
    history = fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), epochs, batch_size=32, schedule=sched,
                  regularizer=reg, val_data=_data(seed=1) if val else None, progress=False, callbacks=[keep],
                  step=step, compile=compile, shuffle=shuffle)
    logs = {k: v for k, v in history.to_dict().items() if k != "time"}  # the one field that may differ
    return {"history": logs, "weights": _weights(model), "optimizer": _arrays(opt.state_dict()),
            "schedule": None if sched is None else sched.state_dict(), "step_losses": keep.losses,
            "state": keep.state}


CASES = {
    "sgd": {},
    "adam": {"optimizer": "adam", "lr": 1e-2},
    "momentum+l2": {"optimizer": "momentum", "regularizer": "l2"},
    "adam+l1+cosine": {"optimizer": "adam", "lr": 1e-2, "regularizer": "l1", "schedule": "cosine"},
    "sgd+linear schedule+validation": {"schedule": "linear", "val": True},
    "adam+dropout": {"optimizer": "adam", "lr": 1e-2, "dropout": 0.3, "val": True},
    "sgd+dropout+elastic_net+step schedule": {"dropout": 0.5, "regularizer": "elastic_net", "schedule": "step"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_fit_equals_eager_fit(cpu_backend, case):
    eager, compiled = _train(False, **CASES[case]), _train(True, **CASES[case])
    for key in ("history", "weights", "optimizer", "schedule", "step_losses"):
        assert _same(eager[key], compiled[key]), key
    assert len(compiled["step_losses"]) == 4 * 4
    assert all(math.isfinite(v) for v in compiled["history"]["loss"])
    assert compiled["history"]["loss"][-1] < compiled["history"]["loss"][0]  # it trained
    assert compiled["state"].compiled_step is not None and eager["state"].compiled_step is None
    assert compiled["state"].compiled_step.stats["fallbacks"] == []  # nothing in the step forced it eager


_SCHEDULE_KWARGS = {"constant": {}, "inverse_sqrt": {}, "cosine_restarts": {"period": 5},
                    "step": {"milestones": [5, 9]}}


def _every(table):
    return sorted(getattr(xpgrad.registry, table))


@pytest.mark.parametrize("name", [n for n in _every("optimizers")
                                  if not type(xpgrad.optimizer(n, [xpgrad.ones(1, requires_grad=True)])).needs_closure])
def test_every_registered_optimizer_compiles_to_the_same_numbers(cpu_backend, name):
    eager, compiled = _train(False, optimizer=name, lr=1e-2), _train(True, optimizer=name, lr=1e-2)
    for key in ("history", "weights", "optimizer", "step_losses"):
        assert _same(eager[key], compiled[key]), key
    assert compiled["state"].compiled_step.stats["replays"] > 0


@pytest.mark.parametrize("name", _every("regularizers"))
def test_every_registered_regularizer_compiles_to_the_same_numbers(cpu_backend, name):
    eager, compiled = _train(False, regularizer=name), _train(True, regularizer=name)
    for key in ("history", "weights", "step_losses"):
        assert _same(eager[key], compiled[key]), key
    assert compiled["state"].compiled_step.stats["fallbacks"] == []


@pytest.mark.parametrize("name", _every("schedules"))
def test_every_registered_schedule_compiles_to_the_same_numbers(cpu_backend, name):
    kw = _SCHEDULE_KWARGS.get(name, {"total_steps": 16})
    eager = _train(False, schedule=name, schedule_kwargs=kw)
    compiled = _train(True, schedule=name, schedule_kwargs=kw)
    for key in ("history", "weights", "schedule", "step_losses"):
        assert _same(eager[key], compiled[key]), key
    assert compiled["state"].compiled_step.stats["replays"] > 0


def test_the_schedule_steps_at_every_compiled_step():
    run = _train(True, schedule="linear", epochs=3)
    assert run["schedule"]["last_step"] == 12  # 4 batches per epoch, 3 epochs
    lrs = run["history"]["lr"]
    assert lrs[0] > lrs[1] > lrs[2] > 0


def test_the_compiled_step_is_replayed():
    """Two signatures (batches of 32 and the last one of 24): two traces, every other step replayed."""
    stats = _train(True, optimizer="adam", lr=1e-2, dropout=0.3)["state"].compiled_step.stats
    assert stats["fallbacks"] == []
    assert stats["traces"] == 2
    assert stats["replays"] == 4 * 4 - 2


def _clip(state):
    """Scale every gradient down so that their global norm is at most 0.05 (in place: must run eagerly)."""
    params = [p for p in state.model.parameters() if p.grad is not None]
    xp = params[0].backend.xp
    norm = math.sqrt(sum(float(xp.sum(p.grad * p.grad)) for p in params))
    if norm > 0.05:
        for p in params:
            p.grad = p.grad * (0.05 / norm)


def test_a_custom_step_with_before_update_compiles_to_the_same_numbers(cpu_backend):
    clipped = functools.partial(train_step, before_update=_clip)
    eager, compiled = _train(False, step=clipped), _train(True, step=clipped)
    for key in ("history", "weights", "optimizer"):
        assert _same(eager[key], compiled[key]), key
    assert compiled["state"].compiled_step.stats["fallbacks"] == []


def test_a_custom_step_is_compiled_itself():
    seen = []

    def step(state, x, y):
        seen.append(tuple(x.shape))  # a Python side effect: runs when the step is recorded only
        return train_step(state, x, y)

    run = _train(True, step=step, epochs=2)
    stats = run["state"].compiled_step.stats
    assert len(run["step_losses"]) == 8  # every batch took its step...
    assert len(seen) == 8 - stats["replays"]  # ...but its Python ran only where it was not replayed
    assert _same(run["weights"], _train(False, step=step, epochs=2)["weights"])


class _Batches:
    """Batches of 32 (the last of 24), in order; one row of one batch NaN in one epoch (an iterable of batches)."""

    def __init__(self, epoch, batch):
        self.X, self.y = _data()
        self.bad, self.epoch = (epoch, batch), 0

    def __len__(self):
        return 4

    def __iter__(self):
        self.epoch += 1
        for b in range(4):
            x = self.X[32 * b:32 * (b + 1)].copy()
            if (self.epoch, b + 1) == self.bad:
                x[5] = np.nan
            yield x, self.y[32 * b:32 * (b + 1)]


@pytest.mark.parametrize("epoch, step", [(1, 1), (1, 3), (1, 4), (2, 2), (3, 4)])
def test_a_nan_loss_stops_the_compiled_run_before_its_update(cpu_backend, epoch, step):
    """A NaN input at (epoch, step): the NaN loss stops training before that step's update, as in eager mode.

    Steps (1, 1) and (1, 4) are recorded (the first batch of 32 and of 24);
    the others are replays.
    """
    errors, runs = [], []
    for compile in (False, True):
        keep = _Keep()
        model = _net()
        opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
        with pytest.raises(NonFiniteLossError, match=r"the loss became nan.*before this update") as err:
            fit(model, xpgrad.loss("cross_entropy"), opt, _Batches(epoch, step), 3, progress=False,
                callbacks=[keep], compile=compile)
        errors.append((err.value.epoch, err.value.step, err.value.kind, len(err.value.history)))
        runs.append((_weights(model), _arrays(opt.state_dict()), keep.losses))
    assert errors[0] == errors[1] == (epoch, step, "loss", epoch - 1)
    assert len(runs[1][2]) == 4 * (epoch - 1) + step - 1  # every step before it was taken, and no more
    assert _same(runs[0][0], runs[1][0]) and _same(runs[0][1], runs[1][1]) and runs[0][2] == runs[1][2]
    assert all(math.isfinite(v) for v in runs[1][2])


class _Magnitude(nn.Module):
    """|h| as sqrt(h * h): finite everywhere, but its gradient at h = 0 is 0/0 = NaN."""

    def forward(self, h):
        return xpgrad.sqrt(h * h)


class _ZeroRow(_Batches):
    """The batches shifted away from 0, with one row all zeros instead of NaN: a finite loss, a NaN gradient."""

    def __init__(self, epoch, batch):
        super().__init__(epoch, batch)
        self.X = self.X + 3.0  # the spiral starts at the origin: no other zero row

    def __iter__(self):
        for x, y in super().__iter__():
            yield np.where(np.isnan(x), 0.0, x).astype(x.dtype), y


class _WithUnused(nn.Module):
    """The model of the NaN-gradient test plus a layer it never calls: the flat gradient buffer is then not whole."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16, bias=False), _Magnitude(), nn.Linear(16, 3))
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("epoch, step", [(1, 1), (2, 3)])
@pytest.mark.parametrize("unused", [False, True], ids=["whole buffer", "a parameter without gradient"])
def test_a_nan_gradient_stops_the_compiled_run_before_its_update(cpu_backend, epoch, step, unused):
    """A zero input row makes sqrt(h * h)'s gradient NaN with a finite loss: the gradient check stops the run."""
    errors, runs = [], []
    name = "net.0.weight" if unused else "0.weight"
    for compile in (False, True):
        xpgrad.manual_seed(0)
        model = _WithUnused() if unused else nn.Sequential(nn.Linear(2, 16, bias=False), _Magnitude(),
                                                           nn.Linear(16, 3))
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
        with pytest.raises(NonFiniteLossError, match=rf"gradient of parameter '{name}'.*before this update") as err:
            fit(model, xpgrad.loss("cross_entropy"), opt, _ZeroRow(epoch, step), 3, progress=False, compile=compile)
        errors.append((err.value.epoch, err.value.step, err.value.kind, err.value.parameter))
        runs.append((_weights(model), _arrays(opt.state_dict())))
    assert errors[0] == errors[1] == (epoch, step, "gradient", name)
    assert _same(runs[0][0], runs[1][0]) and _same(runs[0][1], runs[1][1])
    assert all(np.isfinite(w).all() for w in runs[1][0].values())


def test_compile_must_be_a_bool():
    model = _net()
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"compile must be True or False.*'yes'"):
        fit(model, xpgrad.loss("cross_entropy"), opt, _data(), 1, compile="yes", progress=False)


# -- schedules inside a user's own compiled step -------------------------------------------------


class _Halving(xpgrad.schedules.Scheduler):
    """A subclass overriding step: still run at every call of a compiled step."""

    def step(self):
        super().step()
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] / 2


@pytest.mark.parametrize("make", [lambda opt: xpgrad.schedule("linear", opt, total_steps=10),
                                  lambda opt: _Halving(opt, xpgrad.schedules.constant_lr)],
                         ids=["linear", "subclass"])
def test_a_scheduler_steps_at_every_call_of_a_users_compiled_step(make):
    def run(compiled):
        w = xpgrad.tensor([1.0, -2.0], requires_grad=True)
        opt = xpgrad.optimizer("sgd", [w], lr=0.5)
        sched = make(opt)

        def step(x):
            loss = xpgrad.sum((w - x) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        fn = xpgrad.compile(step) if compiled else step
        losses = [float(fn(xpgrad.tensor([float(i), 0.5]))) for i in range(5)]
        return losses, w.tolist(), sched.last_step, opt.param_groups[0]["lr"]

    eager, compiled = run(False), run(True)
    assert compiled == eager and compiled[2] == 5


# -- the command line ------------------------------------------------------------------------------

FINAL = re.compile(r"^final train accuracy: (\d\.\d{4})  val accuracy: (\d\.\d{4})$", re.M)


def test_cli_train_compile_gives_the_same_run(capsys, tmp_path):
    runs = []
    for flag in ([], ["--compile"]):
        ckpt = tmp_path / f"run{len(runs)}.safetensors"
        code = main(["train", "--quiet", "--epochs", "3", "--hidden", "16", "--batch-size", "64", "--seed", "2",
                     "--checkpoint", str(ckpt), *flag])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert FINAL.search(out), out
        meta = xpgrad.checkpoint.read_metadata(ckpt)
        runs.append((FINAL.search(out).groups(), meta["history"]["loss"], meta["history"]["val_loss"],
                     meta["config"]))
    assert runs[0][:3] == runs[1][:3]  # same accuracies, same losses to the last bit
    assert len(runs[1][1]) == 3 and all(math.isfinite(v) for v in runs[1][1])
    assert "compile" not in runs[1][3]  # how the steps ran is not part of the run's configuration


def test_cli_help_lists_compile(capsys):
    assert main(["train", "--help"]) == 0
    assert "--compile" in capsys.readouterr().out


def test_compiled_fit_on_a_device_backend_reads_as_little_as_eager(device_like_strict):
    """On a device backend the checks stay on the device in replays too: the same host reads as eager."""
    reads = device_like_strict
    counts = []
    runs = []
    for compile in (False, True):
        del reads[:]
        runs.append(_train(compile, optimizer="adam", lr=1e-2, schedule="cosine", dropout=0.3))
        counts.append(len(reads))
    for key in ("history", "weights", "optimizer", "schedule"):
        assert _same(runs[0][key], runs[1][key]), key
    assert counts[0] == counts[1]
    assert runs[1]["state"].compiled_step.stats["fallbacks"] == []
