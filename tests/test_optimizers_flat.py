"""Flat parameter buffers in the optimizers: one update per buffer, bit-identical to the per-parameter path."""

import numpy as np
import pytest

import xpgrad
from xpgrad import checkpoint, nn
from xpgrad.optimizers import Optimizer

NAMES = ["sgd", "momentum", "momentum_alternate", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
BASE_HP = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05}, "momentum_alternate": {"lr": 0.05, "alternate": True},
           "nesterov": {"lr": 0.05}, "adagrad": {"lr": 0.1}, "rmsprop": {"lr": 0.01}, "adam": {"lr": 0.05},
           "adamw": {"lr": 0.05}}


def optimizer_class(name):
    w = xpgrad.tensor([1.0], requires_grad=True)
    return type(xpgrad.optimizer(name.replace("_alternate", ""), [w]))


def per_parameter(cls):
    """The same optimizer with the flat path switched off: the reference the flat path must equal bit for bit."""
    return type(f"{cls.__name__}PerParameter", (cls,), {"flatten": False})


def make_params(backend, dtypes=("float32",)):
    rng = np.random.default_rng(7)
    shapes = [(5, 4), (4,), (4, 3), (3,), (3,)]
    return [xpgrad.tensor(rng.normal(size=s).tolist(), dtype=dtypes[i % len(dtypes)], backend=backend,
                          requires_grad=True) for i, s in enumerate(shapes)]


def loss_of(params, step):
    w1, b1, w2, b2, scale = params
    b = w1.backend
    x = xpgrad.tensor(np.random.default_rng(step).normal(size=(6, 5)).tolist(), dtype=w1.dtype, backend=b)
    h = xpgrad.tanh(x @ w1 + b1)
    out = (h @ w2.astype(h.dtype) + b2.astype(h.dtype)) * scale.astype(h.dtype)
    return (out * out).mean()


def train(cls, params, steps=20, schedule=True, idle=(), **hp):
    """``steps`` steps over two groups (the second with its own lr and weight decay), under a cosine schedule."""
    groups = [{"params": params[:3]}, {"params": params[3:], "lr": hp.get("lr", 0.01) * 0.5,
                                       "weight_decay": 0.02}]
    opt = cls(groups, **hp)
    sched = xpgrad.schedule("cosine", opt, total_steps=steps) if schedule else None
    calls = []
    real = opt.update
    opt.update = lambda p, g, st, group: (calls.append(tuple(p.shape)), real(p, g, st, group))
    for step in range(steps):
        opt.zero_grad()
        loss_of(params, step).backward()
        for i in idle:
            params[i].grad = None
        opt.step()
        if sched is not None:
            sched.step()
    return opt, calls


def arrays(params, opt):
    out = [p.numpy() for p in params]
    for _, entry in sorted(opt.state_dict()["state"].items()):
        out.extend(xpgrad.backend.to_numpy(v) if xpgrad.backend.is_array(v) else np.asarray(v)
                   for _, v in sorted(entry.items()))
    return out


def assert_identical(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y), (x, y)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name", NAMES)
def test_flat_steps_equal_per_parameter_steps_bit_for_bit(name, weight_decay, cpu_backend):
    cls = optimizer_class(name)
    hp = {**BASE_HP[name], "weight_decay": weight_decay}
    flat_params, ref_params = make_params(cpu_backend), make_params(cpu_backend)
    opt, calls = train(cls, flat_params, **hp)
    ref, ref_calls = train(per_parameter(cls), ref_params, **hp)
    assert len(calls) == 2 * 20 and len(ref_calls) == 5 * 20  # one update per group (one buffer each) per step
    assert not np.array_equal(flat_params[0].numpy(), make_params(cpu_backend)[0].numpy())  # it trained
    assert_identical(arrays(flat_params, opt), arrays(ref_params, ref))


