"""The ``Function`` contract: forward and backward of one op, on backend arrays.

Every differentiable operation, built-in or user-written, is a subclass of
:class:`Function` with two static methods that work on raw backend arrays::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

``Square.apply(t)`` unwraps the tensors, runs ``forward`` and, when gradients are
wanted, records a graph node (the ``ctx``) on the output tensor.
"""

from __future__ import annotations

import contextvars
import functools
import linecache

from ..backend import mixed_place_error
from . import tracing as _tracing
from .tensor import SEQUENCE, Tensor

__all__ = ["Context", "Function", "enable_grad", "is_grad_enabled", "no_grad"]

# Creation order of graph nodes: an op's inputs always come before it, so sorting by it
# gives a topological order without a recursive walk.
_sequence = SEQUENCE
_new = object.__new__
# What an array library raises for inputs it refuses; re-raised naming the xpgrad op (see _op_error).
LIBRARY_ERRORS = (ValueError, TypeError, IndexError, ArithmeticError, RuntimeError)
_SEQUENCES = (list, tuple)  # what a caller might wrongly pass tensors in
_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("xpgrad_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph.

    >>> is_grad_enabled()
    True
    """
    return _grad_enabled.get()


class _GradMode:
    """Context manager and decorator that sets grad mode on entry and restores it on exit."""

    _enabled = True

    def __enter__(self):
        self._token = _grad_enabled.set(self._enabled)
        return self

    def __exit__(self, *exc):
        _grad_enabled.reset(self._token)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Record no graph inside the block or decorated function (evaluation, updates).

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> with xpgrad.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _enabled = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a :class:`no_grad` block.

    >>> import xpgrad
    >>> with xpgrad.no_grad(), xpgrad.enable_grad():
    ...     xpgrad.is_grad_enabled()
    True
    """

    _enabled = True


class Context:
    """What a :class:`Function` keeps between ``forward`` and ``backward``; also the graph node.

    Attributes set by the engine: ``xp`` (the array namespace of the inputs),
    ``backend`` (the :class:`~xpgrad.backend.Backend`), ``needs_input_grad``
    (one bool per positional argument). Anything else may be stored as an
    attribute in ``forward``.
    """

    __slots__ = ("xp", "backend", "needs_input_grad", "saved_tensors", "fn", "parents", "freed", "seq", "__dict__")

    #: True while ``backward`` runs on tensors to record a differentiable gradient (``create_graph=True``,
    #: :func:`xpgrad.grad`): ``xp`` is then :mod:`xpgrad.array_api`, ``saved_tensors`` hold the tensors the
    #: saved arrays came from and ``parents`` the op's arguments, from which an intermediate can be rebuilt.
    create_graph = False

    def save_for_backward(self, *arrays):
        """Keep arrays needed by ``backward``; read them back as ``ctx.saved_tensors``."""
        self.saved_tensors = arrays

    def release(self):
        """Drop saved arrays once backward has run (the graph is then spent)."""
        self.saved_tensors = ()
        self.parents = ()
        if self.__dict__:
            self.__dict__.clear()
        self.freed = True


class FunctionMeta(type):
    def __repr__(cls):
        return f"<xpgrad Function {cls.__name__}>"


class Function(metaclass=FunctionMeta):
    """Base class of differentiable operations; subclass it to add your own.

    ``forward(ctx, *args, **kwargs)`` receives backend arrays in place of the
    tensors (other arguments, such as Python scalars, pass through) and returns
    one backend array.  ``backward(ctx, grad)`` receives the gradient of the
    output and returns one gradient per positional argument of ``forward``
    (a single array when there is one; ``None`` for arguments that take no
    gradient).  Gradients may keep the broadcast shape of the output: the
    engine sums them down to each input's shape.

    Examples
    --------
    >>> import xpgrad
    >>> class Cube(xpgrad.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x * x * grad
    >>> t = xpgrad.tensor(2.0, requires_grad=True)
    >>> Cube.apply(t).backward()
    >>> float(t.grad)
    12.0
    """

    #: Set to True when ``backward`` returns arrays it has just allocated, one per input (never
    #: the incoming gradient itself, a view of it or a broadcast view). The engine then hands
    #: them to leaf tensors as ``.grad`` without a defensive copy.
    owns_grads = False

    #: Under ``create_graph=True`` a saved floating-point array that is neither an input nor the output
    #: would be a constant in the gradient's graph, so such an op is refused; set this to True when the
    #: ones you save are only compared (masks) or are rebuilt in ``backward`` when ``ctx.create_graph``.
    create_graph_safe = False

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on tensors (and scalars) and record it in the graph when needed."""
        # The per-op hot path: one pass over the arguments, then the context and the result
        # are filled in directly (no helper calls).
        arrays = list(args)
        backend = needs = None
        i = 0
        for a in args:
            if isinstance(a, Tensor):
                arrays[i] = a.data
                if backend is None:
                    backend = a._backend
                    first = a
                elif a._backend is not backend or (backend.multi_device and a.data.device != first.data.device):
                    raise mixed_place_error(cls.__name__, (backend, first.data), (a._backend, a.data))
                if a.requires_grad:
                    if needs is None:
                        needs = [False] * len(args)
                    needs[i] = True
            elif type(a) in _SEQUENCES and a and isinstance(a[0], Tensor):
                raise TypeError(f"{cls.__name__}: pass tensors as separate arguments, not a {type(a).__name__}")
            i += 1
        if backend is None:
            raise TypeError(f"{cls.__name__} needs at least one xpgrad.Tensor argument; "
                            f"got {', '.join(type(a).__name__ for a in args)}")
        ctx = _new(Context)
        ctx.xp = backend.xp
        ctx.backend = backend
        ctx.needs_input_grad = needs
        try:  # free when nothing fails (Python 3.11's zero-cost exceptions)
            out = cls.forward(ctx, *arrays, **kwargs)
        except LIBRARY_ERRORS as e:
            if _raised_by_xpgrad(e):
                raise
            raise _op_error(cls, args, e) from e
        result = _new(Tensor)
        result.data = out
        result.grad = None
        result._backend = backend
        result._version = 0
        if needs is not None and _grad_enabled.get():
            ctx.fn = cls
            ctx.parents = args
            ctx.freed = False
            ctx.seq = next(_sequence)
            result.requires_grad = True
            result._ctx = ctx
        else:
            result.requires_grad = False
            result._ctx = None
        if _tracing.active is not None:  # xpgrad.compile is recording this step
            _tracing.active.op(cls, ctx, args, kwargs, result)
        return result


def apply_three(cls, *args, **kwargs):
    """:meth:`Function.apply` unrolled for three arguments; a Function uses it as ``apply = classmethod(apply_three)``.

    Takes the short road when there are three positional arguments, the first two Tensors of one
    single-device backend and the third one too or None (a layer's input, weight and bias: the
    dense-layer ops, once per layer and step); anything else goes the general way. The context, the
    result, the graph node and the tracing hook are exactly those of :meth:`Function.apply`.
    """
    if len(args) != 3 or kwargs:
        return _apply(cls, *args, **kwargs)
    x, w, b = args
    if not (isinstance(x, Tensor) and isinstance(w, Tensor)):
        return _apply(cls, *args)
    backend = x._backend
    if w._backend is not backend or backend.multi_device:
        return _apply(cls, *args)
    if b is None:
        bd, rb = None, False
    elif isinstance(b, Tensor) and b._backend is backend:
        bd, rb = b.data, b.requires_grad
    else:
        return _apply(cls, *args)
    rx, rw = x.requires_grad, w.requires_grad
    needs = [rx, rw, rb] if rx or rw or rb else None
    ctx = _new(Context)
    ctx.xp = backend.xp
    ctx.backend = backend
    ctx.needs_input_grad = needs
    try:
        out = cls.forward(ctx, x.data, w.data, bd)
    except LIBRARY_ERRORS as e:
        if _raised_by_xpgrad(e):
            raise
        raise _op_error(cls, args, e) from e
    result = _new(Tensor)
    result.data = out
    result.grad = None
    result._backend = backend
    result._version = 0
    if needs is not None and _grad_enabled.get():
        ctx.fn = cls
        ctx.parents = args
        ctx.freed = False
        ctx.seq = next(_sequence)
        result.requires_grad = True
        result._ctx = ctx
    else:
        result.requires_grad = False
        result._ctx = None
    if _tracing.active is not None:
        _tracing.active.op(cls, ctx, args, {}, result)
    return result


_apply = Function.apply.__func__  # type: ignore[attr-defined]  # the general apply, unbound from the class


def _raised_by_xpgrad(error: BaseException) -> bool:
    """Whether xpgrad raised ``error`` itself (a ``raise`` in xpgrad's code), so it already names the op."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or not tb.tb_frame.f_globals.get("__name__", "").startswith("xpgrad."):
        return False
    return linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).lstrip().startswith("raise")


def _op_error(fn, args, error: BaseException) -> Exception:
    """The array library's error, re-raised naming the xpgrad op and its inputs' shapes and dtypes."""
    inputs = ", ".join(f"shape {a.shape} {a.dtype}" if isinstance(a, Tensor) else repr(a) for a in args)
    where = next((a.backend.name for a in args if isinstance(a, Tensor)), "array")
    kind = TypeError if isinstance(error, TypeError) else ValueError
    return kind(f"{fn.__name__}: the {where} library refused the inputs ({inputs}): {error}")
