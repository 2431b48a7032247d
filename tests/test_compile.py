"""xpgrad.compile: replays equal eager runs bit for bit; signatures, guards and fallbacks behave."""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np
import pytest

import xpgrad
from xpgrad import nn

BACKENDS = ["numpy", "array_api_strict"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    previous = xpgrad.get_backend() if hasattr(xpgrad, "get_backend") else xpgrad.backend.current().name
    xpgrad.set_backend(request.param)
    yield request.param
    xpgrad.set_backend(previous)


def _model(seed, dropout=0.0, batchnorm=False, dtype="float64"):
    xpgrad.manual_seed(seed)
    layers = [nn.Linear(5, 8, dtype=dtype)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(8, dtype=dtype))
    layers += [nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(8, 8, dtype=dtype), nn.Tanh(), nn.Linear(8, 3, dtype=dtype)]
    return nn.Sequential(*layers)


def _batches(n, dtype="float64", size=6):
    rng = np.random.default_rng(1)
    return [(xpgrad.tensor(rng.standard_normal((size, 5)).astype(dtype)), xpgrad.tensor(rng.integers(0, 3, size)))
            for _ in range(n)]


def _train_step(model, opt, schedule=None):
    loss_fn = xpgrad.loss("softmax_cross_entropy")
    eager_step = xpgrad.run_eagerly(opt.step)
    eager_zero = xpgrad.run_eagerly(opt.zero_grad)
    eager_schedule = xpgrad.run_eagerly(schedule.step) if schedule is not None else None

    def step(x, y):
        eager_zero()
        scores = model(x)
        loss = loss_fn(scores, y)
        loss.backward()
        eager_step()
        if eager_schedule is not None:
            eager_schedule()
        accuracy = xpgrad.mean(xpgrad.astype(xpgrad.argmax(scores, axis=1) == y, scores.dtype))
        return loss, accuracy

    return step


def _run(compiled, optimizer, steps=12, dropout=0.0, batchnorm=False, schedule=False, **hp):
    model = _model(0, dropout, batchnorm)
    opt = xpgrad.optimizer(optimizer, model.parameters(), **hp)
    sched = xpgrad.schedule("step", opt, milestones=(3, 6, 9), gamma=0.5) if schedule else None
    step = _train_step(model, opt, sched)
    if compiled:
        step = xpgrad.compile(step)
    xpgrad.manual_seed(7)  # dropout masks come from the backend's generator
    out = [tuple(float(v) for v in step(x, y)) for x, y in _batches(steps)]
    return out, [p.numpy().copy() for p in model.parameters()], step


@pytest.mark.parametrize("optimizer,hp", [
    ("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.1, "weight_decay": 0.01}), ("momentum", {"lr": 0.05}),
    ("nesterov", {"lr": 0.05}), ("adagrad", {"lr": 0.1}), ("rmsprop", {"lr": 0.01}), ("adam", {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1})])
def test_replays_are_bit_identical_to_eager(backend, optimizer, hp):
    eager, eager_params, _ = _run(False, optimizer, **hp)
    compiled, compiled_params, step = _run(True, optimizer, **hp)
    assert step.stats["traces"] == 1 and step.stats["replays"] == 11, step.stats
    assert compiled == eager
    for a, b in zip(eager_params, compiled_params, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", ["dropout", "batchnorm", "schedule"])
def test_dropout_batchnorm_and_schedules_follow_every_call(backend, kind):
    options = {"dropout": {"dropout": 0.3}, "batchnorm": {"batchnorm": True}, "schedule": {"schedule": True}}[kind]
    eager, eager_params, _ = _run(False, "sgd", lr=0.2, **options)
    compiled, compiled_params, step = _run(True, "sgd", lr=0.2, **options)
    assert step.stats["replays"] == 11
    assert compiled == eager
    for a, b in zip(eager_params, compiled_params, strict=True):
        assert np.array_equal(a, b)


def test_batchnorm_running_statistics_update_on_replay(backend):
    xpgrad.manual_seed(0)
    bn_e, bn_c = nn.BatchNorm1d(3, dtype="float64"), nn.BatchNorm1d(3, dtype="float64")
    step = xpgrad.compile(lambda x: bn_c(x).sum())
    for x, _ in _batches(4, size=6):
        x = x[:, :3]
        bn_e(x)
        step(x)
    assert step.stats["replays"] == 3
    assert np.array_equal(bn_e.running_mean.numpy(), bn_c.running_mean.numpy())
    assert np.array_equal(bn_e.running_var.numpy(), bn_c.running_var.numpy())


def test_random_draws_inside_the_step_are_fresh_and_reproducible(backend):
    step = xpgrad.compile(lambda x: x + xpgrad.randn(*x.shape, dtype=x.dtype))
    x = xpgrad.zeros((3,), dtype="float64")
    xpgrad.manual_seed(3)
    compiled = [step(x).numpy() for _ in range(3)]
    xpgrad.manual_seed(3)
    eager = [step.eager(x).numpy() for _ in range(3)]
    assert step.stats["replays"] == 2
    assert not np.array_equal(compiled[1], compiled[2])
    for a, b in zip(compiled, eager, strict=True):
        assert np.array_equal(a, b)


def test_leaf_arguments_get_their_own_gradients():
    def f(w):
        (w * w).sum().backward()
        return w * 3

    step = xpgrad.compile(f)
    for v in (1.0, 2.0, 3.0):
        w = xpgrad.tensor([v, -v], dtype="float64", requires_grad=True)
        out = step(w)
        assert w.grad.tolist() == [2 * v, -2 * v]
        assert out.tolist() == [3 * v, -3 * v] and not (out.requires_grad and step.stats["replays"])
    assert step.stats["replays"] == 2


def test_backward_with_retain_graph_and_an_explicit_gradient():
    w = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)

    @xpgrad.compile
    def step(x):
        y = w * x
        y.backward(grad=xpgrad.ones_like(x), retain_graph=True)
        y.sum().backward()
        return y

    for v in (1.0, 2.0, 5.0):
        w.grad = None
        step(xpgrad.tensor([v, v], dtype="float64"))
        assert w.grad.tolist() == [2 * v, 2 * v]
    assert step.stats["replays"] == 2


def test_results_keep_their_structure():
    Pair = namedtuple("Pair", "a b")
    step = xpgrad.compile(lambda x: {"double": x * 2, "pair": Pair(x + 1, 3), "list": [x, None, "s"]})
    for v in (1.0, 4.0):
        out = step(xpgrad.tensor([v]))
    assert step.stats["replays"] == 1
    assert out["double"].tolist() == [8.0] and isinstance(out["pair"], Pair)
    assert out["pair"].a.tolist() == [5.0] and out["pair"].b == 3 and out["list"][0].tolist() == [4.0]
    assert out["list"][1:] == [None, "s"]


def test_new_shapes_dtypes_and_arguments_retrace():
    step = xpgrad.compile(lambda x, scale: (x * scale).sum())
    assert float(step(xpgrad.ones(3), 2.0)) == 6.0
    assert float(step(xpgrad.ones(4), 2.0)) == 8.0          # new shape
    assert float(step(xpgrad.ones(4), 3.0)) == 12.0         # new static argument
    assert float(step(xpgrad.ones(4, dtype="float64"), 3.0)) == 12.0
    assert float(step(xpgrad.ones(4), 3.0)) == 12.0         # replay
    assert step.stats["traces"] == 4 and step.stats["replays"] == 1


def test_train_eval_switch_and_parameter_changes_are_guarded():
    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4, dtype="float64"), nn.Dropout(0.5))
    step = xpgrad.compile(lambda x: model(x))
    x = xpgrad.ones((2, 4), dtype="float64")
    step(x)
    step(x)
    model.eval()
    assert np.array_equal(step(x).numpy(), model[0](x).numpy())  # eval mode: no dropout, traced anew
    assert step.stats["traces"] == 2
    model.to(dtype="float32")
    with pytest.raises(TypeError):  # the eager call refuses float64 input for float32 weights, as usual
        step(x)
    model.to(dtype="float64")
    model[0].weight.requires_grad_(False)
    step(x)
    assert step.stats["traces"] == 3


