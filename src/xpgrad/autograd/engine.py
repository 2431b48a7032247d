"""Reverse-mode traversal: topological order, chain rule, gradient accumulation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import tracing as _tracing

if TYPE_CHECKING:  # the engine walks tensors but never makes them, so tensor.py can import it
    from .tensor import Tensor

__all__ = ["accumulate_leaf", "backward", "unbroadcast"]

#: ``backward(create_graph=True)``'s walk, ``(root, gradient, retain_graph) -> None``: autograd/higher.py sets it
#: when imported (it imports this module, so this one cannot import it); ``import xpgrad`` imports it.
create_graph_backward: Any = None


def unbroadcast(xp, grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy-style broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    if extra:
        grad = xp.reshape(grad, shape)
    return grad


def _graph_nodes(root):
    """Recorded (non-leaf) tensors reachable from ``root``, outputs before inputs.

    Every node carries its creation number and an op's inputs are created
    before its output, so sorting by that number, newest first, is a valid
    reverse topological order; the walk itself uses an explicit stack, so
    deep graphs do not touch the recursion limit. A node whose graph was
    already spent raises here, before any gradient is touched.
    """
    nodes, seen, stack = [], {id(root)}, [root]
    push, pop, see = stack.append, stack.pop, seen.add
    while stack:
        node = pop()
        ctx = node._ctx
        if ctx.freed:
            raise RuntimeError(
                f"trying to backward through a graph a second time (through {ctx.fn.__name__}); its saved "
                "arrays were freed after the first backward. Pass retain_graph=True to the first "
                "backward() if you need to call it again.")
        seq = ctx.seq
        nodes.append((seq, node))  # sequence numbers are unique, so nodes are never compared
        for p in ctx.parents:
            pctx = getattr(p, "_ctx", _SCALAR)
            if pctx is _SCALAR:
                continue
            if p._version > seq:  # changed after this node was recorded: rebound, or changed in place?
                p = _state_at(ctx, p)
                pctx = p._ctx
            if pctx is not None and id(p) not in seen:
                see(id(p))
                push(p)
    nodes.sort(reverse=True)
    return nodes


def _state_at(ctx, tensor):
    """The state ``tensor`` had when ``ctx`` was recorded (an in-place operation on a graph rebinds a tensor).

    A rebound tensor keeps its former states in ``_history`` as (sequence number of the change, state);
    the node's parents are pointed at the right one, once. Then the saved-array check runs as before.
    """
    seq = ctx.seq
    for changed_at, state in getattr(tensor, "_history", None) or ():
        if changed_at > seq:
            ctx.parents = tuple(state if q is tensor else q for q in ctx.parents)
            tensor = state
            break
    if tensor._version > seq:
        _check_unchanged(ctx, tensor)
    return tensor


_SCALAR = object()  # what a non-tensor argument of an op (a Python number) gives for its graph node


def _check_unchanged(ctx, tensor):
    """Refuse to differentiate with an array that was changed in place after it was saved."""
    if any(saved is tensor.data for saved in getattr(ctx, "saved_tensors", ())):
        raise RuntimeError(
            f"backward through {ctx.fn.__name__}: an input of shape {tensor.shape} that it saved to compute the "
            "gradient was changed in place after the forward pass (by an optimizer step, set_() or an in-place "
            "operation; see Tensor.version), so the gradient would be taken at the new values. Call backward() "
            "before changing it, or run the forward pass again.")


def _shape_error(ctx, parent, pg):
    i = next(i for i, p in enumerate(ctx.parents) if p is parent)
    raise RuntimeError(f"{ctx.fn.__name__}.backward returned a gradient of shape {tuple(pg.shape)} for argument {i}, "
                       f"which has shape {tuple(parent.data.shape)}; a gradient must have the argument's shape (or a "
                       "shape that broadcasts to it, which the engine sums down)")


def _to_dtype(backend, grad, dtype):
    """``grad`` in an input's ``dtype``: each input gets its gradient in its own dtype (real part for a real input)."""
    xp = backend.xp
    if backend.is_complex(grad.dtype) and not backend.is_complex(dtype):
        grad = xp.real(grad)
    return grad if grad.dtype == dtype else xp.astype(grad, dtype)


def _initial_grad(root, grad):
    b = root._backend
    if grad is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a tensor with one element; this one has shape {root.shape}. "
                "Reduce it first (e.g. loss.sum() or loss.mean()) or pass grad= of the same shape.")
        if b.is_complex(root.data.dtype):
            raise RuntimeError("backward() without a gradient needs a real output; this one is complex "
                               f"({root.dtype}). Differentiate a real function of it, e.g. abs(z) or real(z), "
                               "or pass grad=")
        return b.xp.ones_like(root.data)  # on the root's device, in its dtype
    g = grad.data if getattr(type(grad), "__xpgrad_tensor__", False) else b.asarray(grad, dtype=root.data.dtype)
    if tuple(g.shape) != root.shape:
        raise ValueError(f"backward(): grad has shape {tuple(g.shape)} but the tensor has shape {root.shape}")
    return g


