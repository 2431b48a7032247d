"""Functions whose results record nothing: boolean or integer results, and pass-through helpers for the ops.

``call("isnan", x)`` runs the current backend's function of that name on the
arrays of the tensor arguments and wraps what comes back (an array, or a
tuple/named tuple of arrays) as tensors outside the graph. Library errors
come back naming the function and the inputs, as for recorded ops.

The complex helpers serve the backward bodies: gradients with respect to a
complex input follow PyTorch's convention (the conjugate Wirtinger
derivative), so a holomorphic ``f`` sends ``g * conj(f'(z))`` back, and on
real dtypes :func:`conj` costs nothing.
"""

from __future__ import annotations

from typing import Any

from ...backend import mixed_place_error
from .. import tracing as _tracing
from ..function import LIBRARY_ERRORS, _op_error, _raised_by_xpgrad
from ..tensor import Tensor

__all__ = ["call", "conj", "find_backend", "is_complex", "wrap"]


def find_backend(op: str, args: Any) -> Any:
    """The backend of the tensors among ``args`` (flattening one level of lists/tuples); they must share it."""
    backend: Any = None
    first: Any = None
    for a in args:
        items = a if type(a) in (list, tuple) else (a,)
        for t in items:
            if isinstance(t, Tensor):
                if backend is None:
                    backend, first = t._backend, t
                elif t._backend is not backend or (backend.multi_device and t.data.device != first.data.device):
                    raise mixed_place_error(op, (backend, first.data), (t._backend, t.data))
    if backend is None:
        raise TypeError(f"{op} needs at least one xpgrad.Tensor argument; got "
                        f"{', '.join(type(a).__name__ for a in args) or 'none'}")
    return backend


def _unwrap(a: Any) -> Any:
    if isinstance(a, Tensor):
        return a.data
    if type(a) in (list, tuple) and a and any(isinstance(t, Tensor) for t in a):
        return type(a)(t.data if isinstance(t, Tensor) else t for t in a)
    return a


def wrap(out: Any, backend: Any) -> Any:
    """Backend arrays in ``out`` (alone, or in a tuple or named tuple) as tensors that record nothing."""
    if isinstance(out, tuple):
        items = [wrap(o, backend) for o in out]
        return type(out)(*items) if hasattr(out, "_fields") else tuple(items)
    if isinstance(out, list):
        return [wrap(o, backend) for o in out]
    if backend.owns(out):
        return Tensor._make(out, backend)
    return out


def call(name: str, *args: Any, op: str | None = None, **kwargs: Any) -> Any:
    """Run ``backend.xp.<name>`` on the tensors' arrays (and other arguments as they are); wrap the result.

    A ``dtype=`` keyword is resolved to the backend's own dtype first, so any
    backend's dtype object, or a name, works.
    """
    op = op or name
    backend = find_backend(op, args)
    if kwargs.get("dtype") is not None:
        kwargs["dtype"] = backend.dtype(kwargs["dtype"])
    try:
        out = getattr(backend.xp, name)(*(_unwrap(a) for a in args), **kwargs)
    except LIBRARY_ERRORS as e:
        if _raised_by_xpgrad(e):
            raise
        raise _op_error(_Named(op), args, e) from e
    result = wrap(out, backend)
    if _tracing.active is not None:  # xpgrad.compile: a replay computes it again from this call's arrays
        _tracing.record_call(getattr(backend.xp, name), args, kwargs, result)
    return result


class _Named:
    def __init__(self, name: str):
        self.__name__ = name


def is_complex(ctx_or_backend: Any, value: Any) -> bool:
    """Whether ``value`` (an array or a Python number) is complex; cheap on real arrays."""
    if isinstance(value, complex):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    backend = getattr(ctx_or_backend, "backend", ctx_or_backend)
    return backend.is_complex(dtype)


def conj(ctx: Any, value: Any) -> Any:
    """The complex conjugate of ``value`` (array or Python number); ``value`` itself when it is real."""
    if isinstance(value, complex):
        return value.conjugate()
    if is_complex(ctx, value):
        return ctx.xp.conj(value)
    return value