@pytest.mark.parametrize("body,reason", [
    (lambda x: x * 2 if float(x.sum()) > 0 else x, "float()"),
    (lambda x: x.item(), "item()"),
    (lambda x: xpgrad.tensor(x.numpy() * 2), "numpy()"),
])
def test_host_reads_fall_back_to_eager_with_a_warning(body, reason):
    step = xpgrad.compile(body)
    x = xpgrad.tensor([2.0])
    with pytest.warns(xpgrad.CompileWarning, match=reason.replace("(", r"\(").replace(")", r"\)")):
        first = step(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = step(xpgrad.tensor([3.0]))
    assert step.stats["eager"] == 1 and step.stats["traces"] == 0 and reason in step.stats["fallbacks"][0]
    assert np.array_equal(np.asarray(first.tolist() if hasattr(first, "tolist") else first) * 1.5,
                          np.asarray(second.tolist() if hasattr(second, "tolist") else second))


def test_in_place_changes_fall_back_to_eager():
    def f(x):
        y = x * 1
        y += 1
        return y

    step = xpgrad.compile(f)
    with pytest.warns(xpgrad.CompileWarning, match="in place"):
        step(xpgrad.tensor([1.0]))
    assert step(xpgrad.tensor([5.0])).tolist() == [6.0]


def test_eager_results_may_not_feed_the_step():
    @xpgrad.run_eagerly
    def double(t):
        return t * 2

    step = xpgrad.compile(lambda x: double(x) + 1)
    with pytest.warns(xpgrad.CompileWarning, match="run_eagerly"):
        step(xpgrad.tensor([1.0]))
    assert step(xpgrad.tensor([2.0])).tolist() == [5.0]


def test_tensors_from_outside_with_a_graph_are_refused_for_replay():
    w = xpgrad.tensor([1.0], requires_grad=True)
    h = w * 2  # a graph recorded outside the step
    step = xpgrad.compile(lambda x: (h * x).sum().backward())
    with pytest.warns(xpgrad.CompileWarning, match="outside the step"):
        step(xpgrad.tensor([3.0]))
    assert w.grad.tolist() == [6.0]


def test_cache_size_and_retrace_warnings():
    step = xpgrad.compile(lambda x: x + 1, cache_size=2, warn_retraces=1)
    step(xpgrad.ones(1))
    with pytest.warns(xpgrad.CompileWarning, match="traced 2 times"):
        step(xpgrad.ones(2))
    with pytest.warns(xpgrad.CompileWarning, match="cache_size=2"):
        assert step(xpgrad.ones(3)).tolist() == [2.0, 2.0, 2.0]


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="callable"):
        xpgrad.compile(3)
    with pytest.raises(ValueError, match="cache_size"):
        xpgrad.compile(lambda x: x, cache_size=0)
    step = xpgrad.compile(lambda x, options: x)
    with pytest.raises(TypeError, match="list.*neither a Tensor nor hashable"):
        step(xpgrad.ones(1), [1, 2])


