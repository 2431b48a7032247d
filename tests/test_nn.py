"""Module mechanics: registration, traversal, modes, state dicts, moving, initializers."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.backend import to_numpy
from xpgrad.nn import init


def _mlp(dtype=None):
    return nn.Sequential(nn.Linear(2, 4, dtype=dtype), nn.BatchNorm1d(4, dtype=dtype), nn.Linear(4, 3, dtype=dtype))


def _snapshot(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(xpgrad.ones(3))
        self.register_buffer("count", xpgrad.zeros((), dtype="int64"))
        self.plain = xpgrad.ones(2)  # a plain tensor attribute is not state

    def forward(self, x):
        return x * self.s


# -- Parameter ----------------------------------------------------------------------------------

def test_parameter_is_a_tensor_that_requires_grad_and_wraps_without_copy():
    t = xpgrad.zeros((2, 3))
    p = nn.Parameter(t)
    assert isinstance(p, xpgrad.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert type(p * 2) is xpgrad.Tensor
    assert "Parameter containing" in repr(p)
    q = nn.Parameter([1.0, 2.0], dtype="float64")
    assert str(q.dtype) == "float64"


def test_parameter_rejects_integer_data_needing_grad():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(xpgrad.tensor([1, 2]))


# -- registration and traversal -------------------------------------------------------------------

def test_attributes_register_parameters_buffers_and_children():
    m = Scale()
    assert [n for n, _ in m.named_parameters()] == ["s"]
    assert [n for n, _ in m.named_buffers()] == ["count"]
    assert list(m.state_dict()) == ["s", "count"]
    assert list(m.children()) == []
    seq = nn.Sequential(m, nn.Linear(3, 2))
    assert [n for n, _ in seq.named_parameters()] == ["0.s", "1.weight", "1.bias"]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert len(list(seq.modules())) == 3 and len(list(seq.buffers())) == 1
    assert len(list(seq.parameters(recurse=False))) == 0


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Identity(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_setattr_rules():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(xpgrad.ones(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()
    m = Scale()
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.s = xpgrad.ones(3)
    m.s = None
    assert [n for n, _ in m.named_parameters()] == []
    with pytest.raises(TypeError, match="Tensor"):
        m.count = 3
    m.count = xpgrad.ones(())
    assert float(m.count) == 1.0
    with pytest.raises(TypeError):
        m.register_buffer("b", [1.0])
    with pytest.raises(KeyError, match="dots"):
        m.register_buffer("a.b", xpgrad.ones(1))
    del m.count
    assert "count" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        m.nothing  # noqa: B018


def test_train_eval_propagate_and_zero_grad():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert model[1][0].training
    model(xpgrad.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_apply_visits_children_first():
    seen = []
    nn.Sequential(nn.Linear(1, 1), nn.Flatten()).apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Flatten", "Sequential"]


def test_repr_is_nested_and_readable():
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Sequential(nn.Dropout(0.25), nn.BatchNorm1d(3)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=False)\n"
        "  (1): Sequential(\n"
        "    (0): Dropout(p=0.25)\n"
        "    (1): BatchNorm1d(3, momentum=0.1, eps=1e-05)\n"
        "  )\n"
        ")")


def test_sequential_indexing_len_iteration_append():
    a, b, c = nn.Linear(2, 3), nn.Flatten(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    seq.append(c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[-1] is c and seq[0] is a
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    with pytest.raises(TypeError, match="not an nn.Module"):
        nn.Sequential(a, lambda x: x)
    named = nn.Sequential({"fc": a, "out": c})
    assert list(named.state_dict()) == ["fc.weight", "fc.bias", "out.weight", "out.bias"]


# -- state dicts ---------------------------------------------------------------------------------

def test_state_dict_keys_follow_pytorch():
    assert list(_mlp().state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                         "1.running_var", "2.weight", "2.bias"]
    sd = _mlp().state_dict()
    assert all(isinstance(v, xpgrad.Tensor) and not v.requires_grad for v in sd.values())


def test_round_trip_through_numpy_restores_outputs(backend):
    xpgrad.manual_seed(1)
    a = _mlp()
    a(xpgrad.randn(8, 2))  # moves the running statistics
    a.eval()
    saved = {k: v.numpy() for k, v in a.state_dict().items()}
    xpgrad.manual_seed(2)
    b = _mlp().eval()
    assert b.load_state_dict(saved) == ([], [])
    x = xpgrad.randn(5, 2)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert b[0].weight.backend == backend


def test_load_accepts_tensors_and_arrays_of_any_backend_and_casts():
    src = _mlp(dtype="float64")
    state = {}
    for i, (k, v) in enumerate(src.state_dict().items()):
        state[k] = v if i % 3 == 0 else (v.to("array_api_strict").data if i % 3 == 1 else v.numpy())
    dst = _mlp()  # float32 on numpy
    dst.load_state_dict(state)
    for k, v in dst.state_dict().items():
        assert str(v.dtype) == "float32" and v.backend == "numpy"
        np.testing.assert_allclose(v.numpy(), src.state_dict()[k].numpy(), rtol=1e-6)


def test_loaded_values_are_copies():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    sd = {k: v.numpy().copy() for k, v in a.state_dict().items()}
    b.load_state_dict(sd)
    sd["weight"][...] = 123.0
    assert not (b.weight.numpy() == 123.0).any()


def test_load_reports_every_problem_at_once_and_changes_nothing():
    model = _mlp()
    before = _snapshot(model)
    bad = {k: v.numpy() for k, v in _mlp().state_dict().items()}
    del bad["0.bias"], bad["1.running_var"]
    bad["2.weight"] = np.zeros((5, 3), dtype=np.float32)
    bad["extra.weight"] = np.zeros(1)
    bad["1.weight"] = "not an array"
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(bad)
    msg = str(info.value)
    for piece in ["'0.bias'", "'1.running_var'", "'extra.weight'", "'2.weight'", "(3, 4)", "(5, 3)", "'1.weight'",
                  "nothing was changed", "Sequential"]:
        assert piece in msg, piece
    e = info.value
    assert e.missing == ["0.bias", "1.running_var"] and e.unexpected == ["extra.weight"]
    assert e.mismatched == {"2.weight": ((3, 4), (5, 3))} and list(e.unreadable) == ["1.weight"]
    assert "transposed?" not in msg  # (5, 3) is not (3, 4) turned around
    after = _snapshot(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_non_strict_skips_missing_and_unexpected_but_not_wrong_shapes():
    model = nn.Linear(2, 3)
    w = np.ones((3, 2), dtype=np.float32)
    result = model.load_state_dict({"weight": w, "other": np.zeros(2)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(model.weight.numpy(), w)
    # An (in, out) weight, the layout of xpgrad before PyTorch's: the message says it looks transposed.
    with pytest.raises(nn.StateDictError, match=r"wrong shape for 'weight'.*\(2, 3\) \(transposed\?"):
        model.load_state_dict({"weight": np.ones((2, 3))}, strict=False)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([("weight", w)])


def test_load_keeps_parameter_objects_so_optimizers_stay_valid():
    model = nn.Linear(2, 2)
    params = list(model.parameters())
    model.load_state_dict(nn.Linear(2, 2).state_dict())
    assert all(p is q for p, q in zip(params, model.parameters(), strict=True))


# -- dtypes and backends --------------------------------------------------------------------------

def test_default_dtype_and_dtype_argument():
    assert str(nn.Linear(2, 2).weight.dtype) == "float32"
    xpgrad.set_default_dtype("float64")
    bn = nn.BatchNorm1d(3)
    assert str(nn.Linear(2, 2).weight.dtype) == "float64" and str(bn.running_var.dtype) == "float64"
    assert str(nn.Maxout(2, 2, dtype="float32").weight.dtype) == "float32"


def test_to_moves_parameters_buffers_and_grads_in_place():
    model = _mlp()
    model(xpgrad.ones((4, 2))).sum().backward()
    params = list(model.parameters())
    assert model.to(backend="array_api_strict", dtype="float64") is model
    for t in [*model.parameters(), *model.buffers()]:
        assert t.backend == "array_api_strict" and str(t.dtype).endswith("float64")
    assert all(p is q for p, q in zip(params, model.parameters(), strict=True))
    assert all(p.grad is not None and "array_api_strict" in type(p.grad).__module__ for p in params)
    y = model(xpgrad.ones((4, 2), dtype="float64", backend="array_api_strict"))
    assert y.backend == "array_api_strict"
    model.to("numpy")
    assert model[0].weight.backend == "numpy" and str(model[0].weight.dtype) == "float64"


def test_to_keeps_integer_buffers():
    m = Scale().to(dtype="float64")
    assert str(m.count.dtype) == "int64" and str(m.s.dtype) == "float64"


def test_layers_on_another_backend_refuse_numpy_input():
    layer = nn.Linear(2, 2, backend="array_api_strict")
    with pytest.raises(ValueError, match="different backends"):
        layer(xpgrad.ones((1, 2)))


# -- initializers -----------------------------------------------------------------------------------

def test_initializers_are_seeded_by_manual_seed(cpu_backend):
    xpgrad.manual_seed(7)
    a = nn.Linear(5, 4).weight.numpy()
    xpgrad.manual_seed(7)
    b = nn.Linear(5, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Linear(5, 4).weight.numpy())


@pytest.mark.parametrize("name, var", [("kaiming", 2 / 300), ("xavier", 2 / 700), ("normal", 1e-4)])
def test_initializer_variances(name, var):
    w = init.get(name)((400, 300), dtype="float64").numpy()  # (out, in): fan_in 300, as torch.nn.init
    assert abs(w.mean()) < 0.01 * np.sqrt(var) * 10
    assert w.var() == pytest.approx(var, rel=0.02)


def test_zeros_init_named_lookup_and_errors():
    assert not nn.Linear(3, 2, init="zeros").weight.numpy().any()
    assert init.get("glorot") is init.xavier and init.fans((7,)) == (7, 7)
    assert init.fans((3, 5)) == (5, 3) and init.fans((2, 3, 4)) == (12, 8)  # PyTorch: (out, in, *kernel)
    with pytest.raises(ValueError, match="unknown initializer 'uniformish'"):
        nn.Linear(2, 2, init="uniformish")
    with pytest.raises(ValueError, match="std"):
        init.normal((2,), std=-1.0)
    custom = nn.Linear(2, 2, init=lambda shape, dtype=None, backend=None: xpgrad.full(shape, 0.5, dtype=dtype))
    assert custom.weight.numpy().tolist() == [[0.5, 0.5], [0.5, 0.5]]


def test_layer_argument_errors():
    for bad in [lambda: nn.Linear(0, 2), lambda: nn.Linear(2, 2.5), lambda: nn.Maxout(2, 2, pieces=0),
                lambda: nn.BatchNorm1d(-1), lambda: nn.BatchNorm1d(2, momentum=2.0), lambda: nn.Dropout(1.5),
                lambda: nn.Dropout("0.5")]:
        with pytest.raises(ValueError):
            bad()


def test_to_numpy_of_state_dict_values_works_on_every_backend(cpu_backend):
    sd = nn.Linear(2, 3).state_dict()
    assert to_numpy(sd["weight"].data).shape == (3, 2)


def test_deepcopy_and_pickle_give_independent_models():
    import copy
    import pickle

    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Dropout(0.1))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        w = clone[0].weight
        assert isinstance(w, nn.Parameter) and w.requires_grad and w is not model[0].weight
        assert w.backend is model[0].weight.backend  # backends stay per-process singletons
        np.testing.assert_array_equal(w.numpy(), model[0].weight.numpy())
        w.data[0, 0] = 99.0
        assert model[0].weight.numpy()[0, 0] != 99.0
        assert list(clone.state_dict()) == list(model.state_dict())


def test_sequential_fuses_linear_relu_without_changing_results():
    xpgrad.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.Tanh())
    x = xpgrad.randn(6, 4)
    out = net(x)
    out.sum().backward()
    fused_grads = [p.grad.copy() for p in net.parameters()]
    # The same layers called one by one, with no fusion.
    for p in net.parameters():
        p.grad = None
    h = x
    for layer in net:
        h = layer(h)
    h.sum().backward()
    np.testing.assert_allclose(out.numpy(), h.numpy(), rtol=1e-6)
    for a, p in zip(fused_grads, net.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad, rtol=1e-6)
    # One node for the fused pair: Linear(+ReLU), Linear, Tanh.
    assert out.grad_fn.__name__ == "Tanh"
    assert sum(1 for step in net._make_plan() if not isinstance(step, nn.Module)) == 1


def test_sequential_plan_follows_changes():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    net(xpgrad.ones((1, 2)))
    net.append(nn.Linear(2, 1))
    assert net(xpgrad.ones((1, 2))).shape == (1, 1)
    net[2] = nn.Linear(2, 3)
    assert net(xpgrad.ones((1, 2))).shape == (1, 3)
    net[0] = nn.Linear(2, 2, bias=False)
    assert list(net.state_dict()) == ["0.weight", "2.weight", "2.bias"]
    by_name = nn.Sequential(nn.Linear(2, 2), nn.Activation("relu"), nn.Linear(2, 1), nn.Activation("tanh"))
    assert [type(step).__name__ for step in by_name._make_plan()] == ["method", "Linear", "Activation"]
    patched = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    patched[0].forward = lambda x: x * 0.0  # a patched instance is called as it is, never fused
    assert patched(xpgrad.ones((1, 2))).tolist() == [[patched[2].bias.item()]]
