"""2-D max and average pooling on NCHW arrays, through the same strided window views as the convolution.

Window (i, j) of a k_h x k_w pooling with stride s, padding p and dilation d covers the padded
input's rows s·i + d·u (u < k_h) and columns s·j + d·v; the output size is the convolution's
(:func:`~xpgrad.autograd.ops.conv.conv_output_size`). Max pooling pads with -inf, average
pooling with zeros. Backward bodies use only the array API standard.
"""

from __future__ import annotations

from ..function import Function
from .conv import col2im, conv_output_size, pad2d, window_slices

__all__ = ["AvgPool2d", "MaxPool2d"]


def _geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    """Output size, window slices, and the extra bottom/right padding that ``ceil_mode``'s last windows need."""
    h, w = shape[-2:]
    out = tuple(conv_output_size(size, k, s, p, d, ceil_mode)
                for size, k, s, p, d in zip((h, w), kernel, stride, padding, dilation, strict=True))
    extra = tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
                  for o, size, k, s, p, d in zip(out, (h, w), kernel, stride, padding, dilation, strict=True))
    return out, window_slices(kernel, stride, dilation, out), extra


class MaxPool2d(Function):
    """y[n, c, i, j] = max over window (i, j) of x; the gradient goes to the window's first maximum.

    Keyword arguments ``kernel_size``, ``stride``, ``padding``, ``dilation`` (pairs) and
    ``ceil_mode``, assumed checked (see :func:`xpgrad.nn.functional.max_pool2d`).
    """

    owns_grads = True

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        xp = ctx.xp
        (oh, ow), slices, (eh, ew) = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        ph, pw = padding
        xpad = pad2d(xp, x, ph, ph + eh, pw, pw + ew, -float("inf"))
        # A running maximum over the kernel offsets, with the offset it came from: on one core
        # (pool 2x2 of 64x16x32x32, float32) 11.6-18.8 ms against 21.6-30.1 ms for stacking the
        # windows and reducing with max and argmax, and against 24.9-30.2 ms for also testing each
        # window for NaN (the machine was loaded; the order held over three runs). A later offset
        # takes the gradient only when strictly greater, so the first maximum keeps it (PyTorch's
        # choice among ties); ``maximum`` propagates a NaN to the output.
        r, s = slices[0]
        best = xpad[..., r, s]
        itype = xp.int16 if len(slices) < 2**15 else xp.int32
        where = xp.zeros(best.shape, dtype=itype, device=x.device)
        for k, (r, s) in enumerate(slices[1:], start=1):
            window = xpad[..., r, s]
            where = xp.where(window > best, xp.full((), k, dtype=itype, device=x.device), where)
            best = xp.maximum(window, best)
        ctx.saved_tensors = (where,)
        ctx.conf = (x.shape, xpad.shape, padding, slices)
        return best if len(slices) > 1 else xp.asarray(best, copy=True)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        (where,) = ctx.saved_tensors
        shape, padded, (ph, pw), slices = ctx.conf
        h, w = shape[-2:]
        zero = xp.zeros((), dtype=g.dtype, device=g.device)
        parts = [xp.where(where == k, g, zero) for k in range(len(slices))]  # route g to the winning offset
        gpad = col2im(xp, parts, padded, slices, g.dtype, g.device)
        return gpad[..., ph:ph + h, pw:pw + w] if gpad.shape != tuple(shape) else gpad


class AvgPool2d(Function):
    """y[n, c, i, j] = (Σ over window (i, j) of x) / divisor; the gradient spreads g / divisor over the window.

    The divisor is k_h·k_w, less the positions beyond the padded edge (``ceil_mode``) and, with
    ``count_include_pad=False``, less the padding, as in PyTorch. Keyword arguments
    ``kernel_size``, ``stride``, ``padding`` (pairs), ``ceil_mode``, ``count_include_pad``.
    """

    owns_grads = True

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, count_include_pad=True):
        xp = ctx.xp
        (oh, ow), slices, (eh, ew) = _geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        ph, pw = padding
        xpad = pad2d(xp, x, ph, ph + eh, pw, pw + ew)
        total = None
        for r, s in slices:
            total = xpad[..., r, s] if total is None else total + xpad[..., r, s]
        counts = tuple(_counts(o, size, k, s, p, count_include_pad)
                       for o, size, k, s, p in zip((oh, ow), x.shape[-2:], kernel_size, stride, padding, strict=True))
        ctx.conf = (x.shape, xpad.shape, padding, slices, counts)
        return total / _divisor(xp, counts, x.dtype, x.device)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        shape, padded, (ph, pw), slices, counts = ctx.conf
        h, w = shape[-2:]
        share = g / _divisor(xp, counts, g.dtype, g.device)
        gpad = col2im(xp, [share] * len(slices), padded, slices, g.dtype, g.device)
        return gpad[..., ph:ph + h, pw:pw + w] if gpad.shape != tuple(shape) else gpad


def _counts(out, size, kernel, stride, padding, include_pad):
    """How many positions of each window along one axis the average divides by (PyTorch's rule)."""
    counts = []
    for i in range(out):
        start = i * stride - padding
        end = min(start + kernel, size + padding)
        if not include_pad:
            start, end = max(start, 0), min(end, size)
        counts.append(end - start)
    return tuple(counts)


def _divisor(xp, counts, dtype, device):
    """The window sizes: one Python number when every window has the same, else an (OH, OW) array."""
    rows, cols = counts
    if len(set(rows)) <= 1 and len(set(cols)) <= 1:
        return float(rows[0] * cols[0]) if rows and cols else 1.0
    r = xp.asarray([float(v) for v in rows], dtype=dtype, device=device)
    c = xp.asarray([float(v) for v in cols], dtype=dtype, device=device)
    return xp.reshape(r, (-1, 1)) * xp.reshape(c, (1, -1))
