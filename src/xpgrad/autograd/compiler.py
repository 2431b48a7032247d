"""``xpgrad.compile``: run a step once while recording it, then replay the recording as a flat program.

The first call of a compiled step with a new *signature* (the backend, the
shapes, dtypes and ``requires_grad`` of its tensor arguments, the values of its
other arguments, grad mode) runs the step eagerly while a
:class:`~xpgrad.autograd.trace.Trace` notes every op, every ``backward()`` and
every call of a :func:`~xpgrad.run_eagerly` function. Later calls with that
signature skip everything that only bookkeeps: no tensors are made, no graph
is walked or sorted, no module is called and no argument is checked again. A
:class:`~xpgrad.autograd.program.Program` (one generated Python function)
runs each op's ``forward`` on the recorded slots, each backward pass over a
precomputed schedule, and the eager functions (optimizer and schedule steps). Values that change between calls
are read at replay time: the arguments' data, the parameters' arrays, the
optimizer's hyperparameters (its ``step`` runs as Python), the random
generator (dropout draws fresh masks). Because the replay runs the same op
bodies on the same arrays, its results are bit-identical to eager ones.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from .. import backend as _backend
from . import tracing
from .function import _grad_enabled
from .program import Program
from .tensor import Tensor
from .trace import Trace

__all__ = ["CompileWarning", "CompiledFunction", "compile"]


class CompileWarning(UserWarning):
    """A compiled step runs eagerly (it could not be traced) or re-traces often."""


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
        program = Program(trace, result, name)
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
