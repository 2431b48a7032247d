"""Weight initializers, drawn from the backend's generator (seeded by :func:`xpgrad.manual_seed`).

Each initializer is a function ``init(shape, *, dtype=None, backend=None) -> Tensor``.
A weight of shape ``(fan_in, fan_out)`` (the layout of :class:`~xpgrad.nn.Linear`)
maps ``fan_in`` inputs to ``fan_out`` outputs; for more dimensions the last two
axes are used. Layers take an initializer by name or as such a function, e.g.
``functools.partial(init.normal, std=0.1)``.
"""

from __future__ import annotations

import math

from .. import backend as _backend
from ..autograd.tensor import Tensor

__all__ = ["fans", "get", "kaiming", "normal", "xavier", "zeros"]


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape: the last two axes, or the length of a vector twice.

    >>> fans((784, 100))
    (784, 100)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[-2], shape[-1]


def _draw(shape, std, dtype, backend):
    b = _backend.current() if backend is None else _backend.resolve(backend)
    dt = b.dtype(_backend.get_default_dtype() if dtype is None else dtype)
    return Tensor._make(b.random_normal(tuple(shape), dt) * std, b)


def kaiming(shape, *, dtype=None, backend=None) -> Tensor:
    """He (Kaiming) normal: w ~ N(0, 2 / fan_in), the default for ReLU-family layers.

    The factor 2 keeps the variance of activations constant through ReLUs,
    which zero half of their inputs.

    >>> import xpgrad
    >>> from xpgrad.nn import init
    >>> xpgrad.manual_seed(0)
    >>> w = init.kaiming((2000, 50)).numpy()
    >>> round(float(w.std() ** 2 * 2000), 1)
    2.0
    """
    fan_in, _ = fans(shape)
    return _draw(shape, math.sqrt(2.0 / max(fan_in, 1)), dtype, backend)


def xavier(shape, *, dtype=None, backend=None) -> Tensor:
    """Xavier (Glorot) normal: w ~ N(0, 2 / (fan_in + fan_out)), suited to tanh and sigmoid.

    >>> import xpgrad
    >>> from xpgrad.nn import init
    >>> xpgrad.manual_seed(0)
    >>> w = init.xavier((1000, 1000)).numpy()
    >>> round(float(w.std() ** 2 * 2000), 1)
    2.0
    """
    fan_in, fan_out = fans(shape)
    return _draw(shape, math.sqrt(2.0 / max(fan_in + fan_out, 1)), dtype, backend)


def normal(shape, *, std: float = 0.01, dtype=None, backend=None) -> Tensor:
    """Plain Gaussian: w ~ N(0, std²) (the lecture's ``0.01 * randn``).

    >>> import xpgrad
    >>> from xpgrad.nn import init
    >>> float(abs(init.normal((100, 100), std=0.01).numpy()).max()) < 0.1
    True
    """
    if not std >= 0:
        raise ValueError(f"normal init: std must be >= 0, got {std!r}")
    return _draw(shape, float(std), dtype, backend)


def zeros(shape, *, dtype=None, backend=None) -> Tensor:
    """All zeros (the usual choice for biases; for weights it leaves every unit identical).

    >>> from xpgrad.nn import init
    >>> init.zeros((2,)).tolist()
    [0.0, 0.0]
    """
    b = _backend.current() if backend is None else _backend.resolve(backend)
    dt = b.dtype(_backend.get_default_dtype() if dtype is None else dtype)
    return Tensor._make(b.xp.zeros(tuple(shape), dtype=dt), b)


_NAMES = {"kaiming": kaiming, "he": kaiming, "xavier": xavier, "glorot": xavier, "normal": normal, "zeros": zeros}


def get(spec):
    """Resolve an initializer given by name (``"kaiming"``, ``"xavier"``, ``"normal"``, ``"zeros"``) or callable.

    >>> get("he") is kaiming
    True
    """
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]
    raise ValueError(f"unknown initializer {spec!r}; use one of {sorted(_NAMES)} or a function "
                     "f(shape, *, dtype=None, backend=None) -> Tensor")