def accumulate_leaf(xp, leaf, pg, fresh: bool) -> None:
    """Add ``pg`` (already in the leaf's shape and dtype) to ``leaf.grad``.

    ``.grad`` must be memory of the leaf's own, safe to update in place: ``pg`` may be a read-only
    broadcast view or an array handed to another input too, unless ``fresh`` (the Function declares
    ``owns_grads``, or the engine reduced it). A leaf in a flat buffer (:class:`xpgrad.FlatBuffer`)
    has a gradient slot: the gradient is written there, so the optimizer can update every parameter
    of the buffer in one call; a backward that computed straight into the slot costs no copy.
    """
    grad = leaf.grad
    if grad is None:
        slot = getattr(leaf, "_grad_slot", None)
        if slot is not None and (pg is slot or _fits(slot, leaf.data)):
            if pg is not slot:
                slot[...] = pg
            leaf.grad = slot
        elif fresh:
            leaf.grad = pg
        else:
            leaf.grad = xp.astype(pg, leaf.data.dtype, copy=True)
    elif grad is getattr(leaf, "_grad_slot", None):
        grad += pg  # the slot is the leaf's own memory: accumulate in place
    else:
        leaf.grad = grad + pg


def _fits(slot, data) -> bool:
    """Whether a gradient slot still matches its tensor (``Module.to`` or ``p.data = ...`` may have changed it)."""
    return slot.shape == data.shape and slot.dtype == data.dtype and slot.device == data.device


def _fit(ctx, parent, pg, backend):
    """``pg`` summed down to ``parent``'s shape (undoing broadcasting) and in its dtype; (array, reduced?)."""
    data = parent.data
    fresh = False
    if pg.shape != data.shape:
        try:
            pg = unbroadcast(backend.xp, pg, data.shape)
        except (ValueError, TypeError, IndexError):
            _shape_error(ctx, parent, pg)
        if pg.shape != data.shape:
            _shape_error(ctx, parent, pg)
        fresh = True  # the reduction made a new array
    if pg.dtype != data.dtype:  # e.g. a real input of a complex op: its gradient is the real part
        pg = _to_dtype(backend, pg, data.dtype)  # a view when pg is a fresh complex array
    return pg, fresh


def backward(root: Tensor, grad=None, retain_graph: bool = False) -> None:
    """Apply the chain rule from ``root`` down to every leaf that requires grad.

    Leaves accumulate into ``.grad`` (summing with what is already there);
    interior gradients live in a dictionary only until their node is processed.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the computation "
                           "had requires_grad=True (or it ran under no_grad())")
    g0 = _initial_grad(root, grad)
    if _tracing.active is not None:  # xpgrad.compile records the backward pass, which then runs as usual
        _tracing.active.backward(root, grad, retain_graph)
    backend = root._backend
    xp = backend.xp
    if root._ctx is None:
        accumulate_leaf(xp, root, g0, False)
        return
    grads = {id(root): g0}
    pop, get = grads.pop, grads.get
    for _, node in _graph_nodes(root):
        g = pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        fn = ctx.fn
        in_grads = fn.backward(ctx, g)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,) if not isinstance(in_grads, list) else tuple(in_grads)
        owned = fn.owns_grads
        # needs_input_grad is True exactly for the arguments that are tensors requiring grad;
        # a backward may leave out trailing None gradients (zip stops at the shortest)
        for parent, pg, needed in zip(ctx.parents, in_grads, ctx.needs_input_grad):  # noqa: B905 (hot: no kwargs)
            if pg is None or not needed:
                continue
            if parent._ctx is None:  # a leaf: accumulate_leaf, inlined (once per parameter and step)
                grad = parent.grad
                if grad is None:
                    slot = getattr(parent, "_grad_slot", None)
                    if pg is slot:  # the backward wrote it into the slot (shape and dtype checked there)
                        parent.grad = slot
                        continue
                data = parent.data
                fresh = owned
                if pg.shape != data.shape or (pg.dtype is not data.dtype and pg.dtype != data.dtype):
                    pg, reduced = _fit(ctx, parent, pg, backend)
                    fresh = reduced or owned
                if grad is not None:
                    accumulate_leaf(xp, parent, pg, fresh)
                elif slot is not None and _fits(slot, data):
                    slot[...] = pg
                    parent.grad = slot
                else:
                    parent.grad = pg if fresh else xp.astype(pg, data.dtype, copy=True)
            else:
                data = parent.data
                if pg.shape != data.shape or (pg.dtype is not data.dtype and pg.dtype != data.dtype):
                    pg = _fit(ctx, parent, pg, backend)[0]
                key = id(parent)
                prev = get(key)
                grads[key] = pg if prev is None else prev + pg
        if not retain_graph:  # Context.release, inlined
            ctx.saved_tensors = ctx.parents = ()
            ctx.freed = True
            if ctx.__dict__:
                ctx.__dict__.clear()
