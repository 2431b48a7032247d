"""The ``linalg`` extension, part 2: eigh, eigvalsh, qr, svd, svdvals, pinv and their gradients.

Multi-output functions compute the decomposition once, outside the graph,
and hand its arrays to one small Function per output (as keyword arrays).
Each output's node sends back its own share of the input's gradient; since a
backward is linear in the output gradients, the engine's sum of the shares is
the full gradient, and an output the loss does not use costs nothing.

The formulas assume distinct eigenvalues (eigh) or distinct, non-zero
singular values (svd): with repeated ones the eigenvectors / singular vectors
are not unique and the 1/(λⱼ - λᵢ) factors are infinite, as in PyTorch and
JAX. Losses that do not depend on the vectors' free phases (gauge) get right
gradients: e.g. ``U @ diag(S) @ Vh`` or ``abs(U) ** 2``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..function import Function
from ..tensor import Tensor
from .linalg_ext import matrices, mH, raw

__all__ = ["eigh", "eigvalsh", "pinv", "qr", "svd", "svdvals"]


class EighResult(NamedTuple):
    """Result of :func:`eigh`: ``eigenvalues`` (ascending) and ``eigenvectors`` (columns)."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    """Result of :func:`qr`: ``Q`` (orthonormal columns) and ``R`` (upper triangular)."""

    Q: Tensor
    R: Tensor


class SVDResult(NamedTuple):
    """Result of :func:`svd`: ``U``, ``S`` (descending) and ``Vh``, with A = U diag(S) Vh."""

    U: Tensor
    S: Tensor
    Vh: Tensor


def _diag(xp: Any, v: Any) -> Any:
    """Batched diagonal matrices from vectors (..., n) -> (..., n, n)."""
    n = v.shape[-1]
    return xp.expand_dims(v, axis=-1) * xp.eye(n, dtype=v.dtype, device=v.device)


def _inverse_gaps(xp: Any, w: Any) -> Any:
    """F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it."""
    n = w.shape[-1]
    eye = xp.eye(n, dtype=w.dtype, device=w.device)
    return (1 - eye) / (xp.expand_dims(w, axis=-2) - xp.expand_dims(w, axis=-1) + eye)


class EighValues(Function):
    """A = V diag(w) Vᴴ: gA = V diag(g) Vᴴ."""

    create_graph_safe = True  # under create_graph the factors are recomputed from the input tensor

    @staticmethod
    def forward(ctx, a, w=None, v=None):
        ctx.save_for_backward(v)
        return w

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        if ctx.create_graph:
            v = ctx.xp.linalg.eigh(ctx.parents[0]).eigenvectors
        return (v * ctx.xp.expand_dims(g, axis=-2)) @ mH(ctx, v)


class EighVectors(Function):
    """gA = V (F ∘ (X - Xᴴ)/2) Vᴴ with X = Vᴴ g and F = 1/(w_j - w_i) (PyTorch's Hermitian formula)."""

    create_graph_safe = True

    @staticmethod
    def forward(ctx, a, w=None, v=None):
        ctx.save_for_backward(w, v)
        return v

    @staticmethod
    def backward(ctx, g):
        w, v = ctx.saved_tensors
        if ctx.create_graph:
            w, v = ctx.xp.linalg.eigh(ctx.parents[0])
        x = mH(ctx, v) @ g
        inner = 0.5 * (x - mH(ctx, x)) * _inverse_gaps(ctx.xp, w)
        return v @ inner @ mH(ctx, v)


def _svd_grad(ctx: Any, u: Any, s: Any, vh: Any, gu: Any = None, gs: Any = None, gvh: Any = None) -> Any:
    """gA for A = U diag(S) Vh (reduced factors) from any of gU, gS, gVh.

    gA = U [(J + Jᴴ) S + S (K + Kᴴ) + diag(gS) + i Im diag(Uᴴ gU) / S] Vh
         + (I - U Uᴴ) gU S⁻¹ Vh + U S⁻¹ gVh (I - Vᴴ Vh)
    with J = F ∘ (Uᴴ gU), K = F ∘ (V ᴴ gV), F_ij = 1 / (S_j² - S_i²).
    """
    xp = ctx.xp
    m, n = u.shape[-2], vh.shape[-1]
    k = s.shape[-1]
    s_row, s_col = xp.expand_dims(s, axis=-2), xp.expand_dims(s, axis=-1)
    inner = 0
    outer = 0
    if gs is not None:
        inner = _diag(xp, gs)
    if gu is not None:
        uhgu = mH(ctx, u) @ gu
        j = _inverse_gaps(xp, s * s) * uhgu
        inner = inner + (j + mH(ctx, j)) * s_row
        if ctx.backend.is_complex(u.dtype):
            eye = xp.eye(k, dtype=u.dtype, device=u.device)
            inner = inner + 1j * xp.astype(xp.imag(uhgu), u.dtype) * eye / s_row
        if m > k:
            outer = outer + ((gu - u @ uhgu) / s_row) @ vh
    if gvh is not None:
        v, gv = mH(ctx, vh), mH(ctx, gvh)
        vhgv = vh @ gv
        kk = _inverse_gaps(xp, s * s) * vhgv
        inner = inner + s_col * (kk + mH(ctx, kk))
        if n > k:
            outer = outer + (u / s_row) @ (gvh - (gvh @ v) @ vh)
    return u @ inner @ vh + outer


class SVDPart(Function):
    """One output of the SVD (``part`` 0, 1, 2 = U, S, Vh); its backward is that output's share of gA."""

    create_graph_safe = True

    @staticmethod
    def forward(ctx, a, u=None, s=None, vh=None, part=0):
        ctx.save_for_backward(u, s, vh)
        ctx.part = part
        return (u, s, vh)[part]

    @staticmethod
    def backward(ctx, g):
        u, s, vh = ctx.saved_tensors
        k = s.shape[-1]
        if ctx.create_graph:
            full = u.shape[-1] > k or vh.shape[-2] > k
            u, s, vh = ctx.xp.linalg.svd(ctx.parents[0], full_matrices=full)
        if ctx.part == 0:  # full_matrices: U's extra columns are not determined by A and take no gradient
            return _svd_grad(ctx, u[..., :k], s, vh[..., :k, :], gu=g[..., :k])
        if ctx.part == 2:
            return _svd_grad(ctx, u[..., :k], s, vh[..., :k, :], gvh=g[..., :k, :])
        return _svd_grad(ctx, u[..., :k], s, vh[..., :k, :], gs=g)


class SVDVals(Function):
    """S = svdvals(A): gA = U diag(g) Vh."""

    create_graph_safe = True

    @staticmethod
    def forward(ctx, a):
        u, s, vh = ctx.xp.linalg.svd(a, full_matrices=False)
        ctx.save_for_backward(u, vh)
        return s

    @staticmethod
    def backward(ctx, g):
        u, vh = ctx.saved_tensors
        if ctx.create_graph:
            u, _, vh = ctx.xp.linalg.svd(ctx.parents[0], full_matrices=False)
        return (u * ctx.xp.expand_dims(g, axis=-2)) @ vh


def _qr_grad(ctx: Any, q: Any, r: Any, a: Any, gq: Any = None, gr: Any = None) -> Any:
    """gA for A = Q R (reduced; m < n handled by splitting A = Q [R1 R2]).

    Square/tall case: gA = [gQ + Q copyltu(M)] R⁻ᴴ with M = R gRᴴ - gQᴴ Q and
    copyltu(M) the Hermitian matrix with M's strict lower triangle and real diagonal.
    """
    xp = ctx.xp
    m, n = a.shape[-2], a.shape[-1]
    extra = None
    if m < n:  # A = [X Y], X = Q R1 square, Y = Q R2: gY = Q gR2 and X sees gQ + Y gR2ᴴ
        extra = xp.zeros((*a.shape[:-1], n - m), dtype=q.dtype, device=q.device)
        if gr is not None:
            gr, gr2 = gr[..., :m], gr[..., m:]
            extra = q @ gr2
            gq_y = a[..., m:] @ mH(ctx, gr2)
            gq = gq_y if gq is None else gq + gq_y
        r = r[..., :m]
    mm = 0
    if gr is not None:
        mm = r @ mH(ctx, gr)
    if gq is not None:
        mm = mm - mH(ctx, gq) @ q
    low = xp.tril(mm, k=-1)
    sym = low + mH(ctx, low)
    if not isinstance(mm, int):
        sym = sym + _diag(xp, xp.real(xp.linalg.diagonal(mm)) if ctx.backend.is_complex(mm.dtype)
                          else xp.linalg.diagonal(mm))
    b = q @ sym if gq is None else gq + q @ sym
    ga = mH(ctx, xp.linalg.solve(r, mH(ctx, b)))  # b R⁻ᴴ
    return ga if extra is None else xp.concat([ga, extra], axis=-1)


class QRPart(Function):
    """One output of the QR decomposition (``part`` 0 = Q, 1 = R)."""

    create_graph_safe = True

    @staticmethod
    def forward(ctx, a, q=None, r=None, part=0, complete=False):
        ctx.save_for_backward(a, q, r)
        ctx.part = part
        if complete and a.shape[-2] > a.shape[-1]:
            ctx.complete = True
        return (q, r)[part]

    @staticmethod
    def backward(ctx, g):
        a, q, r = ctx.saved_tensors
        if getattr(ctx, "complete", False):
            raise ValueError("linalg.qr: the gradient of mode='complete' with more rows than columns is not "
                             "defined (Q's extra columns are not determined by x); use mode='reduced'")
        if ctx.create_graph:  # 'complete' with m <= n has the reduced factors
            q, r = ctx.xp.linalg.qr(a)
        return _qr_grad(ctx, q, r, a, gq=g) if ctx.part == 0 else _qr_grad(ctx, q, r, a, gr=g)


class Pinv(Function):
    """P = A⁺ (constant rank): gA = -Pᴴ g Pᴴ + (I - A P)ᴴ... = -Pᴴ g Pᴴ + (I - A P) gᴴ P Pᴴ + Pᴴ P gᴴ (I - P A)."""

    @staticmethod
    def forward(ctx, a, rtol=None):
        p = ctx.xp.linalg.pinv(a, rtol=rtol)
        ctx.save_for_backward(a, p)
        return p

    @staticmethod
    def backward(ctx, g):
        a, p = ctx.saved_tensors
        ph, gh = mH(ctx, p), mH(ctx, g)
        return (-(ph @ g @ ph) + (gh - a @ (p @ gh)) @ (p @ ph)
                + (ph @ p) @ (gh - (gh @ p) @ a))


def eigh(x: Tensor, /) -> EighResult:
    """Eigenvalues (ascending) and orthonormal eigenvectors of Hermitian matrices: A = V diag(w) Vᴴ.

    Only the lower triangle of ``x`` is read, so the gradients are the
    Hermitian ones (feed ``(A + Aᴴ) / 2`` to differentiate a full matrix).
    Eigenvalues: gA = V diag(g_w) Vᴴ. Eigenvectors: gA = V (F ∘ (X - Xᴴ)/2) Vᴴ,
    X = Vᴴ g_V, F_ij = 1/(w_j - w_i): distinct eigenvalues and a loss that
    ignores each eigenvector's sign/phase are needed.

    >>> import xpgrad
    >>> w, v = xpgrad.linalg.eigh(xpgrad.tensor([[2.0, 0.0], [0.0, 1.0]]))
    >>> w.tolist(), v.tolist()
    ([1.0, 2.0], [[0.0, 1.0], [1.0, 0.0]])
    """
    x = matrices("eigh", x, square=True)
    w, v = raw("eigh", x, lambda la, a: la.eigh(a))
    return EighResult(EighValues.apply(x, w=w, v=v), EighVectors.apply(x, w=w, v=v))


def eigvalsh(x: Tensor, /) -> Tensor:
    """Eigenvalues (ascending) of Hermitian matrices; gradient V diag(g) Vᴴ (lower triangle read, as eigh).

    >>> import xpgrad
    >>> xpgrad.linalg.eigvalsh(xpgrad.tensor([[2.0, 1.0], [1.0, 2.0]])).tolist()
    [1.0, 3.0]
    """
    x = matrices("eigvalsh", x, square=True)
    w, v = raw("eigvalsh", x, lambda la, a: la.eigh(a))
    return EighValues.apply(x, w=w, v=v)


def pinv(x: Tensor, /, *, rtol: float | Tensor | None = None) -> Tensor:
    """Moore-Penrose pseudo-inverse A⁺ (singular values below ``rtol · σ_max`` dropped).

    The gradient (Golub & Pereyra) holds where the rank does not change:
    gA = -Pᴴ g Pᴴ + (I - A P) gᴴ P Pᴴ + Pᴴ P gᴴ (I - P A), P = A⁺.

    >>> import xpgrad
    >>> xpgrad.linalg.pinv(xpgrad.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    x = matrices("pinv", x)
    return Pinv.apply(x, rtol=rtol.data if isinstance(rtol, Tensor) else rtol)


def qr(x: Tensor, /, *, mode: str = "reduced") -> QRResult:
    """QR decomposition A = Q R (Q orthonormal columns, R upper triangular); ``mode`` 'reduced' or 'complete'.

    Gradients for any shape in 'reduced' mode (and 'complete' when m <= n):
    gA = [gQ + Q copyltu(R gRᴴ - gQᴴ Q)] R⁻ᴴ, R invertible (full column rank).

    >>> import xpgrad
    >>> q, r = xpgrad.linalg.qr(xpgrad.tensor([[3.0, 0.0], [4.0, 5.0]]))
    >>> [[round(abs(v), 4) for v in row] for row in r.tolist()]
    [[5.0, 4.0], [0.0, 3.0]]
    """
    x = matrices("qr", x)
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    q, r = raw("qr", x, lambda la, a: la.qr(a, mode=mode))
    complete = mode == "complete"
    return QRResult(QRPart.apply(x, q=q, r=r, part=0, complete=complete),
                    QRPart.apply(x, q=q, r=r, part=1, complete=complete))


def svd(x: Tensor, /, *, full_matrices: bool = True) -> SVDResult:
    """Singular value decomposition A = U diag(S) Vh, S descending; U, Vh square with ``full_matrices``.

    Gradients need distinct non-zero singular values and a loss that ignores
    the singular vectors' signs/phases; with ``full_matrices`` the extra
    columns of U (rows of Vh) are not determined by A and take no gradient.

    >>> import xpgrad
    >>> u, s, vh = xpgrad.linalg.svd(xpgrad.tensor([[3.0, 0.0], [0.0, -2.0]]))
    >>> s.tolist()
    [3.0, 2.0]
    """
    x = matrices("svd", x)
    u, s, vh = raw("svd", x, lambda la, a: la.svd(a, full_matrices=bool(full_matrices)))
    return SVDResult(*(SVDPart.apply(x, u=u, s=s, vh=vh, part=i) for i in range(3)))


def svdvals(x: Tensor, /) -> Tensor:
    """Singular values (descending) of each matrix; gradient U diag(g) Vh.

    >>> import xpgrad
    >>> xpgrad.linalg.svdvals(xpgrad.tensor([[0.0, 2.0], [1.0, 0.0]])).tolist()
    [2.0, 1.0]
    """
    return SVDVals.apply(matrices("svdvals", x))
