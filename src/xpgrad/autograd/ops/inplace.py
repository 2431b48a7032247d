"""``x[key] = value`` and the in-place operators (``x += y``...), recorded or not.

Three cases, as in PyTorch:

* grad mode on and a leaf that requires grad is changed: RuntimeError (its
  gradient would be ill-defined);
* grad mode on and ``x`` or the operand requires grad: copy-on-write. The
  result is computed out of place as a recorded node and ``x`` is rebound to
  it; the state ``x`` had before goes to ``x._history`` so graph nodes recorded
  earlier with ``x`` as an input still differentiate through the old state
  (the engine looks it up when ``x._version`` is newer than the node);
* otherwise the array is changed in place and ``x``'s version is bumped, so a
  graph that saved that array refuses to run backward.

In-place results keep ``x``'s dtype and shape: an operand that would promote
the dtype or broadcast ``x`` to a larger shape is refused.
"""

from __future__ import annotations

from typing import Any

from .. import tracing as _tracing
from ..function import _grad_enabled
from ..tensor import SEQUENCE, Tensor
from . import indexing as _indexing

__all__ = ["inplace_operator", "setitem"]

_KIND = {bool: 0, int: 1, float: 2, complex: 3}


def _leaf_error(op: str, x: Tensor) -> RuntimeError:
    return RuntimeError(
        f"{op}: a leaf tensor that requires grad (shape {x.shape}) is used in an in-place operation; its gradient "
        "would be lost. Use x.detach() (a tensor outside the graph), run it under xpgrad.no_grad() (e.g. a "
        "parameter update), or change a copy (y = x * 1, or xpgrad.asarray(x, copy=True)) instead")


_KINDS: dict[Any, int] = {}  # (backend name, dtype) -> 0 bool, 1 integer, 2 real floating, 3 complex


def _dtype_kind(x: Tensor) -> int:
    dt = x.data.dtype
    key = (x._backend.name, dt)  # the name first: dtypes of different libraries are never compared
    kind = _KINDS.get(key)
    if kind is None:
        b = x._backend
        kind = 0 if b.xp.isdtype(dt, "bool") else 1 if b.xp.isdtype(dt, "integral") else 3 if b.is_complex(dt) else 2
        _KINDS[key] = kind
    return kind


def _check_operand(op: str, x: Tensor, other: Any) -> None:
    """Refuse an operand that would change ``x``'s dtype (the standard's in-place rule) or grow its shape."""
    if op == "__itruediv__" and _dtype_kind(x) < 2:
        raise TypeError(f"__itruediv__: an in-place operation keeps the dtype {x.dtype} of the left operand, and "
                        "true division gives floats; use // (floor division) or x = x / y")
    if isinstance(other, Tensor):
        xp = x._backend.xp
        if other._backend is x._backend and xp.result_type(x.data.dtype, other.data.dtype) != x.data.dtype:
            raise TypeError(f"{op}: an in-place operation keeps the dtype {x.dtype} of the left operand, but the "
                            f"right operand's dtype {other.dtype} would promote it; use x = x {op[2:-2]} y "
                            "(out of place) or cast the right operand first")
        shape, oshape = x.data.shape, other.data.shape
        if len(oshape) > len(shape) or any(o not in (1, s) for o, s in zip(oshape[::-1], shape[::-1], strict=False)):
            raise ValueError(f"{op}: an in-place operation keeps the shape {tuple(shape)} of the left operand; the "
                             f"right operand of shape {tuple(oshape)} does not broadcast to it")
    elif type(other) in _KIND and _KIND[type(other)] > _dtype_kind(x):
        raise TypeError(f"{op}: an in-place operation keeps the dtype {x.dtype} of the left operand; the Python "
                        f"{type(other).__name__} {other!r} would need a wider dtype. Cast the tensor first "
                        "(x = x.astype(...)) or compute out of place")


def _check_result(op: str, x: Tensor, result: Tensor) -> None:
    if result.data.dtype != x.data.dtype or result.data.shape != x.data.shape:
        raise TypeError(f"{op}: an in-place operation keeps the dtype {x.dtype} and shape {x.shape} of the left "
                        f"operand, but the result has dtype {result.dtype} and shape {result.shape}; compute it "
                        "out of place (x = x op y)")


