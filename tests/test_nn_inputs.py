"""What a Module does with its inputs (host data moved, Tensors checked) and how layers offer to fuse."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn


def _mlp(**kw):
    xpgrad.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5, **kw), nn.ReLU(), nn.Linear(5, 2, **kw))


def _reference(model, x):
    """relu(x W₁ᵀ + b₁) W₂ᵀ + b₂ in NumPy float64, from the model's own weights."""
    (w1, b1), (w2, b2) = [(m.weight.numpy().astype(np.float64), m.bias.numpy().astype(np.float64))
                          for m in (model[0], model[2])]
    return np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2


# -- host data goes where the parameters are ------------------------------------------------------------

@pytest.mark.parametrize("data", ["numpy64", "numpy32", "list"])
def test_host_data_moves_to_the_module_backend_and_dtype_on_the_fused_path(data):
    x = np.random.default_rng(1).standard_normal((4, 3))
    given = {"numpy64": x, "numpy32": x.astype(np.float32), "list": x.tolist()}[data]
    with xpgrad.use_backend("array_api_strict"):
        model = _mlp()
        assert any(not isinstance(step, nn.Module) for step in model._make_plan())  # Linear→ReLU is fused
        y = model(given)
        assert y.backend == "array_api_strict" and str(y.dtype).endswith("float32")
        np.testing.assert_allclose(y.numpy(), _reference(model, x), rtol=1e-5, atol=1e-6)
        y.sum().backward()  # the graph reaches the parameters
        assert all(p.grad is not None for p in model.parameters())


def test_host_data_follows_the_module_not_the_current_backend():
    model = _mlp(backend="array_api_strict", dtype="float64")
    y = model(np.ones((2, 3), dtype=np.float32))  # current backend: numpy
    assert y.backend == "array_api_strict" and str(y.dtype).endswith("float64")
    for layer in (model[0], nn.BatchNorm1d(3, backend="array_api_strict"), nn.Maxout(3, 2, backend="array_api_strict")):
        assert layer(np.ones((2, 3))).backend == "array_api_strict"


def test_host_data_follows_module_to():
    model = _mlp().to(dtype="float64")
    assert str(model(np.ones((1, 3), dtype=np.float32)).dtype) == "float64"
    model.to("array_api_strict")
    assert model(np.ones((1, 3))).backend == "array_api_strict"


def test_modules_without_parameters_use_the_current_backend_and_default_dtype():
    with xpgrad.use_backend("array_api_strict"):
        y = nn.ReLU()(np.array([-1.0, 2.0]))
        assert y.backend == "array_api_strict" and str(y.dtype).endswith("float32")
        assert y.tolist() == [0.0, 2.0]