def test_one_update_call_per_buffer_for_a_deep_network():
    model = nn.Sequential(*[layer for _ in range(12) for layer in (nn.Linear(8, 8), nn.ReLU())], nn.Linear(8, 2))
    params = list(model.parameters())
    assert len(params) == 26
    opt = xpgrad.optimizer("adam", model, lr=0.01)
    seen = []
    real = opt.update
    opt.update = lambda p, g, st, group: (seen.append(p.shape), real(p, g, st, group))
    x = xpgrad.tensor(np.random.default_rng(0).normal(size=(4, 8)).tolist())
    for _ in range(3):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    total = sum(p.size for p in params)
    assert seen == [(total,)] * 3
    (buf,) = opt.flat_buffers()
    assert all(np.shares_memory(p.data, buf.data) and np.shares_memory(p.grad, buf.grad) for p in params)
    assert all(opt.state[id(p)]["step"] == 3 for p in params)
    home = opt.state[id(params[0])]["exp_avg"].base  # every entry views one flat array
    assert home is not None and home.shape == (total,)
    assert all(opt.state[id(p)]["exp_avg"].base is home for p in params)


def test_grad_of_a_parameter_is_a_view_reused_every_step():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    (w * w).sum().backward()
    first = w.grad
    kept = first.copy()
    opt.step()
    opt.zero_grad()
    assert w.grad is None
    (3 * w).sum().backward()
    assert w.grad is first  # the same slot, now holding the new gradient
    assert kept.tolist() == [2.0, 4.0] and first.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_without_grad_is_skipped_and_nothing_is_lost(name):
    cls = optimizer_class(name)
    flat_params, ref_params = make_params("numpy"), make_params("numpy")
    before = flat_params[1].numpy()
    opt, calls = train(cls, flat_params, steps=4, idle=(1,), **BASE_HP[name])
    ref, _ = train(per_parameter(cls), ref_params, steps=4, idle=(1,), **BASE_HP[name])
    assert np.array_equal(flat_params[1].numpy(), before) and id(flat_params[1]) not in opt.state
    assert_identical(arrays(flat_params, opt), arrays(ref_params, ref))
    # then every parameter gets a gradient again: the flat path takes over with the state built so far
    for o, ps in ((opt, flat_params), (ref, ref_params)):
        for step in range(3):
            o.zero_grad()
            loss_of(ps, 10 + step).backward()
            o.step()
    assert_identical(arrays(flat_params, opt), arrays(ref_params, ref))


def test_two_dtypes_in_one_group_make_two_buffers():
    flat_params = make_params("numpy", dtypes=("float32", "float64"))
    ref_params = make_params("numpy", dtypes=("float32", "float64"))
    cls = optimizer_class("adam")
    opt = cls(flat_params, lr=0.05)
    assert sorted(str(b.dtype) for b in opt.flat_buffers()) == ["float32", "float64"]
    seen = []
    real = opt.update
    opt.update = lambda p, g, st, group: (seen.append(str(p.dtype)), real(p, g, st, group))
    ref = per_parameter(cls)(ref_params, lr=0.05)
    for o, ps in ((opt, flat_params), (ref, ref_params)):
        for step in range(5):
            o.zero_grad()
            loss_of(ps, step).backward()
            o.step()
    assert sorted(seen) == ["float32"] * 5 + ["float64"] * 5
    assert_identical(arrays(flat_params, opt), arrays(ref_params, ref))


class HeavyBall(Optimizer):
    """A plugin-style optimizer: only ``update``, rebinding its buffer and the parameter's array."""

    defaults = {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.0}

    def update(self, p, g, state, group):
        if "v" not in state:
            state["v"] = p.backend.xp.zeros_like(p.data)
        state["v"] = group["momentum"] * state["v"] + g
        p.data = p.data - group["lr"] * state["v"]


@pytest.mark.parametrize("plugin", ["heavy_ball", "lion"])
def test_a_plugin_optimizer_defining_only_update_runs_flat(plugin, cpu_backend):
    cls = HeavyBall if plugin == "heavy_ball" else optimizer_class("lion")
    hp = {"lr": 0.05} if plugin == "heavy_ball" else {"lr": 0.01, "weight_decay": 0.1}
    flat_params, ref_params = make_params(cpu_backend), make_params(cpu_backend)
    opt, calls = train(cls, flat_params, steps=10, **hp)
    ref, _ = train(per_parameter(cls), ref_params, steps=10, **hp)
    assert len(calls) == 2 * 10
    assert_identical(arrays(flat_params, opt), arrays(ref_params, ref))
    # parameters still view the buffer after the rebinding updates; the entries still view the flat state
    buf = opt.flat_buffers()[0]
    assert all(p.data is v for p, v in zip(buf.tensors, buf.views, strict=True))


