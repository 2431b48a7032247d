"""``Parameter``: a tensor that a :class:`~xpgrad.nn.Module` learns."""

from __future__ import annotations

from ..autograd.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf :class:`~xpgrad.Tensor` that a module registers as learnable.

    Assigning a ``Parameter`` to an attribute of a :class:`~xpgrad.nn.Module`
    adds it to :meth:`~xpgrad.nn.Module.parameters`, which is what an
    optimizer updates. It requires gradients unless told otherwise, and wraps
    the array of a tensor without copying it.

    Parameters
    ----------
    data : Tensor, array, scalar or nested sequence
        The initial value (floating point when ``requires_grad``).
    requires_grad : bool
        Whether backward should fill ``.grad`` (default True).
    dtype, backend : optional
        As for :func:`xpgrad.tensor`.

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad.nn import Parameter
    >>> w = Parameter(xpgrad.zeros((2, 3)))
    >>> w.requires_grad, w.shape
    (True, (2, 3))
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None, backend=None):
        if isinstance(data, Tensor) and dtype is None and backend is None:
            # Wrap without copying: start as a 0-d leaf on the same backend, then take over the array.
            super().__init__(0.0, backend=data.backend)
            self.set_(data)
            if requires_grad:
                self.requires_grad_(True)
        else:
            super().__init__(data, dtype=dtype, requires_grad=requires_grad, backend=backend)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
