"""What :func:`~xpgrad.train.fit` and :func:`~xpgrad.train.evaluate` refuse: bad arguments, batches and labels.

Everything here runs where data enters the loop, before any update that it
could spoil: the arguments before the first step, each batch's form before
its step, class labels before the loss sees them.

- :func:`check_fit_arguments`: ``epochs``, ``batch_size``, ``loss``,
  ``optimizer``, ``schedule``, ``callbacks``, ... (TypeError for a wrong
  type, ValueError for a wrong value, each naming the argument and the form
  expected);
- :func:`check_batch`: one ``(x, y)`` batch from an iterable (not bare tensors,
  dicts, single samples or empty batches);
- :func:`label_problem` / :func:`label_flags`: class labels of integer dtype,
  one per sample, in ``[0, C)`` with ``C`` the model's number of outputs (read
  on the host, or kept on the device for the deferred per-epoch check);
- :func:`nonfinite_parameter`: the first parameter holding NaN or inf (one
  host read unless one is found), used before a checkpoint is written.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..backend import backend_of
from ..data.loader import check_label_range
from .history import History

__all__ = ["check_batch", "check_fit_arguments", "classes_of", "label_flags", "label_form", "label_problem",
           "nonfinite_parameter"]


def _count(value: Any, name: str, *, minimum: int, none_ok: bool = False) -> int | None:
    """``value`` as an int >= ``minimum``: TypeError for a non-integer, ValueError below the minimum."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer{' or None' if none_ok else ''}, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {what} integer{' or None' if none_ok else ''}, got {value!r}")
    return int(value)


def _reduction_of(loss: Any) -> Any:
    """The ``reduction`` a loss was bound with (``xpgrad.loss(name, reduction=...)`` or an attribute), if any."""
    keywords = getattr(loss, "keywords", None)
    if isinstance(keywords, dict) and "reduction" in keywords:
        return keywords["reduction"]
    return getattr(loss, "reduction", None)


def check_fit_arguments(*, model: Any, loss: Any, optimizer: Any, epochs: Any, batch_size: Any, schedule: Any,
                        regularizer: Any, callbacks: Any, start_epoch: Any, log_every: Any, history: Any,
                        step: Any, callback_type: type = object,
                        compile: Any = False) -> tuple[int, int | None, int, int | None, list]:
    """Check ``fit``'s arguments before training; return ``(epochs, batch_size, start_epoch, log_every, callbacks)``.

    ``callback_type`` is the class every callback must be an instance of
    (:class:`~xpgrad.train.Callback`, passed in so that the callbacks module
    can use this one).

    >>> check_fit_arguments(model=len, loss=len, optimizer=None, epochs=2.5, batch_size=None, schedule=None,
    ...                     regularizer=None, callbacks=(), start_epoch=0, log_every=None, history=None, step=None)
    Traceback (most recent call last):
    ...
    TypeError: epochs must be an integer, got 2.5 (float)
    """
    epochs = _count(epochs, "epochs", minimum=0)
    batch_size = _count(batch_size, "batch_size", minimum=1, none_ok=True)
    start_epoch = _count(start_epoch, "start_epoch", minimum=0)
    log_every = _count(log_every, "log_every", minimum=1, none_ok=True)
    if not callable(model):
        raise TypeError(f"model must be callable (a Module), got {type(model).__name__}")
    if not callable(loss):
        raise TypeError(f"loss must be a callable (scores, targets) -> scalar Tensor, e.g. "
                        f"xpgrad.loss('cross_entropy'); got {type(loss).__name__}")
    reduction = _reduction_of(loss)
    if reduction is not None and reduction not in ("mean", "sum"):
        raise ValueError(f"loss has reduction={reduction!r}, which gives one value per sample; fit needs a scalar "
                         "objective: use reduction='mean' (the default) or 'sum'")
    if not (callable(getattr(optimizer, "step", None)) and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"optimizer must have step() and zero_grad(), e.g. xpgrad.optimizer('sgd', "
                        f"model.parameters(), lr=0.1); got {type(optimizer).__name__}")
    if schedule is not None and not callable(getattr(schedule, "step", None)):
        raise TypeError(f"schedule must be a scheduler with a step() method, e.g. xpgrad.schedule('cosine', "
                        f"optimizer, total_steps=...) or xpgrad.schedules.Scheduler(optimizer, fn) to drive the "
                        f"learning rate with a function fn(step, lr); got {type(schedule).__name__} "
                        f"{getattr(schedule, '__name__', '')!s}".rstrip())
    if regularizer is not None and not callable(regularizer):
        raise TypeError(f"regularizer must be a callable parameters -> scalar Tensor, e.g. "
                        f"xpgrad.regularizer('l2', 1e-4); got {type(regularizer).__name__}")
    if step is not None and not callable(step):
        raise TypeError(f"step must be a callable (state, x, y) -> StepResult, got {type(step).__name__}")
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be True or False (train with a compiled step, or eagerly), got {compile!r} "
                        f"({type(compile).__name__})")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a History (e.g. History.from_dict(meta['history'])), got "
                        f"{type(history).__name__}")
    if isinstance(callbacks, callback_type) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of Callback objects, e.g. callbacks=[EarlyStopping()]; got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, callback_type):
            what = "a class (instantiate it: Name())" if isinstance(cb, type) else type(cb).__name__
            raise TypeError(f"callbacks[{i}] must be a Callback instance (a subclass of xpgrad.train.Callback), "
                            f"got {what}")
    return epochs, batch_size, start_epoch, log_every, callbacks


