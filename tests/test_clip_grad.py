"""nn.utils.clip_grad_norm_ and clip_grad_value_: PyTorch's formulas, flat gradient buffers, fit(step=...)."""

import functools
import math

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn.utils import clip_grad_norm_, clip_grad_value_
from xpgrad.train import fit, train_step


def _np(a):
    return xpgrad.backend.to_numpy(a.data if isinstance(a, xpgrad.Tensor) else a)


def _with_grads(*grads):
    """Leaf tensors whose .grad is the given array (by a backward through a weighted sum)."""
    params = []
    for g in grads:
        g = np.asarray(g, dtype=np.float64)
        p = xpgrad.tensor(np.zeros(g.shape), dtype="float64", requires_grad=True, backend=xpgrad.get_backend())
        (p * xpgrad.tensor(g, dtype="float64", backend=xpgrad.get_backend())).sum().backward()
        params.append(p)
    return params


G = [np.array([[3.0, -4.0], [1.0, 0.5]]), np.array([-12.0, 2.0, 0.25])]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_scales_all_gradients_by_one_factor(backend, norm_type):
    params = _with_grads(*G)
    flat = np.concatenate([g.ravel() for g in G])
    total = np.max(np.abs(flat)) if math.isinf(norm_type) else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    got = clip_grad_norm_(params, max_norm=2.0, norm_type=norm_type)
    assert isinstance(got, xpgrad.Tensor) and got.backend == backend
    np.testing.assert_allclose(float(got), total, rtol=1e-12)
    coef = 2.0 / (total + 1e-6)  # PyTorch's factor, applied because it is below 1
    for p, g in zip(params, G, strict=True):
        np.testing.assert_allclose(_np(p.grad), g * coef, rtol=1e-12)
    after = np.concatenate([_np(p.grad).ravel() for p in params])
    after_norm = np.max(np.abs(after)) if math.isinf(norm_type) else np.sum(np.abs(after) ** norm_type) ** (
        1 / norm_type)
    assert after_norm == pytest.approx(2.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone_and_skips_missing_ones(cpu_backend):
    params = _with_grads(*G)
    unused = xpgrad.tensor([1.0], requires_grad=True)
    total = float(clip_grad_norm_([*params, unused], max_norm=1e3))
    assert total == pytest.approx(math.sqrt(sum(np.sum(g ** 2) for g in G)), rel=1e-12)
    for p, g in zip(params, G, strict=True):
        np.testing.assert_array_equal(_np(p.grad), g)
    assert unused.grad is None
    assert float(clip_grad_norm_([unused], 1.0)) == 0.0  # no gradients at all: norm 0, nothing to do
    one = _with_grads([6.0, 8.0])[0]  # a single tensor instead of a list
    assert float(clip_grad_norm_(one, 5.0)) == pytest.approx(10.0)
    np.testing.assert_allclose(_np(one.grad), [3.0, 4.0], rtol=1e-6)


def test_clip_grad_norm_nonfinite():
    params = _with_grads([1.0, 2.0])
    params[0].grad[0] = np.inf
    with pytest.raises(RuntimeError, match="norm of order 2.0 .* is inf, not finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(_np(params[0].grad), [np.inf, 2.0])  # checked before anything changed
    with np.errstate(invalid="ignore"):  # inf · 0 in the scaling: the gradients become NaN, as in PyTorch
        assert math.isinf(float(clip_grad_norm_(params, 1.0)))
    np.testing.assert_array_equal(_np(params[0].grad), [np.nan, 0.0])  # factor 0: inf·0 is NaN


def test_clip_grad_value_clamps_each_entry(backend):
    params = _with_grads(*G)
    assert clip_grad_value_(params, 1.5) is None
    for p, g in zip(params, G, strict=True):
        np.testing.assert_array_equal(_np(p.grad), np.clip(g, -1.5, 1.5))


def test_clipping_errors_name_the_argument():
    params = _with_grads([1.0])
    for call, err, pat in [
        (lambda: clip_grad_norm_(params, -1.0), ValueError, "max_norm must be >= 0, got -1.0"),
        (lambda: clip_grad_norm_(params, "1"), TypeError, "max_norm must be a number, got '1'"),
        (lambda: clip_grad_norm_(params, float("nan")), ValueError, "max_norm must be a finite number"),
        (lambda: clip_grad_norm_(params, 1.0, norm_type=0), ValueError, "norm_type must be positive"),
        (lambda: clip_grad_norm_(params, 1.0, error_if_nonfinite=1), TypeError, "error_if_nonfinite"),
        (lambda: clip_grad_norm_([np.zeros(2)], 1.0), TypeError, "item 0 is a ndarray"),
        (lambda: clip_grad_value_(params, -0.5), ValueError, "clip_value must be >= 0, got -0.5"),
        (lambda: clip_grad_value_(params, None), TypeError, "clip_value must be a number, got None"),
    ]:
        with pytest.raises(err, match=pat):
            call()
    np.testing.assert_array_equal(_np(params[0].grad), [1.0])


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_keeps_the_optimizers_flat_gradient_buffer(cpu_backend, clip):
    """With the optimizer created first, .grad are views of its flat buffer: clipping must write into them."""
    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64"))
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.5)
    x = xpgrad.tensor(np.random.default_rng(0).standard_normal((5, 3)) * 10, dtype="float64", backend=cpu_backend)
    for _ in range(2):  # the second step runs on the buffer bound at the first
        before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        raw = [_np(p.grad).copy() for p in model.parameters()]
        buffer = opt.flat_buffers()[0]
        assert buffer.grads_ready()
        if clip == "norm":
            total = float(clip_grad_norm_(model.parameters(), 0.1))
            want = [g * min(1.0, 0.1 / (total + 1e-6)) for g in raw]
        else:
            clip_grad_value_(model.parameters(), 0.01)
            want = [np.clip(g, -0.01, 0.01) for g in raw]
        assert buffer.grads_ready()  # still the buffer's views: the one-call update still applies
        np.testing.assert_allclose(_np(buffer.grad), np.concatenate([w.ravel() for w in want]), rtol=1e-12)
        opt.step()
        for (k, w), p, g in zip(before.items(), model.parameters(), want, strict=True):
            np.testing.assert_allclose(p.numpy(), w - 0.5 * g, rtol=1e-12, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("compiled", [False, True])
def test_clip_grad_norm_as_before_update_in_fit(cpu_backend, compiled):
    X, y = xpgrad.data.spiral(40, 3, seed=0)
    seen = []

    def clip(state):
        seen.append(float(clip_grad_norm_(state.model.parameters(), 0.05)))
        grads = [_np(p.grad) for p in state.model.parameters()]
        seen.append(math.sqrt(sum(float(np.sum(g ** 2)) for g in grads)))

    def run():
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=1.0)
        start = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), 2, batch_size=40, progress=False,
            step=functools.partial(train_step, before_update=clip), compile=compiled)
        end = {k: v.numpy() for k, v in model.state_dict().items()}
        return math.sqrt(sum(float(np.sum((end[k] - start[k]) ** 2)) for k in start))

    moved = run()
    before, after = seen[0::2], seen[1::2]
    assert len(before) == 6 and all(b > 0.05 for b in before)  # every step's gradient was clipped...
    assert all(a == pytest.approx(0.05, rel=1e-4) for a in after)  # ...to the norm asked for
    assert 0.0 < moved <= 6 * 0.05 * (1 + 1e-4)  # SGD with lr 1 moved by the clipped gradients only


def test_clipping_inside_a_compiled_step_runs_at_every_call(cpu_backend):
    def run(compiled):
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64"))
        opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.5)
        def step(x):
            opt.zero_grad()
            loss = (model(x) ** 2).sum()
            loss.backward()
            clip_grad_norm_(model.parameters(), 0.1)
            clip_grad_value_(model.parameters(), 0.02)
            opt.step()
            return loss

        step = xpgrad.compile(step) if compiled else step
        for s in range(4):
            step(xpgrad.tensor(np.random.default_rng(s).standard_normal((5, 3)) * 5, dtype="float64",
                               backend=cpu_backend))
        if compiled:
            assert step.stats["replays"] == 3 and step.stats["fallbacks"] == []
        return [p.numpy() for p in model.parameters()]

    # the replays clip their own gradients: skipped, the weights would move by the unclipped ones
    for a, b in zip(run(False), run(True), strict=True):
        np.testing.assert_array_equal(a, b)
