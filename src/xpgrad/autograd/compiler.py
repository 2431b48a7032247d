"""``xpgrad.compile``: run a step once while recording it, then replay the recording as a flat program.

The first call of a compiled step with a new *signature* (the backend, the
shapes, dtypes and ``requires_grad`` of its tensor arguments, the values of its
other arguments, grad mode) runs the step eagerly while a
:class:`~xpgrad.autograd.trace.Trace` notes every op, every ``backward()`` and
every call of a :func:`~xpgrad.run_eagerly` function. Later calls with that
signature skip everything that only bookkeeps: no tensors are made, no graph
is walked or sorted, no module is called and no argument is checked again. A
:class:`Program` runs each op's ``forward`` on the recorded slots, each
backward pass over a precomputed schedule, and the eager functions
(optimizer and schedule steps) as Python. Values that change between calls
are read at replay time: the arguments' data, the parameters' arrays, the
optimizer's hyperparameters (its ``step`` runs as Python), the random
generator (dropout draws fresh masks). Because the replay runs the same op
bodies on the same arrays, its results are bit-identical to eager ones.
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable
from typing import Any

from .. import backend as _backend
from . import tracing
from .engine import _to_dtype, accumulate_leaf, unbroadcast
from .function import Context, _grad_enabled
from .ops.linalg import Linear as LinearOp
from .ops.linalg import LinearReLU, _affine_grads
from .tensor import Tensor
from .trace import CONST, OP, Backward, Call, Eager, Op, SlotRef, Trace, resolve, slots_in

__all__ = ["CompileWarning", "CompiledFunction", "compile"]

_new = object.__new__
_is = operator.is_
_data = operator.attrgetter("data")
_requires_grad = operator.attrgetter("requires_grad")


class CompileWarning(UserWarning):
    """A compiled step runs eagerly (it could not be traced) or re-traces often."""


class Program:
    """A recorded step as a list of closures over one list of slots (see the module docstring)."""

    def __init__(self, trace: Trace, result: Any):
        self.template = [v if kind == CONST else None for kind, v in zip(trace.kinds, trace.values, strict=True)]
        self.inputs = tuple(trace.inputs)
        self.externals = tuple(trace.externals.values())
        self.result = result
        self.nodes = sum(1 for ins in trace.program if isinstance(ins, Op) and ins.node is not None)
        # guards: what the signature cannot see but the recording depends on
        self.modules = tuple((m, flag) for m, flag in trace.modules.values())
        self.ext_guards = tuple((t, t.requires_grad, tuple(t.data.shape), t.data.dtype) for t, _ in self.externals)
        self._ext_tensors = [t for t, _ in self.externals]
        self._ext_flags = [t.requires_grad for t in self._ext_tensors]
        self._ext_seen = [t.data for t in self._ext_tensors]  # arrays already checked: identity is enough
        stub = _stub()
        node_index: dict[int, int] = {}
        lowered: dict[int, Callable] = {}  # node -> the backward of a lowered op, on its saved tuple
        code = []
        for ins in trace.program:
            if isinstance(ins, Op):
                if ins.node is not None:
                    node_index[ins.node] = len(node_index)
                node = node_index.get(ins.node) if ins.node is not None else None
                step = _lowered(ins, node, stub, lowered)
                code.append(step if step is not None else _forward(ins, node, stub))
            elif isinstance(ins, Backward):
                code.append(_backward(ins, node_index, trace, lowered))
            elif isinstance(ins, Eager):
                code.append(_eager(ins, self.externals, trace))
            else:
                code.append(_call(ins))
        self.code = tuple(zip(code, _frees(trace, result), strict=True))

    def guards_hold(self) -> bool:
        for m, flag in self.modules:
            if m.training is not flag:
                return False
        tensors = self._ext_tensors
        # the usual case in two C-level loops: the same arrays as last time, the same requires_grad flags
        if all(map(_is, map(_data, tensors), self._ext_seen)) and \
                all(map(_is, map(_requires_grad, tensors), self._ext_flags)):
            return True
        for t, requires_grad, shape, dtype in self.ext_guards:
            d = t.data
            if t.requires_grad is not requires_grad or d.shape != shape or d.dtype != dtype:
                return False
        self._ext_seen = [t.data for t in tensors]
        return True

    def run(self, tensors: list) -> Any:
        S = self.template[:]
        for slot, position in self.inputs:
            S[slot] = tensors[position].data
        for t, slot in self.externals:
            S[slot] = t.data
        C: list = [None] * self.nodes
        for step, dead in self.code:
            step(S, C, tensors)
            for slot in dead:
                S[slot] = None
        return _rebuild(self.result, S, tensors)


def _stub() -> Tensor:
    """What a replayed op sees as ``ctx.parents[i]`` for an input that is not a parameter: no grad slot."""
    t = _new(Tensor)
    t.data, t.grad, t.requires_grad, t._ctx, t._version = None, None, True, None, 0
    return t


def _forward(op: Op, node: int | None, stub: Tensor):
    fn, forward, ins, kwargs, out, needs = op.fn, op.fn.forward, op.ins, op.kwargs, op.out, op.needs
    xp, backend = op.xp, op.backend
    parents = tuple(stub if p is None else p for p in op.parents)

    dynamic = any(slots_in(v) for v in kwargs.values())

    def fresh_ctx():
        ctx = _new(Context)
        ctx.xp, ctx.backend, ctx.needs_input_grad = xp, backend, needs
        ctx.fn, ctx.parents, ctx.freed, ctx.seq = fn, parents, False, 0
        return ctx

    if dynamic or kwargs:
        def step(S, C, A):
            ctx = fresh_ctx()
            kw = {k: resolve(v, S) for k, v in kwargs.items()} if dynamic else kwargs
            S[out] = forward(ctx, *[S[i] for i in ins], **kw)
            if node is not None:
                C[node] = ctx
    elif len(ins) == 3:  # Linear, LinearReLU: the hot ops get the argument fetch spelled out
        i0, i1, i2 = ins

        def step(S, C, A):
            ctx = fresh_ctx()
            S[out] = forward(ctx, S[i0], S[i1], S[i2])
            if node is not None:
                C[node] = ctx
    else:
        def step(S, C, A):
            ctx = fresh_ctx()
            S[out] = forward(ctx, *[S[i] for i in ins])
            if node is not None:
                C[node] = ctx

    return step


def _call(call: Call):
    func, args, kwargs, out = call.func, call.args, call.kwargs, call.out

    def assign(spec, value, S):
        if type(spec) is SlotRef:
            S[spec.slot] = value
        elif type(spec) is tuple:
            for s, v in zip(spec, value, strict=False):
                assign(s, v, S)

    def step(S, C, A):
        assign(out, func(*[resolve(a, S) for a in args], **{k: resolve(v, S) for k, v in kwargs.items()}), S)

    return step


_SLOT, _TENSOR, _ARG = 0, 1, 2


def _lowered(op: Op, node: int | None, stub: Tensor, lowered: dict):
    """The dense-layer ops (Linear, LinearReLU) without their checks and context object, or None.

    The signature and the guards already fix every shape and dtype the checks look at, so a
    replay runs the same array calls as ``forward``/``backward`` (bit-identical), keeping
    ``(x, weight, y)`` for the backward, which calls the ops' own gradient helper.
    """
    if op.fn not in (LinearOp, LinearReLU) or op.kwargs or len(op.ins) != 3:
        return None
    ix, iw, ib = op.ins
    out, backend = op.out, op.backend
    relu = op.fn is LinearReLU
    bias_relu_, relu_grad = backend.bias_relu_, backend.relu_grad
    if node is not None:  # the context _affine_grads reads: static, built once
        ctx: Any = _new(Context)
        ctx.xp, ctx.backend, ctx.needs_input_grad = op.xp, backend, op.needs
        ctx.fn, ctx.parents, ctx.freed, ctx.seq = op.fn, tuple(stub if p is None else p for p in op.parents), False, 0
        if relu:
            lowered[node] = lambda saved, g: _affine_grads(ctx, saved[0], saved[1], relu_grad(g, saved[2]))
        else:
            lowered[node] = lambda saved, g: _affine_grads(ctx, saved[0], saved[1], g)

    if relu:
        def step(S, C, A):
            x, w = S[ix], S[iw]
            S[out] = y = bias_relu_(x @ w.T, S[ib])
            if node is not None:
                C[node] = (x, w, y)
    else:
        def step(S, C, A):
            x, w, b = S[ix], S[iw], S[ib]
            y = x @ w.T
            if b is not None:
                y += b
            S[out] = y
            if node is not None:
                C[node] = (x, w, y)

    return step


def _backward(bw: Backward, node_index: dict, trace: Trace, lowered: dict):
    """The chain rule over a fixed schedule: what ``engine.backward`` does, minus the graph walk and checks."""
    root, gslot, retain = bw.root, bw.grad, bw.retain
    value = trace.values[root]
    backend = _backend.backend_of(value)
    xp = backend.xp
    kinds = {"slot": _SLOT, "tensor": _TENSOR, "arg": _ARG}
    schedule = tuple((node_index[node], out, lowered.get(node_index[node], fn.backward), fn.owns_grads,
                      tuple((i, kinds[t[0]], t[1], shape, dtype) for i, t, shape, dtype in targets))
                     for node, out, fn, targets in bw.schedule)
    leaf_root = None if bw.leaf_root is None else (kinds[bw.leaf_root[0]], bw.leaf_root[1])

    def step(S, C, A):
        g0 = xp.ones_like(S[root]) if gslot is None else S[gslot]
        if leaf_root is not None:
            kind, ref = leaf_root
            accumulate_leaf(xp, ref if kind == _TENSOR else A[ref], g0, False)
            return
        grads = {root: g0}
        for node, out, backward, owned, targets in schedule:
            g = grads.pop(out, None)
            if g is None:
                continue
            ctx = C[node]
            in_grads = backward(ctx, g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,) if not isinstance(in_grads, list) else tuple(in_grads)
            n = len(in_grads)
            for i, kind, ref, shape, dtype in targets:
                pg = in_grads[i] if i < n else None
                if pg is None:
                    continue
                fresh = owned
                if pg.shape != shape:
                    pg = unbroadcast(xp, pg, shape)
                    fresh = True
                if pg.dtype != dtype:
                    pg = _to_dtype(backend, pg, dtype)
                if kind == _SLOT:
                    prev = grads.get(ref)
                    grads[ref] = pg if prev is None else prev + pg
                else:
                    accumulate_leaf(xp, ref if kind == _TENSOR else A[ref], pg, fresh)
            if not retain:
                C[node] = None

    return step


def _eager(call: Eager, externals: tuple, trace: Trace):
    fn, args, kwargs = call.fn, call.args, call.kwargs
    backends = {ref.slot: _backend.backend_of(trace.values[ref.slot])
                for ref in (*args, *kwargs.values()) if isinstance(ref, SlotRef)}

    def wrap(S, a):
        return Tensor._make(S[a.slot], backends[a.slot]) if type(a) is SlotRef else a

    def step(S, C, A):
        fn(*[wrap(S, a) for a in args], **{k: wrap(S, v) for k, v in kwargs.items()})
        for t, slot in externals:  # it may have given a parameter a new array
            S[slot] = t.data

    return step


def _frees(trace: Trace, result: Any) -> list[tuple[int, ...]]:
    """For each instruction, the op slots no later instruction (or the result) reads: freed after it runs."""
    last: dict[int, int] = {}
    for n, ins in enumerate(trace.program):
        if isinstance(ins, Op):
            used = (*ins.ins, *slots_in(ins.kwargs))
        elif isinstance(ins, Call):
            used = (*slots_in(list(ins.args)), *slots_in(ins.kwargs))
            for slot in slots_in(ins.out if isinstance(ins.out, tuple) else [ins.out]):
                last.setdefault(slot, n)
        elif isinstance(ins, Backward):
            used = (ins.root,) if ins.grad is None else (ins.root, ins.grad)
        else:
            used = tuple(a.slot for a in (*ins.args, *ins.kwargs.values()) if isinstance(a, SlotRef))
        for slot in used:
            last[slot] = n
        if isinstance(ins, Op):
            last.setdefault(ins.out, n)
    kept = set(_result_slots(result))
    frees: list[list[int]] = [[] for _ in trace.program]
    for slot, n in last.items():
        if trace.kinds[slot] == OP and slot not in kept:
            frees[n].append(slot)
    return [tuple(f) for f in frees]


def _result_slots(result: Any) -> list[int]:
    if isinstance(result, SlotRef):
        return [result.slot]
    if isinstance(result, (tuple, list)):
        return [s for r in result for s in _result_slots(r)]
    if isinstance(result, dict):
        return [s for r in result.values() for s in _result_slots(r)]
    return []


def _rebuild(spec: Any, S: list, tensors: list) -> Any:
    if type(spec) is SlotRef:
        value = S[spec.slot]
        return Tensor._make(value, _backend.backend_of(value))
    if isinstance(spec, tuple):
        items = [_rebuild(s, S, tensors) for s in spec]
        return type(spec)(*items) if hasattr(spec, "_fields") else tuple(items)
    if isinstance(spec, list):
        return [_rebuild(s, S, tensors) for s in spec]
    if isinstance(spec, dict):
        return {k: _rebuild(v, S, tensors) for k, v in spec.items()}
    return spec


_EAGER = "eager"  # a signature whose trace was poisoned: it runs eagerly from then on


class CompiledFunction:
    """A step function compiled by :func:`compile`; call it like the function.

    ``stats`` counts ``traces`` (recordings), ``replays``, ``eager`` calls
    (signatures that could not be traced, or nested inside another trace) and
    lists the ``fallbacks``' reasons. :meth:`eager` calls the function itself.
    """

    def __init__(self, fn: Callable[..., Any], *, cache_size: int = 8, warn_retraces: int = 4):
        if not callable(fn):
            raise TypeError(f"xpgrad.compile needs a callable step function, got a {type(fn).__name__}")
        for name, value in (("cache_size", cache_size), ("warn_retraces", warn_retraces)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"xpgrad.compile: {name} must be a positive integer, got {value!r}")
        self.fn = fn
        self.cache_size = cache_size
        self.warn_retraces = warn_retraces
        self.stats: dict[str, Any] = {"traces": 0, "replays": 0, "eager": 0, "fallbacks": []}
        self._cache: dict[Any, Any] = {}
        self._warned_often = False
        functools.update_wrapper(self, fn)

    def eager(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function without compiling."""
        return self.fn(*args, **kwargs)

    def clear(self) -> None:
        """Forget every recording (the next call traces again)."""
        self._cache.clear()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if tracing.active is not None:  # inside another compiled step: that one records these ops
            return self.fn(*args, **kwargs)
        key, tensors = _signature(self.fn, args, kwargs)
        entry = self._cache.get(key)
        if entry is _EAGER:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        if entry is not None:
            for program in entry:
                if program.guards_hold():
                    self.stats["replays"] += 1
                    return program.run(tensors)
        return self._trace(key, entry, args, kwargs)

    def _trace(self, key: Any, entry: list | None, args: tuple, kwargs: dict) -> Any:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        if entry is None and len(self._cache) >= self.cache_size:
            self.stats["eager"] += 1
            warnings.warn(f"xpgrad.compile({name}): {len(self._cache)} signatures recorded already (cache_size="
                          f"{self.cache_size}); this call runs eagerly. Pass arguments of fewer shapes, or raise "
                          "cache_size", CompileWarning, stacklevel=3)
            return self.fn(*args, **kwargs)
        trace = Trace(args, kwargs)
        tracing.active = trace
        try:
            out = self.fn(*args, **kwargs)
        finally:
            tracing.active = None
        result = trace.result(out) if trace.reason is None else None
        if trace.reason is not None:
            self._cache[key] = _EAGER
            self.stats["fallbacks"].append(trace.reason)
            warnings.warn(f"xpgrad.compile({name}) runs eagerly for this signature: {trace.reason}",
                          CompileWarning, stacklevel=3)
            return out
        program = Program(trace, result)
        self._cache.setdefault(key, []).append(program)
        self.stats["traces"] += 1
        if self.stats["traces"] > self.warn_retraces and not self._warned_often:
            self._warned_often = True
            warnings.warn(f"xpgrad.compile({name}) has traced {self.stats['traces']} times (new argument shapes or "
                          "dtypes, train/eval switches, parameters that changed shape or requires_grad); each "
                          "trace runs the step eagerly once more", CompileWarning, stacklevel=3)
        return out

    def __repr__(self) -> str:
        return f"<xpgrad.compile of {getattr(self.fn, '__qualname__', self.fn)!r}: {self.stats['traces']} traces>"


