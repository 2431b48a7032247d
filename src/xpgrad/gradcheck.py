"""Numeric versus analytic gradients: central differences in float64."""

from __future__ import annotations

import warnings

import numpy as np

from . import backend as _backend
from .autograd import Tensor, as_tensor, concat, enable_grad, no_grad, reshape
from .autograd.higher import grad as _grad

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its central-difference estimate.

    Attributes ``input_index``, ``element``, ``analytic``, ``numeric`` and
    ``relative_error`` describe the first disagreeing entry.
    """

    def __init__(self, input_index, element, analytic, numeric, relative_error):
        self.input_index, self.element = input_index, element
        self.analytic, self.numeric, self.relative_error = analytic, numeric, relative_error
        super().__init__(
            f"gradient mismatch for input {input_index} at element {element}: analytic {analytic:.8g}, "
            f"numeric {numeric:.8g}, relative error {relative_error:.3g}")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Compare the gradients from :meth:`Tensor.backward` with central differences.

    The output ``y = fn(*inputs)`` may have any shape; it is reduced to the
    scalar L = Σ r ⊙ y with a fixed random ``r``, so one backward pass gives
    the analytic ∂L/∂x. For every element x_k of every input that requires
    grad the numeric estimate is

        (L(x + ε e_k) − L(x − ε e_k)) / (2ε),

    and the two must satisfy ``|analytic − numeric| <= atol + rtol·|numeric|``.

    Parameters
    ----------
    fn : callable
        Takes the input tensors, returns a tensor.
    inputs : Tensor or sequence
        Tensors (those with ``requires_grad=True`` are checked) and other arguments.
    eps, atol, rtol : float
        Step and tolerances; the defaults suit float64 (a warning is given otherwise).
    raise_exception : bool
        Raise :class:`GradcheckError` on a mismatch (default) or return False.

    Returns
    -------
    bool
        True when every gradient matches.

    Examples
    --------
    >>> import xpgrad
    >>> x = xpgrad.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    >>> xpgrad.gradcheck(lambda t: xpgrad.tanh(t) * t, [x])
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if _backend.dtype_name(inputs[i].dtype) != "float64":
            warnings.warn(f"gradcheck: input {i} has dtype {inputs[i].dtype}; central differences need float64 "
                          "to be reliable (make it with dtype='float64')", stacklevel=2)

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    r = out.backend.asarray(weights, dtype=out.dtype)
    for i in checked:
        inputs[i].grad = None
    out.backward(r)

    def objective(values, i):
        probe = list(inputs)
        probe[i] = as_tensor(values, dtype=inputs[i].dtype, backend=inputs[i].backend)
        with no_grad():
            y = fn(*probe)
        return float(np.sum(_backend.to_numpy(y.data).astype(np.float64) * weights))

    for i in checked:
        t = inputs[i]
        base = _backend.to_numpy(t.data).astype(np.float64)
        analytic = np.zeros(base.shape) if t.grad is None else _backend.to_numpy(t.grad).astype(np.float64)
        for k in np.ndindex(base.shape):
            old = base[k]
            base[k] = old + eps
            hi = objective(base, i)
            base[k] = old - eps
            lo = objective(base, i)
            base[k] = old
            numeric = (hi - lo) / (2 * eps)
            a = float(analytic[k])
            if not abs(a - numeric) <= atol + rtol * abs(numeric):
                if raise_exception:
                    raise GradcheckError(i, k, a, numeric, abs(a - numeric) / max(abs(numeric), 1e-12))
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Check second derivatives: the gradient of ``fn``'s gradient against central differences.

    With ``y = fn(*inputs)`` and output gradients ``v`` (``grad_outputs``;
    random, fixed by ``seed``, when None), the first derivative
    G(x, v) = vᵀ ∂y/∂x is computed with :func:`xpgrad.grad` and
    ``create_graph=True``, and :func:`gradcheck` then compares the gradient
    of G (a backward pass through the recorded backward pass) with central
    differences of G, with respect to every input that requires grad and to
    ``v`` itself (so a backward that mishandles its incoming gradient fails
    too). Tolerances and the float64 advice are those of :func:`gradcheck`.

    Parameters
    ----------
    fn : callable
        Takes the input tensors, returns a tensor.
    inputs : Tensor or sequence
        Tensors (those with ``requires_grad=True`` are checked) and other arguments.
    grad_outputs : Tensor or array, optional
        The gradient v of the output; it must have the output's shape.
    eps, atol, rtol, raise_exception, seed
        As for :func:`gradcheck`.

    Examples
    --------
    >>> import xpgrad
    >>> x = xpgrad.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    >>> xpgrad.gradgradcheck(lambda t: xpgrad.sin(t) * t * t, [x])
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True, so there is nothing to check")
    with enable_grad():
        out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: fn must return a Tensor, got {type(out).__name__}")
    if grad_outputs is None:
        v = np.random.default_rng(seed + 1).standard_normal(out.shape)
        grad_outputs = as_tensor(v, dtype=out.dtype, backend=out.backend)
    elif not isinstance(grad_outputs, Tensor):
        grad_outputs = as_tensor(grad_outputs, dtype=out.dtype, backend=out.backend)
    if grad_outputs.shape != out.shape:
        raise ValueError(f"gradgradcheck: grad_outputs has shape {grad_outputs.shape} but fn's output has shape "
                         f"{out.shape}; pass one of the output's shape (or None for a random one)")
    v = grad_outputs.detach().requires_grad_()

    def first_derivative(*args):
        *xs, gv = args
        xs = [x.requires_grad_() if k in checked and not x.requires_grad else x for k, x in enumerate(xs)]
        if not gv.requires_grad:
            gv = gv.requires_grad_()
        with enable_grad():
            y = fn(*xs)
            grads = _grad(y, [xs[k] for k in checked], gv, create_graph=True, allow_unused=True)
            parts = [reshape(g, (-1,)) for g in grads if g is not None]
            flat = concat(parts) if parts else None
            if flat is None or not flat.requires_grad:  # the gradient does not depend on the inputs: G'' = 0
                zero = sum((reshape(xs[k], (-1,))[:1] * 0.0).sum() for k in checked) + (gv * 0.0).sum()
                flat = zero if flat is None else flat + zero
        return flat

    return gradcheck(first_derivative, [*inputs, v], eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed)
