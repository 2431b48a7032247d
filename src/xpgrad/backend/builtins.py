"""The built-in backends, registered through the same hook as a plugin's."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .cupy_backend import CupyBackend
from .numpy_backend import NumpyBackend
from .strict_backend import StrictBackend


@hookimpl
def register_backends(register):
    """numpy (aliases cpu, np), cupy (gpu, cuda) and array_api_strict (strict)."""
    register("numpy", NumpyBackend, aliases=("cpu", "np"))
    register("cupy", CupyBackend, aliases=("gpu", "cuda"))
    register("array_api_strict", StrictBackend, aliases=("strict",))
