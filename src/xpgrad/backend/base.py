"""The :class:`Backend` base class: one array library seen through the array API.

A subclass says how to load its library's namespace (:meth:`Backend.load`),
which array types it holds, and overrides whatever it does faster than the
portable versions written here: random numbers (drawn on the host by
default), scatter-add (a one-hot matmul by default), masking and copies to
the host. Everything else comes from the standard.

Arrays are changed by assignment or through these methods, never by relying
on in-place operators, so a backend over immutable arrays can be written:
:meth:`index_add` and :meth:`add_along_axis` *return* the result.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

__all__ = ["DTYPE_NAMES", "FLOAT_DTYPES", "Backend", "BackendError", "dtype_name"]

DTYPE_NAMES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                         "float32", "float64", "complex64", "complex128"})
FLOAT_DTYPES = ("float32", "float64")


class BackendError(ValueError):
    """A backend name is unknown, or the backend cannot be used on this machine."""


BackendError.__module__ = "xpgrad.backend"  # where users import it from, as tracebacks show it


def dtype_name(dtype: Any) -> str:
    """The standard's name of a dtype given as a string, a NumPy/CuPy dtype or type, or a strict dtype.

    >>> import numpy as np
    >>> dtype_name(np.float32), dtype_name("int64"), dtype_name(np.dtype("bool"))
    ('float32', 'int64', 'bool')
    """
    if isinstance(dtype, str):
        return dtype
    for attr in ("name", "__name__"):
        name = getattr(dtype, attr, None)
        if isinstance(name, str):
            return name
    return str(dtype).rsplit(".", 1)[-1]


class Backend:
    """One array library seen through the array API, plus what the standard lacks.

    Subclass it to add a backend, and register the subclass through the
    ``register_backends`` hook (see the guide "Writing a backend"). A backend
    object exists once per registered name and process; it is created on
    first use by :func:`xpgrad.backend.resolve`.

    Attributes
    ----------
    name : str
        The name it was registered under.
    xp : module
        The array-API namespace; every compute path goes through it.
    multi_device : bool
        Whether arrays of this library can live on different devices, in which
        case operations compare devices before combining arrays.
    on_host : bool
        Whether new arrays live in host memory (reading a value back is free),
        decided from the default device; False for a GPU, where the training
        loop avoids per-step reads.
    """

    #: Types of the arrays this backend holds (used to find the backend of a raw array).
    array_types: ClassVar[tuple[type, ...]] = ()
    multi_device: ClassVar[bool] = False
    #: Array functions that ``xpgrad.compile`` may call straight from a replay, with ``out=`` (NumPy's
    #: conventions): ``add``, ``multiply`` and ``maximum``. Each must compute exactly what the matching
    #: backend method does (:meth:`bias_relu_`, :meth:`relu_grad_`), without its Python frame.
    #: (Products and row sums: :meth:`product_function`, :meth:`sum_rows_function`.)
    #: None (the default) keeps the methods.
    inline_ufuncs: ClassVar[dict[str, Any] | None] = None

    def __init__(self, name: str):
        self.name = name
        self.xp = self.load()
        self.on_host = self.is_host_device(self.default_device())
        self._seed: int | None = None
        self._rng: Any = None
        self._host_rng: np.random.Generator | None = None
        self._complex_kinds: dict[Any, bool] = {}

    # -- what a subclass provides ---------------------------------------------------------
    def load(self) -> Any:
        """Import the library and return its array-API namespace; raise :class:`BackendError` if unusable."""
        raise NotImplementedError(f"{type(self).__name__} must define load() returning an array-API namespace")

    def default_device(self) -> Any:
        """The device where this backend makes new arrays."""
        return self.xp.__array_namespace_info__().default_device()

    @staticmethod
    def is_host_device(device: Any) -> bool:
        """Whether ``device`` is host memory (the CPU); the base rule reads the device's name."""
        return "cpu" in str(device).lower()

    # -- identity -------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<xpgrad backend {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        # ``tensor.backend == "numpy"`` reads naturally; a backend equals its own canonical name.
        if isinstance(other, str):
            return other == self.name
        return self is other

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        # Backends are per-process singletons holding modules: copying or pickling one
        # (e.g. copy.deepcopy of a model's tensors) must give back the same object.
        import xpgrad.backend  # the package, which this module's siblings complete (no import cycle)

        return (xpgrad.backend.resolve, (self.name,))

    # -- dtypes ---------------------------------------------------------------------------
    def dtype(self, spec: Any) -> Any:
        """Resolve a dtype name, NumPy dtype or any backend's dtype to this backend's dtype."""
        name = dtype_name(spec)
        if name not in DTYPE_NAMES:
            raise TypeError(f"unknown dtype {spec!r} for backend {self.name!r}; use one of {sorted(DTYPE_NAMES)}")
        return getattr(self.xp, name)

    def is_floating(self, dtype: Any) -> bool:
        """Whether ``dtype`` is a real floating dtype."""
        return self.xp.isdtype(dtype, "real floating")

    def is_complex(self, dtype: Any) -> bool:
        """Whether ``dtype`` is a complex floating dtype (a cached lookup: backward bodies ask on every call)."""
        known = self._complex_kinds.get(dtype)
        if known is None:
            known = self._complex_kinds[dtype] = bool(self.xp.isdtype(dtype, "complex floating"))
        return known

    def owns(self, array: Any) -> bool:
        """Whether ``array`` is an array of this backend's library."""
        return isinstance(array, self.array_types)

    # -- moving data ------------------------------------------------------------------------
    def asarray(self, data: Any, dtype: Any = None, copy: bool | None = None) -> Any:
        """Put ``data`` on this backend, in ``dtype``: the one way data enters a backend.

        ``data`` may be a Python scalar, nested lists, an xpgrad Tensor or an
        array of any registered backend (it goes through host memory when the
        libraries differ, and lands on :meth:`default_device`; an array of this
        backend's own library keeps its device). ``copy=None`` copies only when needed, ``True``
        always, ``False`` never (an error if a copy is needed).
        """
        if getattr(type(data), "__xpgrad_tensor__", False):
            data = data.data
        dt = None if dtype is None else self.dtype(dtype)
        if not self.owns(data):
            import xpgrad.backend

            source = xpgrad.backend.backend_of_array(data)
            if source is not None or (hasattr(data, "__dlpack__") and not isinstance(data, np.ndarray)):
                # Another library's array goes through host memory (DLPack when its backend is not loaded).
                if copy is False:
                    raise ValueError(f"moving a {type(data).__name__} array to backend {self.name!r} needs a "
                                     "copy, but copy=False was given")
                data = np.from_dlpack(data) if source is None else source.to_numpy(data)
            return self.xp.asarray(data, dtype=dt, copy=copy)
        # An array of this library keeps its device (Tensor.to(name) is the explicit gather).
        if dt is not None and data.dtype != dt:
            return self.xp.astype(data, dt, copy=True)
        return data if copy is None else self.xp.asarray(data, copy=copy)

    def to_default_device(self, array: Any) -> Any:
        """Move ``array`` to :meth:`default_device` (no copy when it is there already)."""
        if not self.multi_device:
            return array
        device = self.default_device()
        if array.device == device:
            return array
        import array_api_compat

        return array_api_compat.to_device(array, device)

    def to_numpy(self, array: Any) -> np.ndarray:
        """A host NumPy copy (or view) of one of this backend's arrays."""
        return np.from_dlpack(array)

    # -- random numbers -----------------------------------------------------------------------
    def seed(self, seed: int | None) -> None:
        """Restart the random generators from ``seed`` (None: fresh entropy)."""
        self._seed = seed
        self._rng = None
        self._host_rng = None

    def host_rng(self) -> np.random.Generator:
        """The NumPy generator behind data order (:meth:`permutation`), checkpointable on every backend.

        Backends whose random numbers are drawn on the host share it with
        :meth:`rng`; a device backend keeps its own device generator, so a
        resumed run shuffles its data exactly as the uninterrupted run would have.
        """
        if self._host_rng is None:
            self._host_rng = self.make_generator(self._seed)
        return self._host_rng

    def make_generator(self, seed: int | None) -> np.random.Generator:
        """The host generator for ``seed``; override to use another bit generator (PCG64 by default)."""
        return np.random.default_rng(seed)

    def rng(self) -> Any:
        """The generator behind :meth:`random_normal` and friends (the host generator by default)."""
        return self.host_rng()

    def random_normal(self, shape: tuple, dtype: Any) -> Any:
        """Samples of N(0, 1) of ``shape`` in ``dtype``."""
        return self.asarray(self.rng().standard_normal(shape, dtype=np.dtype(dtype_name(dtype))))

    def random_uniform(self, shape: tuple, dtype: Any) -> Any:
        """Samples of U[0, 1) of ``shape`` in ``dtype``."""
        return self.asarray(self.rng().random(shape, dtype=np.dtype(dtype_name(dtype))))

    def random_integers(self, low: int, high: int, shape: tuple, dtype: Any) -> Any:
        """Integers drawn uniformly from ``[low, high)``."""
        out = self.rng().integers(low, high, size=shape)
        return self.asarray(out.astype(np.dtype(dtype_name(dtype))))

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` as a host NumPy array (drives minibatch order)."""
        return self.host_rng().permutation(n)

    def rng_state(self) -> dict:
        """JSON-serialisable state of the host generator and the seed (for checkpoints).

        A device generator may have no portable state: random numbers drawn on
        the device after a resume (dropout masks, ``randn``) then continue from
        the seed rather than from the saved point; the data order is exact.
        """
        return {"seed": self._seed, "state": self.host_rng().bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        """Restore what :meth:`rng_state` returned."""
        if "seed" in state and state["seed"] != self._seed:
            self.seed(state["seed"])
        if state.get("state") is not None:
            self.host_rng().bit_generator.state = state["state"]

    # -- what the standard lacks ---------------------------------------------------------------
    def masked(self, x: Any, keep: Any) -> Any:
        """``x`` where the boolean array ``keep`` is True, 0 elsewhere (the backward of ReLU-like gates).

        The standard does not define float × bool, so the portable version
        casts the mask; NumPy and CuPy multiply by it directly.
        """
        return x * self.xp.astype(keep, x.dtype)

    def relu_grad(self, g: Any, y: Any) -> Any:
        """The gradient ``g`` where ``y > 0``, 0 elsewhere: the backward of y = max(0, ·) given its output ``y``.

        Computed as ``g * (y > 0)`` (so a NaN in ``g`` stays NaN, as a multiply by
        a mask gives); a new array. NumPy runs the comparison and the multiply, CuPy
        one fused kernel.

        >>> import numpy as np, xpgrad
        >>> b = xpgrad.backend.resolve("numpy")
        >>> b.relu_grad(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, 2.0])).tolist()
        [1.0, 0.0, 3.0]
        """
        return self.masked(g, y > 0)

    def relu_grad_(self, g: Any, y: Any) -> Any:
        """:meth:`relu_grad` in ``g``'s memory where possible; ``g`` must be an array the caller owns.

        Use the result, not ``g``: the portable version makes a new array.

        >>> import numpy as np, xpgrad
        >>> b = xpgrad.backend.resolve("numpy")
        >>> b.relu_grad_(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, 2.0])).tolist()
        [1.0, 0.0, 3.0]
        """
        return self.relu_grad(g, y)

    def bias_relu_(self, y: Any, b: Any = None) -> Any:
        """max(0, y + b) (``b`` broadcast along the rows of ``y``; None adds nothing), in ``y``'s memory where possible.

        ``y`` must be a fresh array the caller owns (such as the product of a
        dense layer): NumPy adds and clips in place with ``out=``, CuPy runs one
        fused kernel over it, and the portable version makes new arrays. Use
        the result, not ``y``.

        >>> import numpy as np, xpgrad
        >>> b = xpgrad.backend.resolve("numpy")
        >>> b.bias_relu_(np.array([[1.0, -2.0]]), np.array([0.5, 0.5])).tolist()
        [[1.5, 0.0]]
        """
        if b is not None:
            y = y + b
        return self.xp.maximum(y, 0.0)

    def sum_rows_function(self, n: int, dtype: Any) -> Any:
        """The function :meth:`sum_rows` and :meth:`sum_rows_into` use on an (n, ·) array of ``dtype``, or None.

        A compiled replay calls it directly (``f(g)``, or ``f(g, out=slot)`` into a C-ordered slot of
        ``g``'s dtype), so it must be the very function those methods call. None (the default): the
        replay calls the methods.
        """
        return None

    def sum_rows(self, a: Any) -> Any:
        """``sum(a, axis=0)`` of a 2-D array, as a new array (a bias gradient); NumPy computes it as 1ᵀ a.

        >>> import numpy as np, xpgrad
        >>> xpgrad.backend.resolve("numpy").sum_rows(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [4.0, 6.0]
        """
        return self.xp.sum(a, axis=0)

    def mm(self, a: Any, b: Any) -> Any:
        """The matrix product ``a @ b`` of two 2-D arrays (a dense layer's forward and backward products).

        NumPy's is ``np.dot``: the same BLAS call as ``@`` on 2-D operands with less
        dispatch around it, which counts for the small matrices of a deep, narrow network.

        >>> import numpy as np, xpgrad
        >>> xpgrad.backend.resolve("numpy").mm(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        """
        return a @ b

    def product_function(self, m: int, k: int, n: int) -> Any:
        """The array function :meth:`mm` and :meth:`matmul_into` use for an (m, k) by (k, n) product, or None.

        A compiled replay calls it directly (``f(a, b)``, or ``f(a, b, out=slot)`` into a C-ordered
        gradient slot of the product's dtype), so it must be the very function those methods call
        for that shape. None (the default): the replay calls the methods.
        """
        return None

    def matmul_into(self, a: Any, b: Any, out: Any) -> Any:
        """``a @ b`` written into ``out`` (of the product's shape and dtype); returns ``out``.

        Lets a backward write a gradient straight into a flat gradient slot; the
        portable version computes the product and copies it, NumPy and CuPy
        write it in place.
        """
        out[...] = a @ b
        return out

    def sum_rows_into(self, a: Any, out: Any) -> Any:
        """``sum(a, axis=0)`` written into ``out``; returns ``out`` (see :meth:`matmul_into`)."""
        out[...] = self.xp.sum(a, axis=0)
        return out

    # Fused optimizer updates: each returns True when it updated its arrays in place in one pass
    # (a device backend's single kernel), False to let the optimizer run its own array expressions,
    # which is what the portable version (and NumPy, where a fused loop would not be faster) does.
    def sgd_update_(self, p: Any, g: Any, lr: float) -> bool:
        """p ← p − lr·g in place, in one pass; False when this backend has no fused version."""
        return False

    def momentum_update_(self, p: Any, g: Any, v: Any, lr: float, momentum: float) -> bool:
        """v ← momentum·v + g, p ← p − lr·v in place, in one pass; False when not fused here."""
        return False

    def adam_update_(self, p: Any, g: Any, m: Any, v: Any, *, step_size: float, b1: float, b2: float,
                     bias2_sqrt: float, eps: float) -> bool:
        """Adam's moments and step in place, in one pass; False when not fused here.

        m ← b1·m + (1 − b1)·g, v ← b2·v + (1 − b2)·g², p ← p − step_size·m / (√v / bias2_sqrt + eps),
        with step_size = lr / (1 − b1ᵗ) and bias2_sqrt = √(1 − b2ᵗ) computed by the optimizer.
        """
        return False

    def index_add(self, out: Any, axis: int, indices: Any, values: Any) -> Any:
        """Return ``out`` with ``values[..., k, ...]`` added at ``out[..., indices[k], ...]`` along ``axis``.

        Duplicate indices are summed. The portable version builds a one-hot
        matrix and multiplies (memory O(len(indices) · n)); libraries with a
        scatter-add override it. May update ``out`` in place: use the result.
        """
        xp = self.xp
        n = out.shape[axis]
        indices = xp.where(indices < 0, indices + n, indices)  # negative indices count from the end
        grid = xp.arange(n, dtype=indices.dtype, device=indices.device)
        onehot = xp.astype(xp.reshape(indices, (-1, 1)) == grid, values.dtype)
        moved = xp.moveaxis(values, axis, -1)  # (..., k)
        return out + xp.moveaxis(moved @ onehot, -1, axis)

    def add_along_axis(self, out: Any, indices: Any, values: Any, axis: int) -> Any:
        """Scatter-add counterpart of ``take_along_axis`` (duplicates summed); use the result."""
        xp = self.xp
        n = out.shape[axis]
        indices = xp.where(indices < 0, indices + n, indices)
        grid = xp.arange(n, dtype=indices.dtype, device=indices.device)
        hits = xp.expand_dims(indices, axis=-1) == grid  # (..., k, ..., n)
        contrib = xp.sum(xp.astype(hits, values.dtype) * xp.expand_dims(values, axis=-1), axis=axis)
        return out + xp.moveaxis(contrib, -1, axis)

    # -- data parallelism (xpgrad.distributed) ----------------------------------------------
    def host_buffer(self, array: Any) -> np.ndarray | None:
        """A writable, C-contiguous NumPy array sharing memory with ``array``, or None.

        :mod:`xpgrad.distributed` reduces such a buffer in place with MPI (no
        copy); None (a device array, or one that cannot be shared) makes it go
        through a host copy or NCCL instead.
        """
        if self.multi_device and not self.is_host_device(getattr(array, "device", "cpu")):
            return None
        try:
            view = np.from_dlpack(array)
        except (TypeError, BufferError, RuntimeError, ValueError):
            return None
        return view if view.flags.writeable and view.flags.c_contiguous else None

    def select_device(self, local_rank: int) -> int | None:
        """Make device ``local_rank mod devices`` current for this process; its index, or None on the host."""
        return None

    def _no_nccl(self) -> NotImplementedError:
        return NotImplementedError(f"backend {self.name!r} ({type(self).__name__}) has no NCCL communicator; "
                                   "use comm='mpi' (host MPI reduction), or a CUDA backend such as 'gpu'")

    def nccl_unique_id(self) -> Any:
        """A new NCCL unique id (picklable), made on one rank and broadcast to the others over MPI."""
        raise self._no_nccl()

    def nccl_communicator(self, world_size: int, rank: int, unique_id: Any) -> Any:
        """The NCCL communicator of this rank among ``world_size`` (collective: every rank calls it)."""
        raise self._no_nccl()

    def nccl_all_reduce_(self, communicator: Any, array: Any, op: str = "sum") -> None:
        """Reduce a contiguous device ``array`` in place over the ranks of ``communicator`` (sum, max, min, prod)."""
        raise self._no_nccl()

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on host backends)."""