def _rebind(x: Tensor, result: Tensor) -> None:
    """Make ``x`` the recorded ``result``, keeping its former state for the graph nodes that consumed it."""
    old = Tensor._make(x.data, x._backend, x.requires_grad)
    old._ctx, old._version, old.grad = x._ctx, x._version, x.grad
    x._version = next(SEQUENCE)
    history = getattr(x, "_history", None)
    entry = (x._version, old)
    if history is None:
        x._history = [entry]
    else:
        history.append(entry)
    x.data, x._ctx, x.requires_grad = result.data, result._ctx, result.requires_grad


def _tracked(x: Tensor, other: Any) -> bool:
    return _grad_enabled.get() and (x.requires_grad or (isinstance(other, Tensor) and other.requires_grad))


def inplace_operator(fn: Any, op: str) -> Any:
    """The in-place form ``x op= y`` of the binary function ``fn`` (``x = fn(x, y)`` keeping x's identity)."""

    def method(self: Tensor, other: Any) -> Tensor:
        _check_operand(op, self, other)
        _tracing.poison(f"{op} changes a tensor in place")
        if _tracked(self, other):
            if self._ctx is None and self.requires_grad:
                raise _leaf_error(op, self)
            result = fn(self, other)
            _check_result(op, self, result)
            _rebind(self, result)
            return self
        result = fn(self, other)
        _check_result(op, self, result)
        if hasattr(self.data, "__setitem__"):
            self.data[...] = result.data
        else:  # a NumPy scalar (a NumPy function's result for 0-d input) cannot be written to: take the result
            self.data = result.data
        self.bump_version()
        return self

    method.__name__ = op
    method.__doc__ = f"``x {op[2:-2]}= y`` in place: ``x`` keeps its dtype and shape (see xpgrad.autograd.ops.inplace)."
    return method


def setitem(x: Tensor, key: Any, value: Any) -> None:
    """``x[key] = value``: recorded copy-on-write when gradients are involved, in place otherwise.

    >>> import xpgrad
    >>> x = xpgrad.zeros(4)
    >>> x[1:3] = 2.0
    >>> x[xpgrad.tensor([True, False, False, True])] = -1.0
    >>> x.tolist()
    [-1.0, 2.0, 2.0, -1.0]
    """
    _tracing.poison("__setitem__ changes a tensor in place")
    parts, _ = _indexing.prepare(x, key)
    if isinstance(value, Tensor):
        if value._backend is not x._backend:
            raise TypeError(f"x[key] = value: value lives on backend {value._backend.name!r} but x on "
                            f"{x._backend.name!r}; move it with .to({x._backend.name!r})")
    elif type(value) in _KIND:
        if _KIND[type(value)] > _dtype_kind(x):
            raise TypeError(f"x[key] = value: the Python {type(value).__name__} {value!r} does not fit the dtype "
                            f"{x.dtype} of x; cast x first (x = x.astype(...))")
    elif hasattr(value, "shape") and hasattr(value, "dtype"):
        value = Tensor._make(x._backend.asarray(value), x._backend)
    else:
        raise TypeError(f"x[key] = value: value must be a Tensor, an array or a Python number, got "
                        f"{type(value).__name__}")
    if _tracked(x, value):
        if x._ctx is None and x.requires_grad:
            raise _leaf_error("__setitem__", x)
        _rebind(x, _indexing.setitem_recorded(x, parts, value))
        return
    data = value.data if isinstance(value, Tensor) else value
    if isinstance(value, Tensor) and data.dtype != x.data.dtype:
        xp = x._backend.xp
        if xp.result_type(x.data.dtype, data.dtype) != x.data.dtype:
            raise TypeError(f"x[key] = value: value's dtype {data.dtype} does not fit the dtype {x.dtype} of x "
                            "without a wider dtype; cast value first (value.astype(x.dtype))")
        data = xp.astype(data, x.data.dtype)
    if not hasattr(x.data, "__setitem__"):  # a NumPy scalar: make it a 0-d array first
        x.data = x._backend.xp.asarray(x.data, copy=True)
    x.data[parts] = data
    x.bump_version()
