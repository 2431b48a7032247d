"""BatchNorm2d, LayerNorm and their functional forms: values against NumPy formulas, running statistics as
PyTorch updates them, state-dict keys, errors, and every gradient by central differences in float64."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn.functional.norm import batch_norm, layer_norm


def _t(array, requires_grad=False, dtype="float64"):
    return xpgrad.tensor(np.asarray(array), dtype=dtype, requires_grad=requires_grad, backend=xpgrad.get_backend())


def _x(*shape, seed=0, requires_grad=True):
    return _t(np.random.default_rng(seed).standard_normal(shape) * 2.0 + 0.5, requires_grad=requires_grad)


def _np(t):
    return xpgrad.backend.to_numpy(t.data if isinstance(t, xpgrad.Tensor) else t)


def _bn2d_ref(x, gamma, beta, eps):
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return gamma.reshape(1, -1, 1, 1) * (x - mu) / np.sqrt(var + eps) + beta.reshape(1, -1, 1, 1)


# -- BatchNorm2d --------------------------------------------------------------------------------------

def test_batchnorm2d_train_values_and_running_stats_follow_pytorch(backend):
    bn = nn.BatchNorm2d(3, eps=1e-3, momentum=0.2, dtype="float64")
    bn.weight.data = _t([1.5, -0.5, 2.0]).data
    bn.bias.data = _t([0.1, 0.2, -0.3]).data
    x = _x(4, 3, 2, 5)
    xn = _np(x)
    np.testing.assert_allclose(_np(bn(x)), _bn2d_ref(xn, np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3]),
                                                      1e-3), rtol=1e-10, atol=1e-12)
    n = 4 * 2 * 5
    mean, var_b = xn.mean(axis=(0, 2, 3)), xn.var(axis=(0, 2, 3))
    np.testing.assert_allclose(_np(bn.running_mean), 0.2 * mean, rtol=1e-10)
    # PyTorch keeps the unbiased variance: n / (n - 1) times the biased one
    np.testing.assert_allclose(_np(bn.running_var), 0.8 + 0.2 * var_b * n / (n - 1), rtol=1e-10)
    assert int(_np(bn.num_batches_tracked)) == 1
    x2 = _np(_x(4, 3, 2, 5, seed=1))
    bn(_t(x2))
    np.testing.assert_allclose(_np(bn.running_mean), 0.8 * 0.2 * mean + 0.2 * x2.mean(axis=(0, 2, 3)), rtol=1e-10)
    assert int(_np(bn.num_batches_tracked)) == 2
    assert bn(x).backend == backend


def test_batchnorm2d_momentum_none_is_a_cumulative_average(cpu_backend):
    bn = nn.BatchNorm2d(2, momentum=None, dtype="float64")
    xs = [_np(_x(3, 2, 2, 2, seed=s)) for s in range(3)]
    for x in xs:
        bn(_t(x))
    want = np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0)
    np.testing.assert_allclose(_np(bn.running_mean), want, rtol=1e-10)
    assert int(_np(bn.num_batches_tracked)) == 3


def test_batchnorm2d_eval_uses_running_statistics_and_leaves_them(cpu_backend):
    bn = nn.BatchNorm2d(2, dtype="float64")
    bn.running_mean.data = _t([1.0, -2.0]).data
    bn.running_var.data = _t([4.0, 0.25]).data
    bn.eval()
    x = _x(1, 2, 3, 3)  # one example is fine in eval mode
    want = (_np(x) - np.array([1.0, -2.0]).reshape(1, 2, 1, 1)) / np.sqrt(np.array([4.0, 0.25]) + 1e-5).reshape(
        1, 2, 1, 1)
    np.testing.assert_allclose(_np(bn(x)), want, rtol=1e-12)
    np.testing.assert_array_equal(_np(bn.running_mean), [1.0, -2.0])
    assert int(_np(bn.num_batches_tracked)) == 0


def test_batchnorm2d_without_affine_or_running_stats():
    bn = nn.BatchNorm2d(2, affine=False, track_running_stats=False, dtype="float64")
    assert list(bn.state_dict()) == [] and list(bn.parameters()) == []
    assert bn.weight is None and bn.running_mean is None
    x = _x(3, 2, 2, 2)
    bn.eval()  # no running statistics: batch statistics in both modes
    np.testing.assert_allclose(_np(bn(x)), _bn2d_ref(_np(x), np.ones(2), np.zeros(2), 1e-5), rtol=1e-10, atol=1e-12)


def test_batchnorm2d_state_dict_keys_shapes_and_round_trip():
    bn = nn.BatchNorm2d(4)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [tuple(v.shape) for v in sd.values()] == [(4,), (4,), (4,), (4,), ()]
    assert str(sd["num_batches_tracked"].dtype).endswith("int64")
    bn(xpgrad.randn(2, 4, 3, 3))
    other = nn.BatchNorm2d(4)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_var.numpy(), bn.running_var.numpy())
    assert int(other.num_batches_tracked.numpy()) == 1
    assert str(other.num_batches_tracked.dtype).endswith("int64")
    net = nn.Sequential(nn.BatchNorm2d(2))
    assert "0.num_batches_tracked" in net.state_dict()


def test_batchnorm2d_output_is_normalized_in_float32():
    bn = nn.BatchNorm2d(3)
    y = bn(xpgrad.randn(16, 3, 4, 4) * 5.0 + 3.0).numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1.0, atol=1e-3)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm2d_gradcheck(cpu_backend, mode, affine):
    bn = nn.BatchNorm2d(3, affine=affine, dtype="float64")
    if affine:
        bn.weight.data = _x(3, seed=4).data
        bn.bias.data = _x(3, seed=5).data
    bn.running_mean.data = _x(3, seed=6).data
    bn.running_var.data = bn.running_var.data * 2.0
    bn.train(mode == "train")

    def fn(x, *ps):
        return batch_norm(x, bn.running_mean, bn.running_var, *ps, training=mode == "train", momentum=0.0)

    assert xpgrad.gradcheck(fn, [_x(3, 3, 2, 2), *bn.parameters()])
    # the module and the functional form agree, gradients included
    x = _x(3, 3, 2, 2, seed=7)
    x2 = _x(3, 3, 2, 2, seed=7)
    weights = _t(np.arange(36.0).reshape(3, 3, 2, 2))
    (bn(x) * weights).sum().backward()
    (fn(x2, *bn.parameters()) * weights).sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(x2.grad), rtol=1e-12, atol=1e-12)


def test_batchnorm2d_errors():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\), got \(4, 2, 5, 5\)"):
        bn(xpgrad.ones((4, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"got \(4, 3\)"):
        bn(xpgrad.ones((4, 3)))
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3, 1, 1\)"):
        bn(xpgrad.ones((1, 3, 1, 1)))
    for kw, err, pat in [({"num_features": 0}, ValueError, "num_features"),
                         ({"num_features": 2, "momentum": 1.5}, ValueError, "momentum"),
                         ({"num_features": 2, "eps": 0.0}, ValueError, "eps"),
                         ({"num_features": 2, "affine": "yes"}, TypeError, "affine"),
                         ({"num_features": 2, "dtype": "int32"}, TypeError, "int32")]:
        with pytest.raises(err, match=pat):
            nn.BatchNorm2d(**kw)
    assert "track_running_stats=True" in repr(bn)


# -- functional batch_norm --------------------------------------------------------------------------------

def test_functional_batch_norm_updates_given_running_stats_in_place(cpu_backend):
    x = _x(5, 2, 3)
    rm, rv = _t(np.zeros(2)), _t(np.ones(2))
    y = batch_norm(x, rm, rv, training=True, momentum=0.5)
    xn = _np(x)
    mu, var = xn.mean(axis=(0, 2), keepdims=True), xn.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(_np(y), (xn - mu) / np.sqrt(var + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(_np(rm), 0.5 * mu.ravel(), rtol=1e-10)
    np.testing.assert_allclose(_np(rv), 0.5 + 0.5 * var.ravel() * 15 / 14, rtol=1e-10)
    before = _np(rm).copy()
    batch_norm(x, rm, rv)  # evaluation: running statistics used, untouched
    np.testing.assert_array_equal(_np(rm), before)
    assert batch_norm(x, None, None, training=True).shape == (5, 2, 3)


def test_functional_batch_norm_errors():
    x = xpgrad.ones((4, 3))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\).*got \(2,\)"):
        batch_norm(x, xpgrad.zeros(2), xpgrad.ones(3))
    with pytest.raises(ValueError, match="training=False"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        batch_norm(x, xpgrad.zeros(3), None, training=True)
    with pytest.raises(ValueError, match="at least 2 axes"):
        batch_norm(xpgrad.ones(3), None, None, training=True)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(x, None, None, training=True, momentum=2.0)


# -- LayerNorm -----------------------------------------------------------------------------------------

def _ln_ref(x, k, gamma, beta, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def test_layernorm_values_over_the_trailing_axes(backend):
    ln = nn.LayerNorm((3, 4), dtype="float64")
    gamma, beta = np.random.default_rng(1).standard_normal((2, 3, 4))
    ln.weight.data, ln.bias.data = _t(gamma).data, _t(beta).data
    x = _x(2, 5, 3, 4)
    np.testing.assert_allclose(_np(ln(x)), _ln_ref(_np(x), 2, gamma, beta), rtol=1e-10, atol=1e-12)
    ln.eval()  # no running statistics: the same in evaluation
    np.testing.assert_allclose(_np(ln(x)), _ln_ref(_np(x), 2, gamma, beta), rtol=1e-10, atol=1e-12)
    one = _x(4)  # no batch axis at all
    np.testing.assert_allclose(_np(nn.LayerNorm(4, dtype="float64")(one)), _ln_ref(_np(one), 1, 1.0, 0.0),
                               rtol=1e-10)


def test_layernorm_parameters_and_state_dict():
    assert list(nn.LayerNorm(5).state_dict()) == ["weight", "bias"]
    assert [tuple(p.shape) for p in nn.LayerNorm([2, 3]).parameters()] == [(2, 3), (2, 3)]
    assert list(nn.LayerNorm(5, bias=False).state_dict()) == ["weight"]
    plain = nn.LayerNorm(5, elementwise_affine=False)
    assert list(plain.state_dict()) == [] and plain.weight is None and plain.bias is None
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"elementwise_affine": False}])
def test_layernorm_gradcheck(cpu_backend, kw):
    ln = nn.LayerNorm((2, 3), dtype="float64", **kw)
    for i, p in enumerate(ln.parameters()):
        p.data = _x(2, 3, seed=10 + i).data

    def fn(x, *ps):
        w = ps[0] if ln.weight is not None else None
        b = ps[1] if ln.bias is not None else None
        return layer_norm(x, (2, 3), w, b)

    assert xpgrad.gradcheck(fn, [_x(4, 2, 3), *ln.parameters()])
    x, x2 = _x(4, 2, 3, seed=3), _x(4, 2, 3, seed=3)
    weights = _t(np.arange(24.0).reshape(4, 2, 3))
    (ln(x) * weights).sum().backward()
    (fn(x2, *ln.parameters()) * weights).sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(x2.grad), rtol=1e-12, atol=1e-12)


def test_layernorm_errors():
    ln = nn.LayerNorm((3, 4))
    with pytest.raises(ValueError, match=r"normalized_shape=\(3, 4\), got input of shape \(2, 4, 3\)"):
        ln(xpgrad.ones((2, 4, 3)))
    with pytest.raises(ValueError, match=r"input of shape \(4,\)"):
        ln(xpgrad.ones((4,)))
    for bad in (0, (), (2, -1), "4", 2.0, True):
        with pytest.raises(ValueError, match="normalized_shape"):
            nn.LayerNorm(bad)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(3, eps=-1.0)
    with pytest.raises(ValueError, match=r"weight must have normalized_shape=\(3,\), got \(2,\)"):
        layer_norm(xpgrad.ones((2, 3)), 3, weight=xpgrad.ones(2))


def test_normalization_layers_train_in_a_compiled_step_like_eager():
    """BatchNorm2d's running statistics and count are updated at every replay of a compiled step."""
    def run(compiled):
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.BatchNorm2d(2, dtype="float64"), nn.Flatten(), nn.LayerNorm(8, dtype="float64"))
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (model(x) * xpgrad.arange(8, dtype="float64")).sum()
            loss.backward()
            opt.step()
            return loss

        step = xpgrad.compile(step) if compiled else step
        for s in range(4):
            step(_x(3, 2, 2, 2, seed=s, requires_grad=False))
        return model

    eager, compiled = run(False), run(True)
    for (k, a), (_, b) in zip(eager.state_dict().items(), compiled.state_dict().items(), strict=True):
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=k)
    assert int(_np(compiled[0].num_batches_tracked)) == 4