def step_model(model, opt, steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = xpgrad.tensor(rng.normal(size=(4, 3)).tolist(), dtype=next(model.parameters()).dtype)
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


def two_models():
    xpgrad.manual_seed(1)
    a = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    b = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_state_dict_round_trip_continues_exactly(name):
    cls = optimizer_class(name)
    a, b = two_models()
    opt = cls(a.parameters(), lr=0.05)
    step_model(a, opt, 3)
    saved = opt.state_dict()
    b.load_state_dict(a.state_dict())
    opt_b = cls(b.parameters(), lr=0.05)
    opt_b.load_state_dict(saved)  # replaces opt_b.state: the flat state is gathered from it
    step_model(a, opt, 4, seed=1)
    step_model(b, opt_b, 4, seed=1)
    assert_identical(arrays(list(a.parameters()), opt), arrays(list(b.parameters()), opt_b))


def test_an_old_format_state_dict_loads_and_continues_like_the_per_parameter_path():
    a, b = two_models()
    shapes = [tuple(p.shape) for p in a.parameters()]
    rng = np.random.default_rng(3)
    old = {"state": {str(i): {"step": 7, "exp_avg": rng.normal(size=s), "exp_avg_sq": rng.random(size=s)}
                     for i, s in enumerate(shapes)},
           "param_groups": [{"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-8, "weight_decay": 0.0,
                             "params": list(range(len(shapes)))}]}
    opt = xpgrad.optimizer("adam", a)
    ref = per_parameter(type(opt))(b.parameters())
    opt.load_state_dict(old)
    ref.load_state_dict(old)
    step_model(a, opt, 3)
    step_model(b, ref, 3)
    assert all(opt.state[id(p)]["step"] == 10 for p in a.parameters())
    assert_identical(arrays(list(a.parameters()), opt), arrays(list(b.parameters()), ref))


@pytest.mark.parametrize("change", ["to_float64", "load_state_dict", "assign_data"])
def test_replacing_parameter_arrays_after_building_the_optimizer_still_trains_them(change):
    cls = optimizer_class("momentum")
    a, b = two_models()
    opt, ref = cls(a.parameters(), lr=0.1), per_parameter(cls)(b.parameters(), lr=0.1)
    step_model(a, opt, 2)
    step_model(b, ref, 2)
    fresh = {k: xpgrad.tensor(np.full(v.shape, 0.25).tolist()) for k, v in a.state_dict().items()}
    for model in (a, b):
        if change == "to_float64":
            model.to(dtype="float64")
        elif change == "load_state_dict":
            model.load_state_dict(fresh)
        else:
            for p in model.parameters():
                p.data = p.backend.xp.asarray(p.data, copy=True)
    before = [p.numpy() for p in a.parameters()]
    step_model(a, opt, 3, seed=2)
    step_model(b, ref, 3, seed=2)
    after = [p.numpy() for p in a.parameters()]
    assert all(not np.array_equal(x, y) for x, y in zip(before, after, strict=True))  # the live arrays moved
    assert_identical(arrays(list(a.parameters()), opt), arrays(list(b.parameters()), ref))
    if change != "to_float64":  # the state could be gathered again: back on one buffer
        (buf,) = opt.flat_buffers()
        assert all(p.data is v for p, v in zip(buf.tensors, buf.views, strict=True))


def test_add_param_group_builds_a_buffer_for_the_new_group():
    w, v = xpgrad.tensor([1.0], requires_grad=True), xpgrad.tensor([2.0, 3.0], requires_grad=True)
    opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    opt.add_param_group({"params": [v], "lr": 1.0})
    assert len(opt.flat_buffers()) == 2
    (w.sum() + v.sum()).backward()
    assert np.shares_memory(v.grad, opt.flat_buffers()[1].grad)
    opt.step()
    assert w.tolist() == pytest.approx([0.9]) and v.tolist() == [1.0, 2.0]


def test_checkpoint_round_trip_with_flat_optimizer_state(tmp_path):
    cls = optimizer_class("adam")
    a, b = two_models()
    opt = cls(a.parameters(), lr=0.05)
    step_model(a, opt, 3)
    path = checkpoint.save(tmp_path / "ckpt.safetensors", model=a, optimizer=opt)
    xpgrad.manual_seed(5)
    c = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    opt_c = cls(c.parameters(), lr=0.5)
    checkpoint.load(path, model=c, optimizer=opt_c)
    step_model(a, opt, 3, seed=4)
    step_model(c, opt_c, 3, seed=4)
    assert_identical(arrays(list(a.parameters()), opt), arrays(list(c.parameters()), opt_c))


def test_step_and_zero_grad_run_eagerly_in_subclasses_too():
    class Logged(HeavyBall):
        def step(self, closure=None):
            return super().step(closure)

        def zero_grad(self):
            super().zero_grad()

    for cls in (Optimizer, HeavyBall, Logged, optimizer_class("sgd"), optimizer_class("random_search")):
        assert getattr(cls.step, "__xpgrad_eager__", False), cls
        assert getattr(cls.zero_grad, "__xpgrad_eager__", False), cls


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam"])
def test_a_compiled_training_step_equals_the_eager_one(name):
    cls = optimizer_class(name)
    a, b = two_models()
    opt_a, opt_b = cls(a.parameters(), lr=0.05), cls(b.parameters(), lr=0.05)

    def train_step(model, opt, x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = xpgrad.compile(train_step)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = xpgrad.tensor(rng.normal(size=(4, 3)).tolist())
        want = train_step(a, opt_a, x)
        got = compiled(b, opt_b, x)
        assert np.array_equal(got.numpy(), want.numpy())
    assert compiled.stats["traces"] == 1 and compiled.stats["replays"] == 4  # replayed, the flat step run eagerly
    assert_identical(arrays(list(a.parameters()), opt_a), arrays(list(b.parameters()), opt_b))


def test_random_search_keeps_the_per_parameter_path():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    opt = xpgrad.optimizer("random_search", [w], lr=0.1)
    assert opt.flat_buffers() == [] and type(opt).flatten is False


def edit_state(opt, params, how):
    """Change ``opt.state`` directly between two steps, the way user code may."""
    first = opt.state[id(params[0])]
    if how == "rebind_buffer":  # a new array for one buffer of one parameter
        first["exp_avg"] = first["exp_avg"] * 0.5
    elif how == "replace_entry":  # a new dict for one parameter, with equal counts and copied buffers
        opt.state[id(params[0])] = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in first.items()}
    elif how == "change_count":  # an equal-valued but different count object, then a different count
        first["step"] = int(str(first["step"]))
        opt.state[id(params[1])]["step"] = first["step"] + 1
    elif how == "extra_buffer":  # an entry holds a buffer the flat state does not have
        first["note"] = 1.0
    elif how == "drop_entry":
        del opt.state[id(params[2])]


@pytest.mark.parametrize("how", ["rebind_buffer", "replace_entry", "change_count", "extra_buffer", "drop_entry"])
def test_direct_edits_of_the_state_between_flat_steps_are_seen(how):
    """The per-step check that skips rebuilding must still notice every change made through ``opt.state``."""
    cls = optimizer_class("adam")
    flat_params, ref_params = make_params("numpy")[:4], make_params("numpy")[:4]
    opts = []
    for cls_, ps in ((cls, flat_params), (per_parameter(cls), ref_params)):
        opt = cls_(ps, lr=0.05)
        for step in range(6):
            if step == 3:
                edit_state(opt, ps, how)
            opt.zero_grad()
            x = xpgrad.tensor(np.random.default_rng(step).normal(size=(6, 5)).tolist())
            ((xpgrad.tanh(x @ ps[0] + ps[1]) @ ps[2] + ps[3]) ** 2).mean().backward()
            opt.step()
        opts.append(opt)
    assert_identical(arrays(flat_params, opts[0]), arrays(ref_params, opts[1]))
    if how != "extra_buffer":  # (an entry with a buffer Adam does not keep stays per parameter: its own choice)
        assert [len(opts[0].state[id(p)]) for p in flat_params] == [3] * 4


def test_the_state_counts_every_change_and_copies_as_plain_dicts():
    import copy
    import pickle

    from xpgrad.optimizers.flat_state import StateDict

    state = StateDict()
    entry = state.entry({"a": 1})
    changes = [lambda: state.__setitem__(1, entry), lambda: entry.__setitem__("b", 2),
               lambda: entry.update(c=3), lambda: entry.setdefault("d", 4), lambda: entry.pop("d"),
               lambda: entry.popitem(), lambda: entry.__delitem__("b"), lambda: entry.__ior__({"e": 5}),
               lambda: entry.clear(), lambda: state.clear()]
    for i, change in enumerate(changes, start=1):
        change()
        assert state.clock[0] == i, i
    state[2] = state.entry(x=[1.0])
    for clone in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state)):
        assert type(clone) is dict and type(clone[2]) is dict and clone == {2: {"x": [1.0]}}
    assert type(state.copy()) is dict and state.copy()[2] is state[2]  # shallow, as dict.copy


