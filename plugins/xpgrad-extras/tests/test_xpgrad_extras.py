"""Tests of xpgrad-extras: found through its entry point, values by hand, xpgrad.testing contracts."""

import importlib.metadata
import math

import pytest

import xpgrad
from xpgrad import registry, testing

pytest.importorskip("xpgrad_extras", reason="install the plugin first: pip install -e plugins/xpgrad-extras")


def test_found_through_the_entry_point():
    dist = importlib.metadata.distribution("xpgrad-extras")
    assert [(ep.group, ep.name, ep.value) for ep in dist.entry_points] == [("xpgrad", "extras",
                                                                            "xpgrad_extras.plugin")]
    for table, name in ((registry.activations, "mish"), (registry.losses, "huber"),
                        (registry.regularizers, "group_lasso"), (registry.optimizers, "lion"),
                        (registry.schedules, "one_cycle")):
        assert (table[name].plugin, table[name].distribution) == ("extras", "xpgrad-extras")
    assert registry.losses["smooth_l1"].name == "huber"


def test_mish_values():
    y = xpgrad.activation("mish")(xpgrad.tensor([0.0, 1.0, -1.0], dtype="float64"))
    sp = [math.log(2), math.log1p(math.e), math.log1p(1 / math.e)]
    assert y.tolist() == pytest.approx([0.0, math.tanh(sp[1]), -math.tanh(sp[2])])


def test_huber_values_and_delta():
    s, t = xpgrad.tensor([0.5, -3.0, 2.0], dtype="float64"), [0.0, 0.0, 0.0]
    assert xpgrad.loss("huber", reduction="none")(s, t).tolist() == pytest.approx([0.125, 2.5, 1.5])
    assert xpgrad.loss("huber", delta=2.0, reduction="sum")(s, t).item() == pytest.approx(0.125 + 4.0 + 2.0)


def test_group_lasso_value():
    w = xpgrad.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], dtype="float64")
    assert xpgrad.regularizer("group_lasso", 0.5)([w]).item() == pytest.approx(0.5 * (5.0 + 0.0 + 1.0))


def test_lion_first_steps_by_hand():
    w = xpgrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    opt = xpgrad.optimizer("lion", [w], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    (w * w).sum().backward()
    opt.step()
    # m = 0, c = 0.1·g, x ← x(1 − lr·wd) − lr·sign(c)
    assert w.tolist() == pytest.approx([1.0 * 0.95 - 0.1, -2.0 * 0.95 + 0.1])
    assert opt.state[id(w)]["exp_avg"].tolist() == pytest.approx([0.01 * 2.0, 0.01 * -4.0])


def test_one_cycle_shape():
    opt = xpgrad.optimizer("sgd", [xpgrad.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = xpgrad.schedule("one_cycle", opt, total_steps=10)
    lrs = []
    for _ in range(12):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    assert lrs[0] == pytest.approx(1 / 25) and max(lrs) == lrs[3] == 1.0
    assert lrs[10] == lrs[11] == pytest.approx(1 / 25 / 1e4)


@pytest.mark.parametrize("kind, name", [("activation", "mish"), ("loss", "huber"), ("regularizer", "group_lasso"),
                                        ("optimizer", "lion"), ("schedule", "one_cycle")])
def test_contracts(kind, name):
    assert getattr(testing, f"check_{kind}")(name)


def test_lion_updates_immutable_arrays(monkeypatch):
    """Lion follows the rule for changing arrays: its steps are the same on a backend with immutable arrays."""
    np = pytest.importorskip("numpy")
    strict = pytest.importorskip("array_api_strict")

    def run(backend):
        w = xpgrad.tensor([[1.0, -2.0], [0.5, 3.0]], dtype="float64", backend=backend, requires_grad=True)
        opt = xpgrad.optimizer("lion", [w], lr=0.1, weight_decay=0.1)
        for _ in range(4):
            w.grad = 2.0 * w.data - 0.3  # set by hand: only the optimizer runs
            opt.step()
        return w.numpy(), opt.state[id(w)]["exp_avg"]

    want, m_want = run("numpy")
    cls = type(strict.asarray(0.0))
    for name in ("__iadd__", "__isub__", "__imul__", "__itruediv__"):  # x op= y becomes x = x op y
        monkeypatch.delattr(cls, name)
    got, m_got = run("array_api_strict")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(xpgrad.backend.to_numpy(m_got), m_want, rtol=1e-12)


@pytest.mark.parametrize("kind, name", [("loss", "huber"), ("regularizer", "group_lasso"), ("optimizer", "lion"),
                                        ("schedule", "one_cycle")])
def test_bad_hyperparameters_are_refused_naming_them(kind, name):
    assert testing.check_hyperparameters(kind, name) > 0


def test_lion_load_state_dict_refuses_a_state_that_does_not_fit():
    w = xpgrad.tensor([1.0, -1.0], requires_grad=True)
    opt = xpgrad.optimizer("lion", [w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    saved = opt.state_dict()
    saved["state"][0] = {"exp_avg": saved["state"][0]["exp_avg"], "extra": 1.0}
    with pytest.raises(ValueError, match="unknown: \\['extra'\\]"):
        opt.load_state_dict(saved)
