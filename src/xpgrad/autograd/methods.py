"""Operators and methods of :class:`Tensor`, bound to the op functions.

Kept apart from ``tensor.py`` so the ops (which need ``Tensor``) can be
imported first and the class stays a small, readable core. The hot operators
(``+``, ``*``, ``@``...) are bound to their functions directly; the others
are the function of the standard's name found among the op families
(:func:`_family`), so each is defined once, in its family module.
"""

from __future__ import annotations

from typing import Any

from .ops import binary_math, dtypes, logical, manipulation, searching, sorting, statistics, unary_math
from .ops import device as D
from .ops import elementwise as E
from .ops import indexing as I
from .ops import inplace as P
from .ops import linalg as L
from .ops import reduction as R
from .ops import shape as S
from .tensor import Tensor

# Where the standard's functions live (searched in this order by name).
_MODULES = (E, unary_math, binary_math, logical, R, statistics, searching, S, manipulation, sorting, L, dtypes, I)


def _family(name: str) -> Any:
    """The op function called ``name`` in the family modules (looked up once, when the methods are bound)."""
    for module in _MODULES:
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise LookupError(f"no op function {name!r} in the family modules {[m.__name__ for m in _MODULES]}")


def _method(name: str, doc: str | None = None) -> Any:
    fn = _family(name)

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = doc or f"``xpgrad.array_api.{name}(self, ...)`` as a method."
    return method


def _operand_ok(other: Any) -> bool:
    return isinstance(other, (Tensor, bool, int, float, complex)) or (hasattr(other, "shape") and
                                                                      hasattr(other, "dtype"))


def _binary(name: str, symbol: str) -> Any:
    fn = _family(name)

    def method(self, other):
        if not _operand_ok(other):
            return NotImplemented
        return fn(self, other)

    method.__name__ = f"__{symbol}__"
    return method


def _rbinary(name: str, symbol: str) -> Any:
    fn = _family(name)

    def method(self, other):
        if not _operand_ok(other):
            return NotImplemented
        return fn(other, self)

    method.__name__ = f"__r{symbol}__"
    return method


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _astype(self, dtype, /, *, copy: bool = False, device: Any = None):
    """Cast to ``dtype`` (differentiable between float dtypes); ``self`` when nothing changes and copy is False.

    Unlike the function ``xpgrad.array_api.astype`` (which copies by
    default), the method returns the tensor itself for its own dtype, as
    PyTorch's ``Tensor.to(dtype)`` does.

    >>> import xpgrad
    >>> xpgrad.tensor([1.5]).astype("float64").dtype == xpgrad.tensor([1.5], dtype="float64").dtype
    True
    """
    if not copy and device is None and self._backend.dtype(dtype) == self.data.dtype:
        return self
    return dtypes.astype(self, dtype, copy=copy, device=device)


def _reshape(self, *shape):
    """The same elements in a new shape; ``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` both work.

    >>> import xpgrad
    >>> xpgrad.arange(6).reshape(2, 3).shape
    (2, 3)
    """
    return S.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)


