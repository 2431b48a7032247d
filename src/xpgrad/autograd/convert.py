"""Turning user data into a backend array: the one flag decides where it goes.

Kept apart from ``tensor.py`` and ``creation.py`` so that both can use it
without importing each other.
"""

from __future__ import annotations

import numbers
from typing import Any

from .. import backend as _backend


def has_float(data: Any) -> bool:
    """Whether nested Python data holds a float (then it becomes the default float dtype)."""
    if isinstance(data, bool) or isinstance(data, numbers.Integral):
        return False
    if isinstance(data, numbers.Real):
        return True
    if isinstance(data, (list, tuple)):
        return any(has_float(d) for d in data)
    return False


def to_array(data: Any, dtype: Any, b: _backend.Backend, copy: bool | None) -> Any:
    """``data`` (scalars, nested lists, any library's array, a Tensor) as an array of backend ``b``.

    Arrays keep their dtype unless ``dtype`` is given; Python floats become
    the default float dtype and Python ints int64.
    """
    if isinstance(data, (str, bytes)):
        raise TypeError(f"cannot make a tensor from a {type(data).__name__} ({data!r}); pass numbers, nested "
                        "lists of numbers or an array")
    if dtype is None and not hasattr(data, "dtype") and has_float(data):
        dtype = _backend.get_default_dtype()
    if dtype is None and _too_big(data):  # NumPy would silently make an object array
        raise ValueError(f"cannot make a tensor from {_short(data)}: an integer does not fit in int64 (the dtype of "
                         "Python ints); pass dtype='float64' or smaller values")
    try:
        arr = b.asarray(data, dtype=dtype, copy=copy)
    except OverflowError as e:
        raise ValueError(f"cannot make a tensor from {_short(data)} on backend {b.name!r}: a value overflows "
                         f"{'the default integer dtype (int64)' if dtype is None else dtype} ({e}); pass a float "
                         "or a wider dtype, e.g. dtype='float64'") from None
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} data on backend {b.name!r}: {e}") from None
    try:
        ok = b.xp.isdtype(arr.dtype, ("bool", "numeric"))
    except (TypeError, ValueError):  # e.g. NumPy string or object arrays
        ok = False
    if not ok:
        where = _first_non_number(data)
        if where is None:
            what = f"this data has dtype {arr.dtype}"
        else:
            what = f"element {where[0]} is {where[1]}" if where[0] else f"the data is {where[1]}"
        raise TypeError(f"tensors hold numbers or booleans, but {what}; convert it first (strings and Python "
                        "objects cannot be differentiated)")
    return arr


def _short(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _too_big(data: Any) -> bool:
    """Whether nested Python data holds an int outside int64's range."""
    if isinstance(data, bool):
        return False
    if isinstance(data, numbers.Integral):
        return not -(2**63) <= int(data) < 2**63
    if isinstance(data, (list, tuple)):
        return any(_too_big(d) for d in data)
    return False


def _first_non_number(data: Any, at: str = "") -> tuple[str, str] | None:
    """Position and description of the first leaf of nested Python data that is not a number, if any."""
    if isinstance(data, (list, tuple)):
        for i, d in enumerate(data):
            found = _first_non_number(d, f"{at}[{i}]")
            if found:
                return found
        return None
    if isinstance(data, numbers.Number) or hasattr(data, "dtype"):
        return None
    return (at, f"the {type(data).__name__} {_short(data)}")
