"""Linear algebra: matrix products and the fused affine map of a dense layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..function import Function

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["linear", "matmul"]


class MatMul(Function):
    owns_grads = True

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul needs operands with at least 1 dimension, got shapes {a.shape} and {b.shape}")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        na, nb = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # dot product
            return (g * b if na else None), (g * a if nb else None)
        if a.ndim == 1:  # (n) @ (..., n, m) -> (..., m)
            ga = xp.sum(xp.expand_dims(g, axis=-2) * b, axis=-1) if na else None
            gb = xp.expand_dims(a, axis=-1) * xp.expand_dims(g, axis=-2) if nb else None
            return ga, gb
        if b.ndim == 1:  # (..., n, m) @ (m) -> (..., n)
            ga = xp.expand_dims(g, axis=-1) * b if na else None
            gb = a.mT @ g if (nb and a.ndim == 2) else (
                xp.sum(a * xp.expand_dims(g, axis=-1), axis=-2) if nb else None)
            return ga, gb
        return (g @ b.mT if na else None), (a.mT @ g if nb else None)


class Linear(Function):
    """y = x Wᵀ + b in one node, W of shape (out, in): one matmul forward, two matmuls and a sum backward."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        return _affine(x, weight, bias)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return _affine_grads(ctx, x, w, g)


class LinearReLU(Function):
    """y = max(0, x Wᵀ + b) in one node; the gradient passes where y > 0."""

    owns_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        y = ctx.xp.maximum(_affine(x, weight, bias), 0.0)
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        return _affine_grads(ctx, x, w, ctx.backend.masked(g, y > 0))


def _affine(x, w, b):
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        _shape_error(x, w)
    if x.dtype is not w.dtype and x.dtype != w.dtype:  # NumPy would promote silently, strict refuse: one message
        raise TypeError(f"linear: x has dtype {x.dtype} but weight has dtype {w.dtype}; cast x first, e.g. "
                        "x.astype(weight.dtype) (or a model's weights with model.to(dtype=...))")
    # w.T is a view; BLAS reads it through its transpose flag, so this costs the same as x @ W with W (in, out).
    y = x @ w.T
    if b is not None:
        y += b  # y is a fresh array; adding in place saves one allocation
    return y


def _affine_grads(ctx, x, w, g):
    """(dx, dW, db) of y = x Wᵀ + b: g W, gᵀ x (rows folded together) and Σ_rows g, each only if needed."""
    xp = ctx.xp
    need = ctx.needs_input_grad
    g2 = g
    if x.ndim != 2:  # fold leading axes into rows: (..., in) -> (rows, in)
        x, g2 = xp.reshape(x, (-1, x.shape[-1])), xp.reshape(g, (-1, g.shape[-1]))
    return (g @ w if need[0] else None, g2.T @ x if need[1] else None,
            xp.sum(g2, axis=0) if len(need) > 2 and need[2] else None)


def _shape_error(x, w):
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(w.shape)}")
    raise ValueError(f"linear: x has {x.shape[-1] if x.ndim else 0} features (shape {tuple(x.shape)}) but weight "
                     f"of shape {tuple(w.shape)} (out_features, in_features) expects {w.shape[1]}")


def matmul(x1, x2):
    """Matrix product ``x1 @ x2`` (batched over leading axes, 1-D operands as in NumPy).

    For C = A B the gradients are dA = dC Bᵀ and dB = Aᵀ dC.

    >>> import xpgrad
    >>> a = xpgrad.tensor([[1.0, 2.0]])
    >>> b = xpgrad.tensor([[3.0], [4.0]])
    >>> xpgrad.matmul(a, b).tolist()
    [[11.0]]
    """
    for name, x in (("x1", x1), ("x2", x2)):
        if not hasattr(x, "shape"):  # a Tensor or a raw array; the standard's matmul takes no scalars
            raise TypeError(f"matmul: {name} must be a Tensor, got {type(x).__name__}; use multiply (*) for scalars")
    return MatMul.apply(x1, x2)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """The affine map y = x Wᵀ + b of a dense layer, fused into one graph node.

    The convention of ``torch.nn.functional.linear``: ``x`` has shape
    (..., in), ``weight`` (out, in) and ``bias`` (out,), so a PyTorch
    ``nn.Linear`` weight is used as it is.
    Gradients: dx = dy W, dW = dyᵀ x (leading axes of x folded into rows),
    db = Σ_rows dy. With ``activation="relu"`` the node computes
    max(0, x Wᵀ + b) and masks dy by the positive outputs first, saving a node
    and an array per layer. ``x`` and ``weight`` must have the same dtype.

    >>> import xpgrad
    >>> x = xpgrad.tensor([[1.0, 2.0]])
    >>> w = xpgrad.tensor([[1.0, 1.0], [-1.0, -1.0]])  # (out, in)
    >>> xpgrad.linear(x, w, xpgrad.tensor([0.5, 0.5])).tolist()
    [[3.5, -2.5]]
    >>> xpgrad.linear(x, w, xpgrad.tensor([0.5, 0.5]), activation="relu").tolist()
    [[3.5, 0.0]]
    >>> xpgrad.linear(xpgrad.ones((4, 2)), xpgrad.ones((3, 2))).shape
    (4, 3)
    """
    for name, t in (("x", x), ("weight", weight)):
        if not hasattr(t, "shape"):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(t).__name__}")
    if activation is None:
        return Linear.apply(x, weight, bias)
    if activation != "relu":
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}; apply other "
                         "activations after the layer")
    return LinearReLU.apply(x, weight, bias)
