"""The standard's creation functions that fill a new array: ranges, constants, identity, and their ``*_like`` forms.

New arrays go to the current backend (or ``backend=``) unless a Tensor input
says otherwise (the ``*_like`` functions follow it); ``device=`` must be one of
that backend's devices. Float results use xpgrad's default float dtype
(:func:`xpgrad.set_default_dtype`), complex results the complex dtype of the
same precision, integer results int64.
"""

from __future__ import annotations

import numbers
from typing import Any

from .. import backend as _backend
from .convert import has_float
from .tensor import Tensor

__all__ = ["arange", "empty", "empty_like", "eye", "full", "full_like", "linspace", "ones", "ones_like", "zeros",
           "zeros_like"]


def _resolve(backend: Any) -> Any:
    return _backend.current() if backend is None else _backend.resolve(backend)


def default_float() -> str:
    """The name of xpgrad's default real floating dtype (float32 unless changed)."""
    return _backend.dtype_name(_backend.get_default_dtype())


def default_complex() -> str:
    """The complex dtype of the default float's precision."""
    return "complex128" if default_float() == "float64" else "complex64"


def has_complex(data: Any) -> bool:
    """Whether nested Python data holds a complex number (not a real one)."""
    if isinstance(data, complex):
        return True
    if isinstance(data, (list, tuple)):
        return any(has_complex(d) for d in data)
    return False


def namespace_info(b: Any) -> Any:
    """The backend library's own inspection object (its namespace may be a wrapper without the dunder)."""
    info = getattr(b.xp, "__array_namespace_info__", None)
    if info is None:
        import array_api_compat

        info = array_api_compat.array_namespace(b.xp.empty((0,))).__array_namespace_info__
    return info()


def check_device(op: str, b: Any, device: Any) -> Any:
    """``device`` if it is one of backend ``b``'s devices (None: the default); a ValueError naming them otherwise."""
    if device is None:
        return None
    devices = tuple(namespace_info(b).devices())
    try:
        if device in devices:
            return device
    except (TypeError, ValueError):
        pass
    raise ValueError(f"{op}: device={device!r} is not a device of backend {b.name!r}; use one of "
                     f"{', '.join(repr(d) for d in devices)} or device=None (the default device), or switch "
                     "backends with xpgrad.use_backend(...)")


def _leaf(arr: Any, b: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr, b)
    return t.requires_grad_(True) if requires_grad else t


def _shape(op: str, shape: Any) -> tuple[int, ...]:
    items = (shape,) if not isinstance(shape, (tuple, list)) else shape
    out = []
    for s in items:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) and not hasattr(s, "__index__"):
            raise TypeError(f"{op}: shape must be an int or a tuple of ints, got {shape!r}")
        out.append(int(s))
    if any(s < 0 for s in out):
        raise ValueError(f"{op}: shape entries must be non-negative, got {tuple(out)}")
    return tuple(out)


def _python_scalar(value: Any) -> Any:
    """A tensor's or NumPy scalar's value as a Python number (strict backends take only those)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (bool, int, float, complex)) else value


def _fill_dtype(fill_value: Any) -> str:
    kind = _backend.dtype_name(fill_value.dtype) if hasattr(fill_value, "dtype") else ""  # a NumPy scalar
    fill_value = _python_scalar(fill_value)
    if isinstance(fill_value, bool) or kind == "bool":
        return "bool"
    if isinstance(fill_value, complex):
        return default_complex()
    if has_float(fill_value):
        return default_float()
    if isinstance(fill_value, numbers.Integral):
        return "int64"
    raise TypeError(f"full: fill_value must be a bool, int, float or complex, got {type(fill_value).__name__} "
                    f"({fill_value!r})")


def _make(op: str, name: str, shape: Any, dtype: Any, device: Any, requires_grad: bool, backend: Any) -> Tensor:
    b = _resolve(backend)
    dt = b.dtype(default_float() if dtype is None else dtype)
    arr = getattr(b.xp, name)(_shape(op, shape), dtype=dt, device=check_device(op, b, device))
    return _leaf(arr, b, requires_grad)


def zeros(shape: int | tuple[int, ...], *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          backend: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with 0 (default float dtype).

    >>> import xpgrad
    >>> xpgrad.zeros((2, 3)).shape
    (2, 3)
    """
    return _make("zeros", "zeros", shape, dtype, device, requires_grad, backend)


