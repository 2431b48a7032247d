"""Dispatch overhead of the array API namespace ``xpgrad.array_api``, per backend.

Each benchmark times the same computation three ways on small arrays, where the Python
overhead dominates: through the namespace (``xp.add(a, b)``), through the Tensor's own
operator or method (``a + b``), and on the backend's raw arrays without autograd
(``a.data + b.data``, the floor). The gap between the first two is what the namespace costs
on top of xpgrad's usual path; the gap to the third is the cost of the Tensor itself.
"""

import numpy as np

import xpgrad
import xpgrad.array_api as xp

from .common import BACKENDS, sync, use_backend

# numpy, cupy (n/a without a GPU) and array_api_strict (n/a when it is not installed).
DISPATCH_BACKENDS = [*BACKENDS, "array_api_strict"]
SHAPE = (64, 64)
ROUTES = ["namespace", "tensor", "raw"]


def _setup(backend):
    if backend == "array_api_strict":
        try:
            import array_api_strict  # noqa: F401
        except ImportError:
            raise NotImplementedError("array_api_strict is not installed") from None
    use_backend(backend)


class DispatchAdd:
    """``xp.add(a, b)`` against ``a + b`` and the raw arrays' ``+``."""

    params = (DISPATCH_BACKENDS, ROUTES)
    param_names = ["backend", "route"]

    def setup(self, backend, route):
        _setup(backend)
        self.a = xpgrad.randn(*SHAPE, requires_grad=True)
        self.b = xpgrad.randn(*SHAPE, requires_grad=True)
        a, b, ra, rb = self.a, self.b, self.a.data, self.b.data
        self.fn = {"namespace": lambda: xp.add(a, b), "tensor": lambda: a + b, "raw": lambda: ra + rb}[route]

    def time_forward(self, backend, route):
        self.fn()
        sync()

    def time_forward_no_grad(self, backend, route):
        with xpgrad.no_grad():
            self.fn()
        sync()


class _Sum:
    def setup(self, backend, route):
        _setup(backend)
        self.a = xpgrad.randn(*SHAPE, requires_grad=True)
        a, ra, rxp = self.a, self.a.data, self.a.backend.xp
        self.fn = {"namespace": lambda: xp.sum(a, axis=1), "tensor": lambda: a.sum(axis=1),
                   "raw": lambda: rxp.sum(ra, axis=1)}[route]


class DispatchSum(_Sum):
    """A reduction: ``xp.sum(a, axis=1)`` against ``a.sum(axis=1)`` and the raw namespace's ``sum``."""

    params = (DISPATCH_BACKENDS, ROUTES)
    param_names = ["backend", "route"]

    def time_forward(self, backend, route):
        self.fn()
        sync()


class DispatchSumBackward(_Sum):
    """The reduction's forward and backward (raw arrays have no backward)."""

    params = (DISPATCH_BACKENDS, ROUTES[:2])
    param_names = ["backend", "route"]

    def time_forward_backward(self, backend, route):
        self.fn().sum().backward()
        sync()


class _Indexing:
    def setup(self, backend, index):
        _setup(backend)
        self.a = xpgrad.randn(SHAPE[0] * SHAPE[1], requires_grad=True)
        idx = xpgrad.tensor(np.arange(0, SHAPE[0] * SHAPE[1], 3))
        a, ra, ridx, rxp = self.a, self.a.data, idx.data, self.a.backend.xp
        self.fn = {"xp.take": lambda: xp.take(a, idx, axis=0), "int_array": lambda: a[idx],
                   "slice": lambda: a[::2], "raw_int_array": lambda: rxp.take(ra, ridx, axis=0)}[index]


INDEXES = ["xp.take", "int_array", "slice", "raw_int_array"]


class DispatchIndexing(_Indexing):
    """Indexing a vector: ``xp.take(a, idx)`` against ``a[idx]`` (integer array) and ``a[::2]`` (slice).

    One-dimensional, because the standard allows an integer-array index only together with
    integer arrays or integers on every other axis (array_api_strict enforces it).
    """

    params = (DISPATCH_BACKENDS, INDEXES)
    param_names = ["backend", "index"]

    def time_forward(self, backend, index):
        self.fn()
        sync()


class DispatchIndexingBackward(_Indexing):
    """The indexing ops' forward and backward (scatter-add; raw arrays have no backward)."""

    params = (DISPATCH_BACKENDS, INDEXES[:3])
    param_names = ["backend", "index"]

    def time_forward_backward(self, backend, index):
        self.fn().sum().backward()
        sync()
