"""The ``linalg`` extension, part 1: products, determinants, inverses and solves, with their gradients.

Batched: every function works on the last two axes (matrices) or the last
axis (vectors) and broadcasts over the leading ones. Gradients with respect to
complex inputs follow PyTorch's convention (conjugate Wirtinger): a holomorphic
f sends ``g * conj(f'(A))`` back, written below with ``Aᴴ = conj(Aᵀ)``.
Decompositions are in ``linalg_decompositions.py``, norms in ``linalg_norms.py``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..function import Function, _op_error
from ..tensor import Tensor
from . import arguments as _arg
from .linalg import matmul
from .nondiff import conj, wrap

__all__ = ["cholesky", "cross", "det", "diagonal", "inv", "matrix_power", "matrix_rank", "outer", "slogdet",
           "solve", "trace"]


def mH(ctx: Any, a: Any) -> Any:
    """The conjugate transpose of the last two axes (the plain transpose on real arrays)."""
    return conj(ctx, a.mT)


def raw(op: str, x: Tensor, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(backend.xp.linalg, x.data, ...)`` outside the graph; a library error names ``op`` and ``x``."""
    try:
        return fn(x.backend.xp.linalg, x.data, *args, **kwargs)
    except (ValueError, TypeError, ArithmeticError, RuntimeError) as e:
        raise _op_error(_Named(op), (x,), e) from e


class _Named:
    def __init__(self, name: str):
        self.__name__ = name


def matrices(op: str, x: Any, *, square: bool = False) -> Tensor:
    """``x`` as a Tensor of at least 2 dimensions (square in the last two when ``square``)."""
    x = _arg.tensor(op, x)
    if x.ndim < 2 or (square and x.shape[-1] != x.shape[-2]):
        what = "a stack of square matrices (..., M, M)" if square else "a stack of matrices (..., M, N)"
        raise ValueError(f"linalg.{op}: x must be {what}, got shape {tuple(x.shape)}")
    return x


class SlogdetResult(NamedTuple):
    """Result of :func:`slogdet`: ``sign`` and ``logabsdet``."""

    sign: Tensor
    logabsdet: Tensor


class Cholesky(Function):
    """A = L Lᴴ. Backward (Murray 2016, as PyTorch): gA = L⁻ᴴ Φ L⁻¹, Φ the Hermitian part of tril(Lᴴ gL)."""

    @staticmethod
    def forward(ctx, a, upper=False):
        out = ctx.xp.linalg.cholesky(a, upper=upper)
        ctx.save_for_backward(mH(ctx, out) if upper else out)
        ctx.upper = upper
        return out

    @staticmethod
    def backward(ctx, g):
        (low,) = ctx.saved_tensors
        xp = ctx.xp
        if ctx.upper:
            g = mH(ctx, g)
        t = xp.tril(mH(ctx, low) @ g)
        phi = 0.5 * (t + mH(ctx, xp.tril(t, k=-1)))  # Hermitian: halved diagonal, lower part mirrored
        low_inv = xp.linalg.inv(low)
        return mH(ctx, low_inv) @ phi @ low_inv


class Cross(Function):
    """y = x1 × x2 along ``axis``: dx1 = conj(x2) × g, dx2 = g × conj(x1)."""

    @staticmethod
    def forward(ctx, a, b, axis=-1):
        ctx.save_for_backward(a, b)
        ctx.axis = axis
        return ctx.xp.linalg.cross(a, b, axis=axis)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp, axis = ctx.xp, ctx.axis
        na, nb = ctx.needs_input_grad
        return (xp.linalg.cross(conj(ctx, b), g, axis=axis) if na else None,
                xp.linalg.cross(g, conj(ctx, a), axis=axis) if nb else None)


class Det(Function):
    """d det(A) / dA = det(A) A⁻ᵀ, so gA = g conj(det) A⁻ᴴ."""

    @staticmethod
    def forward(ctx, a):
        d = ctx.xp.linalg.det(a)
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved_tensors
        xp = ctx.xp
        scale = xp.expand_dims(xp.expand_dims(g * conj(ctx, d), axis=-1), axis=-1)
        return scale * mH(ctx, xp.linalg.inv(a))


