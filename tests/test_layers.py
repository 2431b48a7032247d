"""Layers: values against hand computation and every gradient checked in float64 on each CPU backend."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn


def _swap(module, dotted, tensor):
    *path, leaf = dotted.split(".")
    m = module
    for p in path:
        m = m._modules[p]
    old = m._parameters[leaf]
    # Bypasses __setattr__ so a plain probe tensor can stand in; the instance dict mirrors the table.
    m._parameters[leaf] = m.__dict__[leaf] = tensor
    return old


def check_module(module, x, reseed=None):
    """gradcheck the module with respect to its input and every parameter."""
    names = [n for n, _ in module.named_parameters()]
    params = [p for _, p in module.named_parameters()]

    def fn(x, *ps):
        if reseed is not None:
            xpgrad.manual_seed(reseed)
        olds = [_swap(module, n, p) for n, p in zip(names, ps, strict=True)]
        try:
            return module(x)
        finally:
            for n, o in zip(names, olds, strict=True):
                _swap(module, n, o)

    assert xpgrad.gradcheck(fn, [x, *params])


def _x(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return _t(rng.standard_normal(shape), requires_grad=True)


def _t(array, requires_grad=False):
    """A float64 tensor on the current backend (a NumPy array alone would stay on NumPy)."""
    return xpgrad.tensor(array, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


# -- Linear --------------------------------------------------------------------------------------

def test_linear_matches_x_wT_plus_b(backend):
    layer = nn.Linear(3, 2, dtype="float64")
    assert layer.weight.shape == (2, 3)  # PyTorch's (out_features, in_features)
    x = _x(4, 3)
    want = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-12)
    assert layer(x).backend == backend


@pytest.mark.parametrize("relu", [False, True])
def test_linear_gradients_are_g_W_gT_x_and_row_sums(cpu_backend, relu):
    layer = nn.Linear(3, 2, dtype="float64")
    x = _x(4, 3)
    g = np.random.default_rng(3).standard_normal((4, 2))
    y = layer.forward_relu(x) if relu else layer(x)
    (y * _t(g)).sum().backward()
    W, xn = layer.weight.numpy(), x.numpy()
    if relu:
        g = g * (xn @ W.T + layer.bias.numpy() > 0)
    np.testing.assert_allclose(xpgrad.backend.to_numpy(x.grad), g @ W, rtol=1e-12)
    np.testing.assert_allclose(xpgrad.backend.to_numpy(layer.weight.grad), g.T @ xn, rtol=1e-12)
    np.testing.assert_allclose(xpgrad.backend.to_numpy(layer.bias.grad), g.sum(0), rtol=1e-12)
    assert layer.weight.grad.shape == (2, 3)


def test_linear_gradcheck(cpu_backend):
    layer = nn.Linear(3, 2, dtype="float64")
    layer.bias.data = layer.bias.data + 0.3
    check_module(layer, _x(4, 3))
    check_module(nn.Linear(3, 2, bias=False, dtype="float64"), _x(2, 5, 3))


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]


# -- activations -----------------------------------------------------------------------------------

SHORTHANDS = [(nn.ReLU, "relu", {}), (nn.Tanh, "tanh", {}), (nn.Sigmoid, "sigmoid", {}),
              (nn.LeakyReLU, "leaky_relu", {"negative_slope": 0.2}), (nn.ELU, "elu", {"alpha": 0.5})]


@pytest.mark.parametrize("cls, name, kw", SHORTHANDS, ids=[s[1] for s in SHORTHANDS])
def test_activation_shorthands_match_the_registry_and_gradcheck(cpu_backend, cls, name, kw):
    x = _x(4, 3)
    layer = cls(*kw.values())
    want = xpgrad.activation(name, **kw)(x).numpy()
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(nn.Activation(name, **kw)(x).numpy(), want, rtol=1e-12)
    check_module(layer, x)
    assert list(layer.parameters()) == []


def test_activation_values_and_reprs():
    x = xpgrad.tensor([-2.0, 0.5])
    assert nn.ReLU()(x).tolist() == [0.0, 0.5]
    assert nn.LeakyReLU(0.1)(x).numpy().tolist() == pytest.approx([-0.2, 0.5])
    assert nn.ELU()(x).numpy().tolist() == pytest.approx([np.exp(-2.0) - 1.0, 0.5])
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ELU(0.5)) == "ELU(alpha=0.5)"
    assert repr(nn.Activation("tanh")) == "Activation('tanh')"


def test_activation_errors_name_the_problem():
    with pytest.raises(KeyError, match="nope"):
        nn.Activation("nope")
    with pytest.raises(TypeError, match="always applies 'relu'"):
        nn.ReLU("tanh")
    with pytest.raises(TypeError):
        nn.Activation(3)


def test_activation_from_an_in_process_plugin():
    class Plugin:
        @xpgrad.hookimpl
        def register_activations(self, register):
            register("cube_test", lambda x, scale=1.0: scale * x * x * x)

    pm = xpgrad.plugin_manager()
    pm.register(Plugin(), name="cube-test-plugin")
    try:
        layer = nn.Activation("cube_test", scale=2.0)
        assert layer(xpgrad.tensor([2.0])).tolist() == [16.0]
        assert repr(layer) == "Activation('cube_test', scale=2.0)"
    finally:
        pm.unregister(name="cube-test-plugin")


# -- Maxout ----------------------------------------------------------------------------------------

def test_maxout_is_max_of_affine_pieces(backend):
    m = nn.Maxout(3, 2, pieces=3, dtype="float64")
    m.bias.data = m.bias.data + xpgrad.arange(6, dtype="float64").data * 0.1
    x = _x(5, 3)
    W, b = m.weight.numpy(), m.bias.numpy()
    assert W.shape == (6, 3)  # (pieces * out_features, in_features), the layout of Linear
    pieces = [x.numpy() @ W[k * 2:(k + 1) * 2].T + b[k * 2:(k + 1) * 2] for k in range(3)]
    np.testing.assert_allclose(m(x).numpy(), np.maximum.reduce(pieces), rtol=1e-12)


def test_maxout_gradcheck(cpu_backend):
    check_module(nn.Maxout(3, 2, pieces=2, dtype="float64"), _x(4, 3))


# -- Flatten ------------------------------------------------------------------------------------------

def test_flatten_shapes_and_gradcheck(cpu_backend):
    x = _x(2, 3, 2, 2)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(start_dim=0)(x).shape == (24,)
    assert nn.Flatten(1, 2)(x).shape == (2, 6, 2)
    check_module(nn.Flatten(), x)
    with pytest.raises(ValueError, match="empty"):
        nn.Flatten(2, 1)(x)


def test_unflatten_inverts_flatten_and_gradcheck(cpu_backend):
    x = _x(2, 12)
    y = nn.Unflatten(1, (3, 2, 2))(x)
    assert y.shape == (2, 3, 2, 2)
    assert nn.Flatten()(y).tolist() == x.tolist()
    assert nn.Unflatten(-1, (-1, 4))(x).shape == (2, 3, 4)
    check_module(nn.Unflatten(1, (3, 4)), x)
    with pytest.raises(ValueError, match="cannot be split"):
        nn.Unflatten(1, (5, 2))(x)
    with pytest.raises(ValueError, match="out of range"):
        nn.Unflatten(2, (3, 4))(x)
    with pytest.raises(ValueError, match="unflattened_size"):
        nn.Unflatten(1, (-1, -1))


# -- Dropout ------------------------------------------------------------------------------------------

def test_dropout_scales_kept_entries_and_drops_about_p(backend):
    drop = nn.Dropout(0.3)
    y = drop(xpgrad.ones((200, 50))).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02  # 10 000 draws: 4 standard deviations is 0.018


def test_dropout_preserves_the_mean():
    y = nn.Dropout(0.5)(xpgrad.full((100_000,), 3.0)).numpy()
    assert abs(y.mean() - 3.0) < 0.05


def test_dropout_is_identity_in_eval_and_for_p0():
    x = xpgrad.randn(4, 5)
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).numpy().any()


def test_dropout_mask_follows_manual_seed(cpu_backend):
    drop = nn.Dropout(0.5)
    xpgrad.manual_seed(5)
    a = drop(xpgrad.ones(64)).numpy()
    xpgrad.manual_seed(5)
    np.testing.assert_array_equal(a, drop(xpgrad.ones(64)).numpy())
    assert not np.array_equal(a, drop(xpgrad.ones(64)).numpy())


def test_dropout_gradient_uses_the_same_mask(cpu_backend):
    x = _x(6, 4)
    check_module(nn.Dropout(0.4), x, reseed=11)
    xpgrad.manual_seed(11)
    y = nn.Dropout(0.4)(x)
    x.grad = None
    y.sum().backward()
    np.testing.assert_allclose(xpgrad.backend.to_numpy(x.grad),
                               (y.numpy() != 0) / 0.6, rtol=1e-12)


# -- BatchNorm1d ------------------------------------------------------------------------------------

def _bn_reference(x, gamma, beta, eps):
    mu, var = x.mean(0), x.var(0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def test_batchnorm_train_uses_batch_statistics_and_updates_running_ones(backend):
    bn = nn.BatchNorm1d(3, momentum=0.2, eps=1e-3, dtype="float64")
    bn.weight.data = bn.weight.data * 1.5
    bn.bias.data = bn.bias.data - 0.5
    x = _x(6, 3)
    xn = x.numpy()
    np.testing.assert_allclose(bn(x).numpy(), _bn_reference(xn, 1.5, -0.5, 1e-3), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * xn.mean(0), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * xn.var(0, ddof=1), rtol=1e-10)
    x2 = _x(6, 3, seed=1).numpy()
    bn(_t(x2))
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.8 * 0.2 * xn.mean(0) + 0.2 * x2.mean(0), rtol=1e-10)


def test_batchnorm_eval_uses_running_statistics(cpu_backend):
    bn = nn.BatchNorm1d(2, dtype="float64")
    bn.running_mean.data = _t([1.0, -2.0]).data
    bn.running_var.data = _t([4.0, 0.25]).data
    bn.eval()
    x = _x(3, 2)
    want = (x.numpy() - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(bn(x).numpy(), want, rtol=1e-12)
    before = bn.running_mean.numpy().copy()
    bn(x)
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)
    one = bn(_x(1, 2))  # a single example is fine in eval mode
    assert one.shape == (1, 2)


def test_batchnorm_output_is_normalized():
    bn = nn.BatchNorm1d(4)
    y = bn(xpgrad.randn(64, 4) * 5.0 + 3.0).numpy()
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1.0, atol=1e-3)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_gradcheck(cpu_backend, mode):
    bn = nn.BatchNorm1d(3, dtype="float64")
    bn.weight.data = _x(3, seed=4).data
    bn.bias.data = _x(3, seed=5).data
    bn.running_var.data = bn.running_var.data * 2.0
    bn.train(mode == "train")
    check_module(bn, _x(5, 3))


def test_batchnorm_gradient_with_only_input_or_only_gamma_requiring_grad(cpu_backend):
    bn = nn.BatchNorm1d(2, dtype="float64")
    bn.weight.requires_grad_(False)
    bn.bias.requires_grad_(False)
    assert xpgrad.gradcheck(bn, [_x(4, 2)])
    bn2 = nn.BatchNorm1d(2, dtype="float64")
    x = _t(_x(4, 2).numpy())
    bn2(x).sum().backward()
    np.testing.assert_allclose(xpgrad.backend.to_numpy(bn2.bias.grad), [4.0, 4.0])


def test_batchnorm_shape_errors():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        bn(xpgrad.ones((4, 2)))
    with pytest.raises(ValueError, match="more than one example"):
        bn(xpgrad.ones((1, 3)))
    assert bn.gamma is bn.weight and bn.beta is bn.bias


# -- whole networks ---------------------------------------------------------------------------------

def test_sequential_gradcheck_through_several_layers(cpu_backend):
    net = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.BatchNorm1d(4, dtype="float64"), nn.Tanh(),
                        nn.Maxout(4, 3, dtype="float64"), nn.ELU(), nn.Linear(3, 2, dtype="float64"))
    check_module(net, _x(5, 3))


@pytest.mark.parametrize("xshape", [(5, 3), (2, 5, 3)])
def test_fused_linear_relu_gradcheck_in_a_sequential(cpu_backend, xshape):
    net = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 2, dtype="float64"), nn.ReLU())
    assert sum(not isinstance(step, nn.Module) for step in net._make_plan()) == 2  # both pairs fused
    net[0].bias.data = net[0].bias.data + 0.1
    check_module(net, _x(*xshape))


def test_a_small_network_learns_xor_like_data():
    xpgrad.manual_seed(0)
    X = xpgrad.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = xpgrad.tensor([[0.0], [1.0], [1.0], [0.0]])
    net = nn.Sequential(nn.Maxout(2, 8), nn.Linear(8, 1))
    for _ in range(300):
        net.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        with xpgrad.no_grad():
            for p in net.parameters():
                p.data = p.data - 0.1 * p.grad
    assert loss.item() < 0.01
