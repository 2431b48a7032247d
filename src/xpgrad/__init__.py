"""xpgrad: reverse-mode autodiff and neural networks on the Python array API.

One code base runs on NumPy (CPU) or CuPy (GPU); pick the backend with
``XPGRAD_BACKEND``, :func:`set_backend` or the command line's ``--backend``.
Components (activations, losses, regularizers, optimizers, schedules) are
registered through pluggy hooks; see :mod:`xpgrad.registry`.
"""

from __future__ import annotations

import importlib

from . import array_api  # binds Tensor.__array_namespace__
from .array_api import fft, linalg
from .autograd import *  # noqa: F401,F403
from .autograd import __all__ as _autograd_all
from .autograd.higher import grad
from .backend import (
    BackendError,
    available_backends,
    get_backend,
    get_default_dtype,
    gpu_available,
    manual_seed,
    set_backend,
    set_default_dtype,
    use_backend,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

# The standard's functions are xpgrad's own, as one object each (``xpgrad.sin is xpgrad.array_api.sin``).
_STANDARD = [n for n in array_api._names.ALL_FUNCTIONS if n != "__array_namespace_info__" and hasattr(array_api, n)]
globals().update({n: getattr(array_api, n) for n in _STANDARD})

__version__ = "0.1.0"

# Heavier parts load on first use so that ``import xpgrad`` stays fast and loads no plugins.
_LAZY = {
    "hookimpl": ("xpgrad.hookspecs", "hookimpl"),
    "registry": ("xpgrad.registry", None),
    "plugin_manager": ("xpgrad.registry", "plugin_manager"),
    "activation": ("xpgrad.registry", "activation"),
    "loss": ("xpgrad.registry", "loss"),
    "regularizer": ("xpgrad.registry", "regularizer"),
    "optimizer": ("xpgrad.registry", "optimizer"),
    "schedule": ("xpgrad.registry", "schedule"),
    "testing": ("xpgrad.testing", None),
    "activations": ("xpgrad.activations", None),
    "losses": ("xpgrad.losses", None),
    "regularizers": ("xpgrad.regularizers", None),
    "optimizers": ("xpgrad.optimizers", None),
    "schedules": ("xpgrad.schedules", None),
    "scaffold": ("xpgrad.scaffold", None),
    "nn": ("xpgrad.nn", None),
    "data": ("xpgrad.data", None),
    "distributed": ("xpgrad.distributed", None),
    "fit": ("xpgrad.train", "fit"),
    "History": ("xpgrad.train", "History"),
    "save": ("xpgrad.checkpoint", "save"),
    "load": ("xpgrad.checkpoint", "load"),
    "plot": ("xpgrad.plot", None),
}


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'xpgrad' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [*_autograd_all, *(n for n in _STANDARD if n not in _autograd_all), "array_api", "fft", "linalg",
           "BackendError", "GradcheckError", "available_backends", "get_backend",
           "get_default_dtype", "gpu_available", "gradcheck", "manual_seed", "set_backend", "set_default_dtype",
           "use_backend", *_LAZY]
__all__ += ["grad", "gradgradcheck"]
