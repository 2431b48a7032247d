"""MaxPool2d and AvgPool2d: values against a direct loop in NumPy, gradients by central differences in float64
on each CPU backend, the first-maximum rule for ties, argument errors."""

import importlib.util
import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn.functional.conv import avg_pool2d, max_pool2d


def _size(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil else span // s) + 1
    return out - 1 if ceil and (out - 1) * s >= size + p else out


def reference_pool(x, kernel, stride, padding, dilation=(1, 1), ceil=False, mode="max", include_pad=True):
    """Pooling by its definition, one window at a time (PyTorch's divisor rule for the average)."""
    n, c, h, w = x.shape
    oh = _size(h, kernel[0], stride[0], padding[0], dilation[0], ceil)
    ow = _size(w, kernel[1], stride[1], padding[1], dilation[1], ceil)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = [i * stride[0] - padding[0] + u * dilation[0] for u in range(kernel[0])]
            cols = [j * stride[1] - padding[1] + v * dilation[1] for v in range(kernel[1])]
            inside = [(r, q) for r in rows for q in cols if 0 <= r < h and 0 <= q < w]
            vals = np.stack([x[:, :, r, q] for r, q in inside], axis=-1)
            if mode == "max":
                y[:, :, i, j] = vals.max(-1)
            else:
                hs, ws = rows[0], cols[0]
                he, we = min(hs + kernel[0], h + padding[0]), min(ws + kernel[1], w + padding[1])
                div = (he - hs) * (we - ws) if include_pad else len(inside)
                y[:, :, i, j] = vals.sum(-1) / div
    return y


def _t(a, requires_grad=False):
    return xpgrad.tensor(a, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


def _np(t):
    return xpgrad.backend.to_numpy(t)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


# kernel, stride, padding, dilation, ceil_mode
MAX_CONFIGS = [(2, None, 0, 1, False), (3, 2, 1, 1, False), ((3, 2), (2, 1), (1, 1), (2, 1), False),
               (3, 2, 0, 1, True), (3, 2, 1, 1, True), (2, 1, 0, 2, False)]
# kernel, stride, padding, ceil_mode, count_include_pad
AVG_CONFIGS = [(2, None, 0, False, True), (3, 2, 1, False, True), (3, 2, 1, False, False), (3, 2, 0, True, True),
               (3, 2, 1, True, True), (3, 2, 1, True, False), ((2, 3), (1, 2), (1, 1), False, True)]


@pytest.mark.parametrize("cfg", MAX_CONFIGS, ids=[f"max{i}" for i in range(len(MAX_CONFIGS))])
def test_max_pool_values_and_gradcheck(cpu_backend, cfg):
    k, s, p, d, ceil = cfg
    # distinct values, so the finite differences never cross a tie
    x = np.random.default_rng(0).permutation(2 * 2 * 7 * 8).reshape(2, 2, 7, 8) / 10.0
    want = reference_pool(x, _pair(k), _pair(s if s is not None else k), _pair(p), _pair(d), ceil)
    got = max_pool2d(_t(x), k, s, p, d, ceil)
    np.testing.assert_allclose(_np(got), want, rtol=0, atol=0)
    assert xpgrad.gradcheck(lambda x: max_pool2d(x, k, s, p, d, ceil), [_t(x, True)])


@pytest.mark.parametrize("cfg", AVG_CONFIGS, ids=[f"avg{i}" for i in range(len(AVG_CONFIGS))])
def test_avg_pool_values_and_gradcheck(cpu_backend, cfg):
    k, s, p, ceil, inc = cfg
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 8))
    want = reference_pool(x, _pair(k), _pair(s if s is not None else k), _pair(p), ceil=ceil, mode="avg",
                          include_pad=inc)
    got = avg_pool2d(_t(x), k, s, p, ceil, inc)
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-12)
    assert xpgrad.gradcheck(lambda x: avg_pool2d(x, k, s, p, ceil, inc), [_t(x, True)])


def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window(cpu_backend):
    x = _t(np.ones((1, 1, 4, 4)), True)
    max_pool2d(x, 2).sum().backward()
    want = np.zeros((4, 4))
    want[::2, ::2] = 1
    np.testing.assert_array_equal(_np(x.grad)[0, 0], want)
    # overlapping windows: an entry that is the maximum of two windows collects both gradients
    y = _t(np.array([[[[0.0, 5.0, 1.0, 0.0]]]]), True)
    (max_pool2d(y, (1, 2), 1) * _t(np.array([[[[1.0, 2.0, 4.0]]]]))).sum().backward()
    np.testing.assert_array_equal(_np(y.grad)[0, 0, 0], [0.0, 3.0, 4.0, 0.0])


def test_layers_and_unbatched_input(cpu_backend):
    x = np.random.default_rng(2).standard_normal((3, 6, 6))
    got = nn.MaxPool2d(2)(_t(x))
    assert got.shape == (3, 3, 3)
    np.testing.assert_allclose(_np(got), reference_pool(x[None], (2, 2), (2, 2), (0, 0))[0])
    got = nn.AvgPool2d(3, 1, 1, count_include_pad=False)(_t(x[None]))
    np.testing.assert_allclose(_np(got), reference_pool(x[None], (3, 3), (1, 1), (1, 1), mode="avg",
                                                        include_pad=False), rtol=1e-12)
    assert list(nn.MaxPool2d(2).state_dict()) == [] and "kernel_size=(2, 2)" in repr(nn.AvgPool2d(2))


