"""2-D convolution (cross-correlation, as in PyTorch) on NCHW arrays: im2col by strided slicing and one matmul.

For an input x of shape (N, C, H, W), a weight of shape (O, C/G, kh, kw) in G groups,
stride s, zero padding p and dilation d, the output has OH = ⌊(H + 2p - d(kh-1) - 1)/s⌋ + 1
rows (likewise OW) and

    y[n, o, i, j] = b[o] + Σ_{c in group(o), u, v} w[o, c, u, v] · xpad[n, c, s·i + d·u, s·j + d·v].

*im2col*: each kernel offset (u, v) picks the strided window ``xpad[..., d·u : … : s, d·v : … : s]``
(a view); stacking the kh·kw views gives the columns (N, G, kh·kw·C/G, OH·OW), and the whole
convolution is one batched matmul with the weight laid out as (G, O/G, kh·kw·C/G). The backward is
two matmuls (dW = Σ_n g colsᵀ, dcols = Wᵀ g) and *col2im*, the adjoint of the slicing: a sum over
the kernel offsets of the columns added back into their windows.

Measured on one core (OpenBLAS, batch 64, float32, fwd / fwd+bwd in ms; 3x3 kernels, padding 1):
im2col 2.3 / 11.1 against a sum of kh·kw matmuls over the offsets 12.0 / 27.0 for 3 -> 16
channels at 32x32, and 7.1 / 25.1 against 8.9 / 25.9 for 16 -> 32 at 16x16: the one large matmul
wins, so forward is im2col; the offsets come first in the columns ((N, G, kh·kw, C/G, …)), so that
col2im adds contiguous blocks (4.7 ms against 5.3 ms with the channels first).

Backward bodies use only the array API standard (slicing, ``__setitem__``, ``matmul``,
``reshape``, ``permute_dims``, ``sum``, ``zeros``), so they run on the differentiable namespace too.
"""

from __future__ import annotations

from ..function import Function

__all__ = ["Conv2d", "Conv2dReLU", "col2im", "conv_output_size", "disjoint", "window_slices"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     ceil_mode: bool = False) -> int:
    """Output length along one axis: ⌊(size + 2p - d(k-1) - 1)/s⌋ + 1 (⌈…⌉ with ``ceil_mode``).

    With ``ceil_mode`` a last window that would start in the right padding is dropped,
    as in PyTorch.

    >>> conv_output_size(32, 3, 1, 1, 1), conv_output_size(32, 2, 2, 0, 1), conv_output_size(5, 2, 2, 0, 1, True)
    (32, 16, 3)
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def window_slices(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                  out: tuple[int, int]) -> list[tuple[slice, slice]]:
    """The (row, column) slices of a padded input that kernel offset (u, v) reads, row-major in (u, v).

    Offset u covers rows d·u, d·u + s, …, d·u + s·(OH-1): one strided view per offset.

    >>> window_slices((1, 2), (2, 2), (1, 1), (3, 3))
    [(slice(0, 5, 2), slice(0, 5, 2)), (slice(0, 5, 2), slice(1, 6, 2))]
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    return [(slice(dh * u, dh * u + sh * (oh - 1) + 1, sh), slice(dw * v, dw * v + sw * (ow - 1) + 1, sw))
            for u in range(kh) for v in range(kw)]


def pad2d(xp, x, top: int, bottom: int, left: int, right: int, value: float = 0.0):
    """``x`` (…, H, W) surrounded by ``value``: a new array, or ``x`` itself when there is nothing to pad."""
    if not (top or bottom or left or right):
        return x
    *lead, h, w = x.shape
    out = xp.full((*lead, h + top + bottom, w + left + right), value, dtype=x.dtype, device=x.device)
    out[..., top:top + h, left:left + w] = x
    return out


def col2im(xp, parts, shape, slices, dtype, device):
    """The adjoint of reading ``slices``: zeros of ``shape`` with ``parts[k]`` added into window ``k``.

    Windows overlap when the stride is below the kernel's reach, so the parts are summed in place;
    when no two windows share an entry (:func:`disjoint`) they are written, which measured faster.
    """
    out = xp.zeros(shape, dtype=dtype, device=device)
    if disjoint(slices):
        for k, (rows, cols) in enumerate(slices):
            out[..., rows, cols] = parts[k]
        return out
    for k, (rows, cols) in enumerate(slices):
        out[..., rows, cols] += parts[k]
    return out


def disjoint(slices) -> bool:
    """Whether no two window slices share an entry: along each axis every slice has its own rows (or columns).

    >>> disjoint(window_slices((2, 2), (2, 2), (1, 1), (3, 3))), disjoint(window_slices((3, 3), (1, 1), (1, 1), (3, 3)))
    (True, False)
    """
    for axis in (0, 1):
        seen: set[int] = set()
        # each distinct row (column) slice once (slices are hashable only from Python 3.12)
        for start, stop, step in dict.fromkeys((p[axis].start, p[axis].stop, p[axis].step) for p in slices):
            idx = set(range(start, stop, step))
            if seen & idx:
                return False
            seen |= idx
    return True


