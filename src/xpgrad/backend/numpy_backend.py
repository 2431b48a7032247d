"""NumPy on the CPU: the default backend."""

from __future__ import annotations

import functools
import types
from typing import Any

import numpy as np

from .base import Backend

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """NumPy through ``array_api_compat.numpy``, with float reductions sent straight to the ufuncs."""

    array_types = (np.ndarray, np.generic)

    def load(self) -> Any:
        return _fast_namespace()

    def default_device(self) -> Any:
        return "cpu"

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)

    def host_buffer(self, array: Any) -> np.ndarray | None:
        ok = isinstance(array, np.ndarray) and array.flags.writeable and array.flags.c_contiguous
        return array if ok else None

    def masked(self, x: Any, keep: Any) -> Any:
        return x * keep  # NumPy multiplies by a bool mask directly, several times faster than where()

    def relu_grad(self, g: Any, y: Any) -> Any:
        return g * (y > 0)

    def bias_relu_(self, y: Any, b: Any = None) -> Any:
        if b is not None:
            np.add(y, b, out=y)
        return np.maximum(y, 0, out=y)

    #: Elements per block of the in-place optimizer updates: the temporary of a block (64 KiB in float32)
    #: stays in the core's L2 cache, where one of the whole flat buffer would go to memory and back.
    update_block = 16384

    def sgd_update_(self, p: Any, g: Any, lr: float) -> bool:
        # p -= lr·g block by block: the same float operations as the one-line form, so the same bits
        if not (_flat_float(p, g) and type(lr) is float):
            return False
        tmp = np.empty(min(self.update_block, p.shape[0]), p.dtype)
        for b in self._blocks(p.shape[0]):
            t = tmp[:b.stop - b.start]
            np.multiply(g[b], lr, out=t)
            np.subtract(p[b], t, out=p[b])
        return True

    def momentum_update_(self, p: Any, g: Any, v: Any, lr: float, momentum: float) -> bool:
        # v ← ρ·v + g, p -= lr·v block by block (Momentum's own in-place operations, in its order)
        if not (_flat_float(p, g, v) and type(lr) is float and type(momentum) is float):
            return False
        tmp = np.empty(min(self.update_block, p.shape[0]), p.dtype)
        for b in self._blocks(p.shape[0]):
            vb, t = v[b], tmp[:b.stop - b.start]
            np.multiply(vb, momentum, out=vb)
            np.add(vb, g[b], out=vb)
            np.multiply(vb, lr, out=t)
            np.subtract(p[b], t, out=p[b])
        return True

    def _blocks(self, n: int) -> list[slice]:
        block = self.update_block
        return [slice(start, min(start + block, n)) for start in range(0, n, block)]

    # ufunc.reduce itself, no Python wrapper: for the arrays it gets (floating), np.sum calls exactly this
    sum_rows = functools.partial(np.add.reduce, axis=0)

    def matmul_into(self, a: Any, b: Any, out: Any) -> Any:
        return np.matmul(a, b, out=out)

    def sum_rows_into(self, a: Any, out: Any) -> Any:
        return np.add.reduce(a, axis=0, out=out)

    def index_add(self, out: Any, axis: int, indices: Any, values: Any) -> Any:
        np.add.at(out, (slice(None),) * axis + (indices,), values)
        return out

    def add_along_axis(self, out: Any, indices: Any, values: Any, axis: int) -> Any:
        np.add.at(out, _open_grid(np, indices, values, axis), values)
        return out


def _flat_float(first: Any, *others: Any) -> bool:
    """Whether the arrays are 1-d NumPy arrays of one shape and floating dtype (a flat buffer and its state)."""
    if type(first) is not np.ndarray or first.ndim != 1 or first.dtype.kind != "f":
        return False
    return all(type(a) is np.ndarray and a.shape == first.shape and a.dtype == first.dtype for a in others)


