"""``Parameter``: a tensor that a :class:`~xpgrad.nn.Module` learns."""

from __future__ import annotations

from .. import backend as xb
from ..autograd.tensor import Tensor

__all__ = ["Parameter", "check_float_dtype"]


def check_float_dtype(dtype, where: str) -> None:
    """Raise ``TypeError`` unless ``dtype`` (a name, dtype object, or None for the default) is floating point.

    Parameters are learned from gradients, which only floating-point arrays
    hold, so every way of making one (``nn.Parameter``, a layer's ``dtype=``,
    :meth:`Module.to`, an initializer) checks its dtype here. Integer and
    boolean state (counters, masks) belongs in a buffer.

    >>> check_float_dtype("float64", "nn.Linear")
    >>> check_float_dtype("int32", "nn.Linear")
    Traceback (most recent call last):
    ...
    TypeError: nn.Linear: parameters must have a floating-point dtype, got 'int32'; ...
    """
    if dtype is None:
        return
    try:
        name = xb.dtype_name(dtype)
    except Exception:  # noqa: BLE001 - any object without a dtype name is refused below
        name = None
    if not isinstance(name, str) or not name.startswith("float"):
        shown = name if isinstance(name, str) else dtype
        raise TypeError(f"{where}: parameters must have a floating-point dtype, got {shown!r}; learned values need "
                        "gradients, which integer and bool tensors cannot hold: pass dtype='float32' (or "
                        "'float64'), and keep integer state such as counters in a buffer "
                        "(module.register_buffer(name, tensor))")


class Parameter(Tensor):
    """A leaf :class:`~xpgrad.Tensor` that a module registers as learnable.

    Assigning a ``Parameter`` to an attribute of a :class:`~xpgrad.nn.Module`
    adds it to :meth:`~xpgrad.nn.Module.parameters`, which is what an
    optimizer updates. It requires gradients unless told otherwise, and wraps
    the array of a tensor without copying it.

    Parameters
    ----------
    data : Tensor, array, scalar or nested sequence
        The initial value; it must be floating point (integer or bool data,
        or ``dtype``, raises ``TypeError`` naming the dtype: keep such state
        in a buffer with :meth:`Module.register_buffer` instead).
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
        check_float_dtype(dtype, "nn.Parameter")
        if isinstance(data, Tensor) and dtype is None and backend is None:
            # Wrap without copying: start as a 0-d leaf on the same backend, then take over the array.
            super().__init__(0.0, backend=data.backend)
            self.set_(data)
        else:
            super().__init__(data, dtype=dtype, backend=backend)
        check_float_dtype(self.data.dtype, "nn.Parameter")
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
