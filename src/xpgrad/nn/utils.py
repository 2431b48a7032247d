"""Gradient clipping, as in ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the ``.grad`` arrays of the parameters in place (``g[...] = ...``),
so a gradient that is a view of an optimizer's flat gradient buffer stays that
view and the optimizer keeps its one-call update; a gradient array that cannot
be written is replaced by a new one instead. Call them after ``backward()`` and
before ``optimizer.step()``, e.g. as the ``before_update`` of
:func:`xpgrad.train.train_step`. Inside a compiled step they run at every call
on that call's gradients (the work is :func:`xpgrad.run_eagerly`; the arguments
are checked when the step is recorded).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from ..autograd.tracing import run_eagerly

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _tensors(where: str, parameters: Any) -> list[Tensor]:
    """A single tensor or an iterable of tensors (a generator is consumed once), as a list."""
    items = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameters must be xpgrad Tensors (e.g. model.parameters()); item {i} is "
                            f"a {type(p).__name__}")
    return items


def _number(where: str, name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    return v


def _write(p: Tensor, new: Any) -> None:
    """Put ``new`` into ``p.grad``: in place when the array allows it (a flat-buffer slot stays the slot)."""
    try:
        p.grad[...] = new
    except (TypeError, ValueError):  # a read-only or immutable array: hand the tensor a new one
        p.grad = new


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``; return the norm before.

    The total norm is the ``norm_type`` norm q of all gradients seen as one
    vector, ``‖g‖ = (Σ_p Σ_i |g_pi|^q)^(1/q)`` (the largest ``|g_pi|`` for
    ``norm_type=inf``). Every gradient is multiplied by
    min(1, max_norm / (‖g‖ + 1e-6)), so the direction of the step is kept and
    only its length shrinks; the factor is computed on the arrays' device, with
    no wait for it. Parameters whose ``.grad`` is None are skipped.
    ``error_if_nonfinite=True`` raises ``RuntimeError`` when the norm is NaN
    or infinite (a host read); otherwise the gradients then become NaN, as in PyTorch.

    >>> import xpgrad
    >>> from xpgrad.nn.utils import clip_grad_norm_
    >>> w = xpgrad.tensor([0.0, 0.0], requires_grad=True)
    >>> (w * xpgrad.tensor([3.0, 4.0])).sum().backward()
    >>> float(clip_grad_norm_([w], max_norm=1.0))
    5.0
    >>> [round(v, 4) for v in w.grad.tolist()]
    [0.6, 0.8]
    """
    where = "clip_grad_norm_"
    params = _tensors(where, parameters)
    max_norm = _number(where, "max_norm", max_norm)
    if max_norm < 0:
        raise ValueError(f"{where}: max_norm must be >= 0, got {max_norm!r}")
    q = _number(where, "norm_type", norm_type, allow_inf=True)
    if q <= 0:
        raise ValueError(f"{where}: norm_type must be positive (e.g. 2.0, 1.0 or float('inf')), got {norm_type!r}")
    if not isinstance(error_if_nonfinite, bool):
        raise TypeError(f"{where}: error_if_nonfinite must be True or False, got {error_if_nonfinite!r}")
    return _clip_norm(params, max_norm, q, error_if_nonfinite)

def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry to [−clip_value, clip_value] in place: g ← min(max(g, −c), c).

    Unlike :func:`clip_grad_norm_` this changes the direction of the
    gradient. Parameters whose ``.grad`` is None are skipped.

    >>> import xpgrad
    >>> from xpgrad.nn.utils import clip_grad_value_
    >>> w = xpgrad.tensor([0.0, 0.0], requires_grad=True)
    >>> (w * xpgrad.tensor([-3.0, 0.5])).sum().backward()
    >>> clip_grad_value_([w], 1.0)
    >>> w.grad.tolist()
    [-1.0, 0.5]
    """
    where = "clip_grad_value_"
    params = _tensors(where, parameters)
    c = _number(where, "clip_value", clip_value)
    if c < 0:
        raise ValueError(f"{where}: clip_value must be >= 0, got {clip_value!r}")
    _clip_value(params, c)


# The work is marked run_eagerly, on the parameters as a list: a compiled step runs it at every call with that
# call's gradients (a generator such as model.parameters() would be spent after the first).
@run_eagerly
def _clip_norm(params: list[Tensor], max_norm: float, q: float, error_if_nonfinite: bool) -> Tensor:
    where = "clip_grad_norm_"
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return as_tensor(0.0)
    backend = grads[0].backend
    for p in grads[1:]:
        if p.backend != backend:
            raise ValueError(f"{where}: all gradients must live on one backend, got {backend.name!r} and "
                             f"{p.backend.name!r}; move the model with model.to(backend)")
    xp = backend.xp
    # One norm per gradient, then the norm of those norms: the same value as the norm of the concatenation.
    dtype = grads[0].grad.dtype
    norms = xp.stack([xp.astype(xp.linalg.vector_norm(p.grad, ord=q), dtype) for p in grads])
    total = xp.max(norms) if math.isinf(q) else xp.linalg.vector_norm(norms, ord=q)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(f"{where}: the total norm of order {q} of the gradients of {len(grads)} parameters is "
                           f"{float(total)}, not finite; clipping cannot fix it. Look for NaN/inf in the loss, or "
                           "pass error_if_nonfinite=False")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)  # ≤ 1: gradients only ever shrink
    for p in grads:
        _write(p, p.grad * xp.astype(coef, p.grad.dtype))
    return as_tensor(total, backend=backend)


@run_eagerly
def _clip_value(params: list[Tensor], c: float) -> None:
    for p in params:
        if p.grad is not None:
            _write(p, p.backend.xp.clip(p.grad, -c, c))