class Conv2d(Function):
    """y = W ⋆ x + b on NCHW arrays, as one im2col matmul; gradients by two matmuls and col2im.

    Arguments: ``x`` (N, C, H, W), ``weight`` (O, C/G, kh, kw), ``bias`` (O,) or None; keyword
    ``stride``, ``dilation`` (pairs), ``padding`` (top, bottom, left, right) and ``groups``. The
    arguments are assumed checked (see :func:`xpgrad.nn.functional.conv2d`).
    """

    owns_grads = True
    create_graph_safe = True  # the im2col columns are rebuilt from x under create_graph

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
        xp = ctx.xp
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        top, bottom, left, right = padding
        hp, wp = h + top + bottom, w + left + right
        oh = conv_output_size(hp, kh, stride[0], 0, dilation[0])
        ow = conv_output_size(wp, kw, stride[1], 0, dilation[1])
        slices = window_slices((kh, kw), stride, dilation, (oh, ow))
        ctx.conf, ctx.out_hw = (x.shape, padding, slices, groups, bias is not None), (oh, ow)
        cols = _columns(xp, x, weight.shape, ctx.conf, ctx.out_hw)
        wmat = _weight_matrix(xp, weight, groups)
        y = xp.reshape(wmat @ cols, (n, o, oh, ow))
        if bias is not None:
            y += xp.reshape(bias, (o, 1, 1))  # y is a fresh array: add in place
        ctx.saved_tensors = (cols, weight)
        return y

    @staticmethod
    def backward(ctx, g):
        cols, weight = ctx.saved_tensors
        return _conv_grads(ctx, g, cols, weight)


def _columns(xp, x, weight_shape, conf, out_hw):
    """The im2col matrix (N, G, kh·kw·C/G, OH·OW) of ``x`` for the convolution described by ``conf``."""
    (n, c, h, w), (top, bottom, left, right), slices, groups, _ = conf
    o, cg, kh, kw = weight_shape
    hp, wp = h + top + bottom, w + left + right
    oh, ow = out_hw
    xg = xp.reshape(pad2d(xp, x, top, bottom, left, right), (n, groups, cg, hp, wp))
    # (N, G, kh·kw, C/G, OH, OW): the offsets ahead of the channels, matching the weight's layout
    return xp.reshape(xp.stack([xg[..., r, s] for r, s in slices], axis=2), (n, groups, kh * kw * cg, oh * ow))


class Conv2dReLU(Conv2d):
    """y = max(0, W ⋆ x + b) in one graph node (a convolution layer followed by a ReLU); dy passes where y > 0."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
        y = ctx.backend.bias_relu_(Conv2d.forward(ctx, x, weight, bias, stride, padding, dilation, groups))
        ctx.saved_tensors = (*ctx.saved_tensors, y)
        return y

    @staticmethod
    def backward(ctx, g):
        cols, weight, y = ctx.saved_tensors
        g = ctx.xp.where(y > 0, g, ctx.xp.zeros((), dtype=g.dtype, device=g.device))
        return _conv_grads(ctx, g, cols, weight)


def _conv_grads(ctx, g, cols, weight):
    """(dx, dW, db) of the convolution saved in ``ctx`` for the output gradient ``g`` (None where not needed)."""
    xp = ctx.xp
    (n, c, h, w), (top, bottom, left, right), slices, groups, has_bias = ctx.conf
    hp, wp = h + top + bottom, w + left + right
    o, cg, kh, kw = weight.shape
    nx, nw, nb = ctx.needs_input_grad
    if ctx.create_graph:  # the columns as a function of x, so that second derivatives reach x
        cols = _columns(xp, ctx.parents[0], weight.shape, ctx.conf, ctx.out_hw)
    og = o // groups
    gm = xp.reshape(g, (n, groups, og, g.shape[2] * g.shape[3]))
    gx = gw = gb = None
    if nw:  # dW = Σ_n g colsᵀ, back from (G, O/G, kh, kw, C/G) to (O, C/G, kh, kw)
        gcols = xp.sum(gm @ xp.permute_dims(cols, (0, 1, 3, 2)), axis=0)
        gw = xp.reshape(xp.permute_dims(xp.reshape(gcols, (groups, og, kh, kw, cg)), (0, 1, 4, 2, 3)),
                        (o, cg, kh, kw))
    if nx:  # dcols = Wᵀ g, then col2im into the padded input and crop the padding away
        dcols = xp.reshape(xp.permute_dims(_weight_matrix(xp, weight, groups), (0, 2, 1)) @ gm,
                           (n, groups, kh * kw, cg, g.shape[2], g.shape[3]))
        parts = [dcols[:, :, k, ...] for k in range(kh * kw)]
        gpad = xp.reshape(col2im(xp, parts, (n, groups, cg, hp, wp), slices, g.dtype, g.device), (n, c, hp, wp))
        gx = gpad[:, :, top:top + h, left:left + w] if (hp, wp) != (h, w) else gpad
    if nb and has_bias:
        gb = xp.sum(g, axis=(0, 2, 3))
    return gx, gw, gb


def _weight_matrix(xp, weight, groups):
    """(O, C/G, kh, kw) -> (G, O/G, kh·kw·C/G): row o holds its kernel offset by offset, channels inside."""
    o, cg, kh, kw = weight.shape
    wg = xp.permute_dims(xp.reshape(weight, (groups, o // groups, cg, kh, kw)), (0, 1, 3, 4, 2))
    return xp.reshape(wg, (groups, o // groups, kh * kw * cg))
