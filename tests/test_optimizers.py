"""Optimizers: first steps against the update formulas written out in NumPy, contract, state, errors."""

import json

import numpy as np
import pytest

import xpgrad

W0 = np.array([[1.0, -2.0], [0.5, 3.0]])


def T(values, **kw):
    return xpgrad.tensor(np.asarray(values).tolist(), dtype="float64", **kw)


def grad_of(w, wd=0.0):
    """Gradient of f(w) = Σ w² plus the L2 weight-decay term."""
    return 2 * w + wd * w


# Reference updates: (state, w, g, hyperparameters, t) -> new w, straight from the lecture's pseudo-code.
def ref_sgd(s, w, g, h, t):
    return w - h["lr"] * g


def ref_momentum(s, w, g, h, t):
    s["v"] = h["momentum"] * s.get("v", 0) + g
    return w - h["lr"] * s["v"]


def ref_momentum_alternate(s, w, g, h, t):
    s["v"] = h["momentum"] * s.get("v", 0) - h["lr"] * g
    return w + s["v"]


def ref_nesterov(s, w, g, h, t):
    old = s.get("v", 0)
    s["v"] = h["momentum"] * old - h["lr"] * g
    return w - h["momentum"] * old + (1 + h["momentum"]) * s["v"]


def ref_adagrad(s, w, g, h, t):
    s["sq"] = s.get("sq", 0) + g * g
    return w - h["lr"] * g / (np.sqrt(s["sq"]) + h["eps"])


def ref_rmsprop(s, w, g, h, t):
    s["sq"] = h["alpha"] * s.get("sq", 0) + (1 - h["alpha"]) * g * g
    return w - h["lr"] * g / (np.sqrt(s["sq"]) + h["eps"])


def ref_adam(s, w, g, h, t):
    b1, b2 = h["betas"]
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
    return w - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])


def ref_adamw(s, w, g, h, t):
    return ref_adam(s, w * (1 - h["lr"] * h["weight_decay"]), g, h, t)


CASES = [
    ("sgd", {"lr": 0.1}, ref_sgd),
    ("momentum", {"lr": 0.1, "momentum": 0.9}, ref_momentum),
    ("momentum", {"lr": 0.1, "momentum": 0.8, "alternate": True}, ref_momentum_alternate),
    ("nesterov", {"lr": 0.05, "momentum": 0.9}, ref_nesterov),
    ("adagrad", {"lr": 0.1, "eps": 1e-10}, ref_adagrad),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8}, ref_rmsprop),
    ("adam", {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8}, ref_adam),
    ("adamw", {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-8, "weight_decay": 0.5}, ref_adamw),
]


def run(name, hp, steps=3):
    w = T(W0, requires_grad=True)
    opt = xpgrad.optimizer(name, [w], **hp)
    for _ in range(steps):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    return w, opt


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name, hp, ref", CASES, ids=[f"{c[0]}{'-alt' if 'alternate' in c[1] else ''}" for c in CASES])
def test_first_steps_match_the_formula(name, hp, ref, weight_decay, cpu_backend):
    hp = dict(hp)
    decoupled = name == "adamw"
    if not decoupled:
        hp["weight_decay"] = weight_decay
    w, _ = run(name, hp)
    want, state = W0.copy(), {}
    for t in range(1, 4):
        want = ref(state, want, grad_of(want, 0.0 if decoupled else hp["weight_decay"]), hp, t)
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-12, atol=1e-14)
    assert w.backend == cpu_backend


def test_pytorch_defaults():
    w = [T([1.0], requires_grad=True)]
    d = {n: xpgrad.optimizer(n, w).param_groups[0] for n in ("sgd", "adagrad", "rmsprop", "adam", "adamw")}
    assert d["sgd"]["lr"] == 1e-3 and d["sgd"]["weight_decay"] == 0.0
    assert (d["adagrad"]["lr"], d["adagrad"]["eps"]) == (1e-2, 1e-10)
    assert (d["rmsprop"]["lr"], d["rmsprop"]["alpha"], d["rmsprop"]["eps"]) == (1e-2, 0.99, 1e-8)
    assert (d["adam"]["lr"], d["adam"]["betas"], d["adam"]["eps"]) == (1e-3, (0.9, 0.999), 1e-8)
    assert d["adamw"]["weight_decay"] == 1e-2
    assert xpgrad.optimizer("momentum", w).param_groups[0]["momentum"] == 0.9


def test_momentum_forms_agree_with_constant_lr():
    a, _ = run("momentum", {"lr": 0.05, "momentum": 0.7}, steps=6)
    b, _ = run("momentum", {"lr": 0.05, "momentum": 0.7, "alternate": True}, steps=6)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_nesterov_equals_the_pytorch_form():
    w, _ = run("nesterov", {"lr": 0.05, "momentum": 0.9}, steps=4)
    x, buf = W0.copy(), 0
    for _ in range(4):
        g = 2 * x
        buf = 0.9 * buf + g
        x = x - 0.05 * (g + 0.9 * buf)
    np.testing.assert_allclose(w.numpy(), x, rtol=1e-12)


