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
    # The ufuncs the methods below call: a compiled replay calls them directly, with out=.
    inline_ufuncs = {"add": np.add, "multiply": np.multiply, "maximum": np.maximum}
    #: Products of at most this many multiply-adds go through ``np.dot``, larger ones through ``np.matmul``.
    #: Both make the same BLAS call; np.dot dispatches to it in about 1 µs less (a tenth of a 32x64 by
    #: 64x64 product here), while on large products it measured 1-8 % slower (writing a 1024x3072
    #: gradient, it was the slower one in every run).
    dot_limit = 1 << 20

    def product_function(self, m: int, k: int, n: int) -> Any:
        return np.dot if m * k * n <= self.dot_limit else np.matmul

    def mm(self, a: Any, b: Any) -> Any:
        (m, k), n = a.shape, b.shape[1]
        return np.dot(a, b) if m * k * n <= self.dot_limit else a @ b

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

    def relu_grad_(self, g: Any, y: Any) -> Any:
        if type(g) is not np.ndarray or not g.flags.writeable or g.dtype.kind != "f":
            return g * (y > 0)
        return np.multiply(g, y > 0, out=g)  # the same multiply as relu_grad, into g

    def bias_relu_(self, y: Any, b: Any = None) -> Any:
        if b is not None:
            np.add(y, b, out=y)
        return np.maximum(y, 0, out=y)

    #: The in-place SGD and momentum updates of a flat buffer run block by block, so that their temporary
    #: is one block, not a second copy of the gradient: half the buffer, but at least ``min_block_bytes``
    #: and at most ``update_block_bytes``. A 512 KiB block stays in the core's L2 cache (a 4.2M-float32
    #: SGD update took 2.5 ms so, against 3.6 ms in one piece). Two blocks already halve the temporary;
    #: each further block costs two ufunc calls (four for momentum), about 2 µs each right after a
    #: backward pass has cooled the caches: on the small case's 318 KiB buffer five blocks of 64 KiB
    #: took 13 µs more than two (2-3 % of its step; section timings against the hand-written step in
    #: one process). A buffer of ``min_block_bytes`` or less takes the one-line form.
    update_block_bytes = 1 << 19
    min_block_bytes = 1 << 16

    def sgd_update_(self, p: Any, g: Any, lr: float) -> bool:
        # p -= lr·g block by block: the same float operations as the one-line form, so the same bits
        block = self._block(p, lr, g)
        if not block:
            return False
        n, mul, sub = p.shape[0], np.multiply, np.subtract
        tmp = np.empty(block, p.dtype)
        for start in range(0, n, block):
            stop = start + block
            t = tmp if stop <= n else tmp[:n - start]
            mul(g[start:stop], lr, out=t)
            pb = p[start:stop]
            sub(pb, t, out=pb)
        return True

    def momentum_update_(self, p: Any, g: Any, v: Any, lr: float, momentum: float) -> bool:
        # v ← ρ·v + g, p -= lr·v block by block (Momentum's own in-place operations, in its order)
        block = self._block(p, lr, g, v) if type(momentum) is float else 0
        if not block:
            return False
        n, mul, add, sub = p.shape[0], np.multiply, np.add, np.subtract
        tmp = np.empty(block, p.dtype)
        for start in range(0, n, block):
            stop = start + block
            t = tmp if stop <= n else tmp[:n - start]
            vb, pb = v[start:stop], p[start:stop]
            mul(vb, momentum, out=vb)
            add(vb, g[start:stop], out=vb)
            mul(vb, lr, out=t)
            sub(pb, t, out=pb)
        return True

    def _block(self, p: Any, lr: Any, *others: Any) -> int:
        """Elements per block for a blocked update of ``p``, or 0: the optimizer's one-line form is as good.

        Blocks only for a flat buffer larger than ``min_block_bytes``, with a Python float rate (it
        scales in ``p``'s dtype, NEP 50, exactly as in the one-line form): the fewest blocks of equal
        length (the last one may be shorter) that keep each within half the buffer, bounded by
        ``min_block_bytes`` and ``update_block_bytes``, so no short tail block costs calls of its own.
        """
        if type(p) is not np.ndarray or p.nbytes <= self.min_block_bytes:  # the usual tiny buffer: asked first
            return 0
        if p.ndim != 1 or p.dtype.kind != "f" or type(lr) is not float:
            return 0
        n, size = p.shape[0], p.itemsize
        per_block = max(1, min(self.update_block_bytes // size, max(self.min_block_bytes // size, -(-n // 2))))
        block = -(-n // -(-n // per_block))  # n split evenly over ceil(n / per_block) blocks
        for a in others:
            if type(a) is not np.ndarray or a.shape != p.shape or a.dtype != p.dtype:
                return 0
        return block

    # A bias gradient Σ_rows g is the product 1ᵀ g: one BLAS call (gemv), two to three times faster here
    # than np.add.reduce over axis 0 on a layer's (rows, features) gradient, which loops row by row.
    def sum_rows_function(self, n: int, dtype: Any) -> Any:
        if dtype.char not in "fd":  # BLAS has float32 and float64; float16 keeps np.add.reduce's loop
            return None
        cache = self.__dict__.setdefault("_row_sums", {})  # (rows, dtype) -> np.dot bound to a vector of ones
        f = cache.get((n, dtype))
        if f is None:
            if len(cache) > 64:  # a few batch sizes per run; forget the rest
                cache.clear()
            ones = np.ones(n, dtype)
            ones.flags.writeable = False
            f = cache[n, dtype] = functools.partial(np.dot, ones)
        return f

    def sum_rows(self, a: Any) -> Any:
        f = self.sum_rows_function(a.shape[0], a.dtype) if type(a) is np.ndarray and a.ndim == 2 else None
        return np.add.reduce(a, axis=0) if f is None else f(a)

    def matmul_into(self, a: Any, b: Any, out: Any) -> Any:
        (m, k), n = a.shape, b.shape[1]
        # np.dot writes only into a C-ordered out of the product's dtype (gradient slots are)
        if m * k * n <= self.dot_limit and out.flags.c_contiguous and out.dtype == a.dtype == b.dtype:
            return np.dot(a, b, out=out)
        return np.matmul(a, b, out=out)

    def sum_rows_into(self, a: Any, out: Any) -> Any:
        f = self.sum_rows_function(a.shape[0], a.dtype) if type(a) is np.ndarray and a.ndim == 2 else None
        if f is None or not out.flags.c_contiguous or out.dtype != a.dtype:
            return np.add.reduce(a, axis=0, out=out)
        return f(a, out=out)

    def index_add(self, out: Any, axis: int, indices: Any, values: Any) -> Any:
        np.add.at(out, (slice(None),) * axis + (indices,), values)
        return out

    def add_along_axis(self, out: Any, indices: Any, values: Any, axis: int) -> Any:
        np.add.at(out, _open_grid(np, indices, values, axis), values)
        return out


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
