"""Contract checks for components, for plugin authors' test suites and for xpgrad's own.

Each ``check_*`` looks the component up in the registry by name, runs it on
every available backend (:func:`check_backend` checks a backend) (NumPy, array-api-strict, CuPy when a GPU is usable),
compares its gradients with central differences in float64
(:func:`xpgrad.gradcheck`; second derivatives too, with
:func:`xpgrad.gradgradcheck`, for a component that claims them: its
``second_derivatives`` attribute is True, or pass ``second_order=True``)
and checks the contract its kind promises:
shapes, dtypes, reductions, state round trips. A failure raises
``AssertionError`` naming the component, the backend and what went wrong;
success returns True.

>>> from xpgrad import testing
>>> testing.check_activation("relu")
True
"""

from __future__ import annotations

import inspect
import json
import math

import numpy as np

from . import backend as _backend
from . import registry
from .autograd.creation import as_tensor, tensor
from .autograd.tensor import Tensor
from .gradcheck import gradcheck, gradgradcheck

__all__ = ["check_activation", "check_backend", "check_hyperparameters", "check_loss", "check_optimizer",
           "check_regularizer", "check_schedule"]


def _backends(backends):
    return list(backends) if backends is not None else _backend.available_backends()


def _probe(shape, backend, dtype="float64", seed=0, requires_grad=True):
    """Random values kept at least 0.1 away from 0, where many components have a kink."""
    r = np.random.default_rng(seed).standard_normal(shape)
    r = np.sign(r) * (0.1 + np.abs(r))
    return tensor(r, dtype=dtype, backend=backend, requires_grad=requires_grad)


def _fail(kind, name, backend, message):
    raise AssertionError(f"{kind} {name!r} on backend {backend!r}: {message}")


def _bad(backend, message):
    raise AssertionError(f"backend {backend.name!r}: {message}")


def _dtype_name(t):
    return _backend.dtype_name(t.dtype)


def _finite(t):
    return bool(np.all(np.isfinite(t.numpy())))


def _second_order(obj, second_order):
    """Whether to check second derivatives: as asked, or as the component claims (``second_derivatives``)."""
    if second_order is None:
        return bool(getattr(obj, "second_derivatives", False))
    return bool(second_order)


def _check_second(kind, name, b, fn, inputs):
    try:
        gradgradcheck(fn, inputs)
    except (AssertionError, RuntimeError) as exc:  # a mismatch, or a backward that cannot run on tensors
        _fail(kind, name, b, f"second-derivative check (create_graph=True) failed: {exc}")


