"""The standard's data type functions: astype (differentiable between float and complex dtypes), can_cast,
finfo, iinfo, isdtype, result_type.

Dtypes may be given as names, as any backend's dtype objects or (where the
standard allows) as tensors; they are resolved to the backend of the tensor
arguments, else the current backend. ``finfo``/``iinfo`` return plain Python
numbers, whatever the backend.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

from ... import backend as _backend
from .. import tracing as _tracing
from ..filled import check_device
from ..function import Function
from ..tensor import Tensor
from . import arguments as _arg
from .nondiff import is_complex

__all__ = ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"]

_KINDS = ("bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric")


class Cast(Function):
    """A dtype (and optionally device) change; the gradient comes back in the input's dtype and device."""

    @staticmethod
    def forward(ctx, x, dtype=None, device=None, copy=True):
        ctx.in_dtype, ctx.in_device = x.dtype, x.device
        ctx.moved = device is not None and device != x.device
        return ctx.xp.astype(x, dtype, copy=copy, device=device)

    @staticmethod
    def backward(ctx, g):
        if is_complex(ctx, g) and not ctx.backend.is_complex(ctx.in_dtype):
            g = ctx.xp.real(g)  # d/dx of (x + 0j) for a real x: the real part
        return ctx.xp.astype(g, ctx.in_dtype, device=ctx.in_device if ctx.moved else None)


def _inexact(b: Any, dtype: Any) -> bool:
    return bool(b.xp.isdtype(dtype, ("real floating", "complex floating")))