def test_nested_compiled_functions_record_into_the_outer_one():
    inner = xpgrad.compile(lambda x: x * 2)
    outer = xpgrad.compile(lambda x: inner(x) + 1)
    for v in (1.0, 2.0, 3.0):
        assert outer(xpgrad.tensor([v])).tolist() == [2 * v + 1]
    assert outer.stats["replays"] == 2 and inner.stats["traces"] == 0


def test_inference_step_under_no_grad(backend):
    model = _model(0)
    step = xpgrad.compile(xpgrad.no_grad()(lambda x: xpgrad.argmax(model(x), axis=1)))
    for x, _ in _batches(3):
        expected = xpgrad.argmax(model(x), axis=1).tolist()
        assert step(x).tolist() == expected
    assert step.stats["replays"] == 2


def test_a_stale_gradient_slot_is_not_used():
    # The optimizer's flat buffer is rebuilt at its next step or zero_grad; a backward in between
    # must not write into the old slot (wrong dtype or shape).
    lin = nn.Linear(2, 2)
    xpgrad.optimizer("sgd", lin.parameters(), lr=0.1)
    lin.to(dtype="float64")
    lin(xpgrad.ones((1, 2), dtype="float64")).sum().backward()
    assert lin.weight.grad.dtype == lin.weight.dtype and lin.weight.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    lin.weight.data = lin.weight.backend.xp.ones((2, 2), dtype=lin.weight.data.dtype)  # same shape: slot still fits
    lin.bias.data = lin.bias.backend.xp.zeros((2,), dtype=lin.bias.data.dtype)
    lin.weight.grad = lin.bias.grad = None
    lin(xpgrad.ones((3, 2), dtype="float64")).sum().backward()
    assert lin.bias.grad.tolist() == [3.0, 3.0]


