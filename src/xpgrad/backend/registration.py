"""The table of registered backends, the current backend, seeds and the default dtype.

Backends are registered through the ``register_backends`` hook (the built-ins
too, in :mod:`xpgrad.backend.builtins`); the table is filled the first time a
name has to be looked up, by asking the plugin registry to load. A backend
object is created once per name, on first use.

The current backend is a :class:`contextvars.ContextVar` layered over a
process-wide default, so :func:`use_backend` blocks nest, restore on
exceptions and stay local to their thread, while :func:`set_backend` changes
the default everybody sees.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import FLOAT_DTYPES, Backend, BackendError, dtype_name

__all__ = [
    "BackendInfo", "available_backends", "backend_of", "backend_of_array", "canonical_name", "check_same_place",
    "current", "get_backend", "get_default_dtype", "is_array", "loaded_backends", "manual_seed",
    "register_backend", "registered_backends", "resolve", "set_backend", "set_default_dtype", "to_numpy",
    "unregister_backend", "use_backend",
]


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend: its name, class, aliases and where it came from."""

    name: str
    cls: type
    aliases: tuple[str, ...] = ()
    plugin: str | None = None
    distribution: str | None = None


_classes: dict[str, BackendInfo] = {}
_aliases: dict[str, str] = {}
_loaded: dict[str, Backend] = {}
_lock = threading.RLock()


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_backend(name: str, backend_class: type, aliases: tuple[str, ...] = (), *,
                     plugin: str | None = None, distribution: str | None = None, override: bool = False) -> None:
    """Add a :class:`Backend` subclass to the table under ``name`` (and ``aliases``).

    Plugins call this through the ``register(name, backend_class, aliases=())``
    callback of the ``register_backends`` hook rather than directly. A name or
    alias already taken by another backend is an error unless ``override``.
    """
    if not isinstance(name, str) or not name.strip():
        raise BackendError(f"a backend name must be a non-empty string, got {name!r}")
    if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)):
        raise TypeError(f"backend {name!r}: {backend_class!r} is not a subclass of xpgrad.backend.Backend")
    key = _key(name)
    keys = [_key(a) for a in aliases]
    with _lock:
        for k in (key, *keys):
            owner = k if k in _classes else _aliases.get(k)
            same = owner == key and _classes[owner].cls is backend_class  # a registry reload: idempotent
            if owner is not None and not same and not override:
                who = _classes[owner].plugin or "an earlier registration"
                raise BackendError(f"backend name {k!r} is already registered by {who} (backend {owner!r}); "
                                   f"{plugin or 'this registration'} must use another name or override=True")
        _classes[key] = BackendInfo(key, backend_class, tuple(keys), plugin, distribution)
        _aliases.update({k: key for k in keys})
        _loaded.pop(key, None)


def _discover() -> None:
    """Ask the plugin registry to load (once; a no-op afterwards): it runs every ``register_backends`` hook.

    Called without holding this module's lock: the registry takes its own and
    calls :func:`register_backend`, so holding both here could deadlock.
    """
    # A function-level import: the registry sits above this layer and calls back into it.
    from .. import registry

    registry.ensure_loaded()


def unregister_backend(name: str) -> None:
    """Remove a registered backend (the registry calls it when the plugin that added it goes).

    Tensors already on it keep working; new ones cannot be made there. The
    process default or a backend in use by :func:`use_backend` cannot be removed.
    """
    key = _aliases.get(_key(name), _key(name))
    with _lock:
        info = _classes.get(key)
        if info is None:
            return
        b = _loaded.get(key)
        if b is not None and (b is _current.get() or (_default and _default[0] is b)):
            raise BackendError(f"backend {key!r} is the current backend; switch with set_backend() before "
                               "removing the plugin that registered it")
        del _classes[key]
        for a in info.aliases:
            _aliases.pop(a, None)
        _loaded.pop(key, None)