class _PickRows(nn.Module):
    """A module with a second, integer input: labels and indices keep their dtype."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(xpgrad.ones(3, dtype="float64"))

    def forward(self, x, rows, flag=None):
        assert flag in (None, "on")
        return xpgrad.take(x * self.scale, rows, axis=0)


def test_integer_arrays_keep_their_dtype_and_options_are_untouched():
    with xpgrad.use_backend("array_api_strict"):
        m = _PickRows()
        out = m(np.arange(6.0).reshape(2, 3), np.array([1, 1, 0]), "on")
        assert out.backend == "array_api_strict" and str(out.dtype).endswith("float64")
        assert out.tolist() == [[3.0, 4.0, 5.0], [3.0, 4.0, 5.0], [0.0, 1.0, 2.0]]


# -- Tensors are checked, never cast silently ----------------------------------------------------------

@pytest.mark.parametrize("call", ["linear", "fused", "maxout", "batchnorm"])
def test_tensor_of_another_float_dtype_is_refused_naming_both_and_the_fix(cpu_backend, call):
    layer = {"linear": nn.Linear(3, 2), "fused": _mlp(), "maxout": nn.Maxout(3, 2),
             "batchnorm": nn.BatchNorm1d(3)}[call]
    x = xpgrad.ones((4, 3), dtype="float64")
    with pytest.raises(TypeError, match=r"input is float64 but the module's parameters are float32.*"
                                        r"x\.astype\('float32'\).*model\.to\(dtype='float64'\)"):
        layer(x)


@pytest.mark.parametrize("call", ["linear", "fused"])
def test_tensor_on_another_backend_raises_the_mixed_backend_error(call):
    layer = nn.Linear(3, 2) if call == "linear" else _mlp()
    with pytest.raises(ValueError, match=r"Linear.*different backends.*array_api_strict.*numpy.*\.to\("):
        layer(xpgrad.ones((4, 3), backend="array_api_strict"))


def test_matching_tensors_pass_unchanged_and_integer_tensors_are_not_a_dtype_error():
    layer = nn.Linear(3, 2)
    x = xpgrad.ones((1, 3))
    assert layer(x).shape == (1, 2)
    with pytest.raises(TypeError, match="linear: x has dtype int64 but weight has dtype float32"):
        layer(xpgrad.ones((1, 3), dtype="int64"))  # the op says it, the same on every backend


# -- fusion is offered by the layer -------------------------------------------------------------------------

def test_linear_offers_to_fuse_only_with_a_plain_builtin_relu():
    lin = nn.Linear(2, 2)
    assert lin.fuse_next(nn.ReLU()) == lin.forward_relu
    assert lin.fuse_next(nn.Activation("relu")) == lin.forward_relu
    assert lin.fuse_next(nn.Tanh()) is None and lin.fuse_next(nn.LeakyReLU()) is None
    other = nn.Activation("relu")
    other.fn = lambda x: xpgrad.maximum(x, 0.0) * 2.0  # e.g. a plugin's "relu"
    patched = nn.ReLU()
    patched.forward = lambda x: x
    assert lin.fuse_next(other) is None and lin.fuse_next(patched) is None

    class Mine(nn.Linear):
        pass

    assert Mine(2, 2).fuse_next(nn.ReLU()) is None  # a subclass may compute something else
    lin.forward = lambda x: x * 0.0
    assert lin.fuse_next(nn.ReLU()) is None
    assert nn.Module().fuse_next(nn.ReLU()) is None


def test_sequential_asks_each_layer_so_any_module_can_fuse():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2.0

        def fuse_next(self, following):
            if isinstance(following, Double):
                return lambda x: x * 4.0
            return None

    net = nn.Sequential(Double(), Double(), Double())
    plan = net._make_plan()
    assert len(plan) == 2 and not isinstance(plan[0], nn.Module) and plan[1] is net[2]
    assert net(xpgrad.tensor([1.0])).tolist() == [8.0]


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3)])
def test_fused_and_unfused_give_the_same_values_and_central_difference_gradients(cpu_backend, x_shape):
    model = _mlp(dtype="float64")
    x = xpgrad.tensor(np.random.default_rng(2).standard_normal(x_shape), dtype="float64", requires_grad=True,
                      backend=cpu_backend)
    unfused = nn.Sequential(model[0], nn.Tanh(), model[2])  # a plan with no fused step...
    unfused[1] = nn.ReLU()  # ...then the same layers, refused fusion by patching the ReLU's forward
    unfused[1].forward = lambda t: xpgrad.maximum(t, 0.0)
    assert all(isinstance(step, nn.Module) for step in unfused._make_plan())
    np.testing.assert_allclose(model(x).numpy(), unfused(x).numpy(), rtol=1e-12)
    params = list(model.parameters())
    grads = []
    for net in (model, unfused):
        for p in [x, *params]:
            p.grad = None
        (net(x) ** 2).sum().backward()
        grads.append([xpgrad.backend.to_numpy(p.grad) for p in [x, *params]])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert xpgrad.gradcheck(lambda t: model(t), [x])
