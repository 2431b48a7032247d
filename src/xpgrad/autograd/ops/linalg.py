"""Linear algebra of the main namespace: matmul, matrix_transpose, tensordot, vecdot; the fused dense-layer map.

The ``linalg`` extension's other functions live in ``linalg_ext.py``,
``linalg_decompositions.py`` and ``linalg_norms.py``. Gradients with respect
to complex inputs follow PyTorch's convention (conjugate Wirtinger): for
C = A B, dA = dC Bᴴ and dB = Aᴴ dC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..function import Function, apply_three
from . import arguments as _arg
from .nondiff import conj as _conj

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["linear", "matmul", "matrix_transpose", "tensordot", "vecdot"]


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
        if ctx.backend.is_complex(a.dtype) or ctx.backend.is_complex(b.dtype):  # cached lookups: dA = g Bᴴ
            a, b = _conj(ctx, a), _conj(ctx, b)
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


class MatrixTranspose(Function):
    @staticmethod
    def forward(ctx, a):
        return a.mT

    @staticmethod
    def backward(ctx, g):
        return g.mT


class TensorDot(Function):
    """Contraction over ``axes1`` of x1 and ``axes2`` of x2 (normalised, non-negative)."""

    @staticmethod
    def forward(ctx, a, b, axes1=(), axes2=()):
        ctx.save_for_backward(a, b)
        ctx.axes = axes1, axes2
        return ctx.xp.tensordot(a, b, axes=(list(axes1), list(axes2)))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = ctx.xp
        axes1, axes2 = ctx.axes
        free1 = [i for i in range(a.ndim) if i not in axes1]
        free2 = [i for i in range(b.ndim) if i not in axes2]
        na, nb = ctx.needs_input_grad
        ga = gb = None
        # The contracted axes left in each product come in the other input's axis order.
        if na:  # contract g's x2 part with conj(x2)'s free axes: axes come out as free1 + (axes1 in x2's order)
            ga = xp.tensordot(g, _conj(ctx, b), axes=(list(range(len(free1), g.ndim)), free2))
            ga = xp.permute_dims(ga, _inverse(free1 + [axes1[axes2.index(j)] for j in sorted(axes2)]))
        if nb:  # contract conj(x1)'s free axes with g's x1 part: axes come out as (axes2 in x1's order) + free2
            gb = xp.tensordot(_conj(ctx, a), g, axes=(free1, list(range(len(free1)))))
            gb = xp.permute_dims(gb, _inverse([axes2[axes1.index(i)] for i in sorted(axes1)] + free2))
        return ga, gb


def _inverse(order: list[int]) -> tuple[int, ...]:
    """The permutation that puts axes listed in ``order`` back in their original places."""
    return tuple(order.index(i) for i in range(len(order)))


class VecDot(Function):
    """Σ_k conj(x1_k) x2_k along a negative ``axis``: d x1 = conj(g) x2, d x2 = x1 g."""

    @staticmethod
    def forward(ctx, a, b, axis=-1):
        ctx.save_for_backward(a, b)
        ctx.axis = axis
        return ctx.xp.vecdot(a, b, axis=axis)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = ctx.xp.expand_dims(g, axis=ctx.axis)
        na, nb = ctx.needs_input_grad
        return (_conj(ctx, g) * b if na else None), (a * g if nb else None)


class _Dense(Function):
    """The dense-layer ops: (x, weight, bias) in, one array out, applied once per layer and step."""

    owns_grads = True  # dx is new; dW and db are new or the weight's own gradient slot (see _affine_grads)
    apply = classmethod(apply_three)  # Function.apply without the general argument loop


class Linear(_Dense):
    """y = x Wᵀ + b in one node, W of shape (out, in): one matmul forward, two matmuls and a sum backward."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.saved_tensors = (x, weight)
        y = _affine(ctx, x, weight)
        if bias is not None:
            y += bias  # y is a fresh array; adding in place saves one allocation
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return _affine_grads(ctx, x, w, g)


