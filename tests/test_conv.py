"""Conv2d: values against a direct loop in NumPy, gradients by central differences in float64 on each CPU
backend, argument errors, PyTorch's parameter shapes, state-dict keys and initialization."""

import importlib.util
import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn.functional.conv import conv2d


def reference_conv(x, w, b, stride, padding, dilation, groups):
    """The convolution by its definition: one loop over outputs, channels and kernel offsets (float64)."""
    (sh, sw), (top, bottom, left, right), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + top + bottom, wd + left + right))
    xp[:, :, top:top + h, left:left + wd] = x
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(n)
                for ci in range(cg):
                    for u in range(kh):
                        for v in range(kw):
                            acc += w[oc, ci, u, v] * xp[:, g * cg + ci, i * sh + u * dh, j * sw + v * dw]
                y[:, oc, i, j] = acc + (b[oc] if b is not None else 0.0)
    return y


def _t(a, requires_grad=False):
    return xpgrad.tensor(a, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


def _np(t):
    return xpgrad.backend.to_numpy(t)


# (input shape, weight shape, stride, padding, dilation, groups, bias)
CONFIGS = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0, 1, 1, True),
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, 1, 1, 1, True),
    ((1, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 2), 1, 1, False),
    ((1, 2, 7, 7), (2, 2, 2, 3), 1, 1, (2, 1), 1, True),
    ((2, 4, 5, 4), (6, 2, 3, 1), (1, 2), 0, 1, 2, True),
    ((1, 4, 4, 5), (4, 1, 2, 2), 2, 1, 1, 4, True),  # depthwise
    ((1, 1, 3, 3), (2, 1, 3, 3), 3, 0, 1, 1, True),  # one output position
]


def _pairs(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv2d_matches_the_loop_definition(cpu_backend, cfg):
    xs, ws, stride, padding, dilation, groups, bias = cfg
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    ph, pw = _pairs(padding)
    want = reference_conv(x, w, b if bias else None, _pairs(stride), (ph, ph, pw, pw), _pairs(dilation), groups)
    got = conv2d(_t(x), _t(w), _t(b) if bias else None, stride, padding, dilation, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv2d_gradcheck(cpu_backend, cfg):
    xs, ws, stride, padding, dilation, groups, bias = cfg
    rng = np.random.default_rng(2)
    x, w = _t(rng.standard_normal(xs), True), _t(rng.standard_normal(ws), True)
    inputs = [x, w] + ([_t(rng.standard_normal(ws[0]), True)] if bias else [])

    def fn(x, w, b=None):
        return conv2d(x, w, b, stride, padding, dilation, groups)

    assert xpgrad.gradcheck(fn, inputs)


def test_conv2d_gradient_of_the_weight_alone_and_the_input_alone(cpu_backend):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((3, 2, 3, 3))
    assert xpgrad.gradcheck(lambda w: conv2d(_t(x), w, padding=1), [_t(w, True)])
    assert xpgrad.gradcheck(lambda x: conv2d(x, _t(w), stride=2), [_t(x, True)])


def test_padding_same_keeps_the_size_with_the_odd_extra_row_last(cpu_backend):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 2, 4))
    got = conv2d(_t(x), _t(w), padding="same")
    assert got.shape == (1, 3, 5, 6)
    want = reference_conv(x, w, None, (1, 1), (0, 1, 1, 2), (1, 1), 1)
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-12)
    assert conv2d(_t(x), _t(w), padding="valid").shape == (1, 3, 4, 3)
    assert xpgrad.gradcheck(lambda x, w: conv2d(x, w, padding="same", dilation=2), [_t(x, True), _t(w, True)])


def test_an_unbatched_image_gives_an_unbatched_output(cpu_backend):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 4, 4)), rng.standard_normal((3, 2, 3, 3))
    got = conv2d(_t(x), _t(w), padding=1)
    assert got.shape == (3, 4, 4)
    np.testing.assert_allclose(_np(got), _np(conv2d(_t(x[None]), _t(w), padding=1))[0])


def test_layer_shapes_keys_and_pytorch_initialization():
    conv = nn.Conv2d(6, 8, (3, 5), stride=2, padding=1, groups=2)
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(3 * 3 * 5)
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() > 0.8 * bound / math.sqrt(3)  # uniform on ±bound: std = bound / √3
    assert nn.Conv2d(2, 2, 1, bias=False).bias is None
    assert list(nn.Conv2d(2, 2, 1, bias=False).state_dict()) == ["weight"]
    assert conv(xpgrad.zeros((2, 6, 9, 9))).shape == (2, 8, 5, 4)
    assert "Conv2d(6, 8, kernel_size=(3, 5)" in repr(conv) and "groups=2" in repr(conv)


def test_layer_loads_a_pytorch_layout_state_dict_and_computes_the_reference(cpu_backend):
    rng = np.random.default_rng(6)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv = nn.Conv2d(3, 4, 3, padding=1, dtype="float64")
    conv.load_state_dict({"weight": w, "bias": b})
    x = rng.standard_normal((2, 3, 5, 5))
    np.testing.assert_allclose(_np(conv(x)), reference_conv(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1), rtol=1e-12)
    x_t = _t(x, True)
    conv(x_t).sum().backward()
    assert conv.weight.grad is not None and conv.bias.grad is not None and x_t.grad is not None