def test_indexing_concatenation_and_tuple_results_replay():
    w = xpgrad.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64", requires_grad=True)

    @xpgrad.compile
    def step(idx, mask, x):
        picked = w[idx]                                     # an index array from the arguments
        both = xpgrad.concat([picked, w[mask]])             # a boolean mask, then a list of tensors
        values, counts = xpgrad.unique_counts(idx)          # a named tuple of unrecorded results
        loss = (both * x[: both.shape[0]]).sum() + xpgrad.sum(xpgrad.astype(counts, w.dtype))
        loss.backward()
        return loss, values

    cases = [([0, 0, 3], [True, False, True, False], [1.0, 2.0, 3.0, 4.0, 5.0]),
             ([2, 1, 1], [False, True, True, False], [5.0, 4.0, 3.0, 2.0, 1.0]),
             ([3, 3, 0], [True, False, False, True], [0.5, 1.5, 2.5, 3.5, 4.5])]
    for idx, mask, x in cases:
        w.grad = None
        args = (xpgrad.tensor(idx), xpgrad.tensor(mask), xpgrad.tensor(x, dtype="float64"))
        loss, values = step(*args)
        w.grad, compiled_grad = None, w.grad
        expected_loss, expected_values = step.eager(*args)
        assert float(loss) == float(expected_loss) and values.tolist() == expected_values.tolist()
        assert np.array_equal(compiled_grad, w.grad)
    assert step.stats["replays"] == 2
    program = next(iter(step._cache.values()))[0]
    assert program.source.startswith("def replay(A):")


def test_dense_layers_accumulating_into_busy_gradient_slots_replay_like_eager(backend):
    """Two backward passes per step: the second finds every gradient slot taken and adds into it."""

    def make():
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Linear(8, 3, bias=False))
        opt = xpgrad.optimizer("momentum", model.parameters(), lr=0.1)
        loss = xpgrad.loss("softmax_cross_entropy")

        def step(x, y):
            opt.zero_grad()
            loss(model(x), y).backward()
            loss(model(x * 2.0), y).backward()
            opt.step()

        return model, step

    x = xpgrad.tensor(np.random.default_rng(1).standard_normal((5, 4)).astype("float32"))
    y = xpgrad.tensor([0, 1, 2, 1, 0])
    (eager_model, eager), (model, step) = make(), make()
    compiled = xpgrad.compile(step)
    for _ in range(4):
        eager(x, y)
        compiled(x, y)
    assert compiled.stats["replays"] == 3
    for a, b in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