@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, r"MaxPool2d: padding 2 must be at most half the kernel"),
    (lambda: nn.AvgPool2d(3, stride=0), ValueError, r"AvgPool2d: stride must be >= 1"),
    (lambda: nn.MaxPool2d((2, 2, 2)), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, r"ceil_mode must be True or False"),
    (lambda: nn.AvgPool2d(2, count_include_pad=None), TypeError, r"count_include_pad must be True or False"),
    (lambda: nn.MaxPool2d(3)(xpgrad.zeros((1, 1, 2, 2))), ValueError, r"MaxPool2d\(.*does not fit the height"),
    (lambda: nn.MaxPool2d(2)(xpgrad.zeros((4, 4))), ValueError, r"4-D input .* got shape \(4, 4\)"),
    (lambda: max_pool2d(xpgrad.zeros((1, 1, 4, 4), dtype="int64"), 2), TypeError, r"floating-point input"),
    (lambda: avg_pool2d(xpgrad.zeros((1, 1, 4, 4)), 2, padding=(0, 2)), ValueError, r"at most half the kernel"),
])
def test_argument_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed (optional cross-check)")
def test_matches_pytorch_with_ceil_mode_and_padding():
    import torch

    x = np.random.default_rng(3).standard_normal((2, 3, 9, 8))
    for ours, theirs, kw in ((max_pool2d, torch.nn.functional.max_pool2d, {"dilation": 2}),
                             (avg_pool2d, torch.nn.functional.avg_pool2d, {"count_include_pad": False})):
        xt, X = _t(x, True), torch.tensor(x, requires_grad=True)
        y = ours(xt, 3, 2, 1, ceil_mode=True, **kw)
        Y = theirs(X, 3, 2, 1, ceil_mode=True, **kw)
        np.testing.assert_allclose(_np(y), Y.detach().numpy(), rtol=1e-12)
        y.sum().backward()
        Y.sum().backward()
        np.testing.assert_allclose(_np(xt.grad), X.grad.numpy(), rtol=1e-12)


def _on_namespace(ctx, saved):
    """A stand-in for the graph node whose backward runs on the differentiable namespace (higher-order grads)."""
    from types import SimpleNamespace

    # create_graph=False: the saved arrays given here are used as they are (the engine's create_graph walk
    # rebuilds the convolution's columns from x instead; tests/test_higher_order_layers.py checks that)
    return SimpleNamespace(xp=xpgrad.array_api, backend=ctx.backend, needs_input_grad=ctx.needs_input_grad,
                           conf=ctx.conf, out_hw=getattr(ctx, "out_hw", None), saved_tensors=saved,
                           create_graph=False)


@pytest.mark.parametrize("make", [
    lambda x, w: xpgrad.nn.functional.conv.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2)),
    lambda x, w: xpgrad.nn.functional.conv.conv2d_relu(x, w, padding="same"),
    lambda x, w: max_pool2d(x, 3, 2, 1, ceil_mode=True),
    lambda x, w: avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
], ids=["conv2d", "conv2d_relu", "max_pool2d", "avg_pool2d"])
def test_backward_bodies_run_on_the_differentiable_namespace(cpu_backend, make):
    """Each op's backward, run on tensors through ``xpgrad.array_api``, equals the array one and is differentiable:
    its gradients with respect to the incoming gradient and the saved arrays pass gradcheck."""
    rng = np.random.default_rng(4)
    x, w = _t(rng.standard_normal((1, 2, 5, 4)), True), _t(rng.standard_normal((2, 2, 3, 2)), True)
    y = make(x, w)
    ctx = y._ctx
    saved = getattr(ctx, "saved_tensors", ())
    g = rng.standard_normal(y.shape)
    want = ctx.fn.backward(ctx, xpgrad.backend.current().asarray(g))
    # the float arrays saved, less the ReLU output that Conv2dReLU keeps as a mask (a step function of it)
    floats = [i for i, a in enumerate(saved) if xpgrad.backend.current().is_floating(a.dtype) and i < 2]

    def run(g, *float_saved):
        tensors = [xpgrad.as_tensor(a) for a in saved]
        for i, t in zip(floats, float_saved, strict=True):
            tensors[i] = t
        out = ctx.fn.backward(_on_namespace(ctx, tuple(tensors)), g)
        out = out if isinstance(out, tuple) else (out,)
        return xpgrad.concat([xpgrad.reshape(o, (-1,)) for o in out if o is not None])

    args = [_t(g, True)] + [_t(xpgrad.backend.to_numpy(saved[i]), True) for i in floats]
    got = run(*args)
    want = want if isinstance(want, tuple) else (want,)
    np.testing.assert_allclose(_np(got), np.concatenate([xpgrad.backend.to_numpy(a).ravel() for a in want
                                                         if a is not None]), rtol=1e-12, atol=1e-12)
    assert got.requires_grad
    assert xpgrad.gradcheck(run, args)
