"""``xpgrad.array_api``: the array API standard (2024.12), differentiable, on every xpgrad backend.

Code written against the standard (``xp = array_namespace(x)``) runs on
xpgrad tensors and gets gradients::

    >>> import array_api_compat, xpgrad
    >>> x = xpgrad.tensor([0.5, 1.5], dtype="float64", requires_grad=True)
    >>> xp = array_api_compat.array_namespace(x)
    >>> xp is xpgrad.array_api
    True
    >>> xp.sum(xp.sin(x) * x).backward()   # d/dx (x sin x) = sin x + x cos x
    >>> bool(xp.all(xp.abs(x.grad - (xp.sin(x) + x * xp.cos(x))) < 1e-12))
    True

Every function here is the same object as xpgrad's top-level function of
that name (one implementation). New arrays go to the current backend
(:func:`xpgrad.set_backend`); results stay with their inputs. The dtype
names (``float32``...) are the current backend's dtype objects.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend as _backend
from ..autograd import Tensor as _Tensor
from ..autograd import creation as _creation
from ..autograd.ops import binary_math as _binary_math
from ..autograd.ops import dtypes as _dtypes
from ..autograd.ops import elementwise as _elementwise
from ..autograd.ops import indexing as _indexing
from ..autograd.ops import linalg as _linalg
from ..autograd.ops import logical as _logical
from ..autograd.ops import manipulation as _manipulation
from ..autograd.ops import reduction as _reduction
from ..autograd.ops import searching as _searching
from ..autograd.ops import shape as _shape
from ..autograd.ops import sorting as _sorting
from ..autograd.ops import statistics as _statistics
from ..autograd.ops import unary_math as _unary_math
from . import _names, fft, linalg  # noqa: F401  (the extensions are attributes of the namespace)
from ._info import __array_namespace_info__  # noqa: F401

__array_api_version__ = _names.API_VERSION

e = math.e
inf = math.inf
nan = math.nan
pi = math.pi
newaxis = None

# The modules that define the standard's functions; each lists them in its __all__.
_FAMILIES = (_creation, _dtypes, _elementwise, _unary_math, _binary_math, _logical, _indexing, _shape,
             _manipulation, _reduction, _statistics, _searching, _sorting, _linalg)


def _collect() -> dict[str, Any]:
    wanted = set(_names.ALL_FUNCTIONS)
    return {name: getattr(module, name) for module in _FAMILIES for name in getattr(module, "__all__", ())
            if name in wanted}


globals().update(_collect())

__all__ = sorted({*_collect(), "__array_namespace_info__", *_names.CONSTANTS, *_names.DTYPES, *_names.EXTENSIONS})


def __getattr__(name: str) -> Any:
    # Dtypes are the current backend's own objects, so ``t.dtype == xp.float32`` holds on every backend.
    if name in _names.DTYPES:
        return _backend.current().dtype(name)
    raise AttributeError(f"module 'xpgrad.array_api' has no attribute {name!r}; it holds exactly the array API "
                         f"standard {__array_api_version__}'s names (xpgrad's other functions are in xpgrad)")


def __dir__() -> list[str]:
    return sorted({*__all__, "__array_api_version__"})


def _array_namespace(self: _Tensor, /, *, api_version: str | None = None) -> Any:
    """The array API namespace of this tensor: :mod:`xpgrad.array_api` (versions 2021.12 to 2024.12).

    >>> import xpgrad
    >>> xpgrad.tensor([1.0]).__array_namespace__() is xpgrad.array_api
    True
    """
    if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12", "2024.12"):
        raise ValueError(f"xpgrad.array_api implements the array API standard up to 2024.12; "
                         f"api_version={api_version!r} is not supported")
    import sys

    return sys.modules[__name__]


# Bound here, as methods.py binds the operators: the namespace sits above the Tensor class.
_Tensor.__array_namespace__ = _array_namespace  # type: ignore[method-assign]