def astype(x: Tensor, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
    """``x`` converted to ``dtype`` (and to ``device`` when given): ``out[i] = dtype(x[i])``.

    Between float and complex dtypes the conversion is differentiable: the
    gradient is cast back to ``x``'s dtype (the real part of a complex
    gradient for a real ``x``). Casts to or from integer and bool dtypes record
    nothing. With ``copy=False`` and nothing to change, ``x`` itself is returned.

    >>> import xpgrad
    >>> x = xpgrad.tensor([1.5, -2.0], requires_grad=True)
    >>> y = xpgrad.astype(x, "float64")
    >>> (y * y).sum().backward()
    >>> x.grad.tolist(), x.grad.dtype == x.dtype
    ([3.0, -4.0], True)
    """
    x = _arg.tensor("astype", x)
    b = x._backend
    dt = b.dtype(dtype)
    if device is not None:
        device = check_device("astype", b, device)
        if device == x.device:
            device = None
    if not copy and dt == x.dtype and device is None:
        return x
    if x.requires_grad and _inexact(b, x.dtype) and _inexact(b, dt):
        return Cast.apply(x, dtype=dt, device=device, copy=copy)
    out = Tensor._make(b.xp.astype(x.data, dt, copy=copy, device=device), b)
    _tracing.record_call(b.xp.astype, (x, dt), {"copy": copy, "device": device}, out)
    return out


def _backend_of(args: Any) -> Any:
    for a in args:
        if isinstance(a, Tensor):
            return a._backend
    return _backend.current()


def _dtype_of(b: Any, value: Any, op: str) -> Any:
    """A tensor's dtype, or a dtype given as a name or any backend's dtype object, as backend ``b``'s dtype."""
    if isinstance(value, Tensor):
        return value.dtype
    if b.owns(value):
        return value.dtype
    try:
        return b.dtype(value)
    except TypeError:
        raise TypeError(f"{op}: expected a dtype or a Tensor, got {type(value).__name__} ({value!r}); use a dtype "
                        "such as xpgrad.array_api.float32 or its name 'float32'") from None


def can_cast(from_: Any, to: Any, /) -> bool:
    """Whether the standard's promotion rules allow casting ``from_`` (a dtype or tensor) to ``to``.

    >>> import xpgrad
    >>> xp = xpgrad.array_api
    >>> xp.can_cast(xp.int8, xp.int32), xp.can_cast(xp.float64, xp.float32)
    (True, False)
    """
    b = _backend_of((from_,))
    src = _backend.dtype_name(_dtype_of(b, from_, "can_cast"))
    dst = _backend.dtype_name(_dtype_of(b, to, "can_cast"))
    return src == dst or dst in _SAFE.get(src, ())


def _safe_targets() -> dict[str, tuple[str, ...]]:
    """For each dtype, the other dtypes the standard's promotion rules can reach (no cross-kind int -> float)."""
    ints = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
    uints = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
    out: dict[str, tuple[str, ...]] = {}
    for n, bits in ints.items():
        out[n] = tuple(m for m, k in ints.items() if k > bits)
    for n, bits in uints.items():
        out[n] = tuple(m for m, k in uints.items() if k > bits) + tuple(m for m, k in ints.items() if k > bits)
    out.update({"float32": ("float64", "complex64", "complex128"), "float64": ("complex128",),
                "complex64": ("complex128",)})
    return out


_SAFE = _safe_targets()


class finfo_object(NamedTuple):
    """Machine limits of a floating dtype: bits, eps, max, min, smallest_normal (Python numbers) and dtype."""

    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: Any


class iinfo_object(NamedTuple):
    """Machine limits of an integer dtype: bits, max, min (Python ints) and dtype."""

    bits: int
    max: int
    min: int
    dtype: Any


def finfo(type: Any, /) -> finfo_object:
    """Machine limits of a real or complex floating dtype (or of a tensor's dtype).

    ``eps`` is the gap between 1 and the next representable number; for a
    complex dtype the limits are those of its real components.

    >>> import xpgrad
    >>> f = xpgrad.array_api.finfo("float32")
    >>> f.bits, f.eps
    (32, 1.1920928955078125e-07)
    """
    b = _backend_of((type,))
    dt = _dtype_of(b, type, "finfo")
    if not _inexact(b, dt):
        raise ValueError(f"finfo: {_backend.dtype_name(dt)} is not a floating dtype; use iinfo for integer dtypes")
    info = b.xp.finfo(dt)
    real = b.dtype("float32" if _backend.dtype_name(dt) in ("float32", "complex64") else "float64")
    return finfo_object(int(info.bits), float(info.eps), float(info.max), float(info.min),
                        float(info.smallest_normal), real)


def iinfo(type: Any, /) -> iinfo_object:
    """Machine limits of an integer dtype (or of a tensor's dtype): ``min <= value <= max``.

    >>> import xpgrad
    >>> i = xpgrad.array_api.iinfo("int8")
    >>> i.bits, i.min, i.max
    (8, -128, 127)
    """
    b = _backend_of((type,))
    dt = _dtype_of(b, type, "iinfo")
    if not b.xp.isdtype(dt, "integral"):
        raise ValueError(f"iinfo: {_backend.dtype_name(dt)} is not an integer dtype; use finfo for floating dtypes")
    info = b.xp.iinfo(dt)
    return iinfo_object(int(info.bits), int(info.max), int(info.min), b.dtype(_backend.dtype_name(dt)))


def isdtype(dtype: Any, kind: Any) -> bool:
    """Whether ``dtype`` is of ``kind``: a dtype, a kind name (``"real floating"``, ``"integral"``...) or a tuple.

    >>> import xpgrad
    >>> xp = xpgrad.array_api
    >>> xp.isdtype(xp.float32, "real floating"), xp.isdtype(xp.int8, ("bool", "unsigned integer"))
    (True, False)
    """
    b = _backend.current()
    dt = _dtype_of(b, dtype, "isdtype")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    resolved = []
    for k in kinds:
        if isinstance(k, str):
            if k not in _KINDS and k not in _backend.DTYPE_NAMES:
                raise ValueError(f"isdtype: unknown kind {k!r}; use a dtype or one of {', '.join(map(repr, _KINDS))}")
            resolved.append(k if k in _KINDS else b.dtype(k))
        else:
            resolved.append(_dtype_of(b, k, "isdtype"))
    return bool(b.xp.isdtype(dt, tuple(resolved)))


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The dtype the standard's promotion rules give to the tensors, dtypes and Python scalars combined.

    Python scalars are weak: they do not widen the result of tensors or dtypes.

    >>> import xpgrad
    >>> xp = xpgrad.array_api
    >>> xp.result_type(xp.int8, xp.int16) == xp.int16, xp.result_type(xp.float32, 1.0) == xp.float32
    (True, True)
    """
    b = _backend_of(arrays_and_dtypes)
    if not arrays_and_dtypes:
        raise ValueError("result_type: needs at least one tensor or dtype")
    items = [a if isinstance(a, (bool, numbers.Number)) and not isinstance(a, Tensor)
             else _dtype_of(b, a, "result_type") for a in arrays_and_dtypes]
    if all(isinstance(a, (bool, numbers.Number)) for a in items):
        raise ValueError("result_type: needs at least one tensor or dtype besides Python scalars")
    return b.xp.result_type(*items)