class LinearReLU(_Dense):
    """y = max(0, x Wᵀ + b) in one node; the gradient passes where y > 0."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        y = ctx.backend.bias_relu_(_affine(ctx, x, weight), bias)  # bias and max on the fresh product, in place
        ctx.saved_tensors = (x, weight, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        return _affine_grads(ctx, x, w, ctx.backend.relu_grad(g, y))


def _affine(ctx, x, w):
    """x Wᵀ, with the shapes and dtypes checked (NumPy would promote silently, strict refuse: one message)."""
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        _shape_error(x, w)
    if x.dtype is not w.dtype and x.dtype != w.dtype:
        raise TypeError(f"linear: x has dtype {x.dtype} but weight has dtype {w.dtype}; cast x first, e.g. "
                        "x.astype(weight.dtype) (or a model's weights with model.to(dtype=...))")
    # w.T is a view; BLAS reads it through its transpose flag, so this costs the same as x @ W with W (in, out).
    return ctx.backend.mm(x, w.T) if x.ndim == 2 else x @ w.T


def _affine_grads(ctx, x, w, g):
    """(dx, dW, db) of y = x Wᵀ + b: g W, gᵀ x (rows folded together) and Σ_rows g, each only if needed.

    dW and db go straight into the parameter's gradient slot (:class:`xpgrad.FlatBuffer`) when the
    engine would copy them there anyway (a leaf whose ``.grad`` is still None), so they cost no copy.
    """
    need, backend = ctx.needs_input_grad, ctx.backend
    gx = None
    if need[0]:
        gx = backend.mm(g, w) if g.ndim == 2 else g @ w
    if x.ndim != 2:  # fold leading axes into rows: (..., in) -> (rows, in)
        xp = ctx.xp
        x, g = xp.reshape(x, (-1, x.shape[-1])), xp.reshape(g, (-1, g.shape[-1]))
    gw = gb = None
    if need[1]:
        slot = _free_slot(ctx.parents[1], g)
        gw = backend.mm(g.T, x) if slot is None else backend.matmul_into(g.T, x, slot)
    if len(need) > 2 and need[2]:
        slot = _free_slot(ctx.parents[2], g)
        gb = backend.sum_rows(g) if slot is None else backend.sum_rows_into(g, slot)
    return gx, gw, gb


def _free_slot(p, g):
    """``p``'s empty gradient slot, where its whole gradient may be written, or None.

    Only a leaf whose ``.grad`` is None, with a slot of its own shape and of the dtype of ``g`` (the
    engine then takes the slot as the gradient, :func:`~xpgrad.autograd.engine.accumulate_leaf`).
    """
    if p.grad is None:
        slot = getattr(p, "_grad_slot", None)
        if slot is not None and p._ctx is None and slot.shape == p.data.shape and (
                slot.dtype is g.dtype or slot.dtype == g.dtype):
            return slot
    return None


def _shape_error(x, w):
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(w.shape)}")
    raise ValueError(f"linear: x has {x.shape[-1] if x.ndim else 0} features (shape {tuple(x.shape)}) but weight "
                     f"of shape {tuple(w.shape)} (out_features, in_features) expects {w.shape[1]}")


def matmul(x1: Tensor, x2: Tensor, /) -> Tensor:
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


def matrix_transpose(x: Tensor, /) -> Tensor:
    """Swap the last two axes: ``y[..., i, j] = x[..., j, i]`` (the gradient is transposed back).

    >>> import xpgrad
    >>> xpgrad.matrix_transpose(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    x = _arg.tensor("matrix_transpose", x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: x must have at least 2 dimensions, got shape {tuple(x.shape)}; "
                         "use x[:, None] or reshape to make a matrix")
    return MatrixTranspose.apply(x)


def tensordot(x1: Tensor, x2: Tensor, /, *, axes: int | tuple[Sequence[int], Sequence[int]] = 2) -> Tensor:
    """Tensor contraction: ``y[free1, free2] = Σ_k x1[free1, k] x2[k, free2]`` over the paired ``axes``.

    ``axes=N`` pairs the last N axes of ``x1`` with the first N of ``x2``;
    ``axes=(axes1, axes2)`` pairs them explicitly. The gradient of each input
    contracts ``g`` with the (conjugated) other input over its free axes.

    >>> import xpgrad
    >>> a = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> float(xpgrad.tensordot(a, a))  # Σ a_ij²
    30.0
    >>> xpgrad.tensordot(a, a, axes=([0], [1])).tolist()  # aᵀ aᵀ
    [[7.0, 15.0], [10.0, 22.0]]
    """
    x1, x2 = _arg.tensor("tensordot", x1, "x1"), _arg.tensor("tensordot", x2, "x2")
    if isinstance(axes, (tuple, list)) and len(axes) == 2 and all(isinstance(s, (tuple, list)) for s in axes):
        axes1 = _arg.axes("tensordot", tuple(axes[0]), x1.ndim) if len(axes[0]) else ()
        axes2 = _arg.axes("tensordot", tuple(axes[1]), x2.ndim) if len(axes[1]) else ()
        if len(axes1) != len(axes2):
            raise ValueError(f"tensordot: axes {axes!r} pairs {len(axes1)} axes of x1 with {len(axes2)} of x2; "
                             "give two sequences of the same length")
    elif isinstance(axes, (tuple, list)):
        raise TypeError(f"tensordot: axes must be an int or a pair of sequences of ints, got {axes!r}")
    else:
        n = _arg.index("tensordot", axes, "axes")
        if n < 0 or n > min(x1.ndim, x2.ndim):
            raise ValueError(f"tensordot: axes={n} must be in [0, {min(x1.ndim, x2.ndim)}] for shapes "
                             f"{tuple(x1.shape)} and {tuple(x2.shape)}")
        axes1, axes2 = tuple(range(x1.ndim - n, x1.ndim)), tuple(range(n))
    for i, j in zip(axes1, axes2, strict=True):
        if x1.shape[i] != x2.shape[j]:
            raise ValueError(f"tensordot: axis {i} of x1 (size {x1.shape[i]}) and axis {j} of x2 (size "
                             f"{x2.shape[j]}) are contracted together and must have the same size")
    return TensorDot.apply(x1, x2, axes1=axes1, axes2=axes2)


def vecdot(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
    """Dot product along ``axis``: ``y = Σ_k conj(x1_k) x2_k`` (other axes broadcast).

    Gradients: dx1 = conj(g) x2 and dx2 = x1 g (x2 and x1 for real inputs).

    >>> import xpgrad
    >>> xpgrad.vecdot(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]]), xpgrad.tensor([1.0, 1.0])).tolist()
    [3.0, 7.0]
    """
    x1, x2 = _arg.tensor("vecdot", x1, "x1"), _arg.tensor("vecdot", x2, "x2")
    n = min(x1.ndim, x2.ndim)
    a = _arg.index("vecdot", axis, "axis")
    if a >= 0 and x1.ndim == x2.ndim:
        a -= n
    if not -n <= a <= -1 or n == 0:
        raise ValueError(f"vecdot: axis {axis} must be in [-{n}, -1] for shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)} (counted from the last axis)")
    if x1.shape[a] != x2.shape[a]:
        raise ValueError(f"vecdot: axis {axis} has size {x1.shape[a]} in x1 but {x2.shape[a]} in x2; the "
                         "contracted axis must have the same size in both")
    return VecDot.apply(x1, x2, axis=a)


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