class Diagonal(Function):
    """y_k = x[..., r0 + k, c0 + k]; backward puts g back on that diagonal: P diag(g) Qᵀ with 0/1 matrices P, Q."""

    @staticmethod
    def forward(ctx, a, offset=0):
        ctx.shape = a.shape
        ctx.offset = offset
        return ctx.xp.linalg.diagonal(a, offset=offset)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        n, m = ctx.shape[-2:]
        size = g.shape[-1]
        rows = xp.eye(n, size, k=min(ctx.offset, 0), dtype=g.dtype, device=g.device)  # row r0 + k for entry k
        cols = xp.eye(m, size, k=-max(ctx.offset, 0), dtype=g.dtype, device=g.device)  # column c0 + k
        return (rows * xp.expand_dims(g, axis=-2)) @ cols.mT


class Inv(Function):
    """Y = A⁻¹: gA = -Yᴴ g Yᴴ."""

    @staticmethod
    def forward(ctx, a):
        y = ctx.xp.linalg.inv(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        yh = mH(ctx, y)
        return -(yh @ g @ yh)


class Identity(Function):
    """A⁰ = I (broadcast over the batch): a constant, so the gradient is zero."""

    @staticmethod
    def forward(ctx, a):
        n = a.shape[-1]
        eye = ctx.xp.eye(n, dtype=a.dtype, device=a.device)
        return ctx.xp.broadcast_to(eye, a.shape) * 1

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.zeros_like(g)


class LogAbsDet(Function):
    """log|det A| (real): gA = g A⁻ᴴ, the same for real and complex A."""

    @staticmethod
    def forward(ctx, a, sign=None, logabsdet=None):
        ctx.save_for_backward(a)
        return logabsdet

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = ctx.xp
        return xp.expand_dims(xp.expand_dims(g, axis=-1), axis=-1) * mH(ctx, xp.linalg.inv(a))


class DetSign(Function):
    """sign(det A). Real: piecewise constant (zero gradient). Complex: s = e^{iθ} with θ = Im log det A, so
    dL/dθ = Re(conj(g) i s) and gA = i (dL/dθ) A⁻ᴴ."""

    @staticmethod
    def forward(ctx, a, sign=None, logabsdet=None):
        ctx.save_for_backward(a, sign)
        return sign

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved_tensors
        xp = ctx.xp
        if not ctx.backend.is_complex(s.dtype):
            return xp.zeros_like(a)
        # θ = arg det A: dθ = Im tr(A⁻¹ dA); L depends on θ through s = e^{iθ}: dL/dθ = Re(conj(g) i s)
        dtheta = xp.astype(xp.real(conj(ctx, g) * (1j * s)), s.dtype)
        scale = xp.expand_dims(xp.expand_dims(1j * dtheta, axis=-1), axis=-1)
        return scale * mH(ctx, xp.linalg.inv(a))


class Outer(Function):
    """y_ij = x1_i x2_j: dx1 = g conj(x2), dx2 = gᵀ conj(x1)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.linalg.outer(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (g @ conj(ctx, b) if na else None), (conj(ctx, a) @ g if nb else None)


class Solve(Function):
    """X = A⁻¹ B: gB = A⁻ᴴ g, gA = -gB Xᴴ (B a vector when ``vector``)."""

    @staticmethod
    def forward(ctx, a, b, vector=False):
        x = ctx.xp.linalg.solve(a, b)
        ctx.save_for_backward(a, x)
        ctx.vector = vector
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        xp = ctx.xp
        if ctx.vector:
            g, x = xp.expand_dims(g, axis=-1), xp.expand_dims(x, axis=-1)
        gb = xp.linalg.solve(mH(ctx, a), g)
        ga = -(gb @ mH(ctx, x)) if ctx.needs_input_grad[0] else None
        return ga, (gb[..., 0] if ctx.vector else gb)


class Trace(Function):
    """Σ_k x[..., k, k + offset]: the gradient is g on that diagonal (an eye with offset k)."""

    @staticmethod
    def forward(ctx, a, offset=0, dtype=None):
        ctx.shape = a.shape
        ctx.offset = offset
        return ctx.xp.linalg.trace(a, offset=offset, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        n, m = ctx.shape[-2:]
        eye = xp.eye(n, m, k=ctx.offset, dtype=g.dtype, device=g.device)
        return xp.expand_dims(xp.expand_dims(g, axis=-1), axis=-1) * eye


def cholesky(x: Tensor, /, *, upper: bool = False) -> Tensor:
    """Cholesky factor of Hermitian positive-definite matrices: A = L Lᴴ (L lower), or A = Uᴴ U with ``upper``.

    Only the lower triangle of ``x`` is read by the backends, so the
    gradient (PyTorch's formula, Murray 2016) is the Hermitian one: feed
    ``(A + Aᴴ) / 2`` to differentiate with respect to a full matrix.

    >>> import xpgrad
    >>> xpgrad.linalg.cholesky(xpgrad.tensor([[4.0, 2.0], [2.0, 5.0]])).tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    x = matrices("cholesky", x, square=True)
    return Cholesky.apply(x, upper=bool(upper))


def cross(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``axis`` (other axes broadcast): y = x1 × x2.

    >>> import xpgrad
    >>> xpgrad.linalg.cross(xpgrad.tensor([1.0, 0.0, 0.0]), xpgrad.tensor([0.0, 1.0, 0.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    x1, x2 = _arg.tensor("cross", x1, "x1"), _arg.tensor("cross", x2, "x2")
    n = min(x1.ndim, x2.ndim)
    a = _arg.index("cross", axis, "axis")
    if a >= 0 and x1.ndim == x2.ndim:
        a -= n
    if n == 0 or not -n <= a <= -1:
        raise ValueError(f"linalg.cross: axis {axis} must be in [-{n}, -1] for shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)} (counted from the last axis)")
    if x1.shape[a] != 3 or x2.shape[a] != 3:
        raise ValueError(f"linalg.cross: axis {axis} must have size 3 in both inputs, got shapes "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    return Cross.apply(x1, x2, axis=a)


def det(x: Tensor, /) -> Tensor:
    """Determinant of each square matrix; its gradient is g · conj(det A) · A⁻ᴴ (A invertible).

    >>> import xpgrad
    >>> float(xpgrad.linalg.det(xpgrad.tensor([[2.0, 1.0], [1.0, 3.0]])))
    5.0
    """
    return Det.apply(matrices("det", x, square=True))


def diagonal(x: Tensor, /, *, offset: int = 0) -> Tensor:
    """The diagonal ``x[..., k, k + offset]`` of each matrix (above the main one for ``offset > 0``).

    >>> import xpgrad
    >>> xpgrad.linalg.diagonal(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]]), offset=1).tolist()
    [2.0]
    """
    x = matrices("diagonal", x)
    return Diagonal.apply(x, offset=_arg.index("diagonal", offset, "offset"))


def inv(x: Tensor, /) -> Tensor:
    """Inverse Y = A⁻¹ of each square matrix; gradient -Yᴴ g Yᴴ.

    >>> import xpgrad
    >>> xpgrad.linalg.inv(xpgrad.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    return Inv.apply(matrices("inv", x, square=True))


def matrix_power(x: Tensor, n: int, /) -> Tensor:
    """A^n for an integer n: repeated squaring with matmul (A⁰ = I; n < 0 uses inv(A)^|n|).

    Built from differentiable matmul and inv, so the gradient comes from theirs.

    >>> import xpgrad
    >>> xpgrad.linalg.matrix_power(xpgrad.tensor([[1.0, 1.0], [0.0, 1.0]]), 3).tolist()
    [[1.0, 3.0], [0.0, 1.0]]
    """
    x = matrices("matrix_power", x, square=True)
    k = _arg.index("matrix_power", n, "n")
    if k == 0:
        return Identity.apply(x)
    base: Tensor = inv(x) if k < 0 else x
    k = abs(k)
    result: Tensor | None = None
    while True:
        if k & 1:
            result = base if result is None else matmul(result, base)
        k >>= 1
        if not k:
            return result  # type: ignore[return-value]
        base = matmul(base, base)


def matrix_rank(x: Tensor, /, *, rtol: float | Tensor | None = None) -> Tensor:
    """Number of singular values above ``rtol · σ_max`` (an integer: records nothing).

    >>> import xpgrad
    >>> int(xpgrad.linalg.matrix_rank(xpgrad.tensor([[1.0, 2.0], [2.0, 4.0]])))
    1
    """
    x = matrices("matrix_rank", x)
    tol = rtol.data if isinstance(rtol, Tensor) else rtol
    return wrap(raw("matrix_rank", x, lambda la, a: la.matrix_rank(a, rtol=tol)), x.backend)


def outer(x1: Tensor, x2: Tensor, /) -> Tensor:
    """Outer product of two vectors: y_ij = x1_i x2_j.

    >>> import xpgrad
    >>> xpgrad.linalg.outer(xpgrad.tensor([1.0, 2.0]), xpgrad.tensor([3.0, 4.0])).tolist()
    [[3.0, 4.0], [6.0, 8.0]]
    """
    x1, x2 = _arg.tensor("outer", x1, "x1"), _arg.tensor("outer", x2, "x2")
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"linalg.outer: x1 and x2 must be 1-D vectors, got shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}; use x1[..., :, None] * x2[..., None, :] for batches")
    return Outer.apply(x1, x2)


def slogdet(x: Tensor, /) -> SlogdetResult:
    """Sign (a unit complex number for complex input) and log|det A|, computed stably.

    Gradients: log|det A| sends g A⁻ᴴ back; the sign is piecewise constant
    for real A (zero gradient) and moves with arg(det A) for complex A.

    >>> import xpgrad
    >>> sign, logabsdet = xpgrad.linalg.slogdet(xpgrad.tensor([[-2.0, 0.0], [0.0, 3.0]]))
    >>> float(sign), round(float(logabsdet), 4)
    (-1.0, 1.7918)
    """
    x = matrices("slogdet", x, square=True)
    sign, logabsdet = raw("slogdet", x, lambda la, a: la.slogdet(a))
    return SlogdetResult(DetSign.apply(x, sign=sign, logabsdet=logabsdet),
                         LogAbsDet.apply(x, sign=sign, logabsdet=logabsdet))


def solve(x1: Tensor, x2: Tensor, /) -> Tensor:
    """X = A⁻¹ B for square A (``x1``) and B (``x2``, matrices or one vector of shape (M,)).

    Gradients: gB = A⁻ᴴ g and gA = -gB Xᴴ.

    >>> import xpgrad
    >>> xpgrad.linalg.solve(xpgrad.tensor([[2.0, 0.0], [0.0, 4.0]]), xpgrad.tensor([2.0, 2.0])).tolist()
    [1.0, 0.5]
    """
    x1 = matrices("solve", x1, square=True)
    x2 = _arg.tensor("solve", x2, "x2")
    if x2.ndim == 0 or x2.shape[-1 if x2.ndim == 1 else -2] != x1.shape[-1]:
        raise ValueError(f"linalg.solve: x2 of shape {tuple(x2.shape)} does not fit x1 of shape {tuple(x1.shape)}; "
                         f"x2 must be (..., {x1.shape[-1]}, K) or ({x1.shape[-1]},)")
    return Solve.apply(x1, x2, vector=x2.ndim == 1)


def trace(x: Tensor, /, *, offset: int = 0, dtype: Any = None) -> Tensor:
    """Sum of the diagonal ``x[..., k, k + offset]`` of each matrix, in ``dtype`` when given.

    >>> import xpgrad
    >>> float(xpgrad.linalg.trace(xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    x = matrices("trace", x)
    dt = None if dtype is None else x.backend.dtype(dtype)
    return Trace.apply(x, offset=_arg.index("trace", offset, "offset"), dtype=dt)