@pytest.mark.parametrize("edit", [False, True])
def test_a_plain_dict_state_set_by_user_code_is_checked_every_step(edit):
    """``opt.state = {...}`` (plain dicts that count nothing) still gives the per-parameter results bit for bit."""
    cls = optimizer_class("adam")
    flat_params, ref_params = make_params("numpy")[:4], make_params("numpy")[:4]
    opts = []
    for cls_, ps in ((cls, flat_params), (per_parameter(cls), ref_params)):
        opt = cls_(ps, lr=0.05)
        for step in range(7):
            if step == 2:
                opt.state = {k: dict(v) for k, v in opt.state.items()}
            if step == 4 and edit:
                first = opt.state[id(ps[0])]
                first["exp_avg"] = first["exp_avg"] * 0.5  # a plain dict: only the full check sees this
            opt.zero_grad()
            x = xpgrad.tensor(np.random.default_rng(step).normal(size=(6, 5)).tolist())
            ((xpgrad.tanh(x @ ps[0] + ps[1]) @ ps[2] + ps[3]) ** 2).mean().backward()
            opt.step()
        opts.append(opt)
    assert_identical(arrays(flat_params, opts[0]), arrays(ref_params, opts[1]))


@pytest.mark.parametrize("loose", [False, True])
def test_zero_grad_rebuilds_a_buffer_whose_parameters_got_new_arrays(loose):
    """After ``p.data = ...``, zero_grad flattens again, so the next backward already fills the new slots."""
    w, b = xpgrad.tensor([[1.0, 2.0]], requires_grad=True), xpgrad.tensor([0.5], requires_grad=True)
    params = [w, b] + ([xpgrad.tensor([1, 2])] if loose else [])  # an int tensor keeps the per-parameter path
    opt = xpgrad.optimizer("sgd", params, lr=0.5)
    (old,) = opt.flat_buffers()
    (w.sum() * b.sum()).backward()
    opt.step()
    w.data = w.backend.xp.asarray(w.data, copy=True)  # the buffer no longer holds w
    opt.zero_grad()
    assert w.grad is None and b.grad is None
    assert w.data.base is not None and w.data.base is b.data.base  # one flat array again, before anything else
    (buf,) = opt.flat_buffers()
    assert buf is not old and np.shares_memory(w.data, buf.data) and np.shares_memory(b.data, buf.data)
    (w.sum() * b.sum()).backward()
    assert np.shares_memory(w.grad, buf.grad) and np.shares_memory(b.grad, buf.grad)
    opt.step()
    assert w.tolist() == [[1.25, 2.25]] and b.tolist() == [-2.25]  # (0.75, 1.75) and -1 after the first step