def _flatten(self, start_dim: int = 0, end_dim: int = -1):
    """Merge axes ``start_dim`` through ``end_dim`` into one, as ``torch.flatten`` (a 0-d tensor gives shape (1,)).

    >>> import xpgrad
    >>> xpgrad.zeros((2, 3, 4)).flatten().shape, xpgrad.zeros((2, 3, 4)).flatten(1).shape
    ((24,), (2, 12))
    """
    from .ops import arguments as _arg

    if self.ndim == 0:
        return S.reshape(self, (1,))
    start = _arg.axis("flatten", start_dim, self.ndim)
    end = _arg.axis("flatten", end_dim, self.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
    n = 1
    for s in self.shape[start:end + 1]:
        n *= s
    return S.reshape(self, self.shape[:start] + (n,) + self.shape[end + 1:])


def _unsqueeze(self, dim: int):
    """A new axis of length 1 at ``dim`` (PyTorch's name for :func:`expand_dims`).

    >>> import xpgrad
    >>> xpgrad.zeros((2, 3)).unsqueeze(1).shape
    (2, 1, 3)
    """
    return S.expand_dims(self, axis=dim)


_METHODS = {
    "__add__": E.add, "__radd__": _reflected(E.add),
    "__sub__": E.subtract, "__rsub__": _reflected(E.subtract),
    "__mul__": E.multiply, "__rmul__": _reflected(E.multiply),
    "__truediv__": E.divide, "__rtruediv__": _reflected(E.divide),
    "__pow__": E.pow, "__rpow__": _reflected(E.pow),
    "__matmul__": L.matmul, "__rmatmul__": _reflected(L.matmul),
    "__floordiv__": _binary("floor_divide", "floordiv"), "__rfloordiv__": _rbinary("floor_divide", "floordiv"),
    "__mod__": _binary("remainder", "mod"), "__rmod__": _rbinary("remainder", "mod"),
    "__and__": _binary("bitwise_and", "and"), "__rand__": _rbinary("bitwise_and", "and"),
    "__or__": _binary("bitwise_or", "or"), "__ror__": _rbinary("bitwise_or", "or"),
    "__xor__": _binary("bitwise_xor", "xor"), "__rxor__": _rbinary("bitwise_xor", "xor"),
    "__lshift__": _binary("bitwise_left_shift", "lshift"), "__rlshift__": _rbinary("bitwise_left_shift", "lshift"),
    "__rshift__": _binary("bitwise_right_shift", "rshift"),
    "__rrshift__": _rbinary("bitwise_right_shift", "rshift"),
    "__neg__": E.negative, "__abs__": E.abs,
    "__pos__": _family("positive"),
    "__invert__": _family("bitwise_invert"),
    "__getitem__": I.getitem, "__setitem__": P.setitem,
    "__lt__": _binary("less", "lt"), "__le__": _binary("less_equal", "le"),
    "__gt__": _binary("greater", "gt"), "__ge__": _binary("greater_equal", "ge"),
    "__eq__": _binary("equal", "eq"), "__ne__": _binary("not_equal", "ne"),
    "exp": E.exp, "log": E.log, "log1p": E.log1p, "sqrt": E.sqrt, "tanh": E.tanh, "abs": E.abs,
    "clip": E.clip, "maximum": E.maximum, "minimum": E.minimum,
    "sum": R.sum, "mean": R.mean, "max": R.max, "min": R.min, "logsumexp": R.logsumexp,
    "matmul": L.matmul, "reshape": _reshape, "permute_dims": S.permute_dims,
    "expand_dims": S.expand_dims, "unsqueeze": _unsqueeze, "squeeze": S.squeeze, "flatten": _flatten,
    "take": S.take, "take_along_axis": S.take_along_axis, "astype": _astype, "to_device": D.to_device,
}
_LAZY = ("prod", "var", "std", "argmax", "argmin", "all", "any", "cumulative_sum",
         "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
         "expm1", "log2", "log10", "square", "reciprocal", "sign", "floor", "ceil", "trunc", "round",
         "conj", "real", "imag", "isnan", "isinf", "isfinite", "positive", "negative")
_METHODS.update({name: _method(name) for name in _LAZY})
_INPLACE = {"add": E.add, "sub": E.subtract, "mul": E.multiply, "truediv": E.divide, "pow": E.pow,
            "matmul": L.matmul, "floordiv": _binary("floor_divide", "floordiv"), "mod": _binary("remainder", "mod"),
            "and": _binary("bitwise_and", "and"), "or": _binary("bitwise_or", "or"),
            "xor": _binary("bitwise_xor", "xor"), "lshift": _binary("bitwise_left_shift", "lshift"),
            "rshift": _binary("bitwise_right_shift", "rshift")}
_METHODS.update({f"__i{op}__": P.inplace_operator(fn, f"__i{op}__") for op, fn in _INPLACE.items()})

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

# The class declares these properties for type checkers only (under TYPE_CHECKING); this binds them.
Tensor.T = property(  # type: ignore[method-assign,assignment]
    lambda self: S.permute_dims(self, (1, 0)) if self.ndim == 2 else _bad_T(self), doc="Transpose of a 2-D tensor.")
Tensor.mT = property(  # type: ignore[method-assign,assignment]
    lambda self: _mT(self), doc="Transpose of the last two axes (a stack of matrices).")


def _mT(self):
    if self.ndim < 2:
        raise ValueError(f".mT needs a tensor with at least 2 dimensions, this one has shape {self.shape}")
    return S.permute_dims(self, tuple(range(self.ndim - 2)) + (self.ndim - 1, self.ndim - 2))


def _bad_T(self):
    raise ValueError(f".T needs a 2-D tensor, this one has shape {self.shape}; use .mT or permute_dims")
