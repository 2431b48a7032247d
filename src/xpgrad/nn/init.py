"""Weight initializers, drawn from the backend's generator (seeded by :func:`xpgrad.manual_seed`).

Each initializer is a function ``init(shape, *, dtype=None, backend=None) -> Tensor``.
Shapes follow PyTorch: a weight of shape ``(out, in)`` (the layout of
:class:`~xpgrad.nn.Linear`) maps ``fan_in = in`` inputs to ``fan_out = out``
outputs; axes after the first two (a convolution's kernel) multiply both, as
in ``torch.nn.init``. Layers take an initializer by name or as such a
function, e.g. ``functools.partial(init.normal, std=0.1)``.
"""

from __future__ import annotations

import functools
import math

from .. import backend as xb
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from .parameter import check_float_dtype

__all__ = ["fans", "get", "kaiming", "normal", "xavier", "zeros"]


def _allocation(make):
    """Re-raise a failed allocation (a size beyond what the library or memory allows) naming the shape."""
    @functools.wraps(make)
    def wrapper(shape, *args, **kwargs):
        try:
            return make(shape, *args, **kwargs)
        except (ValueError, MemoryError, OverflowError) as e:
            if isinstance(e, ValueError) and "shape" in str(e):  # already ours, naming the shape
                raise
            raise ValueError(f"cannot allocate a parameter of shape {tuple(shape)}: {e}; use smaller layer "
                             "sizes") from None
    return wrapper


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, computed as PyTorch does.

    For shape (out, in, k₁, k₂, …): fan_in = in · Πk and fan_out = out · Πk.
    A vector counts its length as both (PyTorch refuses it; biases are
    initialized to zeros anyway), a scalar as 1.

    >>> fans((100, 784))  # nn.Linear(784, 100).weight
    (784, 100)
    >>> fans((16, 3, 5, 5))
    (75, 400)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


@_allocation
def _draw(shape, std, dtype, backend):
    check_float_dtype(dtype, "nn.init")  # random draws are floating point: name the dtype, not a raw error
    b = xb.current() if backend is None else xb.resolve(backend)
    dt = b.dtype(xb.get_default_dtype() if dtype is None else dtype)
    shape = tuple(shape)
    if len(shape) < 2:
        return as_tensor(b.random_normal(shape, dt) * std, backend=b)
    # Draw the (in, out) matrix and turn it around: the weights of the (out, in) layout then get the very
    # numbers that earlier versions (which stored Linear weights as (in, out)) drew from the same seed, so
    # seeded models, results and documentation examples stay the same networks.
    drawn = b.random_normal(shape[:-2] + (shape[-1], shape[-2]), dt)
    w = b.xp.reshape(b.xp.reshape(b.xp.matrix_transpose(drawn), (-1,)), shape)  # a C-ordered copy
    # Scale last, while the draws are still alive: allocating a large weight just after they were freed
    # put it where glibc's malloc then gave back and re-faulted the pages of every step's gradients (the
    # small MLP's step measured 1.8x slower, all in zero_grad and the optimizer; see docs/benchmarks.md).
    return as_tensor(w * std, backend=b)


def kaiming(shape, *, dtype=None, backend=None) -> Tensor:
    """He (Kaiming) normal: w ~ N(0, 2 / fan_in), the default for ReLU-family layers.

    The factor 2 keeps the variance of activations constant through ReLUs,
    which zero half of their inputs.

    >>> import xpgrad
    >>> from xpgrad.nn import init
    >>> xpgrad.manual_seed(0)
    >>> w = init.kaiming((50, 2000)).numpy()  # (out, in): fan_in = 2000
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


@_allocation
def zeros(shape, *, dtype=None, backend=None) -> Tensor:
    """All zeros (the usual choice for biases; for weights it leaves every unit identical).

    >>> from xpgrad.nn import init
    >>> init.zeros((2,)).tolist()
    [0.0, 0.0]
    """
    b = xb.current() if backend is None else xb.resolve(backend)
    dt = b.dtype(xb.get_default_dtype() if dtype is None else dtype)
    return as_tensor(b.xp.zeros(tuple(shape), dtype=dt), backend=b)


@_allocation
def _ones(shape, *, dtype=None, backend=None) -> Tensor:
    """All ones (the starting scale γ of a normalization layer)."""
    b = xb.current() if backend is None else xb.resolve(backend)
    dt = b.dtype(xb.get_default_dtype() if dtype is None else dtype)
    return as_tensor(b.xp.ones(tuple(shape), dtype=dt), backend=b)


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
