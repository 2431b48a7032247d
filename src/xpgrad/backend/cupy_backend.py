"""CuPy on a CUDA GPU."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .base import Backend, BackendError, dtype_name
from .numpy_backend import _open_grid

__all__ = ["CupyBackend", "gpu_available"]


@functools.cache
def gpu_available() -> bool:
    """Return True when CuPy is installed and can run on a CUDA GPU here.

    The answer is cached; importing CuPy succeeds on machines without a GPU, so
    this asks ``cupy.is_available()`` rather than trusting the import.

    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # ImportError, CUDA driver or runtime errors
        return False


class CupyBackend(Backend):
    """CuPy through ``array_api_compat.cupy``: random numbers, scatter-add and masks on the device."""

    multi_device = True

    def load(self) -> Any:
        try:
            import cupy
        except ImportError:
            raise BackendError(f"backend {self.name!r} needs CuPy: pip install 'xpgrad[cuda12]' (CUDA 12) or "
                               "'xpgrad[cuda13]' (CUDA 13)") from None
        if not gpu_available():
            raise BackendError(f"backend {self.name!r} is installed but no usable CUDA GPU was found "
                               "(cupy.is_available() is False); use backend 'numpy' on this machine")
        import array_api_compat.cupy as xp

        self._cupy = cupy
        type(self).array_types = (cupy.ndarray,)
        return xp

    def default_device(self) -> Any:
        return self._cupy.cuda.Device()  # the current device, where CuPy creates arrays

    def to_numpy(self, array: Any) -> np.ndarray:
        return array.get()

    def select_device(self, local_rank: int) -> int | None:
        count = self._cupy.cuda.runtime.getDeviceCount()
        index = local_rank % count
        self._cupy.cuda.Device(index).use()
        return index

    def _nccl(self) -> Any:
        try:
            from cupy.cuda import nccl
        except ImportError:
            nccl = None
        if nccl is None or not getattr(nccl, "available", True):
            raise NotImplementedError(f"backend {self.name!r}: CuPy cannot load NCCL; install the NCCL wheel that "
                                      "matches your CUDA (pip install nvidia-nccl-cu12 or nvidia-nccl-cu13) or use "
                                      "comm='mpi'")
        return nccl

    def nccl_unique_id(self) -> Any:
        return self._nccl().get_unique_id()

    def nccl_communicator(self, world_size: int, rank: int, unique_id: Any) -> Any:
        return self._nccl().NcclCommunicator(world_size, unique_id, rank)

    def nccl_all_reduce_(self, communicator: Any, array: Any, op: str = "sum") -> None:
        nccl = self._nccl()
        ops = {"sum": nccl.NCCL_SUM, "prod": nccl.NCCL_PROD, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}
        types = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
                 "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8}
        name = dtype_name(array.dtype)
        if op not in ops or name not in types or not array.flags.c_contiguous:
            raise ValueError(f"NCCL all-reduce needs a contiguous array of {', '.join(types)} and op in "
                             f"{', '.join(ops)}; got dtype {name}, op {op!r}, contiguous={array.flags.c_contiguous}")
        stream = self._cupy.cuda.get_current_stream()
        communicator.allReduce(array.data.ptr, array.data.ptr, array.size, types[name], ops[op], stream.ptr)

    def rng(self) -> Any:
        if self._rng is None:
            self._rng = self._cupy.random.default_rng(self._seed)
        return self._rng

    def random_normal(self, shape: tuple, dtype: Any) -> Any:
        return self.rng().standard_normal(shape, dtype=dtype)

    def random_uniform(self, shape: tuple, dtype: Any) -> Any:
        return self.rng().random(shape, dtype=dtype)

    def random_integers(self, low: int, high: int, shape: tuple, dtype: Any) -> Any:
        out = self.rng().integers(low, high, size=shape)
        return out.astype(np.dtype(dtype_name(dtype)))

    def masked(self, x: Any, keep: Any) -> Any:
        return x * keep

    def relu_grad(self, g: Any, y: Any) -> Any:
        if g.dtype != y.dtype or g.dtype.kind != "f":
            return g * (y > 0)
        return _kernel("relu_grad")(g, y)

    def relu_grad_(self, g: Any, y: Any) -> Any:
        if g.dtype != y.dtype or g.dtype.kind != "f":
            return g * (y > 0)
        return _kernel("relu_grad")(g, y, g)  # elementwise: each thread reads g[i] before writing it

    def bias_relu_(self, y: Any, b: Any = None) -> Any:
        cupy = self._cupy
        if b is None or b.dtype != y.dtype or y.dtype.kind != "f":  # in place, in y's dtype, as on NumPy
            if b is not None:
                cupy.add(y, b, out=y)
            return cupy.maximum(y, 0, out=y)
        return _kernel("bias_relu")(b, y)  # y is the kernel's output: updated in place and returned

    def sgd_update_(self, p: Any, g: Any, lr: float) -> bool:
        if not _fusable(p, g):
            return False
        _kernel("sgd")(g, lr, p)
        return True

    def momentum_update_(self, p: Any, g: Any, v: Any, lr: float, momentum: float) -> bool:
        if not _fusable(p, g, v):
            return False
        _kernel("momentum")(g, lr, momentum, p, v)
        return True

    def adam_update_(self, p: Any, g: Any, m: Any, v: Any, *, step_size: float, b1: float, b2: float,
                     bias2_sqrt: float, eps: float) -> bool:
        if not _fusable(p, g, m, v):
            return False
        _kernel("adam")(g, step_size, b1, b2, bias2_sqrt, eps, p, m, v)
        return True

    def matmul_into(self, a: Any, b: Any, out: Any) -> Any:
        import cupy

        return cupy.matmul(a, b, out=out)

    def sum_rows_into(self, a: Any, out: Any) -> Any:
        import cupy

        return cupy.sum(a, axis=0, out=out)

    def index_add(self, out: Any, axis: int, indices: Any, values: Any) -> Any:
        import cupyx

        cupyx.scatter_add(out, (slice(None),) * axis + (indices,), values)
        return out

    def add_along_axis(self, out: Any, indices: Any, values: Any, axis: int) -> Any:
        import cupyx

        cupyx.scatter_add(out, _open_grid(self._cupy, indices, values, axis), values)
        return out

    def synchronize(self) -> None:
        self._cupy.cuda.Device().synchronize()


