"""Array backends: the one place that knows NumPy, CuPy and array-api-strict by name.

A *backend* bundles an array-API namespace (resolved once, through
``array_api_compat``) with the few things the standard leaves out: random
numbers, scatter-add and moving arrays between libraries.  The *current*
backend decides where new arrays are made; operations follow their inputs.

The current backend is a :class:`contextvars.ContextVar` layered over a
process-wide default, so :func:`use_backend` blocks nest, restore on
exceptions and stay local to their thread, while :func:`set_backend` changes
the default everybody sees.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import os

import numpy as np

__all__ = [
    "Backend",
    "BackendError",
    "available_backends",
    "get_backend",
    "get_default_dtype",
    "gpu_available",
    "manual_seed",
    "resolve",
    "set_backend",
    "set_default_dtype",
    "use_backend",
]

BACKENDS = ("numpy", "cupy", "array_api_strict")
ALIASES = {"cpu": "numpy", "np": "numpy", "gpu": "cupy", "cuda": "cupy", "strict": "array_api_strict"}
FLOAT_DTYPES = ("float32", "float64")
STRICT_API_VERSION = "2024.12"


class BackendError(ValueError):
    """A backend name is unknown, or the backend cannot be used on this machine."""


def canonical_name(name: str) -> str:
    """Return the canonical backend name for ``name`` or an alias of it.

    >>> canonical_name("gpu")
    'cupy'
    """
    if not isinstance(name, str):
        raise BackendError(f"backend name must be a string, got {name!r}; valid names: {_valid_names()}")
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        close = difflib.get_close_matches(key, [*BACKENDS, *ALIASES], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise BackendError(f"unknown backend {name!r}; valid names: {_valid_names()}.{hint}")
    return key


def _valid_names() -> str:
    return ", ".join(f"{b!r}" for b in BACKENDS) + " (aliases: " + ", ".join(
        f"{a!r}->{b!r}" for a, b in ALIASES.items()) + ")"


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


class Backend:
    """One array library seen through the array API, plus what the standard lacks.

    Attributes
    ----------
    name : str
        Canonical name (``"numpy"``, ``"cupy"`` or ``"array_api_strict"``).
    xp : module
        The array-API namespace; every compute path goes through it.
    multi_device : bool
        Whether arrays of this library can live on different devices, in which
        case operations compare devices before combining arrays.
    on_host : bool
        Whether arrays live in host memory (reading a value back is free); False
        for CuPy, where the training loop avoids per-step reads.
    """

    __slots__ = ("name", "xp", "multi_device", "on_host", "_native", "_rng", "_host_rng", "_seed")

    def __init__(self, name, xp, native, multi_device):
        self.name = name
        self.xp = xp
        self._native = native
        self.multi_device = multi_device
        # Whether arrays live in host memory, so reading a value costs no device round trip.
        self.on_host = name != "cupy"
        self._seed = None
        self._rng = None
        self._host_rng = None

    def __repr__(self):
        return f"<xpgrad backend {self.name!r}>"

    def __reduce__(self):
        # Backends are per-process singletons holding modules: copying or pickling one
        # (e.g. copy.deepcopy of a model's tensors) must give back the same object.
        return (resolve, (self.name,))

    # -- dtypes ---------------------------------------------------------------
    def dtype(self, spec):
        """Resolve a dtype name, NumPy dtype or backend dtype to this backend's dtype."""
        name = _dtype_name(spec)
        if name not in _DTYPE_NAMES:
            raise TypeError(f"unknown dtype {spec!r} for backend {self.name!r}; use one of {sorted(_DTYPE_NAMES)}")
        return getattr(self.xp, name)

    def is_floating(self, dtype) -> bool:
        return self.xp.isdtype(dtype, "real floating")

    # -- moving data --------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """Make an array of this backend from nested lists, scalars or any library's array."""
        source = _namespace_name(data)
        if source is not None and source != self.name:
            data = to_numpy(data)
        return self.xp.asarray(data, dtype=dtype)

    def to_default_device(self, array):
        """Move ``array`` to the device where this backend makes new arrays (no copy if it is there)."""
        if not self.multi_device:
            return array
        if self.name == "cupy":  # the current device, where CuPy creates arrays (the info's default is static)
            device = self._native.cuda.Device()
        else:
            device = self.xp.__array_namespace_info__().default_device()
        if array.device == device:
            return array
        import array_api_compat

        return array_api_compat.to_device(array, device)

    # -- random numbers -----------------------------------------------------------
    def seed(self, seed):
        self._seed = seed
        self._rng = None
        self._host_rng = None

    def host_rng(self):
        """The NumPy generator behind data order (:meth:`permutation`), checkpointable on every backend.

        On NumPy and array-api-strict it is the backend generator itself; CuPy
        gets a host generator of its own, so a resumed GPU run shuffles its
        data exactly as the uninterrupted run would have.
        """
        if self.name != "cupy":
            return self.rng()
        if self._host_rng is None:
            self._host_rng = np.random.default_rng(self._seed)
        return self._host_rng

    def rng(self):
        """The backend's random generator, created lazily from the last seed."""
        if self._rng is None:
            if self.name == "cupy":
                self._rng = self._native.random.default_rng(self._seed)
            else:
                self._rng = np.random.default_rng(self._seed)
        return self._rng

    def random_normal(self, shape, dtype):
        g = self.rng()
        if self.name == "cupy":
            return g.standard_normal(shape, dtype=dtype)
        return self.xp.asarray(g.standard_normal(shape, dtype=np.dtype(_dtype_name(dtype))))

    def random_uniform(self, shape, dtype):
        g = self.rng()
        if self.name == "cupy":
            return g.random(shape, dtype=dtype)
        return self.xp.asarray(g.random(shape, dtype=np.dtype(_dtype_name(dtype))))

    def random_integers(self, low, high, shape, dtype):
        g = self.rng()
        out = g.integers(low, high, size=shape)
        return self.xp.astype(self.xp.asarray(out), dtype) if self.name == "cupy" else self.xp.asarray(
            out.astype(np.dtype(_dtype_name(dtype))))

    def permutation(self, n):
        """A random permutation of ``range(n)`` as a host NumPy array (drives minibatch order)."""
        return self.host_rng().permutation(n)

    def rng_state(self):
        """JSON-serialisable state of the host generator and the seed (for checkpoints).

        CuPy's device generator has no portable state: on the GPU, random
        numbers drawn after a resume (dropout masks, ``randn``) continue from
        the seed rather than from the saved point; the data order is exact.
        """
        return {"seed": self._seed, "state": self.host_rng().bit_generator.state}

    def set_rng_state(self, state):
        if "seed" in state and state["seed"] != self._seed:
            self.seed(state["seed"])
        if state.get("state") is not None:
            self.host_rng().bit_generator.state = state["state"]

    # -- what the standard lacks --------------------------------------------------
    def masked(self, x, keep):
        """``x`` where the boolean array ``keep`` is True, 0 elsewhere (the backward of ReLU-like gates).

        NumPy and CuPy multiply by the mask, several times faster than
        ``where``; the standard does not define float × bool, so other
        namespaces cast the mask first.
        """
        if self.name in ("numpy", "cupy"):
            return x * keep
        return x * self.xp.astype(keep, x.dtype)


    def index_add(self, out, axis, indices, values):
        """``out[..., indices[k], ...] += values[..., k, ...]`` along ``axis``, duplicates summed."""
        if self.name == "numpy":
            np.add.at(out, (slice(None),) * axis + (indices,), values)
            return out
        if self.name == "cupy":
            import cupyx

            cupyx.scatter_add(out, (slice(None),) * axis + (indices,), values)
            return out
        xp = self.xp
        n = out.shape[axis]
        onehot = xp.astype(xp.reshape(indices, (-1, 1)) == xp.arange(n, dtype=indices.dtype), values.dtype)
        moved = xp.moveaxis(values, axis, -1)  # (..., k)
        return out + xp.moveaxis(moved @ onehot, -1, axis)

    def add_along_axis(self, out, indices, values, axis):
        """Scatter-add counterpart of ``take_along_axis`` (duplicates summed)."""
        if self.name in ("numpy", "cupy"):
            lib = self._native
            # An open grid over the gradient's shape (indices may broadcast against x); built by hand
            # because cupy.indices has no sparse= argument.
            nd = values.ndim
            idx = [lib.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)) for i, n in enumerate(values.shape)]
            idx[axis] = indices
            if self.name == "numpy":
                np.add.at(out, tuple(idx), values)
            else:
                import cupyx

                cupyx.scatter_add(out, tuple(idx), values)
            return out
        xp = self.xp
        n = out.shape[axis]
        hits = xp.expand_dims(indices, axis=-1) == xp.arange(n, dtype=indices.dtype)  # (..., k, ..., n)
        contrib = xp.sum(xp.astype(hits, values.dtype) * xp.expand_dims(values, axis=-1), axis=axis)
        return out + xp.moveaxis(contrib, -1, axis)

    def synchronize(self):
        """Wait for queued device work (a no-op on CPU backends)."""
        if self.name == "cupy":
            self._native.cuda.Device().synchronize()


_DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float32", "float64", "complex64", "complex128"}


def _dtype_name(dtype) -> str:
    """'float32' for the string, a NumPy/CuPy dtype or scalar type, or an array-api-strict dtype."""
    if isinstance(dtype, str):
        return dtype
    for attr in ("name", "__name__"):
        name = getattr(dtype, attr, None)
        if isinstance(name, str):
            return name
    return str(dtype).rsplit(".", 1)[-1]


def _namespace_name(x):
    mod = type(x).__module__.split(".", 1)[0]
    if mod in ("numpy", "cupy", "array_api_strict"):
        return mod
    return None


def _numpy_namespace():
    """``array_api_compat.numpy`` with float reductions sent straight to the ufuncs.

    ``np.sum``/``np.max``/``np.mean`` spend more time in their Python wrappers
    than in the arithmetic for the small arrays of a training step; for
    floating arrays without a ``dtype=`` request ``ufunc.reduce`` gives the
    same values and dtype. Everything else is array-api-compat's.
    """
    import types

    import array_api_compat.numpy as compat

    ns = types.ModuleType("xpgrad.backend.numpy_namespace", _numpy_namespace.__doc__)
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

    ns.sum = _fast(np.add.reduce, compat.sum)
    ns.max = _fast(np.maximum.reduce, compat.max)
    ns.min = _fast(np.minimum.reduce, compat.min)
    ns.mean = mean
    return ns


