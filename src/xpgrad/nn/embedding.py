"""``Embedding``: a learned lookup table, row ``i`` of the weight for index ``i``."""

from __future__ import annotations

from typing import Any

from ..autograd.creation import as_tensor
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from . import init as _init
from .linear import _check_features
from .module import Module
from .parameter import Parameter, check_float_dtype

__all__ = ["Embedding", "embedding"]


class _Embedding(Function):
    """out[..., :] = W[idx[...], :]; dW[i] = Σ over the positions holding i of dout (zero for ``padding_idx``)."""

    owns_grads = True  # backward allocates a new array

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        xp = ctx.xp
        flat = xp.reshape(indices, (-1,))
        ctx.save_for_backward(flat)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        out = xp.take(weight, flat, axis=0)
        return xp.reshape(out, (*indices.shape, weight.shape[1]))

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved_tensors
        xp = ctx.xp
        n, dim = ctx.shape
        rows = xp.reshape(g, (-1, dim))
        out = ctx.backend.index_add(xp.zeros(ctx.shape, dtype=g.dtype, device=g.device), 0, flat, rows)
        if ctx.padding_idx is not None:
            out[ctx.padding_idx, ...] = 0.0  # the padding row is never learned (out is our own new array)
        return out, None


def _indices(input: Any, weight: Tensor, where: str) -> Tensor:
    """``input`` as an integer tensor on the weight's backend, every index checked on host backends."""
    b = weight.backend
    if not isinstance(input, Tensor):
        input = as_tensor(b.asarray(input), backend=b)
    xp = b.xp
    if not xp.isdtype(input.dtype, "integral"):
        raise TypeError(f"{where}: indices must be an integer tensor, got dtype {input.dtype}; "
                        f"pass e.g. xpgrad.tensor(indices, dtype='int64')")
    n = weight.shape[0]
    if b.on_host and input.size:  # checking on a device would wait for it at every call
        lo, hi = int(xp.min(input.data)), int(xp.max(input.data))
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{where}: index {bad} is out of range for an embedding table of "
                             f"num_embeddings={n} rows; indices must lie in [0, {n - 1}]")
    return input


def _check_padding_idx(padding_idx: Any, n: int, where: str) -> int | None:
    """PyTorch's rule: a row in [-n, n), a negative one counting from the end, stored as its positive form."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, int):
        raise TypeError(f"{where}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -n <= padding_idx < n:
        raise ValueError(f"{where}: padding_idx={padding_idx} is out of range for num_embeddings={n}; "
                         f"use a row in [{-n}, {n - 1}] or None")
    return padding_idx % n


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight``: out[..., :] = weight[input[...], :], for integer ``input`` of any shape.

    The result has shape ``input.shape + (embedding_dim,)``. The gradient of
    row i of ``weight`` is the sum of the output gradients at the positions
    holding i; the row ``padding_idx`` (if given) gets no gradient.
    Indices outside [0, num_embeddings) raise ``IndexError`` on host backends.

    >>> import xpgrad
    >>> w = xpgrad.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    >>> embedding(xpgrad.tensor([[2, 1]]), w).tolist()
    [[[3.0, 4.0], [1.0, 2.0]]]
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be a 2-D tensor (num_embeddings, embedding_dim), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    pad = _check_padding_idx(padding_idx, weight.shape[0], "embedding")
    idx = _indices(input, weight, "embedding")
    return _Embedding.apply(weight, idx, padding_idx=pad)


class Embedding(Module):
    """A table of ``num_embeddings`` learned vectors of size ``embedding_dim``: index i selects row i.

    ``weight`` has shape (num_embeddings, embedding_dim), drawn from N(0, 1)
    as in PyTorch; the input is an integer tensor of any shape and the output
    has that shape plus a trailing ``embedding_dim``. Looking a row up is the
    same as multiplying a one-hot vector by the weight, so its gradient is the
    sum of the output gradients of the positions that picked it. With
    ``padding_idx`` that row starts at zero and is never updated (its gradient
    is zero), e.g. for the padding token of variable-length sequences.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb(xpgrad.tensor([[1, 2, 0]])).shape
    (1, 3, 3)
    >>> emb.weight.numpy()[0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=None, backend=None):
        super().__init__()
        _check_features("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        check_float_dtype(dtype, "nn.Embedding")
        pad = _check_padding_idx(padding_idx, num_embeddings, "Embedding")
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, pad
        w = _init.normal((num_embeddings, embedding_dim), std=1.0, dtype=dtype, backend=backend)
        if pad is not None:
            w.data[pad, ...] = 0.0
        self.weight = Parameter(w)

    def __call__(self, *args, **kwargs):
        # Lists of ints would otherwise become floating tensors of the weight's dtype (see Module.__call__)
        if args and isinstance(args[0], (list, tuple)):
            args = (_indices(args[0], self.weight, "Embedding"), *args[1:])
        return super().__call__(*args, **kwargs)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