def check_batch(batch: Any, what: str, index: int) -> tuple[Any, Any]:
    """One item of a batch iterable as ``(x, y)``; TypeError/ValueError naming ``what`` and the expected form.

    >>> check_batch({"x": 1}, "train_data", 0)
    Traceback (most recent call last):
    ...
    TypeError: train_data yielded a dict at batch 0; it must yield (x, y) pairs, e.g. (batch['x'], batch['y'])
    """
    form = "an iterable of (x, y) batches (or an (X, y) pair of arrays, or a DataLoader)"
    if isinstance(batch, dict):
        raise TypeError(f"{what} yielded a dict at batch {index}; it must yield (x, y) pairs, e.g. "
                        f"(batch['x'], batch['y'])")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        got = f"a {type(batch).__name__}" + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        raise TypeError(f"{what} yielded {got} at batch {index}; {what} must be {form}")
    x, y = batch
    for name, a in (("x", x), ("y", y)):
        shape = getattr(a, "shape", None)
        if shape is not None and len(shape) == 0 or shape is None and isinstance(a, (numbers.Number, str)):
            raise TypeError(f"{what} yielded a batch whose {name} is a single value ({a!r}) at batch {index}: it "
                            f"looks like a list of samples; pass the (X, y) arrays instead, e.g. "
                            f"(np.stack(xs), np.array(ys)), or a DataLoader")
    rows = getattr(x, "shape", None)
    n = rows[0] if rows is not None else len(x) if hasattr(x, "__len__") else None
    if n == 0:
        raise ValueError(f"{what} yielded an empty batch (0 rows) at batch {index}; every batch needs at least "
                         "one sample (a mean over none is NaN)")
    return x, y


def classes_of(scores: Any) -> int | None:
    """C, the number of classes the scores stand for: their columns, 2 for one score per row, else None.

    >>> import numpy as np
    >>> classes_of(np.zeros((4, 3))), classes_of(np.zeros((4, 1))), classes_of(np.zeros((4, 2, 2)))
    (3, 2, None)
    """
    if scores.ndim == 2:
        return int(scores.shape[1]) if scores.shape[1] > 1 else 2
    return 2 if scores.ndim == 1 else None


def label_form(xp: Any, scores: Any, targets: Any, what: str) -> int | None:
    """Check the labels' dtype and shape (metadata only, no read); return C for class labels, None for float targets.

    Integer targets are class labels: one per sample (shape ``(N,)``, or
    ``(N, 1)`` beside one score per row). Float targets of shape ``(N,)``
    beside ``(N, C)`` scores with C > 2 are refused as labels given as floats.
    """
    n, c = scores.shape[0], classes_of(scores)
    if not xp.isdtype(targets.dtype, "integral"):
        if c is not None and c > 2 and targets.ndim == 1 and xp.isdtype(targets.dtype, "real floating"):
            raise TypeError(f"{what}: class labels y must be integers (one class index per sample), got dtype "
                            f"{targets.dtype}; convert them, e.g. y.astype('int64')")
        return None  # float targets (one-hot, regression): the loss checks them
    if targets.ndim == 1 and targets.shape[0] == n or targets.ndim == 2 and tuple(targets.shape) == (n, 1) == tuple(
            scores.shape):
        return c
    raise ValueError(f"{what}: class labels y must hold one label per sample, shape ({n},), for scores of shape "
                     f"{tuple(scores.shape)}; got y of shape {tuple(targets.shape)}")


def label_problem(xp: Any, scores: Any, targets: Any, what: str, where: str = "") -> None:
    """Raise ValueError/TypeError for bad class labels, naming the first bad one, its position and the range.

    Reads two values back to the host (min and max), so it runs once per
    dataset or per batch on host backends.

    >>> import numpy as np
    >>> label_problem(np, np.zeros((3, 2)), np.array([0, 1, 2]), "train_data")
    Traceback (most recent call last):
    ...
    ValueError: train_data: class label y[2] = 2 is out of range: labels must be in [0, 2) for a model with 2 ...
    """
    c = label_form(xp, scores, targets, what)
    if c is not None:
        check_label_range(xp, targets, c, what, where, f" for a model with {c} outputs (scores of shape "
                                                      f"{tuple(scores.shape)})")


def label_flags(xp: Any, scores: Any, targets: Any, what: str) -> tuple[Any, Any, Any] | None:
    """Device form of :func:`label_problem`: ``(any_bad, first_position, its_value)`` as 0-d arrays, not read.

    The dtype and shape (host metadata) are still checked at once; None when
    the targets are not class labels.
    """
    c = label_form(xp, scores, targets, what)
    if c is None:
        return None
    flat = xp.reshape(targets, (-1,))
    bad = (flat < 0) | (flat >= c)
    pos = xp.argmax(xp.astype(bad, xp.int8))
    return xp.any(bad), pos, xp.take(flat, xp.reshape(pos, (1,)))[0]


def nonfinite_parameter(named: list[tuple[str, Any]], grads: bool = False) -> str | None:
    """Name of the first parameter (or its gradient, with ``grads=True``) holding NaN or inf, else None.

    One sum per array folded into one host read; only when that sum is not
    finite is each array tested (a sum of finite values can overflow).

    >>> import xpgrad
    >>> nonfinite_parameter([("w", xpgrad.tensor([1.0])), ("b", xpgrad.tensor([float("nan")]))])
    'b'
    """
    arrays = [(name, p.grad if grads else p.data) for name, p in named]
    arrays = [(name, a) for name, a in arrays if a is not None]
    if not arrays:
        return None
    xp = backend_of(arrays[0][1]).xp
    total = xp.sum(arrays[0][1])
    for _, a in arrays[1:]:
        total = total + xp.sum(a)
    if math.isfinite(float(total)):
        return None
    for name, a in arrays:
        if not bool(xp.all(xp.isfinite(a))):
            return name
    return None
