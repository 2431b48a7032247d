"""The recording switch that :func:`xpgrad.compile` turns on, and the hooks the engine calls.

While a compiled step is traced, ``active`` holds the recorder (a
``xpgrad.autograd.compiler.Trace``): ``Function.apply`` reports every op to it,
``backward`` reports the backward pass, and whatever the recording cannot
capture *poisons* it (reads a tensor's value on the host, changes a tensor in
place): the step still runs eagerly with the right values, but that trace is
thrown away and the step stays eager. Outside a trace ``active`` is None and
every hook costs one attribute test.

:func:`run_eagerly` marks Python functions that must run at every call of a
compiled step instead of being recorded (an optimizer's ``step``, a
schedule's ``step``, logging).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["active", "host_read", "poison", "record_call", "run_eagerly"]

#: The trace being recorded, or None (the usual case). Set only by the compiler.
active: Any = None

F = TypeVar("F", bound=Callable[..., Any])


def poison(reason: str) -> None:
    """Tell the trace being recorded (if any) that this step cannot be replayed, and why."""
    if active is not None:
        active.poison(reason)


def host_read(tensor: Any, how: str) -> None:
    """Called where a tensor's value leaves for the host (``item()``, ``float()``, ``numpy()``...)."""
    if active is not None:
        active.host_read(tensor, how)


def record_call(func: Callable[..., Any], args: tuple, kwargs: dict, result: Any) -> None:
    """Report an array computation made outside ``Function.apply`` (``result`` wraps ``func(*args, **kwargs)``).

    ``args`` may hold tensors (their arrays are passed to ``func`` at replay);
    ``result`` is a tensor or a tuple of them. Comparisons, ``astype`` without a
    graph and random draws report themselves this way, so a replay recomputes
    them instead of reusing the values of the first call.
    """
    if active is not None:
        active.array_call(func, args, kwargs, result)


def run_eagerly(fn: F | None = None, *, replay: Callable[..., Any] | None = None) -> Any:
    """Mark ``fn`` to run as plain Python at every call of a compiled step, never recorded into it.

    Inside :func:`xpgrad.compile`, a step's tensor operations are recorded
    once and replayed; a function marked this way is instead called again at
    every replay, with the tensors of that call (so it sees this step's loss,
    gradients and parameters). Optimizer and schedule ``step`` methods are
    marked; mark your own logging or gradient surgery the same way. Tensors it
    returns must not feed later operations of the step (the replay could not
    know their values), and it should update parameters in place. Outside a
    compiled step it is an ordinary call.

    >>> import xpgrad
    >>> seen = []
    >>> @xpgrad.run_eagerly
    ... def log(loss):
    ...     seen.append(round(loss.item(), 3))
    >>> @xpgrad.compile
    ... def step(x):
    ...     loss = (x * x).sum()
    ...     log(loss)
    ...     return loss
    >>> for v in (1.0, 2.0, 3.0):
    ...     _ = step(xpgrad.tensor([v]))
    >>> seen
    [1.0, 4.0, 9.0]

    ``replay`` (used as ``@run_eagerly(replay=...)``) may give replays a faster
    stand-in. When a recording becomes a program, ``replay`` is called once
    with the arguments of the recorded call if none of them is a tensor of the
    step; it returns None (keep calling ``fn``) or a callable of no arguments
    that the replay calls instead of ``fn(...)``. That callable must do what
    the call does and return True when it gave no tensor a new array (the
    replay then skips re-reading the arrays of the parameters it uses), False
    otherwise. :meth:`xpgrad.optimizers.Optimizer.step` and ``zero_grad`` use
    it to skip their checks that the replay has already made.
    """
    if fn is None:
        return functools.partial(run_eagerly, replay=replay)
    if replay is not None:
        fn.__xpgrad_replay__ = replay  # type: ignore[attr-defined]  # on the function the trace records
    if getattr(fn, "__xpgrad_eager__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if active is None:
            return fn(*args, **kwargs)
        return active.eager_call(fn, args, kwargs)

    wrapper.__xpgrad_eager__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
