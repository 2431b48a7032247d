"""``Dropout``: inverted dropout, active in training mode only."""

from __future__ import annotations

from ..autograd.function import Function
from .module import Module

__all__ = ["Dropout"]


class _InvertedDropout(Function):
    """y = x · m / (1 − p) with m ~ Bernoulli(1 − p); the same mask scales the gradient."""

    @staticmethod
    def forward(ctx, x, p=0.5):
        xp = ctx.xp
        if p >= 1.0:
            keep = xp.zeros(x.shape, dtype=xp.bool)
            scale = 0.0
        else:
            keep = ctx.backend.random_uniform(tuple(x.shape), x.dtype) >= p
            scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return xp.where(keep, x * scale, 0.0)

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return ctx.xp.where(keep, g * ctx.scale, 0.0)


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the rest by 1/(1 − p).

    The scaling keeps the expected value of every activation unchanged, so
    evaluation mode (``model.eval()``) is simply the identity. The random
    mask comes from the backend's generator, seeded by
    :func:`xpgrad.manual_seed`.

    Parameters
    ----------
    p : float
        Probability of dropping an entry, 0 ≤ p ≤ 1 (default 0.5).

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> drop = nn.Dropout(0.5)
    >>> sorted(set(drop(xpgrad.ones(1000)).tolist()))
    [0.0, 2.0]
    >>> drop.eval()(xpgrad.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability p must be a number in [0, 1] (the chance of dropping), got {p!r}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return _InvertedDropout.apply(x, p=self.p)

    def extra_repr(self):
        return f"p={self.p}"
