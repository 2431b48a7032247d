"""``Tensor``: one backend array, its gradient and the graph node that made it."""

from __future__ import annotations

import itertools
import operator
from typing import TYPE_CHECKING, Any

from .. import backend as _backend
from . import engine as _engine
from . import tracing as _tracing
from .convert import to_array
from .engine import backward as _backward
from .protocols import ArrayProtocols

__all__ = ["Tensor"]

if TYPE_CHECKING:
    #: What an operator accepts besides a Tensor: a Python number or a raw array of the same backend.
    from typing import TypeAlias

    Operand: TypeAlias = "Tensor | float | int | bool | Any"


# One counter orders graph nodes (an op's inputs are recorded before it) and changes to tensors, so
# "changed after this node was recorded" is one integer comparison.
SEQUENCE = itertools.count(1)

_BACKEND_DOC = """The :class:`~xpgrad.backend.Backend` holding the data.

    It compares equal to its canonical name, and ``t.backend.xp`` is the
    raw array-API namespace of ``t.data``.

    >>> import xpgrad
    >>> t = xpgrad.tensor([1.0])
    >>> t.backend == "numpy", t.backend.name
    (True, 'numpy')
    """


class Tensor(ArrayProtocols):
    """An n-dimensional array that records the operations applied to it.

    ``data`` is the backend array (NumPy, CuPy or array-api-strict); ``grad``
    holds the gradient of the last :meth:`backward` with respect to this tensor
    as an array of the same shape (``None`` until one arrives).  Tensors made
    by an operation on tensors that require grad carry a graph node so that
    :meth:`backward` can apply the chain rule.

    Create tensors with :func:`xpgrad.tensor` and friends rather than with the
    class itself.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> x.shape, x.dtype.name if hasattr(x.dtype, "name") else x.dtype
    ((2, 2), 'float32')
    >>> x.backend == "numpy", x.backend.name, x.backend.xp is xpgrad.backend.current().xp
    (True, 'numpy', True)
    """

    # _history (set only once a tensor is rebound by an in-place operation on a graph): (seq, former state)
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_backend", "_version", "_history", "_grad_slot",
                 "__weakref__")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` defer to Tensor.__radd__
    __xpgrad_tensor__ = True  # how the backend layer, which cannot import this class, recognises a Tensor

    def __init__(self, data, dtype=None, requires_grad=False, backend=None):
        b = _backend.current() if backend is None else _backend.resolve(backend)
        self.data = to_array(data, dtype, b, copy=True)
        self.grad = None
        self._ctx = None
        self._backend = b
        self._version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, backend, requires_grad=False):
        """Wrap a backend array without copying or checking (the hot path)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._backend = backend
        t._version = 0
        return t

    if TYPE_CHECKING:
        # Operators and methods are bound in ``methods.py`` (the ops import this class, so they
        # cannot be imported here); declared here for IDEs and type checkers. A test checks that
        # every declared name exists at runtime and every bound name is declared.
        _history: list[tuple[int, Tensor]]  # former states, set by in-place operations on a graph (ops/inplace.py)
        _grad_slot: Any  # where the engine writes the gradient of a tensor in a FlatBuffer (autograd/flat.py)
        def __add__(self, other: Operand) -> Tensor: ...
        def __radd__(self, other: Operand) -> Tensor: ...
        def __iadd__(self, other: Operand) -> Tensor: ...
        def __sub__(self, other: Operand) -> Tensor: ...
        def __rsub__(self, other: Operand) -> Tensor: ...
        def __isub__(self, other: Operand) -> Tensor: ...
        def __mul__(self, other: Operand) -> Tensor: ...
        def __rmul__(self, other: Operand) -> Tensor: ...
        def __imul__(self, other: Operand) -> Tensor: ...
        def __truediv__(self, other: Operand) -> Tensor: ...
        def __rtruediv__(self, other: Operand) -> Tensor: ...
        def __itruediv__(self, other: Operand) -> Tensor: ...
        def __pow__(self, other: Operand) -> Tensor: ...
        def __rpow__(self, other: Operand) -> Tensor: ...
        def __ipow__(self, other: Operand) -> Tensor: ...
        def __matmul__(self, other: Operand) -> Tensor: ...
        def __rmatmul__(self, other: Operand) -> Tensor: ...
        def __imatmul__(self, other: Operand) -> Tensor: ...
        def __floordiv__(self, other: Operand) -> Tensor: ...
        def __rfloordiv__(self, other: Operand) -> Tensor: ...
        def __ifloordiv__(self, other: Operand) -> Tensor: ...
        def __mod__(self, other: Operand) -> Tensor: ...
        def __rmod__(self, other: Operand) -> Tensor: ...
        def __imod__(self, other: Operand) -> Tensor: ...
        def __and__(self, other: Operand) -> Tensor: ...
        def __rand__(self, other: Operand) -> Tensor: ...
        def __iand__(self, other: Operand) -> Tensor: ...
        def __or__(self, other: Operand) -> Tensor: ...
        def __ror__(self, other: Operand) -> Tensor: ...
        def __ior__(self, other: Operand) -> Tensor: ...
        def __xor__(self, other: Operand) -> Tensor: ...
        def __rxor__(self, other: Operand) -> Tensor: ...
        def __ixor__(self, other: Operand) -> Tensor: ...
        def __lshift__(self, other: Operand) -> Tensor: ...
        def __rlshift__(self, other: Operand) -> Tensor: ...
        def __ilshift__(self, other: Operand) -> Tensor: ...
        def __rshift__(self, other: Operand) -> Tensor: ...
        def __rrshift__(self, other: Operand) -> Tensor: ...
        def __irshift__(self, other: Operand) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...
        def __setitem__(self, key: Any, value: Operand) -> None: ...
        def __array_namespace__(self, /, *, api_version: str | None = None) -> Any: ...
        def __lt__(self, other: Operand) -> Tensor: ...
        def __le__(self, other: Operand) -> Tensor: ...
        def __gt__(self, other: Operand) -> Tensor: ...
        def __ge__(self, other: Operand) -> Tensor: ...
        def __eq__(self, other: Operand) -> Tensor: ...  # type: ignore[override]
        def __ne__(self, other: Operand) -> Tensor: ...  # type: ignore[override]
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def log1p(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def sin(self) -> Tensor: ...
        def cos(self) -> Tensor: ...
        def tan(self) -> Tensor: ...
        def sinh(self) -> Tensor: ...
        def cosh(self) -> Tensor: ...
        def asin(self) -> Tensor: ...
        def acos(self) -> Tensor: ...
        def atan(self) -> Tensor: ...
        def asinh(self) -> Tensor: ...
        def acosh(self) -> Tensor: ...
        def atanh(self) -> Tensor: ...
        def expm1(self) -> Tensor: ...
        def log2(self) -> Tensor: ...
        def log10(self) -> Tensor: ...
        def square(self) -> Tensor: ...
        def reciprocal(self) -> Tensor: ...
        def sign(self) -> Tensor: ...
        def floor(self) -> Tensor: ...
        def ceil(self) -> Tensor: ...
        def trunc(self) -> Tensor: ...
        def conj(self) -> Tensor: ...
        def real(self) -> Tensor: ...
        def imag(self) -> Tensor: ...
        def isnan(self) -> Tensor: ...
        def isinf(self) -> Tensor: ...
        def isfinite(self) -> Tensor: ...
        def positive(self) -> Tensor: ...
        def negative(self) -> Tensor: ...
        def round(self) -> Tensor: ...  # type: ignore[override]
        def clip(self, min: Operand | None = None, max: Operand | None = None) -> Tensor: ...
        def maximum(self, other: Operand) -> Tensor: ...
        def minimum(self, other: Operand) -> Tensor: ...
        def sum(self, axis: int | tuple[int, ...] | None = None,
                *, dtype: Any = None, keepdims: bool = False) -> Tensor: ...
        def prod(self, axis: int | tuple[int, ...] | None = None,
                *, dtype: Any = None, keepdims: bool = False) -> Tensor: ...
        def cumulative_sum(self, axis: int | None = None,
                *, dtype: Any = None, include_initial: bool = False) -> Tensor: ...
        def mean(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def logsumexp(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def all(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def any(self, axis: int | tuple[int, ...] | None = None, *, keepdims: bool = False) -> Tensor: ...
        def var(self, axis: int | tuple[int, ...] | None = None,
                *, correction: float = 0.0, keepdims: bool = False) -> Tensor: ...
        def std(self, axis: int | tuple[int, ...] | None = None,
                *, correction: float = 0.0, keepdims: bool = False) -> Tensor: ...
        def argmax(self, axis: int | None = None, *, keepdims: bool = False) -> Tensor: ...
        def argmin(self, axis: int | None = None, *, keepdims: bool = False) -> Tensor: ...
        def matmul(self, other: Operand) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: ...
        def permute_dims(self, axes: tuple[int, ...]) -> Tensor: ...
        def expand_dims(self, axis: int = 0) -> Tensor: ...
        def unsqueeze(self, dim: int) -> Tensor: ...
        def squeeze(self, axis: int | tuple[int, ...]) -> Tensor: ...
        def take(self, indices: Any, axis: int = 0) -> Tensor: ...
        def take_along_axis(self, indices: Any, axis: int = -1) -> Tensor: ...
        def to_device(self, device: Any, /, *, stream: Any = None) -> Tensor: ...
        def astype(self, dtype: Any, /, *, copy: bool = False, device: Any = None) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...
        @property
        def mT(self) -> Tensor: ...

    # -- attributes -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The length of each axis, as a tuple of ints."""
        return tuple(self.data.shape)

    @property
    def dtype(self):
        """The element type, as the backend's dtype object (compare with ``xpgrad.tensor(..., dtype=...)``)."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements, the product of :attr:`shape`."""
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    if TYPE_CHECKING:
        @property
        def backend(self) -> _backend.Backend: ...
    else:  # a C-level getter: layers read it on every call, and a Python property costs several times more
        backend = property(operator.attrgetter("_backend"), doc=_BACKEND_DOC)

    @property
    def device(self):
        """The device of the data, as the backend reports it (CPU for NumPy, a CUDA device for CuPy)."""
        return self.data.device

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded operation."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The :class:`~xpgrad.Function` subclass that made this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.fn

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = repr(_backend.to_numpy(self.data)).replace("array(", "tensor(", 1)
        extras = []
        if self._backend is not _backend.current():
            extras.append(f"backend={self._backend.name!r}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.fn.__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if extras:
            body = body[:-1] + ", " + ", ".join(extras) + ")"
        return body

    __hash__ = object.__hash__

    # -- conversions --------------------------------------------------------------------
    def item(self):
        """The value of a one-element tensor as a Python number (bool, int, float or complex).

        >>> import xpgrad
        >>> xpgrad.tensor([[3.5]]).item()
        3.5
        """
        _tracing.host_read(self, "item()")
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        x = self.data if self.data.ndim == 0 else self._backend.xp.reshape(self.data, ())
        xp = self._backend.xp
        if xp.isdtype(x.dtype, "bool"):
            return bool(x)
        if self._backend.is_complex(x.dtype):
            return complex(x)
        return int(x) if xp.isdtype(x.dtype, "integral") else float(x)

    def numpy(self):
        """The data as a :class:`numpy.ndarray` (copied from the GPU when needed).

        >>> import xpgrad
        >>> type(xpgrad.tensor([1.0]).numpy()).__name__
        'ndarray'
        """
        _tracing.host_read(self, "numpy()")
        return _backend.to_numpy(self.data)

    def tolist(self):
        """The data as nested Python lists (copied to the host).

        >>> import xpgrad
        >>> xpgrad.tensor([[1, 2]]).tolist()
        [[1, 2]]
        """
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, outside the graph.

        >>> import xpgrad
        >>> xpgrad.tensor([1.0], requires_grad=True).detach().requires_grad
        False
        """
        return Tensor._make(self.data, self._backend)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking on (or off) for this leaf, in place; returns self."""
        b = self._backend
        if requires_grad and not (b.is_floating(self.data.dtype) or b.is_complex(self.data.dtype)):
            raise TypeError(f"only floating-point (real or complex) tensors can require gradients; this one is "
                            f"{self.dtype}. Convert it first, e.g. tensor.astype('float32')")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def version(self) -> int:
        """A number that grows every time the tensor is changed in a tracked way (0 for a new tensor).

        :meth:`bump_version` (called by optimizer steps) and :meth:`set_` raise
        it; backward then refuses a graph that saved the tensor's array before
        the change, instead of taking gradients at the new values. Writes through
        ``.data`` are not tracked, as in PyTorch.

        >>> import xpgrad
        >>> w = xpgrad.ones(2, requires_grad=True)
        >>> y = (w * w).sum()
        >>> before = w.version
        >>> w.bump_version()
        >>> w.version > before
        True
        >>> y.backward()
        Traceback (most recent call last):
        ...
        RuntimeError: backward through Mul: an input of shape (2,) that it saved ... changed in place ...
        """
        return self._version

    def bump_version(self) -> None:
        """Record that this tensor's array was changed in place (see :attr:`version`)."""
        if _tracing.active is not None:
            _tracing.poison(f"a tensor of shape {self.shape} was changed in place (bump_version, set_ or an "
                            "in-place operation) outside a function marked xpgrad.run_eagerly")
        self._version = next(SEQUENCE)

    def set_(self, source: Any) -> Tensor:
        """Make this tensor hold ``source``'s data (a Tensor or a backend array), without copying; returns self.

        The backend follows the new data. Used to replace parameters in place
        (``Module.to``, loading weights); like PyTorch's ``set_``, it is not
        recorded in the graph.

        >>> import xpgrad
        >>> w = xpgrad.zeros(2)
        >>> w.set_(xpgrad.ones(3)).tolist()
        [1.0, 1.0, 1.0]
        """
        if getattr(type(source), "__xpgrad_tensor__", False):
            self.data, self._backend = source.data, source._backend
        else:
            self._backend = _backend.backend_of(source)
            self.data = source
        self.bump_version()
        return self

    def to(self, backend=None, dtype=None) -> Tensor:
        """Copy to another backend (onto its default device) and/or dtype; returns self when nothing changes.

        The result is a new leaf with the same ``requires_grad`` (gradients do
        not flow back across backends).

        >>> import xpgrad
        >>> xpgrad.tensor([1.0, 2.0]).to("array_api_strict").backend.name
        'array_api_strict'
        """
        target = self._backend if backend is None else _backend.resolve(backend)
        data = self.data
        if backend is not None:  # another backend, or .to(same backend) gathering from another device
            data = target.to_default_device(target.asarray(data))
        if dtype is not None:
            data = target.asarray(data, dtype=dtype)
        if data is self.data:
            return self
        t = Tensor._make(data, target)
        if self.requires_grad and (target.is_floating(data.dtype) or target.is_complex(data.dtype)):
            t.requires_grad = True
        return t

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False, *,
                 grad=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Parameters
        ----------
        gradient : array or Tensor, optional
            The gradient of some scalar with respect to this tensor; may be
            omitted only when this tensor holds a single element (then 1).
            ``grad=`` is the same argument under its former name.
        retain_graph : bool, optional
            Keep the graph so that ``backward`` can run through it again;
            defaults to ``create_graph``.
        create_graph : bool
            Record the backward pass itself, so the gradients can be
            differentiated again: ``.grad`` of the leaves then becomes a
            Tensor with a graph (see :func:`xpgrad.grad`).

        >>> import xpgrad
        >>> x = xpgrad.tensor(3.0, requires_grad=True)
        >>> (x * x).backward()
        >>> float(x.grad)
        6.0
        """
        if grad is not None:
            if gradient is not None:
                raise TypeError("backward(): pass the gradient once, as gradient= (grad= is its former name)")
            gradient = grad
        if create_graph:  # the general walk, which runs each op's backward on tensors (autograd/higher.py)
            _engine.create_graph_backward(self, gradient, retain_graph)
            return
        _backward(self, gradient, bool(retain_graph))
