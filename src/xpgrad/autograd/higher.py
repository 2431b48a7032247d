"""The general graph walk: ``xpgrad.grad``, several outputs, and ``create_graph=True`` (higher-order gradients).

:func:`xpgrad.autograd.engine.backward` is the lean walk of ``loss.backward()``;
this one serves everything else. It starts from several outputs, may stop
at chosen inputs and hand their gradients back instead of accumulating into
``.grad``, and with ``create_graph=True`` it runs every op's own ``backward``
on tensors: the node's context is copied with ``xp`` set to the
differentiable namespace :mod:`xpgrad.array_api`, the saved arrays replaced
by the tensors they came from (an input, or the node's output itself) and
the incoming gradient a tensor, so the same backward code records a graph of
the gradient, which can be differentiated again.

A saved floating-point array that is neither an input nor the output of its
op (an intermediate of the forward pass) would be a constant in that graph
and give wrong second derivatives; such an op must say how to rebuild it
from tensors (:attr:`Function.create_graph_safe`, read ``ctx.create_graph``
in backward), or it raises naming the op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import engine as _engine
from . import tracing as _tracing
from .engine import _graph_nodes, _initial_grad, unbroadcast
from .function import Context, Function, enable_grad
from .tensor import Tensor

__all__ = ["backward_create_graph", "grad", "run_backward"]

_new = object.__new__


class CreateGraphError(RuntimeError):
    """An op whose backward cannot run on tensors was met by a walk with ``create_graph=True``."""


def _unsupported(fn: Any, why: str) -> CreateGraphError:
    return CreateGraphError(
        f"{fn.__name__} does not support create_graph=True: {why}. Differentiate it once (create_graph=False), "
        "or write that part with xpgrad.array_api functions, whose backward runs on tensors")


class _IndexAdd(Function):
    """``out`` with ``values`` added at ``indices`` along ``axis`` (duplicates summed), differentiable in both."""

    @staticmethod
    def forward(ctx, out, values, indices=None, axis=0):
        ctx.indices, ctx.axis = indices, axis
        return ctx.backend.index_add(ctx.xp.asarray(out, copy=True), axis, indices, values)

    @staticmethod
    def backward(ctx, g):  # d out = g; d values = g gathered at the indices
        return g, ctx.xp.take(g, ctx.indices, axis=ctx.axis)


class _AddAlongAxis(Function):
    """``out`` with ``values`` added at ``indices`` along ``axis`` (the scatter of ``take_along_axis``)."""

    @staticmethod
    def forward(ctx, out, values, indices=None, axis=0):
        ctx.indices, ctx.axis = indices, axis
        return ctx.backend.add_along_axis(ctx.xp.asarray(out, copy=True), indices, values, axis)

    @staticmethod
    def backward(ctx, g):
        return g, ctx.xp.take_along_axis(g, ctx.indices, axis=ctx.axis)


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


class _TensorBackend:
    """The node's backend as its backward sees it under ``create_graph``: queries pass through, the
    array helpers a backward calls (masks, scatter-adds, the dense layer's fused sums) become
    differentiable tensor operations, and any other array method refuses, naming the op."""

    _QUERIES = frozenset({"is_complex", "is_floating", "dtype", "owns", "name", "on_host", "multi_device",
                          "default_device"})

    def __init__(self, backend: Any, fn: Any):
        self._b, self._fn = backend, fn

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._b, name)
        if callable(value) and name not in self._QUERIES and not name.startswith("__"):
            raise _unsupported(self._fn, f"its backward calls the backend's array method {name}()")
        return value

    def masked(self, x, keep):
        from .. import array_api as xp
        return x * xp.astype(keep, x.dtype)

    def relu_grad(self, g, y):
        return self.masked(g, y > 0)

    def mm(self, a, b):
        return a @ b

    def matmul_into(self, a, b, out):  # the gradient slot is the engine's business, not this walk's
        return a @ b

    def sum_rows(self, g):
        from .. import array_api as xp
        return xp.sum(g, axis=0)

    def sum_rows_into(self, g, out):
        return self.sum_rows(g)

    def index_add(self, out, axis, indices, values):
        return _IndexAdd.apply(out, values, indices=_raw(indices), axis=axis)

    def add_along_axis(self, out, indices, values, axis):
        return _AddAlongAxis.apply(out, values, indices=_raw(indices), axis=axis)


def _floating(backend, value) -> bool:
    dtype = value.dtype
    return backend.is_floating(dtype) or backend.is_complex(dtype)


def _tensor_context(node: Tensor, ctx: Any) -> Any:
    """A copy of ``ctx`` whose backward computes on tensors, recording a graph (see the module docstring)."""
    backend, fn = ctx.backend, ctx.fn
    from .. import array_api

    by_id = {id(p.data): p for p in ctx.parents if isinstance(p, Tensor)}
    by_id[id(node.data)] = node
    intermediates = []

    def as_tensor(value):
        if isinstance(value, Tensor) or not backend.owns(value):
            return value
        t = by_id.get(id(value))
        if t is not None:
            return t
        if _floating(backend, value):
            intermediates.append(value)
        return Tensor._make(value, backend)  # an index array, a mask or (see below) an intermediate

    proxy: Any = _new(Context)
    proxy.xp = array_api
    proxy.backend = _TensorBackend(backend, fn)
    proxy.needs_input_grad = ctx.needs_input_grad
    proxy.fn = fn
    proxy.parents = ctx.parents
    proxy.freed = False
    proxy.seq = ctx.seq
    proxy.saved_tensors = tuple(as_tensor(a) for a in getattr(ctx, "saved_tensors", ()))
    if ctx.__dict__:
        proxy.__dict__.update((k, as_tensor(v)) for k, v in ctx.__dict__.items())
    proxy.create_graph = True
    if intermediates and not getattr(fn, "create_graph_safe", False):
        shapes = ", ".join(str(tuple(a.shape)) for a in intermediates)
        raise _unsupported(fn, f"it saved intermediate arrays of its forward pass (shapes {shapes}), which "
                               "would be constants in the gradient's graph")
    return proxy


def _fit(ctx, parent: Tensor, pg: Tensor) -> Tensor:
    """The tensor ``pg`` summed down to ``parent``'s shape and in its dtype (the engine's ``_fit``, on tensors)."""
    from .. import array_api

    xp: Any = array_api

    shape = parent.shape
    if pg.shape != shape:
        reduced: Any = None
        try:
            reduced = unbroadcast(xp, pg, shape)
        except (ValueError, TypeError, IndexError):
            pass
        if reduced is None or reduced.shape != shape:
            raise RuntimeError(f"{ctx.fn.__name__}.backward returned a gradient that does not reduce to the "
                               f"shape {shape} of its argument")
        pg = reduced
    dtype = parent.dtype
    if pg.dtype != dtype:
        backend = parent._backend
        if backend.is_complex(pg.dtype) and not backend.is_complex(dtype):
            pg = xp.real(pg)
        if pg.dtype != dtype:
            pg = xp.astype(pg, dtype)
    return pg


def _fit_array(ctx, parent: Tensor, pg: Any) -> Any:
    from .engine import _fit as fit_array

    data = parent.data
    if pg.shape != data.shape or pg.dtype != data.dtype:
        pg = fit_array(ctx, parent, pg, parent._backend)[0]
    return pg


def _reaching(nodes, targets: set[int]) -> set[int]:
    """The ids of the graph's tensors from which some tensor in ``targets`` can be reached (targets included)."""
    reach = set(targets)
    for _, node in reversed(nodes):  # inputs before outputs
        if id(node) in reach:
            continue
        if any(id(p) in reach for p in node._ctx.parents if isinstance(p, Tensor)):
            reach.add(id(node))
    return reach


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Any], *, inputs: Sequence[Tensor] | None,
                 retain_graph: bool, create_graph: bool) -> list[Any] | None:
    """Apply the chain rule from ``roots`` (with gradients ``root_grads``, arrays or tensors).

    With ``inputs`` None, leaves that require grad accumulate into ``.grad`` (a
    tensor with a graph under ``create_graph``); otherwise nothing is
    accumulated and the gradients of ``inputs`` come back in order (None for
    one that no root depends on).
    """
    _tracing.poison("a backward pass with create_graph=True or xpgrad.grad() (not recorded by xpgrad.compile)")
    backend = roots[0]._backend
    grads: dict[int, Any] = {}
    for root, g in zip(roots, root_grads, strict=True):
        if create_graph and not isinstance(g, Tensor):
            g = Tensor._make(g, backend)
        elif not create_graph and isinstance(g, Tensor):
            g = g.data
        prev = grads.get(id(root))
        grads[id(root)] = g if prev is None else prev + g
    nodes: list = []
    seen: set[int] = set()
    for root in roots:
        if root._ctx is not None and id(root) not in seen:
            for item in _graph_nodes(root):
                if id(item[1]) not in seen:
                    seen.add(id(item[1]))
                    nodes.append(item)
    nodes.sort(key=lambda item: item[0], reverse=True)
    wanted = None if inputs is None else {id(t) for t in inputs}
    reach = None if wanted is None else _reaching(nodes, wanted)
    captured: dict[int, Any] = {}
    leaves: dict[int, Tensor] = {}
    for root in roots:
        if root._ctx is None:
            leaves[id(root)] = root
    for _, node in nodes:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if wanted is not None:
            if id(node) in wanted:
                captured[id(node)] = g
            if reach is not None and id(node) not in reach:
                continue
        ctx = node._ctx
        fn = ctx.fn
        if create_graph:
            with enable_grad():
                in_grads = fn.backward(_tensor_context(node, ctx), g)
        else:
            in_grads = fn.backward(ctx, g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,) if not isinstance(in_grads, list) else tuple(in_grads)
        for parent, pg, needed in zip(ctx.parents, in_grads, ctx.needs_input_grad or ()):  # noqa: B905
            if pg is None or not needed or (reach is not None and id(parent) not in reach):
                continue
            if create_graph:
                if not isinstance(pg, Tensor):
                    raise _unsupported(fn, f"its backward returned a {type(pg).__name__}, not a tensor")
                with enable_grad():
                    pg = _fit(ctx, parent, pg)
            else:
                if pg is getattr(parent, "_grad_slot", None):  # written into a parameter's slot: not ours to keep
                    pg = parent._backend.xp.asarray(pg, copy=True)
                pg = _fit_array(ctx, parent, pg)
            if parent._ctx is None:
                leaves[id(parent)] = parent
            key = id(parent)
            prev = grads.get(key)
            if prev is None:
                grads[key] = pg
            else:
                with enable_grad():
                    grads[key] = prev + pg
        if not retain_graph:
            ctx.release()
    if wanted is None:
        for key, leaf in leaves.items():
            if leaf.requires_grad and key in grads:
                _accumulate(leaf, grads[key], create_graph)
        return None
    out = []
    for t in inputs or ():
        g = captured.get(id(t), grads.get(id(t)) if t._ctx is None else None)
        if g is not None and not isinstance(g, Tensor):  # an array that may be shared or a broadcast view: copied
            g = Tensor._make(t._backend.xp.asarray(g, copy=True), t._backend)
        out.append(g)
    return out