# Fused elementwise kernels, one per name, built on first use (CuPy compiles each for a device on its first
# call and caches the binary). T is the one floating dtype of all arguments; callers check it matches.
_KERNELS = {
    # max(0, y + b) in y's memory; b broadcasts along y's rows. `v < 0 ? 0 : v` keeps a NaN, as np.maximum does.
    "bias_relu": ("T b", "T y", "T v = y + b; y = v < (T)0 ? (T)0 : v", "xpgrad_bias_relu"),
    # g * (y > 0), the backward of ReLU from its output y: what NumPy's multiply by a bool mask gives.
    "relu_grad": ("T g, T y", "T out", "out = g * (T)(y > (T)0)", "xpgrad_relu_grad"),
    # Optimizer updates over a whole flat buffer, one kernel each instead of one per array operation;
    # the scalars arrive as T (the buffer's dtype), the arrays are updated in place.
    "sgd": ("T g, T lr", "T p", "p = p - lr * g", "xpgrad_sgd"),
    "momentum": ("T g, T lr, T mu", "T p, T v", "v = mu * v + g; p = p - lr * v", "xpgrad_momentum"),
    "adam": ("T g, T step_size, T b1, T b2, T c2, T eps", "T p, T m, T v",
             "m = b1 * m + ((T)1 - b1) * g; v = b2 * v + ((T)1 - b2) * (g * g); "
             "p = p - step_size * m / (sqrt(v) / c2 + eps)", "xpgrad_adam"),
}


def _fusable(*arrays: Any) -> bool:
    """One floating dtype and one shape for all (a flat buffer, its gradient and its state), contiguous."""
    first = arrays[0]
    return first.dtype.kind == "f" and all(
        a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays)


@functools.cache
def _kernel(name: str) -> Any:
    import cupy

    return cupy.ElementwiseKernel(*_KERNELS[name])