def _load(name: str) -> Backend:
    if name == "numpy":
        return Backend("numpy", _numpy_namespace(), np, multi_device=False)
    if name == "array_api_strict":
        try:
            import array_api_strict as xp
        except ImportError:
            raise BackendError("backend 'array_api_strict' needs the array-api-strict package: "
                               "pip install 'xpgrad[test]'") from None
        xp.set_array_api_strict_flags(api_version=STRICT_API_VERSION)
        return Backend("array_api_strict", xp, xp, multi_device=True)
    try:
        import cupy
    except ImportError:
        raise BackendError("backend 'cupy' needs CuPy: pip install 'xpgrad[cuda12]' (CUDA 12) or "
                           "'xpgrad[cuda13]' (CUDA 13)") from None
    if not gpu_available():
        raise BackendError("backend 'cupy' is installed but no usable CUDA GPU was found "
                           "(cupy.is_available() is False); use backend 'numpy' on this machine")
    import array_api_compat.cupy as xp

    return Backend("cupy", xp, cupy, multi_device=True)


_loaded: dict[str, Backend] = {}
_seed_value: list = [None]


def resolve(name) -> Backend:
    """Return the :class:`Backend` for a name, alias or Backend (loaded once, then cached).

    >>> resolve("cpu").name
    'numpy'
    """
    if isinstance(name, Backend):
        return name
    key = canonical_name(name)
    b = _loaded.get(key)
    if b is None:
        b = _loaded[key] = _load(key)
        b.seed(_seed_value[0])
    return b


def backend_of(array) -> Backend:
    """The backend an array belongs to."""
    name = _namespace_name(array)
    if name is None:
        raise TypeError(f"expected a NumPy, CuPy or array-api-strict array, got {type(array).__name__}")
    return resolve(name)


def available_backends() -> list[str]:
    """Names of the backends that can be used on this machine.

    >>> "numpy" in available_backends()
    True
    """
    names = []
    for n in BACKENDS:
        try:
            resolve(n)
        except BackendError:
            continue
        names.append(n)
    return names


# Read once, at import; the backend it names is loaded (and checked) on first use, so a bad
# value cannot break ``import xpgrad`` itself.
_ENV_BACKEND = os.environ.get("XPGRAD_BACKEND", "").strip()


def _initial_default() -> Backend:
    env = _ENV_BACKEND
    if not env:
        return resolve("numpy")
    try:
        return resolve(env)
    except BackendError as e:
        raise BackendError(f"environment variable XPGRAD_BACKEND={env!r} is not usable: {e}") from None


_default: list[Backend] = []
_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar("xpgrad_backend", default=None)


def current() -> Backend:
    """The current :class:`Backend` object (for library code)."""
    b = _current.get()
    if b is not None:
        return b
    if not _default:
        _default.append(_initial_default())
    return _default[0]


def get_backend() -> str:
    """Return the canonical name of the current backend.

    >>> get_backend() in ("numpy", "cupy", "array_api_strict")
    True
    """
    return current().name


def set_backend(name: str) -> None:
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
def use_backend(name: str):
    """Use backend ``name`` for new tensors inside a ``with`` block.

    >>> with use_backend("numpy"):
    ...     get_backend()
    'numpy'
    """
    token = _current.set(resolve(name))
    try:
        yield current()
    finally:
        _current.reset(token)


def manual_seed(seed: int) -> None:
    """Seed the random generators of every backend, loaded now or later.

    The same seed gives the same numbers on the same backend; NumPy and
    array-api-strict share one generator algorithm and so agree with each other.

    >>> manual_seed(0)
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed_value[0] = seed
    for b in _loaded.values():
        b.seed(seed)


_default_dtype = ["float32"]


def set_default_dtype(dtype: str) -> None:
    """Set the floating dtype (``"float32"`` or ``"float64"``) used for new float tensors.

    >>> set_default_dtype("float32")
    """
    name = _dtype_name(dtype)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"default dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    _default_dtype[0] = name


def get_default_dtype() -> str:
    """Return the name of the default floating dtype.

    >>> get_default_dtype()
    'float32'
    """
    return _default_dtype[0]


def to_numpy(array) -> np.ndarray:
    """Copy (or view) any backend array as a NumPy array on the host."""
    name = _namespace_name(array)
    if name == "numpy":
        return np.asarray(array)
    if name == "cupy":
        return array.get()
    if name == "array_api_strict":
        return np.from_dlpack(array)
    return np.asarray(array)


def is_array(x) -> bool:
    return _namespace_name(x) is not None and hasattr(x, "shape")
