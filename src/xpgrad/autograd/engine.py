"""Reverse-mode traversal: topological order, chain rule, gradient accumulation."""

from __future__ import annotations

from .tensor import Tensor

__all__ = ["backward", "unbroadcast"]


def unbroadcast(xp, grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy-style broadcasting."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    if extra:
        grad = xp.reshape(grad, shape)
    return grad


def _topological_order(root):
    """Nodes reachable from ``root`` that need a gradient, each after all of its inputs."""
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx.freed:
                raise RuntimeError(
                    f"trying to backward through a graph a second time (through {ctx.fn.__name__}); its saved "
                    "arrays were freed after the first backward. Pass retain_graph=True to the first "
                    "backward() if you need to call it again.")
            for p in ctx.parents:
                if isinstance(p, Tensor) and p.requires_grad and id(p) not in seen:
                    stack.append((p, False))
    return order


def _initial_grad(root, grad):
    b = root._backend
    if grad is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a tensor with one element; this one has shape {root.shape}. "
                "Reduce it first (e.g. loss.sum() or loss.mean()) or pass grad= of the same shape.")
        return b.xp.ones(root.data.shape, dtype=root.data.dtype)
    g = grad.data if isinstance(grad, Tensor) else b.asarray(grad, dtype=root.data.dtype)
    if tuple(g.shape) != root.shape:
        raise ValueError(f"backward(): grad has shape {tuple(g.shape)} but the tensor has shape {root.shape}")
    return g


def backward(root: Tensor, grad=None, retain_graph: bool = False) -> None:
    """Apply the chain rule from ``root`` down to every leaf that requires grad."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the computation "
                           "had requires_grad=True (or it ran under no_grad())")
    xp = root._backend.xp
    order = _topological_order(root)
    grads = {id(root): _initial_grad(root, grad)}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None:  # a leaf: accumulate into .grad
            node.grad = g if node.grad is None else node.grad + g
            continue
        in_grads = ctx.fn.backward(ctx, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for parent, pg in zip(ctx.parents, in_grads):
            if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            pg = unbroadcast(xp, pg, parent.data.shape)
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg
        if not retain_graph:
            ctx.release()
