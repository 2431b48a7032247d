"""The array object's conversion protocols: ``bool()``, ``int()``, ``float()``, ``complex()``, ``operator.index()``,
``np.asarray()`` and DLPack, as a base class of :class:`~xpgrad.Tensor` (kept apart to keep ``tensor.py`` short).

Python conversions need a tensor with exactly one element; ``float``/``int``
refuse complex values rather than drop the imaginary part. Exports to other
libraries (``__array__``, ``__dlpack__``) refuse tensors that require grad, so
that a library falling back to NumPy cannot cut the graph unnoticed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import backend as _backend
from . import tracing as _tracing

__all__ = ["ArrayProtocols"]


class ArrayProtocols:
    """Conversions of a Tensor (``data``, ``_backend``, ``size``, ``shape``... come from the subclass)."""

    __slots__ = ()
    data: Any
    _backend: Any
    requires_grad: bool

    if TYPE_CHECKING:
        @property
        def size(self) -> int: ...
        @property
        def shape(self) -> tuple: ...
        @property
        def dtype(self) -> Any: ...

    def _scalar(self, kind: str):
        """The one element of a 0-d (or one-element) tensor, as a backend 0-d array, for ``bool()``, ``int()``..."""
        _tracing.host_read(self, f"{kind}()")
        if self.size != 1:
            raise TypeError(f"{kind}() of a tensor needs exactly one element, this one has shape {self.shape}; "
                            "reduce it first (e.g. with any(), all() or sum()) or index one element")
        return self.data if self.data.ndim == 0 else self._backend.xp.reshape(self.data, ())

    def _real_scalar(self, kind: str):
        x = self._scalar(kind)
        if self._backend.is_complex(x.dtype):
            raise TypeError(f"{kind}() of a complex tensor would drop the imaginary part; use complex(t), or "
                            f"{kind}(xpgrad.real(t)) to take the real part on purpose")
        return x

    def __bool__(self) -> bool:
        """``bool(t)`` of a one-element tensor (nonzero is True; a complex value counts its both parts)."""
        x = self._scalar("bool")
        if self._backend.is_complex(x.dtype):
            return bool(complex(_backend.to_numpy(x)))
        return bool(x)

    def __float__(self) -> float:
        """``float(t)`` of a one-element real tensor."""
        return float(self._real_scalar("float"))

    def __int__(self) -> int:
        """``int(t)`` of a one-element real tensor (floats truncate toward zero; inf and nan raise)."""
        x = self._real_scalar("int")
        if self._backend.is_floating(x.dtype):
            return int(float(x))
        return int(x)

    def __complex__(self) -> complex:
        """``complex(t)`` of a one-element tensor, keeping the imaginary part."""
        x = self._scalar("complex")
        return complex(_backend.to_numpy(x)[()])

    def __index__(self) -> int:
        """``operator.index(t)`` of a one-element integer tensor, so it can index Python sequences."""
        x = self._scalar("index")
        if not self._backend.xp.isdtype(x.dtype, "integral"):
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.dtype}; use int(t) "
                            "to truncate a float on purpose")
        return int(x)

    def _refuse_export(self, how: str) -> None:
        _tracing.host_read(self, how)
        if self.requires_grad:
            raise RuntimeError(
                f"{how} of a tensor that requires grad would drop it from the graph silently (the gradient "
                "would stop here). Call .detach() first if that is what you want, or keep computing with "
                "xpgrad.array_api so that gradients flow")

    def __array__(self, dtype=None, copy=None):
        """The data as a NumPy array (``np.asarray(t)``); refused for tensors that require grad."""
        self._refuse_export("np.asarray()")
        if copy is False and not self._backend.on_host:
            raise ValueError(f"np.asarray(t, copy=False): the data lives on the {self._backend.name} backend's "
                             "device and cannot be shared with NumPy without a copy")
        arr = self._backend.to_numpy(self.data)  # a view where the library allows it (NumPy: the array itself)
        if dtype is not None and arr.dtype != dtype:
            if copy is False:
                raise ValueError("np.asarray(t, dtype=..., copy=False): a copy is needed to change the dtype")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Export the data through DLPack (``np.from_dlpack(t)``); refused for tensors that require grad."""
        self._refuse_export("DLPack export")
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version), ("dl_device", dl_device),
                                    ("copy", copy)) if v is not None}
        return self._as_array().__dlpack__(**kwargs)

    def __dlpack_device__(self):
        """The DLPack (device type, device id) of the data."""
        return self._as_array().__dlpack_device__()

    def _as_array(self):
        # NumPy returns a scalar (np.float32...) for some 0-d results; DLPack needs a 0-d array
        data = self.data
        return data if hasattr(data, "__dlpack__") else self._backend.xp.asarray(data)