def registered_backends() -> dict[str, BackendInfo]:
    """Every registered backend by canonical name, usable here or not.

    >>> registered_backends()["numpy"].aliases
    ('cpu', 'np')
    """
    _discover()
    return dict(_classes)


def canonical_name(name: str) -> str:
    """Return the canonical backend name for ``name`` or an alias of it.

    >>> canonical_name("gpu")
    'cupy'
    """
    if not isinstance(name, str):
        raise BackendError(f"backend name must be a string, got {name!r}; valid names: {_valid_names()}")
    key = _key(name)
    if key not in _classes and key not in _aliases:
        _discover()
    key = _aliases.get(key, key)
    if key not in _classes:
        close = difflib.get_close_matches(key, [*_classes, *_aliases], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise BackendError(f"unknown backend {name!r}; valid names: {_valid_names()}.{hint}")
    return key


def _valid_names() -> str:
    _discover()
    return ", ".join(f"{b!r}" for b in _classes) + " (aliases: " + ", ".join(
        f"{a!r}->{b!r}" for a, b in _aliases.items()) + ")"


def resolve(name: str | Backend) -> Backend:
    """Return the :class:`Backend` for a name, alias or Backend (created once, then cached).

    >>> resolve("cpu").name
    'numpy'
    """
    if isinstance(name, Backend):
        return name
    b = _loaded.get(name) if isinstance(name, str) else None
    if b is not None:
        return b
    key = canonical_name(name)
    with _lock:
        b = _loaded.get(key)
        if b is None:
            b = _classes[key].cls(key)
            b.seed(_seed_value[0])
            _loaded[key] = b
    return b


def loaded_backends() -> dict[str, Backend]:
    """The backends created in this process so far, by name (e.g. to save their random state).

    >>> "numpy" in loaded_backends()
    True
    """
    return dict(_loaded)


def available_backends() -> list[str]:
    """Names of the registered backends that can be used on this machine.

    >>> "numpy" in available_backends()
    True
    """
    names = []
    for n in registered_backends():
        try:
            resolve(n)
        except BackendError:
            continue
        names.append(n)
    return names


def backend_of_array(array: Any) -> Backend | None:
    """The loaded backend whose library made ``array`` (the current one first), or None."""
    b = current()
    if b.owns(array):
        return b
    for b in _loaded.values():
        if b.owns(array):
            return b
    return None


def backend_of(x: Any) -> Backend:
    """The :class:`Backend` holding a Tensor or a raw backend array.

    >>> import xpgrad
    >>> backend_of(xpgrad.tensor([1.0])).name
    'numpy'
    """
    if getattr(type(x), "__xpgrad_tensor__", False):
        return x.backend
    b = backend_of_array(x)
    if b is None:
        raise TypeError(f"expected an xpgrad Tensor or an array of a loaded backend "
                        f"({', '.join(_loaded)}), got {type(x).__name__}")
    return b


def is_array(x: Any) -> bool:
    """Whether ``x`` is a raw array of a loaded backend."""
    return backend_of_array(x) is not None


def to_numpy(array: Any) -> np.ndarray:
    """Copy (or view) a Tensor or any backend array as a NumPy array on the host."""
    if getattr(type(array), "__xpgrad_tensor__", False):
        return array.backend.to_numpy(array.data)
    b = backend_of_array(array)
    return np.asarray(array) if b is None else b.to_numpy(array)


# -- one place for each tensor: the same-backend, same-device check ---------------------------


def _place(x: Any) -> tuple[Backend, Any]:
    if getattr(type(x), "__xpgrad_tensor__", False):
        return x.backend, x.data
    return backend_of(x), x


def check_same_place(op: str, *items: Any) -> None:
    """Raise the one mixed-place error if Tensors/arrays live on different backends or devices.

    The message names ``op``, both places with the shapes, and the ``.to()`` fix.

    >>> import xpgrad
    >>> check_same_place("add", xpgrad.ones(2), xpgrad.ones(2))
    >>> check_same_place("add", xpgrad.ones(2), xpgrad.ones(2, backend="strict"))
    Traceback (most recent call last):
    ...
    ValueError: add: arguments live on different backends or devices: 'numpy' (shape (2,)) and ...
    """
    first = None
    for x in items:
        b, data = _place(x)
        if first is None:
            first = (b, data)
        elif b is not first[0] or (b.multi_device and data.device != first[1].device):
            raise mixed_place_error(op, first, (b, data))


def mixed_place_error(op: str, a: tuple[Backend, Any], b: tuple[Backend, Any]) -> ValueError:
    """The error for two arrays ``(backend, array)`` that cannot be combined (see :func:`check_same_place`)."""
    def where(place):
        backend, data = place
        on = f" on device {data.device}" if backend.multi_device else ""
        return f"{backend.name!r}{on} (shape {tuple(data.shape)})"

    if a[0] is b[0]:  # same library, two devices: .to(name) gathers onto the default device
        fix = f"Move both onto the default device with .to({a[0].name!r})"
    else:
        fix = f"Move one with .to({a[0].name!r}) or .to({b[0].name!r})"
    return ValueError(f"{op}: arguments live on different backends or devices: {where(a)} and {where(b)}. "
                      f"{fix} before combining them.")


# -- the current backend ---------------------------------------------------------------------

# Read once, at import; the backend it names is loaded (and checked) on first use, so a bad
# value cannot break ``import xpgrad`` itself.
_ENV_BACKEND = os.environ.get("XPGRAD_BACKEND", "").strip()
_DEFAULT_NAME = "numpy"  # the backend of a process that names none


def _initial_default() -> Backend:
    env = _ENV_BACKEND
    if not env:
        return resolve(_DEFAULT_NAME)
    try:
        return resolve(env)
    except BackendError as e:
        raise BackendError(f"environment variable XPGRAD_BACKEND={env!r} is not usable: {e}") from None


_default: list[Backend] = []
_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar("xpgrad_backend", default=None)


def current() -> Backend:
    """The current :class:`Backend` object: where new tensors go.

    >>> current().name
    'numpy'
    """
    b = _current.get()
    if b is not None:
        return b
    if not _default:
        _default.append(_initial_default())
    return _default[0]


def get_backend() -> str:
    """Return the canonical name of the current backend.

    >>> get_backend()
    'numpy'
    """
    return current().name


def set_backend(name: str | Backend) -> None:
    """Make ``name`` the process-wide default backend for new tensors.

    Also ends any :func:`use_backend` override in the calling context, so the
    call takes effect immediately.

    >>> set_backend("cpu"); get_backend()
    'numpy'
    """
    b = resolve(name)
    if _default:
        _default[0] = b
    else:
        _default.append(b)
    if _current.get() is not None:
        _current.set(None)


@contextlib.contextmanager
def use_backend(name: str | Backend) -> Iterator[Backend]:
    """Use backend ``name`` for new tensors inside a ``with`` block.

    >>> with use_backend("strict"):
    ...     get_backend()
    'array_api_strict'
    """
    token = _current.set(resolve(name))
    try:
        yield current()
    finally:
        _current.reset(token)


# -- seeds and the default dtype -----------------------------------------------------------------

_seed_value: list[int | None] = [None]


def manual_seed(seed: int) -> None:
    """Seed the random generators of every backend, loaded now or later.

    The same seed gives the same numbers on the same backend; backends that
    draw on the host (NumPy, array-api-strict) share one algorithm and agree.

    >>> manual_seed(0)
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed_value[0] = seed
    for b in _loaded.values():
        b.seed(seed)


_default_dtype = ["float32"]


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype (``"float32"`` or ``"float64"``) used for new float tensors.

    >>> set_default_dtype("float32")
    """
    name = dtype_name(dtype)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"default dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    _default_dtype[0] = name


def get_default_dtype() -> str:
    """Return the name of the default floating dtype.

    >>> get_default_dtype()
    'float32'
    """
    return _default_dtype[0]
