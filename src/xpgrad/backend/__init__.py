"""Array backends: the one package that knows NumPy, CuPy and array-api-strict by name.

A *backend* (:class:`Backend`) bundles an array-API namespace with the few
things the standard leaves out: random numbers, scatter-add and moving arrays
between libraries. Each library is a subclass in its own module
(:class:`NumpyBackend`, :class:`CupyBackend`, :class:`StrictBackend`),
registered through the ``register_backends`` plugin hook like any component,
so a separate package can add one.

The *current* backend decides where every new array goes, the user's own host
data included; operations follow their inputs. Choose it with
``XPGRAD_BACKEND``, :func:`set_backend`, :func:`use_backend` or ``--backend``.

>>> import xpgrad
>>> from xpgrad import backend
>>> t = xpgrad.tensor([1.0, 2.0])
>>> backend.backend_of(t) is t.backend is backend.current()
True
"""

from .base import DTYPE_NAMES, FLOAT_DTYPES, Backend, BackendError, dtype_name
from .cupy_backend import CupyBackend, gpu_available
from .numpy_backend import NumpyBackend
from .registration import (
                           BackendInfo,
                           available_backends,
                           backend_of,
                           backend_of_array,
                           canonical_name,
                           check_same_place,
                           current,
                           get_backend,
                           get_default_dtype,
                           is_array,
                           loaded_backends,
                           manual_seed,
                           mixed_place_error,
                           register_backend,
                           registered_backends,
                           resolve,
                           set_backend,
                           set_default_dtype,
                           to_numpy,
                           unregister_backend,
                           use_backend,
)
from .strict_backend import STRICT_API_VERSION, StrictBackend

__all__ = [
    "DTYPE_NAMES", "FLOAT_DTYPES", "STRICT_API_VERSION", "Backend", "BackendError", "BackendInfo", "CupyBackend",
    "NumpyBackend", "StrictBackend", "available_backends", "backend_of", "backend_of_array", "canonical_name",
    "check_same_place", "current", "dtype_name", "get_backend", "get_default_dtype", "gpu_available", "is_array",
    "loaded_backends", "manual_seed", "mixed_place_error", "register_backend", "registered_backends", "resolve",
    "set_backend", "set_default_dtype", "to_numpy", "unregister_backend", "use_backend",
]

