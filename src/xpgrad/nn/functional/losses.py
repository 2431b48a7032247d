"""Functional losses with PyTorch's names and signatures, backed by the registered losses.

The common case of each loss calls the built-in component that ``xpgrad.loss(name)``
returns (one fused graph node: ``softmax_cross_entropy``, ``mse``,
``binary_cross_entropy``, ``multiclass_svm``); the options those components do
not have (class weights, ignored targets, label smoothing, probability targets,
``pos_weight``, the squared hinge) are composed from the same activations and
array-API ops, so their gradients come from the engine.
"""

from __future__ import annotations

from typing import Any

from ... import activations as _act
from ... import array_api as xa
from ... import losses as _losses
from ...autograd import Tensor, arange, as_tensor
from .basic import tensor_arg

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "l1_loss", "mse_loss", "multi_margin_loss",
           "nll_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(fn: str, reduction: Any) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction={reduction!r} is not one of 'mean', 'sum', 'none'")


def _reduce(per: Tensor, reduction: str, count: Any = None) -> Tensor:
    """Σ per / count (count defaults to the number of elements), Σ per, or per itself."""
    if reduction == "none":
        return per
    total = xa.sum(per)
    if reduction == "sum":
        return total
    return xa.mean(per) if count is None else total / count


def _rows(fn: str, input: Tensor, what: str = "input") -> tuple[Tensor, tuple]:
    """Scores as (M, C) rows: (C,) -> (1, C); (N, C) stays; (N, C, d1, ...) moves C last and folds the rest.

    Also returns the shape of the per-sample result (``reduction="none"``).
    """
    if input.ndim == 1:
        return xa.reshape(input, (1, input.shape[0])), ()
    if input.ndim == 2:
        return input, (input.shape[0],)
    if input.ndim > 2:
        n, c, *rest = input.shape
        return xa.reshape(xa.moveaxis(input, 1, -1), (-1, c)), (n, *rest)
    raise ValueError(f"{fn}: {what} must have the classes on axis 1, shape (C,), (N, C) or (N, C, d1, ...); got a "
                     "0-d tensor")


def _labels(fn: str, input: Tensor, target: Any) -> Tensor:
    """Integer class indices as a flat (M,) tensor, after checking their shape against the input's."""
    t = target if isinstance(target, Tensor) else as_tensor(target, backend=input.backend)
    want = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if t.shape != want:
        raise ValueError(f"{fn}: target of shape {t.shape} does not fit input of shape {input.shape}; class-index "
                         f"targets need shape {want} (the input's shape without the class axis 1)")
    return xa.reshape(t, (-1,))


def _is_integral(t: Any) -> bool:
    return isinstance(t, Tensor) and t.backend.xp.isdtype(t.data.dtype, "integral")


def _const(fn: str, name: str, value: Any, input: Tensor) -> Tensor:
    """A weight-like constant as a tensor on the input's backend, in the input's float dtype."""
    if not isinstance(value, Tensor):
        return as_tensor(value, dtype=input.dtype, backend=input.backend)
    if value.backend is not input.backend:
        raise ValueError(f"{fn}: {name} lives on backend {value.backend.name!r} but the input on "
                         f"{input.backend.name!r}; move it with .to({input.backend.name!r}) (a loss module: "
                         f"loss.to({input.backend.name!r}))")
    return value if value.dtype == input.dtype else xa.astype(value, input.dtype)  # constants follow the scores


def _weight(fn: str, weight: Any, input: Tensor, size: int, name: str = "weight") -> Tensor:
    """A per-class weight vector of length ``size`` in the input's dtype and backend."""
    w = _const(fn, name, weight, input)
    if w.shape != (size,):
        raise ValueError(f"{fn}: {name} of shape {w.shape} must have shape ({size},), one value per class")
    return w


