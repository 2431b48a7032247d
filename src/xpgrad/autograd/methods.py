"""Operators and methods of :class:`Tensor`, bound to the op functions.

Kept apart from ``tensor.py`` so the ops (which need ``Tensor``) can be
imported first and the class stays a small, readable core.
"""

from __future__ import annotations

from ..backend import mixed_place_error
from .ops import elementwise as E
from .ops import indexing as I
from .ops import linalg as L
from .ops import reduction as R
from .ops import shape as S
from .tensor import Tensor


def _compare(op, symbol):
    label = f"comparison {symbol}"  # how the mixed-backend error names the op

    def method(self, other):
        if isinstance(other, Tensor):
            if other._backend is not self._backend or (
                    self._backend.multi_device and other.data.device != self.data.device):
                raise mixed_place_error(label, (self._backend, self.data), (other._backend, other.data))
            other = other.data
        return Tensor._make(op(self.data, other), self._backend)

    return method


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _astype(self, dtype):
    """Cast to ``dtype`` (differentiable between float dtypes).

    >>> import xpgrad
    >>> xpgrad.tensor([1.5]).astype("float64").dtype == xpgrad.tensor([1.5], dtype="float64").dtype
    True
    """
    dt = self._backend.dtype(dtype)
    if dt == self.data.dtype:
        return self
    if self.requires_grad and self._backend.is_floating(dt):
        return E.Cast.apply(self, dtype=dt)
    return Tensor._make(self._backend.xp.astype(self.data, dt), self._backend)


def _reshape(self, *shape):
    """The same elements in a new shape; ``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` both work.

    >>> import xpgrad
    >>> xpgrad.arange(6).reshape(2, 3).shape
    (2, 3)
    """
    return S.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)


_METHODS = {
    "__add__": E.add, "__radd__": _reflected(E.add),
    "__sub__": E.subtract, "__rsub__": _reflected(E.subtract),
    "__mul__": E.multiply, "__rmul__": _reflected(E.multiply),
    "__truediv__": E.divide, "__rtruediv__": _reflected(E.divide),
    "__pow__": E.pow, "__rpow__": _reflected(E.pow),
    "__matmul__": L.matmul, "__rmatmul__": _reflected(L.matmul),
    "__neg__": E.negative, "__pos__": lambda self: self, "__abs__": E.abs,
    "__getitem__": I.getitem,
    "__lt__": _compare(lambda a, b: a < b, "<"), "__le__": _compare(lambda a, b: a <= b, "<="),
    "__gt__": _compare(lambda a, b: a > b, ">"), "__ge__": _compare(lambda a, b: a >= b, ">="),
    "__eq__": _compare(lambda a, b: a == b, "=="), "__ne__": _compare(lambda a, b: a != b, "!="),
    "exp": E.exp, "log": E.log, "log1p": E.log1p, "sqrt": E.sqrt, "tanh": E.tanh, "abs": E.abs,
    "clip": E.clip, "maximum": E.maximum, "minimum": E.minimum,
    "sum": R.sum, "mean": R.mean, "max": R.max, "min": R.min, "logsumexp": R.logsumexp,
    "matmul": L.matmul, "reshape": _reshape, "permute_dims": S.permute_dims,
    "expand_dims": S.expand_dims, "squeeze": S.squeeze, "take": S.take, "take_along_axis": S.take_along_axis,
    "astype": _astype,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

# The class declares these properties for type checkers only (under TYPE_CHECKING); this binds them.
Tensor.T = property(  # type: ignore[method-assign,assignment]
    lambda self: S.permute_dims(self, (1, 0)) if self.ndim == 2 else _bad_T(self), doc="Transpose of a 2-D tensor.")
Tensor.mT = property(  # type: ignore[method-assign,assignment]
    lambda self: S.permute_dims(self, tuple(range(self.ndim - 2)) + (self.ndim - 1, self.ndim - 2)),
    doc="Transpose of the last two axes.")


def _bad_T(self):
    raise ValueError(f".T needs a 2-D tensor, this one has shape {self.shape}; use .mT or permute_dims")