def test_the_relu_mask_changes_only_gradients_the_replay_made_itself(backend):
    """The inlined ReLU backward masks in place only a gradient the replay owns: never the caller's, never a view."""
    rng = np.random.default_rng(2)
    seed = rng.standard_normal((5, 8)).astype("float32")

    def make():
        xpgrad.manual_seed(0)
        first, second = nn.Linear(4, 8), nn.Linear(4, 8)

        def step(x, g):
            first.forward_relu(x).backward(g)  # the caller's gradient reaches the ReLU as it is
            h = second.forward_relu(x)
            (xpgrad.reshape(h, (8, 5)) * 3.0).sum().backward()  # through a reshape: a view of a new array
            return h

        return (first, second), step

    x = xpgrad.tensor(rng.standard_normal((5, 4)).astype("float32"))
    (eager_layers, eager), (layers, step) = make(), make()
    compiled = xpgrad.compile(step)
    for _ in range(3):
        for p in (*eager_layers[0].parameters(), *eager_layers[1].parameters(), *layers[0].parameters(),
                  *layers[1].parameters()):
            p.grad = None  # outside the step: a compiled step sets no Python attributes when replayed
        g = xpgrad.tensor(seed)
        eager(x, xpgrad.tensor(seed))
        compiled(x, g)
        assert np.array_equal(g.numpy(), seed)  # the caller's gradient is untouched
        for a, b in zip((p for m in eager_layers for p in m.parameters()),
                        (p for m in layers for p in m.parameters()), strict=True):
            assert np.array_equal(xpgrad.tensor(a.grad).numpy(), xpgrad.tensor(b.grad).numpy())
    assert compiled.stats["replays"] == 2


def test_a_replay_stand_in_runs_instead_of_the_function_and_may_ask_for_fresh_arrays():
    """``run_eagerly(replay=...)``: the stand-in runs at replays; returning False makes the replay re-read arrays."""
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    calls = []

    def stand_in(scale):
        def run():
            calls.append(("stand-in", scale))
            w.data = w.data * scale  # a new array: the replay must read it again
            return False
        return run

    @xpgrad.run_eagerly(replay=stand_in)
    def grow(scale):
        calls.append(("function", scale))
        w.data = w.data * scale

    @xpgrad.compile
    def step(x):
        grow(2.0)
        return (w * x).sum()

    x = xpgrad.tensor([1.0, 1.0])
    values = [float(step(x)) for _ in range(3)]
    assert calls == [("function", 2.0), ("stand-in", 2.0), ("stand-in", 2.0)]
    assert values == [6.0, 12.0, 24.0]  # each replay used the array the stand-in made
    assert step.stats["replays"] == 2


def _plain_training(model, optimizer, lr):
    """``(model, step)``: the usual step, calling the optimizer's own ``zero_grad`` and ``step``."""
    opt = xpgrad.optimizer(optimizer, model.parameters(), lr=lr)
    loss_fn = xpgrad.loss("softmax_cross_entropy")

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def _assert_same_parameters(a, b):
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_parameters_given_new_arrays_between_replays_train_like_eager(backend, optimizer):
    """``zero_grad`` and ``step`` stand-ins: a parameter rebound between calls makes them rebuild, as eagerly."""
    (eager_model, eager), (model, step) = (_plain_training(_model(0), optimizer, 0.05) for _ in range(2))
    compiled = xpgrad.compile(step)
    for i, (x, y) in enumerate(_batches(6)):
        if i == 3:  # same shape and dtype, new arrays: the optimizers' flat buffers are rebuilt
            for m in (eager_model, model):
                first = next(iter(m.parameters()))
                first.data = first.backend.xp.asarray(first.data, copy=True)
        assert float(compiled(x, y)) == float(eager(x, y))
    _assert_same_parameters(eager_model, model)
    assert compiled.stats["replays"] == 5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_layers_without_bias_replay_through_the_inline_ufuncs_like_eager(backend, dtype):
    """A bias-free Linear + ReLU: the replay applies only the maximum (NumPy's ufunc, or the backend's method)."""

    def make():
        xpgrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8, bias=False, dtype=dtype), nn.ReLU(), nn.Linear(8, 8, dtype=dtype),
                              nn.ReLU(), nn.Linear(8, 3, dtype=dtype))
        return _plain_training(model, "adam", 0.01)

    (eager_model, eager), (model, step) = make(), make()
    compiled = xpgrad.compile(step)
    for x, y in _batches(5, dtype=dtype):
        assert float(compiled(x, y)) == float(eager(x, y))
    _assert_same_parameters(eager_model, model)
    assert compiled.stats["replays"] == 4
    if backend == "numpy":  # the ufuncs themselves, called from the replay
        source = next(iter(compiled._cache.values()))[0].source
        assert "out=s" in source and "BR" not in source