def ones(shape: int | tuple[int, ...], *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         backend: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with 1 (default float dtype).

    >>> import xpgrad
    >>> xpgrad.ones(3).tolist()
    [1.0, 1.0, 1.0]
    """
    return _make("ones", "ones", shape, dtype, device, requires_grad, backend)


def empty(shape: int | tuple[int, ...], *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          backend: Any = None) -> Tensor:
    """A tensor of ``shape`` whose values are unspecified (default float dtype); fill it before reading it.

    >>> import xpgrad
    >>> xpgrad.empty((2, 2)).shape
    (2, 2)
    """
    return _make("empty", "empty", shape, dtype, device, requires_grad, backend)


def full(shape: int | tuple[int, ...], fill_value: bool | int | float | complex, *, dtype: Any = None,
         device: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    """A tensor of ``shape`` with every entry equal to ``fill_value``.

    Without ``dtype`` the fill decides: bool -> bool, int -> int64, float ->
    the default float, complex -> the default complex dtype.

    >>> import xpgrad
    >>> xpgrad.full((2,), 7.0).tolist()
    [7.0, 7.0]
    >>> xpgrad.full(2, 3).dtype == xpgrad.array_api.int64
    True
    """
    b = _resolve(backend)
    fill = _python_scalar(fill_value)
    dt = b.dtype(_fill_dtype(fill_value) if dtype is None else dtype)
    arr = b.xp.full(_shape("full", shape), fill, dtype=dt, device=check_device("full", b, device))
    return _leaf(arr, b, requires_grad)


def _like(op: str, x: Any, dtype: Any, device: Any) -> tuple[Any, Any, Any]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: x must be a Tensor, got {type(x).__name__}; use {op.removesuffix('_like')}(shape) "
                        "for a shape")
    b = x._backend
    dt = x.dtype if dtype is None else b.dtype(dtype)
    return b, dt, x.device if device is None else check_device(op, b, device)


def zeros_like(x: Tensor, /, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape, dtype, backend and device of ``x`` (unless ``dtype``/``device`` say otherwise).

    >>> import xpgrad
    >>> xpgrad.zeros_like(xpgrad.ones((2,))).tolist()
    [0.0, 0.0]
    """
    b, dt, dev = _like("zeros_like", x, dtype, device)
    return _leaf(b.xp.zeros(x.shape, dtype=dt, device=dev), b, requires_grad)


def ones_like(x: Tensor, /, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape, dtype, backend and device of ``x``.

    >>> import xpgrad
    >>> xpgrad.ones_like(xpgrad.zeros((2,))).tolist()
    [1.0, 1.0]
    """
    b, dt, dev = _like("ones_like", x, dtype, device)
    return _leaf(b.xp.ones(x.shape, dtype=dt, device=dev), b, requires_grad)


def empty_like(x: Tensor, /, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor with the shape, dtype, backend and device of ``x``.

    >>> import xpgrad
    >>> xpgrad.empty_like(xpgrad.zeros((2, 3))).shape
    (2, 3)
    """
    b, dt, dev = _like("empty_like", x, dtype, device)
    return _leaf(b.xp.empty(x.shape, dtype=dt, device=dev), b, requires_grad)


def full_like(x: Tensor, /, fill_value: bool | int | float | complex, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """A tensor like ``x`` (shape, dtype, backend, device) with every entry equal to ``fill_value``.

    >>> import xpgrad
    >>> xpgrad.full_like(xpgrad.zeros(2), 0.5).tolist()
    [0.5, 0.5]
    """
    b, dt, dev = _like("full_like", x, dtype, device)
    fill = _python_scalar(fill_value)
    return _leaf(b.xp.full(x.shape, fill, dtype=dt, device=dev), b, requires_grad)


def arange(start: int | float, /, stop: int | float | None = None, step: int | float = 1, *, dtype: Any = None,
           device: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    """Values ``start, start + step, ...`` in ``[start, stop)`` (``arange(n)`` is ``0, 1, ..., n - 1``).

    Ints give int64, any float gives the default float dtype.

    >>> import xpgrad
    >>> xpgrad.arange(4).tolist()
    [0, 1, 2, 3]
    >>> xpgrad.arange(0.0, 1.0, 0.25).tolist()
    [0.0, 0.25, 0.5, 0.75]
    """
    b = _resolve(backend)
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (numbers.Real, Tensor))):
            raise TypeError(f"arange: {name} must be an int or a float, got {type(v).__name__} ({v!r})")
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if dtype is None:
        dtype = default_float() if any(has_float(v) for v in (start, stop, step)) else "int64"
    arr = b.xp.arange(start, stop, step, dtype=b.dtype(dtype), device=check_device("arange", b, device))
    return _leaf(arr, b, requires_grad)


def linspace(start: int | float | complex, stop: int | float | complex, /, num: int, *, dtype: Any = None,
             device: Any = None, endpoint: bool = True, requires_grad: bool = False, backend: Any = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``: ``start + i * (stop - start) / (num - 1)``.

    With ``endpoint=False`` the step is ``(stop - start) / num`` and ``stop``
    is left out. Default dtype: the default float (complex for complex ends).

    >>> import xpgrad
    >>> xpgrad.linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    b = _resolve(backend)
    num = int(num) if not isinstance(num, bool) and isinstance(num, numbers.Integral) else -1
    if num < 0:
        raise ValueError(f"linspace: num must be a non-negative int, got {num!r}")
    if dtype is None:
        dtype = default_complex() if isinstance(start, complex) or isinstance(stop, complex) else default_float()
    arr = b.xp.linspace(start, stop, num, dtype=b.dtype(dtype), device=check_device("linspace", b, device),
                        endpoint=endpoint)
    return _leaf(arr, b, requires_grad)


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None,
        requires_grad: bool = False, backend: Any = None) -> Tensor:
    """The ``n_rows x n_cols`` matrix with ones on diagonal ``k`` (``i == j - k``) and zeros elsewhere.

    >>> import xpgrad
    >>> xpgrad.eye(2, 3, k=1).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    b = _resolve(backend)
    rows, cols = _shape("eye", (n_rows, n_rows if n_cols is None else n_cols))
    arr = b.xp.eye(rows, cols, k=int(k), dtype=b.dtype(default_float() if dtype is None else dtype),
                   device=check_device("eye", b, device))
    return _leaf(arr, b, requires_grad)