def _open_grid(lib: Any, indices: Any, values: Any, axis: int) -> tuple:
    """Index tuple addressing ``values`` with ``indices`` along ``axis`` (an open grid elsewhere).

    Built by hand because ``cupy.indices`` has no ``sparse=`` argument; shared with the CuPy backend.
    """
    nd = values.ndim
    idx = [lib.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)) for i, n in enumerate(values.shape)]
    idx[axis] = indices
    return tuple(idx)


def _fast_namespace() -> types.ModuleType:
    """``array_api_compat.numpy`` with float reductions sent straight to the ufuncs.

    ``np.sum``/``np.max``/``np.mean`` spend more time in their Python wrappers
    than in the arithmetic for the small arrays of a training step; for
    floating arrays without a ``dtype=`` request ``ufunc.reduce`` gives the
    same values and dtype. ``astype``, ``arange`` and ``ones_like`` skip the
    device checks when no device is asked for, ``reshape`` without ``copy=``
    is the array's own method, and ``isdtype`` remembers its answers. Everything else is array-api-compat's.
    """
    import array_api_compat.numpy

    compat: Any = array_api_compat.numpy  # its reductions are defined dynamically, unseen by type checkers

    ns = types.ModuleType("xpgrad.backend.numpy_namespace", _fast_namespace.__doc__)
    ns.__dict__.update({k: v for k, v in vars(compat).items() if not k.startswith("__")})

    def _fast(reduce, fallback):
        def reduction(x, /, *, axis=None, keepdims=False, **kw):
            if not kw and type(x) is np.ndarray and x.dtype.kind == "f" and x.size:
                return reduce(x, axis=axis, keepdims=keepdims)
            return fallback(x, axis=axis, keepdims=keepdims, **kw)

        reduction.__name__ = fallback.__name__
        reduction.__doc__ = fallback.__doc__
        return reduction

    def mean(x, /, *, axis=None, keepdims=False):
        if type(x) is np.ndarray and x.dtype.kind == "f" and x.size:
            total = np.add.reduce(x, axis=axis, keepdims=keepdims)
            return total / (x.size // max(total.size, 1))
        return compat.mean(x, axis=axis, keepdims=keepdims)

    # Creation and casts without the device-checking wrappers when no device (or the CPU) is asked for:
    # the same NumPy call array-api-compat makes after its checks.
    def astype(x, dtype, /, *, copy=True, device=None):
        if device is None and type(x) is np.ndarray:
            return x.astype(dtype, copy=copy)
        return compat.astype(x, dtype, copy=copy, device=device)

    def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
        if device is None or device == "cpu":
            return np.arange(start, stop, step, dtype=dtype)
        return compat.arange(start, stop, step, dtype=dtype, device=device)

    def ones_like(x, /, *, dtype=None, device=None):
        if dtype is None and device is None and (type(x) is np.ndarray or isinstance(x, np.generic)):
            return np.array(1, dtype=x.dtype) if x.ndim == 0 else np.ones_like(x)  # 0-d: a backward's seed
        return compat.ones_like(x, dtype=dtype, device=device)

    def reshape(x, /, shape, *, copy=None):
        if copy is None and type(x) is np.ndarray:
            return x.reshape(shape)  # the method: what np.reshape calls, without two wrapper layers
        return compat.reshape(x, shape, copy=copy)

    kinds: dict = {}

    def isdtype(dtype, kind):
        try:  # the answer for a (dtype, kind) pair never changes; numpy's isdtype is slow Python
            return kinds[dtype, kind]
        except KeyError:
            answer = kinds[dtype, kind] = compat.isdtype(dtype, kind)
            return answer
        except TypeError:  # an unhashable kind (a list): no caching
            return compat.isdtype(dtype, kind)

    for f, like in ((astype, compat.astype), (arange, compat.arange), (ones_like, compat.ones_like),
                    (reshape, compat.reshape), (isdtype, compat.isdtype)):
        f.__doc__ = like.__doc__
    ns.__dict__.update(sum=_fast(np.add.reduce, compat.sum), max=_fast(np.maximum.reduce, compat.max),
                       min=_fast(np.minimum.reduce, compat.min), mean=mean, astype=astype, arange=arange,
                       ones_like=ones_like, reshape=reshape, isdtype=isdtype)
    return ns
