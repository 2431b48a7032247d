"""``__array_namespace_info__``: what xpgrad.array_api offers on the current backend."""

from __future__ import annotations

from typing import Any

from .. import backend as _backend
from ..autograd import filled as _filled

__all__ = ["__array_namespace_info__"]

_KIND_NAMES = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8", "uint16", "uint32", "uint64"),
    "real floating": ("float32", "float64"),
    "complex floating": ("complex64", "complex128"),
}
_KIND_NAMES["integral"] = _KIND_NAMES["signed integer"] + _KIND_NAMES["unsigned integer"]
_KIND_NAMES["numeric"] = _KIND_NAMES["integral"] + _KIND_NAMES["real floating"] + _KIND_NAMES["complex floating"]


class Info:
    """The inspection object of :mod:`xpgrad.array_api` for the current backend (when it was made)."""

    __module__ = "xpgrad.array_api"

    def __init__(self) -> None:
        self._lib_backend = _backend.current()
        self._info = _filled.namespace_info(self._lib_backend)

    def __repr__(self) -> str:
        return f"<xpgrad.array_api info for backend {self._lib_backend.name!r}>"

    def capabilities(self) -> dict[str, Any]:
        """Boolean indexing and data-dependent shapes are supported; the maximum rank is the backend's."""
        theirs = self._info.capabilities()
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": theirs.get("max dimensions")}

    def default_device(self) -> Any:
        """Where new arrays go: the backend's default device."""
        return self._lib_backend.default_device()

    def devices(self) -> list[Any]:
        """The backend's devices."""
        return list(self._info.devices())

    def _check(self, device: Any) -> None:
        _filled.check_device("__array_namespace_info__", self._lib_backend, device)

    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        """xpgrad's default float (see :func:`xpgrad.set_default_dtype`), its complex match, and int64 indices."""
        self._check(device)
        b = self._lib_backend
        theirs = self._info.default_dtypes(device=device)
        integral, indexing = (b.dtype(_backend.dtype_name(theirs[k])) for k in ("integral", "indexing"))
        return {"real floating": b.dtype(_filled.default_float()),
                "complex floating": b.dtype(_filled.default_complex()), "integral": integral, "indexing": indexing}

    def dtypes(self, *, device: Any = None, kind: str | tuple[str, ...] | None = None) -> dict[str, Any]:
        """The dtypes of ``kind`` (a kind name or a tuple of them; None: all), by name."""
        self._check(device)
        kinds = ("bool", "numeric") if kind is None else (kind if isinstance(kind, tuple) else (kind,))
        names: list[str] = []
        for k in kinds:
            if k not in _KIND_NAMES:
                raise ValueError(f"dtypes: unknown kind {k!r}; use one of {', '.join(map(repr, _KIND_NAMES))}")
            names += [n for n in _KIND_NAMES[k] if n not in names]
        available = self._info.dtypes(device=device)
        return {n: self._lib_backend.dtype(n) for n in names if n in available}


def __array_namespace_info__() -> Info:
    """The inspection namespace: capabilities, default device and dtypes, devices and dtypes of the current backend.

    >>> import xpgrad
    >>> info = xpgrad.array_api.__array_namespace_info__()
    >>> info.capabilities()["boolean indexing"], info.default_dtypes()["real floating"] == xpgrad.array_api.float32
    (True, True)
    """
    return Info()