def check_activation(name, *, shape=(3, 8), backends=None, second_order=None, **kw):
    """Check activation ``name`` (with hyperparameters ``kw``).

    Contract: returns a Tensor on the input's backend, with the input's dtype
    (float32 and float64), the same leading axes (the last may change size,
    as maxout's does), no NaN for inputs of ±30, and gradients matching
    central differences in float64; with ``second_order`` (default: the
    activation's ``second_derivatives`` attribute) also its second
    derivatives, through ``create_graph=True``.

    >>> check_activation("leaky_relu", negative_slope=0.2)
    True
    """
    f = registry.activation(name, **kw)
    for b in _backends(backends):
        x = _probe(shape, b)
        y = f(x)
        if not isinstance(y, Tensor):
            _fail("activation", name, b, f"returned {type(y).__name__}, not a Tensor")
        if y.backend != b or _dtype_name(y) != "float64":
            _fail("activation", name, b, f"float64 input gave backend {y.backend!r}, dtype {y.dtype}")
        if y.shape[:-1] != x.shape[:-1]:
            _fail("activation", name, b, f"input shape {x.shape} gave output shape {y.shape}")
        try:
            gradcheck(f, [x])
        except AssertionError as exc:
            _fail("activation", name, b, f"gradient check failed: {exc}")
        if _second_order(registry.activations[name].obj, second_order):
            _check_second("activation", name, b, f, [x])
        y32 = f(x.detach().astype("float32"))
        if _dtype_name(y32) != "float32":
            _fail("activation", name, b, f"float32 input gave dtype {y32.dtype}")
        if not np.allclose(y32.numpy(), y.numpy(), rtol=1e-4, atol=1e-5):
            _fail("activation", name, b, "float32 and float64 results disagree")
        big = f(tensor([[30.0, -30.0] * (shape[-1] // 2)], dtype="float32", backend=b))
        if np.any(np.isnan(big.numpy())):
            _fail("activation", name, b, "NaN for inputs of +-30")
    return True


def check_loss(name, *, batch=5, num_classes=4, backends=None, second_order=None, **kw):
    """Check loss ``name`` (with hyperparameters ``kw``).

    Contract: every ``reduction`` works ("mean" and "sum" give a 0-d tensor,
    "none" one value per row for class-index targets or per element for
    same-shape targets), mean and sum agree with the unreduced values, the
    dtype follows the scores, scores of ±1e4 in float32 give a finite loss and
    gradient, and the gradient matches central differences in float64.
    The target kind is read from the loss's ``targets`` attribute
    (``"class_indices"``, the default, or ``"same_shape"``). With
    ``second_order`` (default: the loss's ``second_derivatives`` attribute)
    its second derivatives are checked too, through ``create_graph=True``.

    >>> check_loss("svm")
    True
    """
    entry = registry.losses[name]
    same_shape = getattr(entry.obj, "targets", "class_indices") == "same_shape"
    rng = np.random.default_rng(1)
    labels = rng.integers(0, num_classes, batch)
    values = rng.uniform(0.0, 1.0, (batch, num_classes))
    for b in _backends(backends):
        scores = _probe((batch, num_classes), b)
        targets = (tensor(values, dtype="float64", backend=b) if same_shape
                   else tensor(labels, dtype="int64", backend=b))
        out = {}
        for reduction in ("mean", "sum", "none"):
            f = registry.loss(name, reduction=reduction, **kw)
            out[reduction] = y = f(scores, targets)
            want = (batch, num_classes) if same_shape and reduction == "none" else (
                (batch,) if reduction == "none" else ())
            if not isinstance(y, Tensor) or y.shape != want:
                _fail("loss", name, b, f"reduction={reduction!r} gave {getattr(y, 'shape', type(y))}, expected {want}")
            if _dtype_name(y) != "float64":
                _fail("loss", name, b, f"float64 scores gave a loss of dtype {y.dtype}")
            try:
                gradcheck(lambda s, f=f, t=targets: f(s, t), [scores])
            except AssertionError as exc:
                _fail("loss", name, b, f"gradient check failed with reduction={reduction!r}: {exc}")
            if _second_order(entry.obj, second_order):
                _check_second("loss", name, b, lambda s, f=f, t=targets: f(s, t), [scores])
        none = out["none"].numpy()
        if not (np.isclose(out["mean"].item(), none.mean()) and np.isclose(out["sum"].item(), none.sum())):
            _fail("loss", name, b, "reduction='mean'/'sum' disagree with the mean/sum of reduction='none'")
        big = (scores.detach() * 1e4).astype("float32").requires_grad_()
        t32 = targets.astype("float32") if same_shape else targets
        y = registry.loss(name, **kw)(big, t32)
        y.backward()
        if _dtype_name(y) != "float32" or not (_finite(y) and _finite(as_tensor(big.grad, backend=big.backend))):
            _fail("loss", name, b, "float32 scores of +-1e4 gave a non-finite loss or gradient, or a wrong dtype")
    return True


def check_regularizer(name, *, strength=0.1, backends=None, second_order=None, **kw):
    """Check regularizer ``name`` (with hyperparameters ``kw``).

    Contract: returns a 0-d tensor, is zero at strength 0, scales linearly
    with the strength, and its gradient matches central differences; with
    ``second_order`` (default: the regularizer's ``second_derivatives``
    attribute) so do its second derivatives, through ``create_graph=True``.

    >>> check_regularizer("elastic_net", beta=0.5)
    True
    """
    for b in _backends(backends):
        params = [_probe((3, 4), b, seed=2), _probe((4,), b, seed=3)]
        r = registry.regularizer(name, strength, **kw)
        y = r(params)
        if not isinstance(y, Tensor) or y.shape != () or _dtype_name(y) != "float64":
            _fail("regularizer", name, b, f"expected a 0-d float64 tensor, got {y!r}")
        if registry.regularizer(name, 0.0, **kw)(params).item() != 0.0:
            _fail("regularizer", name, b, "strength 0 gave a non-zero penalty")
        if not np.isclose(registry.regularizer(name, 2 * strength, **kw)(params).item(), 2 * y.item()):
            _fail("regularizer", name, b, "the penalty is not proportional to the strength")
        try:
            gradcheck(lambda p, q, r=r: r([p, q]), params)
        except AssertionError as exc:
            _fail("regularizer", name, b, f"gradient check failed: {exc}")
        if _second_order(registry.regularizers[name].obj, second_order):
            _check_second("regularizer", name, b, lambda p, q, r=r: r([p, q]), params)
    return True


def check_optimizer(name, *, steps=5, backends=None, **hparams):
    """Check optimizer ``name`` (with hyperparameters ``hparams``) on f(w) = Σ (w − w*)².

    Contract: steps keep each parameter's shape, dtype and backend and do not
    increase the loss; a parameter whose ``.grad`` is None is left alone
    (except by closure-driven optimizers such as random search);
    ``zero_grad()`` sets gradients to None; hyperparameters in
    ``state_dict()["param_groups"]`` survive JSON; a fresh optimizer loaded
    from ``state_dict()`` continues exactly as the original; a negative
    ``lr`` raises ValueError and an unknown keyword TypeError. Optimizers
    with ``needs_closure = True`` get a closure that returns the loss.

    >>> check_optimizer("adam", lr=0.1)
    True
    """
    rng = np.random.default_rng(4)
    start, goal = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    for b in _backends(backends):
        target = tensor(goal, dtype="float64", backend=b)

        def make(b=b):
            w = tensor(start, dtype="float64", backend=b, requires_grad=True)
            idle = tensor([1.0, 2.0], dtype="float64", backend=b, requires_grad=True)
            return w, idle, registry.optimizer(name, [w, idle], **hparams)

        def run(opt, w, n, target=target):
            by_closure = getattr(opt, "needs_closure", False)
            for _ in range(n):
                if by_closure:
                    opt.step(lambda: ((w - target) ** 2).sum())  # noqa: B023 (called at once, inside this step)
                else:
                    opt.zero_grad()
                    ((w - target) ** 2).sum().backward()
                    opt.step()

        w, idle, opt = make()
        by_closure = getattr(opt, "needs_closure", False)
        before = float(((w - target) ** 2).sum().item())
        _backend.manual_seed(7)
        run(opt, w, steps)
        after = float(((w - target) ** 2).sum().item())
        if w.shape != (3, 2) or w.backend != b or _dtype_name(w) != "float64":
            _fail("optimizer", name, b, f"the parameter became shape {w.shape}, backend {w.backend}, dtype {w.dtype}")
        if not (math.isfinite(after) and after <= before + 1e-12):
            _fail("optimizer", name, b, f"the loss went from {before} to {after} in {steps} steps")
        if not by_closure and idle.numpy().tolist() != [1.0, 2.0]:
            _fail("optimizer", name, b, "a parameter whose .grad is None was changed")
        if not by_closure:
            opt.zero_grad()
            if w.grad is not None:
                _fail("optimizer", name, b, "zero_grad() did not set .grad to None")
        state = opt.state_dict()
        try:
            groups = json.loads(json.dumps([{k: v for k, v in g.items()} for g in state["param_groups"]]))
        except TypeError as exc:
            _fail("optimizer", name, b, f"param_groups in state_dict() are not JSON friendly: {exc}")
        state = {"state": {str(k): v for k, v in state["state"].items()}, "param_groups": groups}
        w2, _, opt2 = make()
        w2.data = _backend.resolve(b).xp.asarray(w.data, copy=True)
        opt2.load_state_dict(state)
        _backend.manual_seed(8)
        run(opt, w, 3)
        _backend.manual_seed(8)
        run(opt2, w2, 3)
        if not np.allclose(w.numpy(), w2.numpy(), rtol=1e-12, atol=1e-12):
            _fail("optimizer", name, b, "an optimizer loaded from state_dict() did not continue exactly")
        for bad, err in (({"lr": -1.0}, ValueError), ({"not_a_hyperparameter": 1}, TypeError)):
            try:
                registry.optimizer(name, [w], **{**hparams, **bad})
            except err:
                continue
            _fail("optimizer", name, b, f"{bad} did not raise {err.__name__} at construction")
    return True


# Values for required schedule keywords the caller did not give.
_SCHEDULE_FILL = {"total_steps": 20, "period": 5, "milestones": [3, 6]}


def check_schedule(name, *, lr=0.5, **kw):
    """Check schedule ``name`` (with hyperparameters ``kw``; ``total_steps`` etc. get defaults if required).

    Contract: the lr for step 0 is written into the optimizer at
    construction; rates are finite and >= 0 and ``get_last_lr()`` matches the
    param groups; ``warmup_steps=W`` gives α₀·t/W for t < W; a scheduler
    loaded from a JSON round trip of ``state_dict()`` continues exactly.
    Schedules have no gradient, so no backend loop is needed.

    >>> check_schedule("cosine", total_steps=10)
    True
    """
    entry = registry.schedules[name]
    try:
        params = list(inspect.signature(entry.obj).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.default is p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in kw:
            if p.name not in _SCHEDULE_FILL:
                raise AssertionError(f"schedule {name!r} needs {p.name}=...; pass it to check_schedule")
            kw[p.name] = _SCHEDULE_FILL[p.name]

    def make(**extra):
        w = tensor([1.0], dtype="float64", requires_grad=True)
        opt = registry.optimizer("sgd", [w], lr=lr)
        return opt, registry.schedule(name, opt, **kw, **extra)

    opt, sched = make()
    seen = []
    for t in range(12):
        rate = opt.param_groups[0]["lr"]
        if sched.get_last_lr() != [rate]:
            raise AssertionError(f"schedule {name!r}: get_last_lr() {sched.get_last_lr()} != group lr {rate} at {t}")
        if not (math.isfinite(rate) and rate >= 0):
            raise AssertionError(f"schedule {name!r}: lr {rate} at step {t} is not finite and >= 0")
        seen.append(rate)
        sched.step()
    opt2, sched2 = make()
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    for _ in range(6):
        if sched.get_last_lr() != sched2.get_last_lr() or opt2.param_groups[0]["lr"] != sched.get_last_lr()[0]:
            raise AssertionError(f"schedule {name!r}: a scheduler loaded from state_dict() did not continue "
                                 f"exactly ({sched2.get_last_lr()} != {sched.get_last_lr()})")
        sched.step()
        sched2.step()
    optw, schedw = make(warmup_steps=4)
    for t in range(4):
        if not math.isclose(optw.param_groups[0]["lr"], lr * t / 4, abs_tol=1e-15):
            raise AssertionError(f"schedule {name!r}: with warmup_steps=4 the lr at step {t} is "
                                 f"{optw.param_groups[0]['lr']}, expected {lr * t / 4}")
        schedw.step()
    return True


def check_backend(name):
    """Check backend ``name`` against NumPy: moving data, dtypes, random numbers, scatter-add, gradients.

    Contract: a backend that cannot be used here says so with
    :class:`~xpgrad.backend.BackendError` (nothing more is checked then);
    otherwise :meth:`~xpgrad.backend.Backend.asarray` takes lists, NumPy arrays
    and Tensors in the dtype asked for and ``to_numpy`` gives them back; it
    recognises its own arrays; random numbers have the shape and dtype asked
    for and repeat after the same seed; ``index_add`` and ``add_along_axis``
    sum duplicate indices as ``numpy.add.at`` does; and a small network's
    gradient on it matches central differences in float64.

    >>> check_backend("array_api_strict")
    True
    """
    try:
        b = _backend.resolve(name)
    except _backend.BackendError:
        return True  # not usable on this machine, and it said so
    ref = np.arange(6.0).reshape(2, 3) - 2.5
    for dtype in ("float32", "float64"):
        for data in (ref.tolist(), ref, tensor(ref, backend="numpy")):
            a = b.asarray(data, dtype=dtype)
            if not b.owns(a) or _backend.dtype_name(a.dtype) != dtype or not np.array_equal(b.to_numpy(a), ref):
                _bad(b, f"asarray({type(data).__name__}, dtype={dtype!r}) did not round-trip "
                                                 "through to_numpy, or is not recognised by owns()")
    draws = []
    for _ in range(2):
        b.seed(11)
        draws.append([b.to_numpy(b.random_normal((3, 2), b.dtype("float32"))),
                      b.to_numpy(b.random_uniform((4,), b.dtype("float64"))),
                      b.to_numpy(b.random_integers(0, 5, (5,), b.dtype("int64")))])
    for x, y, (shape, dt) in zip(*draws, (((3, 2), "float32"), ((4,), "float64"), ((5,), "int64")), strict=True):
        if x.shape != shape or x.dtype.name != dt or not np.array_equal(x, y):
            _bad(b, f"random numbers of shape {shape} and dtype {dt} came back as "
                                             f"{x.shape} {x.dtype}, or differ after the same seed")
    idx = np.array([0, 2, 0, 1, 0])
    values = np.arange(10.0).reshape(2, 5)
    want = np.zeros((2, 3))
    np.add.at(want, (slice(None), idx), values)
    got = b.index_add(b.asarray(np.zeros((2, 3))), 1, b.asarray(idx), b.asarray(values))
    if not np.allclose(b.to_numpy(got), want):
        _bad(b, f"index_add gave {b.to_numpy(got).tolist()}, numpy.add.at {want.tolist()}")
    idx2 = np.array([[0, 0], [2, 1]])
    want2 = np.zeros((2, 3))
    np.add.at(want2, (np.arange(2)[:, None], idx2), values[:, :2])
    got2 = b.add_along_axis(b.asarray(np.zeros((2, 3))), b.asarray(idx2), b.asarray(values[:, :2]), 1)
    if not np.allclose(b.to_numpy(got2), want2):
        _bad(b, f"add_along_axis gave {b.to_numpy(got2).tolist()}, expected {want2.tolist()}")
    x, w = _probe((4, 3), b.name), _probe((3, 2), b.name, seed=1)
    try:
        gradcheck(lambda x, w: ((x @ w).tanh() * (x @ w)).sum(), [x, w])
    except AssertionError as exc:
        _bad(b, f"gradient check of tanh(x @ w) * (x @ w) failed: {exc}")
    return True



# -- hyperparameters ------------------------------------------------------------------------

_REQUIRED = {"regularizer": {"strength": 0.1}, "schedule": dict(_SCHEDULE_FILL)}


def _hyperparameters(kind, entry):
    """(name -> a valid value) for every keyword hyperparameter of a component, defaults and required ones."""
    obj = entry.obj
    if kind == "optimizer":
        return dict(obj.defaults)
    if kind == "regularizer":
        sig, skip = inspect.signature(obj), 0
    else:
        sig, skip = inspect.signature(obj), {"activation": 1, "loss": 2, "schedule": 1}[kind]
    found = {}
    for p in list(sig.parameters.values())[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        found[p.name] = _REQUIRED.get(kind, {}).get(p.name, p.default) if p.default is p.empty else p.default
    return found


def _bad_values(name, value, allow_negative):
    """Values that break the form of ``value``: wrong type, not finite, negative, unsorted or too long."""
    if isinstance(value, bool):
        return ["yes", 1]
    if isinstance(value, (int, float)):
        bad = [str(value), True, None, float("nan"), float("inf"), float("-inf")]
        if isinstance(value, int) and name not in allow_negative:
            bad.append(0.5)  # an int hyperparameter refuses a fraction
        return bad + ([] if name in allow_negative or value < 0 else [-1])
    if isinstance(value, (tuple, list)) and value:
        return ["abc", ["a"] * len(value), [float("nan")] * len(value), [*value, value[-1]][::-1]]
    if isinstance(value, str):
        return [value + "_typo", 1]
    return []


def check_hyperparameters(kind, name, *, allow_negative=(), **valid):
    """Check that component ``name`` of ``kind`` refuses bad values of every hyperparameter, naming it.

    Each keyword hyperparameter (an optimizer's ``defaults``, otherwise the
    component's signature; ``valid`` supplies or overrides values) gets, one
    at a time: a string, a bool, None, NaN and ±inf for a number, a fraction
    for an int, -1 unless named in ``allow_negative``; a non-number and NaN
    items for a sequence, the items out of order; "yes" for a flag; a typo
    for a string choice. Each must raise TypeError or ValueError whose message
    names the hyperparameter, at construction (optimizers, regularizers,
    schedules) or at the first call (activations, losses). Returns the
    number of bad values tried.

    >>> check_hyperparameters("optimizer", "adam") > 20
    True
    """
    entry = registry.table(kind)[name]
    base = {**_hyperparameters(kind, entry), **valid}
    scores = _probe((5, 4), _backend.current(), requires_grad=False)
    same_shape = getattr(entry.obj, "targets", "class_indices") == "same_shape"
    targets = (tensor(np.full((5, 4), 0.5), dtype="float64") if same_shape
               else tensor([0, 1, 2, 3, 0], dtype="int64"))
    tried = 0
    for key, value in base.items():
        for bad in _bad_values(key, value, allow_negative):
            kw = {**base, key: bad}
            tried += 1
            try:
                if kind == "optimizer":
                    registry.optimizer(name, [tensor([1.0], requires_grad=True)], **kw)
                elif kind == "regularizer":
                    registry.regularizer(name, **kw)
                elif kind == "schedule":
                    registry.schedule(name, registry.optimizer("sgd", [tensor([1.0], requires_grad=True)]), **kw)
                elif kind == "activation":
                    registry.activation(name, **kw)(scores)
                else:
                    registry.loss(name, **kw)(scores, targets)
            except (TypeError, ValueError) as exc:
                if key not in str(exc):
                    raise AssertionError(f"{kind} {name!r}: {key}={bad!r} raised {type(exc).__name__} without "
                                         f"naming {key!r}: {exc}") from exc
                continue
            raise AssertionError(f"{kind} {name!r}: {key}={bad!r} was accepted; it must raise a TypeError or "
                                 "ValueError naming the hyperparameter")
    return tried