def _check_range(fn: str, labels: Tensor, classes: int, ignore_index: int | None) -> None:
    """On a host backend, refuse labels outside [0, C) (other than ``ignore_index``), naming the first one.

    On a device backend the check would synchronise every step, so it is left
    to where data enters (the training loop and the DataLoader check labels).
    """
    if not labels.backend.on_host or labels.size == 0:
        return
    bad = xa.logical_or(labels < 0, labels >= classes)
    if ignore_index is not None:
        bad = xa.logical_and(bad, labels != ignore_index)
    if bool(xa.any(bad).item()):
        at = int(xa.argmax(xa.astype(bad, "int8")).item())
        value = int(labels[at].item())
        skip = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"{fn}: class label {value} at position {at} is not in [0, {classes}){skip}; labels must "
                         f"be integers 0..{classes - 1} for input with {classes} classes")


def _nll_rows(fn: str, logp: Tensor, labels: Tensor, weight: Tensor | None, ignore_index: int | None,
              ) -> tuple[Tensor, Tensor, Tensor]:
    """Per row: −w_y·logp[y] (0 for ignored rows), its weight w_y (0 if ignored), and the row's class weights."""
    classes = logp.shape[1]
    _check_range(fn, labels, classes, ignore_index)
    hit = labels[:, None] == arange(classes, dtype=labels.dtype, backend=labels.backend)
    if ignore_index is not None:
        hit = xa.logical_and(hit, (labels != ignore_index)[:, None])
    rows = xa.astype(hit, logp.dtype)  # one-hot; all zero on ignored rows
    if weight is not None:
        rows = rows * weight[None, :]
    return -xa.sum(rows * logp, axis=1), xa.sum(rows, axis=1), rows


def nll_loss(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int | None = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices from log-probabilities: ℓᵢ = −w_{yᵢ}·input[i, yᵢ].

    ``input`` holds log-probabilities, shape (N, C) (or (C,), or (N, C, d1, ...)
    with targets (N, d1, ...)); ``weight`` optional per-class weights (C,).
    Targets equal to ``ignore_index`` count for nothing (PyTorch's default is
    −100; here it is None, no class ignored). ``"mean"`` divides by Σ w_{yᵢ}
    over the rows kept, as PyTorch does.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> logp = xpgrad.log(xpgrad.tensor([[0.5, 0.5], [0.25, 0.75]]))
    >>> round(F.nll_loss(logp, [0, 1], reduction="sum").item(), 4)
    0.9808
    """
    tensor_arg("nll_loss", input)
    _check_reduction("nll_loss", reduction)
    scores, shape = _rows("nll_loss", input)
    labels = _labels("nll_loss", input, target)
    if not _is_integral(labels):
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {labels.dtype}")
    w = None if weight is None else _weight("nll_loss", weight, input, scores.shape[1])
    per, count, _ = _nll_rows("nll_loss", scores, labels, w, ignore_index)
    return xa.reshape(per, shape) if reduction == "none" else _reduce(per, reduction, xa.sum(count))


def cross_entropy(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int | None = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of raw scores: ℓᵢ = −log softmax(xᵢ)[yᵢ] = log Σⱼ e^{xᵢⱼ} − x_{i,yᵢ}.

    ``input`` is (N, C) scores (or (C,), or (N, C, d1, ...)). ``target`` is
    either class indices (integers, the input's shape without axis 1) or
    class probabilities shaped like the input. With label smoothing ε the
    target becomes (1 − ε)·onehot(y) + ε/C. ``weight`` (C,) scales each
    class's term; ``ignore_index`` skips those targets (default None, no class
    ignored; PyTorch's is −100). ``"mean"`` divides by Σ w_{yᵢ} for class
    indices and by the number of rows for probabilities, as in PyTorch.

    The plain case (class indices, no weight, no smoothing, nothing ignored) is
    the registered ``softmax_cross_entropy`` loss, one fused node whose
    gradient is (softmax(x) − onehot(y)) / N.

    >>> import math, xpgrad
    >>> from xpgrad.nn import functional as F
    >>> loss = F.cross_entropy(xpgrad.zeros((2, 10)), xpgrad.tensor([3, 7]))
    >>> round(loss.item(), 5) == round(math.log(10), 5)
    True
    """
    fn = "cross_entropy"
    tensor_arg(fn, input)
    _check_reduction(fn, reduction)
    eps = label_smoothing
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {eps!r}")
    t = target if isinstance(target, Tensor) else as_tensor(target, backend=input.backend)
    if not _is_integral(t):  # floats: class probabilities
        return _cross_entropy_probs(input, t, weight, ignore_index, reduction, float(eps))
    scores, shape = _rows(fn, input)
    labels = _labels(fn, input, t)
    classes = scores.shape[1]
    w = None if weight is None else _weight(fn, weight, input, classes)
    if w is None and ignore_index is None and eps == 0.0:
        per = _losses.softmax_cross_entropy(scores, labels, reduction=reduction)
        return xa.reshape(per, shape) if reduction == "none" else per
    logp = _act.log_softmax(scores, axis=1)
    per, count, _ = _nll_rows(fn, logp, labels, w, ignore_index)
    if eps > 0.0:
        # PyTorch's smoothing term: ε/C · Σ_c w_c (−logp_c), on the rows that are not ignored
        kept = xa.astype(count != 0, logp.dtype) if ignore_index is not None else None
        lw = logp if w is None else logp * w[None, :]
        smooth = -xa.sum(lw, axis=1) / classes
        if kept is not None:
            smooth = smooth * kept
        per = (1.0 - eps) * per + eps * smooth
    return xa.reshape(per, shape) if reduction == "none" else _reduce(per, reduction, xa.sum(count))


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, eps):
    fn = "cross_entropy"
    if ignore_index is not None:
        raise ValueError("cross_entropy: ignore_index applies to class-index targets only; the targets here are "
                         "class probabilities (floats shaped like the input)")
    t = target if target.dtype == input.dtype else xa.astype(target, input.dtype)
    if t.shape != input.shape:
        raise ValueError(f"cross_entropy: probability targets of shape {t.shape} must match the input's shape "
                         f"{input.shape} (or give integer class indices)")
    scores, shape = _rows(fn, input)
    probs, _ = _rows(fn, t, "target")
    classes = scores.shape[1]
    if eps > 0.0:
        probs = probs * (1.0 - eps) + eps / classes
    if weight is not None:
        probs = probs * _weight(fn, weight, input, classes)[None, :]
    per = -xa.sum(probs * _act.log_softmax(scores, axis=1), axis=1)
    return xa.reshape(per, shape) if reduction == "none" else _reduce(per, reduction)