def test_layer_gradcheck_through_a_small_cnn(cpu_backend):
    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype="float64"), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(3, 2, 2, dtype="float64"), nn.Flatten())
    x = _t(np.random.default_rng(7).standard_normal((2, 2, 6, 6)), True)

    assert xpgrad.gradcheck(model, [x])


@pytest.mark.parametrize("kwargs, match", [
    ({"x": (2, 4, 5, 5)}, r"Conv2d\(3, 4.*expected input of shape \(N, 3, H, W\), got shape \(2, 4, 5, 5\)"),
    ({"x": (5, 5)}, r"4-D input .* got shape \(5, 5\)"),
    ({"x": (1, 3, 2, 2)}, r"kernel's reach along the height \(3.*exceeds the padded input"),
])
def test_layer_input_errors_name_the_layer_and_the_shapes(kwargs, match):
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=match):
        conv(xpgrad.zeros(kwargs["x"]))


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((3, 4, 3), {"groups": 2}, ValueError, r"groups=2 must divide in_channels=3"),
    ((4, 3, 3), {"groups": 2}, ValueError, r"groups=2 must divide .* out_channels=3"),
    ((3, 4, 3), {"stride": 0}, ValueError, r"stride must be >= 1"),
    ((3, 4, 3), {"padding": -1}, ValueError, r"padding must be >= 0"),
    ((3, 4, 3), {"padding": "full"}, ValueError, r"'same' or 'valid', got 'full'"),
    ((3, 4, 3), {"padding": "same", "stride": 2}, ValueError, r"padding='same' needs stride 1"),
    ((3, 4, (3, 3, 3)), {}, TypeError, r"kernel_size must be an int or a pair"),
    ((3, 4, 2.5), {}, TypeError, r"kernel_size must be an int or a pair"),
    ((0, 4, 3), {}, ValueError, r"in_channels must be a positive integer, got 0"),
    ((3, 4, 3), {"dtype": "int32"}, TypeError, r"int32"),
])
def test_layer_argument_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Conv2d(*args, **kwargs)


def test_functional_argument_errors():
    x, w = xpgrad.zeros((1, 4, 5, 5)), xpgrad.zeros((6, 2, 3, 3))
    with pytest.raises(ValueError, match=r"groups=4 must divide out_channels=6"):
        conv2d(x, w, groups=4)
    with pytest.raises(ValueError, match=r"expected input with 2 channels .* got input of shape \(1, 4, 5, 5\)"):
        conv2d(x, w)
    with pytest.raises(ValueError, match=r"bias must be a tensor of shape \(6,\)"):
        conv2d(x, w, xpgrad.zeros((5,)), groups=2)
    with pytest.raises(ValueError, match=r"weight must be a 4-D tensor"):
        conv2d(x, xpgrad.zeros((6, 2, 3)))
    with pytest.raises(TypeError, match=r"input must be an xpgrad.Tensor, got ndarray"):
        conv2d(np.zeros((1, 4, 5, 5)), w, groups=2)
    with pytest.raises(TypeError, match=r"differs from weight dtype"):
        conv2d(xpgrad.zeros((1, 4, 5, 5), dtype="float64"), w, groups=2)
    with pytest.raises(TypeError, match=r"floating-point input"):
        conv2d(xpgrad.zeros((1, 4, 5, 5), dtype="int64"), w, groups=2)
    with pytest.raises(ValueError, match=r"groups must be a positive int, got 0"):
        conv2d(x, w, groups=0)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (optional cross-check)")
def test_matches_pytorch_on_one_configuration():
    import torch

    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    g = rng.standard_normal((2, 6, 3, 9))
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    (conv2d(xt, wt, bt, (2, 1), (1, 2), (2, 1), 2) * _t(g)).sum().backward()
    X, W, B = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(X, W, B, (2, 1), (1, 2), (2, 1), 2).backward(torch.tensor(g))
    for ours, theirs in ((xt, X), (wt, W), (bt, B)):
        np.testing.assert_allclose(_np(ours.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_then_relu_fuses_in_a_sequential_with_the_same_values_and_gradients(cpu_backend):
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype="float64")
    assert conv.fuse_next(nn.ReLU()) is not None and conv.fuse_next(nn.Tanh()) is None
    x = np.random.default_rng(9).standard_normal((2, 2, 5, 5))
    outs = []
    for model in (nn.Sequential(conv, nn.ReLU()), lambda t: nn.ReLU()(conv(t))):
        xt = _t(x, True)
        y = model(xt)
        (y * _t(np.arange(y.size, dtype=float).reshape(y.shape))).sum().backward()
        outs.append((_np(y), _np(xt.grad), _np(conv.weight.grad), _np(conv.bias.grad)))
        conv.weight.grad = conv.bias.grad = None
    for fused, plain in zip(*outs, strict=True):
        np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-12)
    assert xpgrad.gradcheck(lambda x, w, b: nn.functional.conv.conv2d_relu(x, w, b, padding=1),
                            [_t(x, True), _t(np.random.default_rng(10).standard_normal((3, 2, 3, 3)), True),
                             _t(np.random.default_rng(11).standard_normal(3), True)])