def test_updates_are_in_place_and_never_touch_grad(cpu_backend):
    w = T(W0, requires_grad=True)
    opt = xpgrad.optimizer("adam", [w], lr=0.1, weight_decay=0.1)
    (w * w).sum().backward()
    data, grad = w.data, w.grad
    before = xpgrad.backend.to_numpy(grad).copy()
    opt.step()
    assert w.data is data
    np.testing.assert_array_equal(xpgrad.backend.to_numpy(w.grad), before)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_parameters_without_grad_are_skipped_and_zero_grad_sets_none(name):
    w, idle = T([1.0, 2.0], requires_grad=True), T([5.0], requires_grad=True)
    opt = xpgrad.optimizer(name, [w, idle], lr=0.1, weight_decay=0.1)
    (w * w).sum().backward()
    opt.step()
    assert idle.tolist() == [5.0] and id(idle) not in opt.state
    opt.zero_grad()
    assert w.grad is None


def test_param_groups_have_their_own_hyperparameters():
    a, b = T([1.0], requires_grad=True), T([1.0], requires_grad=True)
    opt = xpgrad.optimizer("sgd", [{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a * a + b * b).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.8) and b.item() == pytest.approx(0.0)
    with pytest.raises(TypeError, match="'momentum'"):
        xpgrad.optimizer("sgd", [{"params": [a], "momentum": 0.9}])
    with pytest.raises(ValueError, match="more than one group"):
        xpgrad.optimizer("sgd", [{"params": [a]}, {"params": [a]}])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_resume_from_state_dict_continues_exactly(name, cpu_backend):
    w, opt = run(name, {"lr": 0.05}, steps=3)
    saved = opt.state_dict()
    groups = json.loads(json.dumps(saved["param_groups"]))  # hyperparameters are JSON friendly
    w2 = T(w.numpy(), requires_grad=True)
    opt2 = xpgrad.optimizer(name, [w2])
    opt2.load_state_dict({"state": {str(k): v for k, v in saved["state"].items()}, "param_groups": groups})
    assert opt2.param_groups[0]["lr"] == 0.05
    for o, p in ((opt, w), (opt2, w2)):
        for _ in range(3):
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
    np.testing.assert_array_equal(w.numpy(), w2.numpy())


def test_state_dict_is_a_snapshot():
    w, opt = run("momentum", {"lr": 0.1}, steps=1)
    saved = opt.state_dict()
    before = xpgrad.backend.to_numpy(saved["state"][0]["velocity"]).copy()
    run_more = opt.step  # the gradient is still there: one more in-place update
    run_more()
    np.testing.assert_array_equal(xpgrad.backend.to_numpy(saved["state"][0]["velocity"]), before)


def test_load_state_dict_rejects_a_different_layout():
    _, opt = run("sgd", {"lr": 0.1})
    other = xpgrad.optimizer("sgd", [T([1.0], requires_grad=True), T([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="2 parameters|1 parameters"):
        other.load_state_dict(opt.state_dict())


@pytest.mark.parametrize("name, bad, err", [
    ("sgd", {"lr": -1.0}, ValueError), ("adam", {"lr": "fast"}, ValueError),
    ("momentum", {"momentum": 1.0}, ValueError), ("nesterov", {"momentum": -0.1}, ValueError),
    ("rmsprop", {"alpha": 1.2}, ValueError), ("adam", {"eps": -1e-8}, ValueError),
    ("adamw", {"weight_decay": -0.1}, ValueError), ("momentum", {"alternate": "yes"}, ValueError),
    ("random_search", {"samples": 0}, ValueError), ("sgd", {"momentum": 0.9}, TypeError),
    ("adagrad", {"betas": (0.9, 0.99)}, TypeError),
])
def test_bad_hyperparameters_raise_at_construction(name, bad, err):
    with pytest.raises(err, match=next(iter(bad))):
        xpgrad.optimizer(name, [T([1.0], requires_grad=True)], **bad)


def test_bad_parameters():
    with pytest.raises(ValueError, match="empty"):
        xpgrad.optimizer("sgd", [])
    with pytest.raises(TypeError, match="iterable"):
        xpgrad.optimizer("sgd", T([1.0], requires_grad=True))
    with pytest.raises(TypeError, match="ndarray"):
        xpgrad.optimizer("sgd", [np.zeros(2)])


def test_random_search_keeps_the_best_and_is_reproducible(cpu_backend):
    target = T([0.5, -0.5])

    def search(seed):
        xpgrad.manual_seed(seed)
        w = T([3.0, 3.0], requires_grad=True)
        opt = xpgrad.optimizer("random_search", [w], lr=1.0, samples=10, local=True)
        losses = [opt.step(lambda: ((w - target) ** 2).sum()) for _ in range(5)]
        return w, losses

    w, losses = search(1)
    assert losses == sorted(losses, reverse=True) and losses[-1] < 12.5
    assert ((w - target) ** 2).sum().item() == pytest.approx(losses[-1])
    w2, _ = search(1)
    np.testing.assert_array_equal(w.numpy(), w2.numpy())
    with pytest.raises(ValueError, match="closure"):
        xpgrad.optimizer("random_search", [w]).step()


def test_random_search_fresh_samples_have_scale_lr():
    w = T(np.zeros(2000), requires_grad=True)
    opt = xpgrad.optimizer("random_search", [w], lr=0.01)
    opt.step(lambda: -(w * w).sum())  # rewards large weights, so the sample replaces the zeros
    assert np.std(w.numpy()) == pytest.approx(0.01, rel=0.1)


# -- the rule for changing arrays: every optimizer works on a backend whose arrays are immutable ---------

_INPLACE = ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__", "__imod__",
            "__imatmul__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__")


@pytest.fixture
def immutable_strict(monkeypatch):
    """array-api-strict arrays without in-place operators or item assignment, as on an immutable-array library.

    Without ``__iadd__`` and friends, Python turns ``x += y`` into ``x = x + y``: an update through the
    place that holds the array (``p.data -= ...``, ``state["v"] *= ...``) still lands, while one through
    a local alias (``v = state["v"]; v *= rho``) is silently lost, exactly as with JAX arrays.
    """
    import array_api_strict

    cls = type(array_api_strict.asarray(0.0))
    for name in _INPLACE:
        monkeypatch.delattr(cls, name)

    def refuse(self, key, value):
        raise TypeError("this test backend's arrays are immutable: x[...] = value is not allowed")

    monkeypatch.setattr(cls, "__setitem__", refuse)
    return array_api_strict


def test_immutable_strict_loses_updates_through_an_alias(immutable_strict):
    # The fixture must make the bug this rule prevents visible, or the test below proves nothing.
    state = {"v": immutable_strict.asarray([1.0, 2.0])}
    v = state["v"]
    v *= 3.0
    assert float(state["v"][1]) == 2.0  # lost: only the local name moved
    state["v"] *= 3.0
    assert float(state["v"][1]) == 6.0  # through the place: kept
    with pytest.raises(TypeError, match="immutable"):
        state["v"][0] = 0.0


BUILTIN_OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "random_search"]
IMMUTABLE_HP = {"sgd": {"lr": 0.1, "weight_decay": 0.1}, "momentum": {"lr": 0.1}, "nesterov": {"lr": 0.1},
                "adagrad": {"lr": 0.3}, "rmsprop": {"lr": 0.01}, "adam": {"lr": 0.1}, "adamw": {"lr": 0.1},
                "random_search": {"lr": 0.5, "samples": 3, "local": True}}


def _run_on(backend, name, hp, steps=6):
    """``steps`` updates of f(w) = Σ c·w² with gradients set by hand (no backward: only the optimizer runs)."""
    xpgrad.manual_seed(3)
    w = xpgrad.tensor(W0, dtype="float64", backend=backend, requires_grad=True)
    c = w.backend.asarray(np.array([[1.0, 2.0], [3.0, 0.5]]), dtype="float64")
    opt = xpgrad.optimizer(name, [w], **hp)
    for _ in range(steps):
        if opt.needs_closure:
            with xpgrad.no_grad():
                opt.step(lambda: (w * w * xpgrad.as_tensor(c, backend=w.backend)).sum())
        else:
            w.grad = 2.0 * c * w.data
            opt.step()
    return w.numpy(), opt


def test_builtin_names_match_the_registry():
    from xpgrad import registry

    assert sorted(BUILTIN_OPTIMIZERS) == sorted(e.name for e in registry.describe("optimizer")
                                                if e.distribution == "xpgrad")
    alternate = {**IMMUTABLE_HP, "momentum": {"lr": 0.1, "alternate": True}}
    assert set(alternate) == set(BUILTIN_OPTIMIZERS)


@pytest.mark.parametrize("alternate", [False, True])
@pytest.mark.parametrize("name", BUILTIN_OPTIMIZERS)
def test_every_builtin_optimizer_updates_immutable_arrays(immutable_strict, name, alternate):
    if alternate and name != "momentum":
        pytest.skip("only momentum has an alternate form")
    hp = {**IMMUTABLE_HP[name], **({"alternate": True} if alternate else {})}
    want, _ = _run_on("numpy", name, hp)
    got, opt = _run_on("array_api_strict", name, hp)
    assert not np.allclose(want, W0)  # the steps moved the weights
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for buffers in opt.state.values():  # every array buffer holds the value it should, on the strict backend
        for key, value in buffers.items():
            if xpgrad.backend.is_array(value):
                assert xpgrad.backend.backend_of(value) == "array_api_strict", key