def _same_shape(fn: str, input: Tensor, target: Any) -> Tensor:
    t = target if isinstance(target, Tensor) else as_tensor(target, dtype=input.dtype, backend=input.backend)
    if t.shape != input.shape:
        raise ValueError(f"{fn}: target of shape {t.shape} does not match input of shape {input.shape}; reshape "
                         "one of them (no silent broadcasting)")
    return t


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: the mean over all elements of (xᵢ − tᵢ)² (``"sum"``: the sum; ``"none"``: each term).

    The registered ``mse`` loss. Shapes must match exactly (PyTorch
    broadcasts with a warning; here that is an error).

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.mse_loss(xpgrad.tensor([1.0, 3.0]), xpgrad.tensor([0.0, 0.0])).item()
    5.0
    """
    tensor_arg("mse_loss", input)
    _check_reduction("mse_loss", reduction)
    return _losses.mse(input, _same_shape("mse_loss", input, target), reduction=reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: the mean over all elements of abs(xᵢ − tᵢ); the gradient is sign(x − t).

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> F.l1_loss(xpgrad.tensor([1.0, -3.0]), xpgrad.tensor([0.0, 0.0])).item()
    2.0
    """
    tensor_arg("l1_loss", input)
    _check_reduction("l1_loss", reduction)
    return _reduce(xa.abs(input - _same_shape("l1_loss", input, target)), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None, *, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of logits: ℓ = −w·[p·t·log σ(x) + (1 − t)·log(1 − σ(x))], mean over elements.

    Computed as (1 − t)·x + (1 + (p − 1)·t)·softplus(−x), which never
    overflows. ``pos_weight`` p (default 1) weighs the positive term and
    broadcasts along the last axis (one value per class in multi-label
    problems); ``weight`` w rescales each element and broadcasts against the
    input. Without either it is the registered ``binary_cross_entropy`` loss,
    whose gradient is σ(x) − t.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> round(F.binary_cross_entropy_with_logits(xpgrad.tensor([0.0]), xpgrad.tensor([1.0])).item(), 4)
    0.6931
    >>> round(F.binary_cross_entropy_with_logits(xpgrad.tensor([0.0]), xpgrad.tensor([1.0]),
    ...                                          pos_weight=xpgrad.tensor([3.0])).item(), 4)
    2.0794
    """
    fn = "binary_cross_entropy_with_logits"
    tensor_arg(fn, input)
    _check_reduction(fn, reduction)
    t = _same_shape(fn, input, target)
    extra = {}
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is not None:
            v = _const(fn, name, value, input)
            if not _broadcasts(v.shape, input.shape):
                raise ValueError(f"{fn}: {name} of shape {v.shape} does not broadcast to the input's shape "
                                 f"{input.shape}; give one value per element or per class (last axis)")
            extra[name] = v
    if not extra:
        return _losses.binary_cross_entropy(input, t, reduction=reduction)
    if "pos_weight" in extra:
        p = extra["pos_weight"]
        per = (1.0 - t) * input + (1.0 + (p - 1.0) * t) * _act.softplus(-input)
    else:
        per = _losses.binary_cross_entropy(input, t, reduction="none")
    if "weight" in extra:
        per = per * extra["weight"]
    return _reduce(per, reduction)


def _broadcasts(shape: tuple, to: tuple) -> bool:
    """Whether an array of ``shape`` broadcasts to ``to`` without changing it."""
    if len(shape) > len(to):
        return False
    return all(a in (1, b) for a, b in zip(reversed(shape), reversed(to), strict=False))


def multi_margin_loss(input: Tensor, target: Any, p: int = 1, margin: float = 1.0, weight: Any = None, *,
                      reduction: str = "mean") -> Tensor:
    """Multiclass hinge: ℓᵢ = Σ_{j≠yᵢ} w_{yᵢ}·max(0, margin − x_{i,yᵢ} + x_{ij})ᵖ / C, with p = 1 or 2.

    PyTorch's ``multi_margin_loss``: it divides each row by the number of
    classes C. The lecture's multiclass SVM loss (the registered
    ``multiclass_svm``, ``nn.MulticlassSVMLoss``) is the same sum without that
    division, so with p = 1 this equals ``multiclass_svm(x, y) / C``, and is
    computed that way. ``weight`` (C,) scales each row by its true class's weight.

    >>> import xpgrad
    >>> from xpgrad.nn import functional as F
    >>> x = xpgrad.tensor([[3.2, 5.1, -1.7]])
    >>> round(F.multi_margin_loss(x, xpgrad.tensor([0])).item() * 3, 4)
    2.9
    """
    fn = "multi_margin_loss"
    tensor_arg(fn, input)
    _check_reduction(fn, reduction)
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"multi_margin_loss: p must be 1 (hinge) or 2 (squared hinge), got {p!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise TypeError(f"multi_margin_loss: margin must be a number, got {margin!r}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multi_margin_loss: input must have shape (N, C) or (C,), got {input.shape}")
    scores, shape = _rows(fn, input)
    labels = _labels(fn, input, target)
    if not _is_integral(labels):
        raise TypeError(f"multi_margin_loss: target must hold integer class indices, got dtype {labels.dtype}")
    classes = scores.shape[1]
    w = None if weight is None else _weight(fn, weight, input, classes)
    if p == 1 and w is None and margin >= 0:
        per = _losses.multiclass_svm(scores, labels, margin=float(margin), reduction="none") / classes
    else:
        _check_range(fn, labels, classes, None)
        hit = labels[:, None] == arange(classes, dtype=labels.dtype, backend=labels.backend)
        correct = xa.sum(xa.where(hit, scores, 0.0), axis=1, keepdims=True)
        m = xa.where(hit, 0.0, xa.maximum(scores - correct + float(margin), 0.0))
        if p == 2:
            m = m * m
        per = xa.sum(m, axis=1) / classes
        if w is not None:
            per = per * xa.take(w, labels)
    return xa.reshape(per, shape) if reduction == "none" else _reduce(per, reduction)