def _accumulate(leaf: Tensor, g: Any, create_graph: bool) -> None:
    """Add ``g`` to ``leaf.grad``; under ``create_graph`` the sum is a tensor with a graph."""
    old = leaf.grad
    if not create_graph:
        g = g if old is not None else leaf._backend.xp.asarray(g, copy=True)
        leaf.grad = g if old is None else old + g
        return
    if old is None:
        leaf.grad = g
        return
    with enable_grad():
        leaf.grad = (old if isinstance(old, Tensor) else Tensor._make(old, leaf._backend)) + g


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"grad(): {what} must be a Tensor or a sequence of Tensors, not {type(value).__name__}")


def _root_grad(i: int, out: Tensor, g: Any) -> Any:
    """The gradient that starts the walk at output ``i``: 1 for a one-element real output, else ``g`` checked."""
    if g is None:
        if out.size != 1:
            raise RuntimeError(f"grad(): outputs[{i}] has shape {out.shape}; a gradient can be implied only for an "
                               "output with one element. Pass grad_outputs (one tensor of each output's shape, "
                               "e.g. ones_like(output)) or reduce it first (output.sum())")
        if out._backend.is_complex(out.dtype):
            raise RuntimeError(f"grad(): outputs[{i}] is complex ({out.dtype}); pass grad_outputs, or "
                               "differentiate a real function of it")
        return out._backend.xp.ones_like(out.data)
    if isinstance(g, Tensor):
        if g._backend is not out._backend:
            raise ValueError(f"grad(): grad_outputs[{i}] is on the {g.backend.name} backend but outputs[{i}] is on "
                             f"{out.backend.name}; move it with xpgrad.as_tensor(..., backend=...)")
        data = g.data
    else:
        data = g = out._backend.asarray(g, dtype=out.dtype)
    if tuple(data.shape) != out.shape:
        raise ValueError(f"grad(): grad_outputs[{i}] has shape {tuple(data.shape)} but outputs[{i}] has shape "
                         f"{out.shape}; pass a gradient of the output's shape")
    return g


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, Σᵢ gᵢᵀ ∂outputsᵢ/∂inputs, as a tuple.

    Like ``torch.autograd.grad``: nothing is accumulated into ``.grad``.
    ``grad_outputs`` holds one gradient gᵢ per output (may be omitted, or
    None, for an output with one element, where it is 1). With
    ``create_graph=True`` the gradients are tensors with a graph of their
    own, so they can be differentiated again (Hessian-vector products,
    gradient penalties). ``retain_graph`` defaults to ``create_graph``;
    without it the graph is freed. An input that the outputs do not depend
    on is an error, unless ``allow_unused=True`` (its gradient is then None).

    >>> import xpgrad
    >>> x = xpgrad.tensor(2.0, dtype="float64", requires_grad=True)
    >>> (dy,) = xpgrad.grad(x ** 3, x, create_graph=True)   # 3x² = 12
    >>> (d2y,) = xpgrad.grad(dy, x)                          # 6x = 12
    >>> float(dy), float(d2y), x.grad is None
    (12.0, 12.0, True)
    """
    outs = _as_list(outputs, "outputs")
    ins = _as_list(inputs, "inputs")
    if not outs:
        raise ValueError("grad(): outputs is empty; pass the tensor(s) to differentiate")
    if not ins:
        raise ValueError("grad(): inputs is empty; pass the tensor(s) to differentiate with respect to")
    for what, seq in (("outputs", outs), ("inputs", ins)):
        for i, t in enumerate(seq):
            if not isinstance(t, Tensor):
                raise TypeError(f"grad(): {what}[{i}] is a {type(t).__name__}, not an xpgrad.Tensor")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad(): inputs[{i}] (shape {t.shape}) does not require grad; create it with "
                               "requires_grad=True (or call .requires_grad_()) before computing the outputs")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise RuntimeError(f"grad(): outputs[{i}] (shape {t.shape}) does not require grad: no input of its "
                               "computation requires grad, or it ran under no_grad()")
    if grad_outputs is None or isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        gos = [grad_outputs] if len(outs) == 1 else [None] * len(outs) if grad_outputs is None else None
        if gos is None:
            raise TypeError(f"grad(): {len(outs)} outputs need grad_outputs as a sequence of {len(outs)} gradients")
    else:
        gos = list(grad_outputs)
    if len(gos) != len(outs):
        raise ValueError(f"grad(): {len(outs)} outputs but {len(gos)} grad_outputs; pass one per output (None for "
                         "an output with one element)")
    root_grads = [_root_grad(i, o, g) for i, (o, g) in enumerate(zip(outs, gos, strict=True))]
    backends = {t._backend for t in (*outs, *ins)}
    if len(backends) > 1:
        raise ValueError(f"grad(): outputs and inputs live on different backends ({sorted(b.name for b in backends)})")
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outs, root_grads, inputs=ins, retain_graph=retain_graph, create_graph=create_graph)
    assert result is not None
    for i, (t, g) in enumerate(zip(ins, result, strict=True)):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): inputs[{i}] (shape {t.shape}) was not used to compute the outputs, so it has "
                               "no gradient; pass allow_unused=True to get None for it")
    return tuple(result)


def backward_create_graph(root: Tensor, gradient: Any, retain_graph: bool | None) -> None:
    """``root.backward(gradient, retain_graph, create_graph=True)``: leaves get ``.grad`` as tensors with a graph."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the computation "
                           "had requires_grad=True (or it ran under no_grad())")
    if gradient is None:
        g = _initial_grad(root, None)
    else:
        _initial_grad(root, gradient)  # checks the shape
        g = gradient if isinstance(gradient, Tensor) else root._backend.asarray(gradient, dtype=root.dtype)
    run_backward([root], [g], inputs=None, retain_graph=True if retain_graph is None else retain_graph,
                 create_graph=True)


_engine.create_graph_backward = backward_create_graph  # Tensor.backward(create_graph=True) calls it