def _signature(fn: Any, args: tuple, kwargs: dict) -> tuple[tuple, list]:
    """The cache key of a call and its tensor arguments in order."""
    parts: list[Any] = [_grad_enabled.get(), _backend.current()]
    tensors = []
    for value in [*args, *kwargs.values()]:
        if isinstance(value, Tensor):
            d = value.data
            parts.append((d.shape, d.dtype, value.requires_grad, value._backend,
                          d.device if value._backend.multi_device else None))
            tensors.append(value)
        else:
            try:
                hash(value)
            except TypeError:
                raise TypeError(f"xpgrad.compile({getattr(fn, '__qualname__', fn)}): argument of type "
                                f"{type(value).__name__} is neither a Tensor nor hashable; pass arrays as tensors "
                                "(xpgrad.asarray) and other values as numbers, strings or tuples") from None
            parts.append(value)
    if kwargs:
        parts.append(tuple(kwargs))
    return tuple(parts), tensors


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 8, warn_retraces: int = 4) -> Any:
    """Compile a step function: record it on its first call, replay the recording on later calls.

    ``fn`` takes tensors (and hashable Python values) and does a training
    step (forward, loss, ``backward()``, ``optimizer.step()``) or an
    inference step. Per signature (backend, shapes, dtypes and
    ``requires_grad`` of the tensor arguments, the other arguments' values,
    grad mode, the train/eval mode of the modules it calls) the first call
    runs eagerly while recording; later calls replay the ops, backward
    passes and :func:`~xpgrad.run_eagerly` calls with this call's tensors,
    skipping the Python bookkeeping (tensor objects, graph walk, module
    calls, argument checks). Results are bit-identical to eager ones; the
    returned tensors do not require grad.

    Rules, as for ``jax.jit`` and ``torch.compile``: Python side effects in
    ``fn`` happen at trace time only (mark functions that must run every
    time with :func:`~xpgrad.run_eagerly`; optimizer and schedule steps
    are); tensors made inside ``fn`` from Python data, and tensors reached
    through closures, are read from the same objects at every call (pass
    changing data as arguments). A step that reads tensor values on the host
    (``loss.item()``, ``if loss > 1``) or changes tensors in place cannot be
    replayed: it runs eagerly, with a :class:`CompileWarning` saying why.

    Parameters
    ----------
    fn : callable
        The step. ``xpgrad.compile`` also works as a decorator, with or without arguments.
    cache_size : int
        Most signatures recorded; further ones run eagerly, with a warning.
    warn_retraces : int
        Warn once when the function has been traced more often than this.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> xpgrad.manual_seed(0)
    >>> model = nn.Linear(3, 1)
    >>> opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    >>> @xpgrad.compile
    ... def step(x, y):
    ...     opt.zero_grad()
    ...     loss = ((model(x) - y) ** 2).mean()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> x, y = xpgrad.ones((4, 3)), xpgrad.zeros((4, 1))
    >>> losses = [float(step(x, y)) for _ in range(3)]
    >>> losses[2] < losses[1] < losses[0], step.stats["traces"], step.stats["replays"]
    (True, 1, 2)
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size, warn_retraces=warn_retraces)
    return CompiledFunction(fn, cache_size=cache_size, warn_retraces=warn_retraces)
