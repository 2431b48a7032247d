"""Loss functions ``(scores, targets) -> Tensor``, each one fused :class:`~xpgrad.Function`.

``scores`` is an ``(N, C)`` tensor of class scores (or any shape for the
elementwise losses); ``targets`` are integer class indices ``(N,)`` for the
classification losses and float values shaped like ``scores`` for ``mse`` and
``binary_cross_entropy``. ``reduction`` is ``"mean"`` (default), ``"sum"`` or
``"none"`` (one value per row, or per element for the elementwise losses).
"""

from __future__ import annotations

from .autograd.creation import as_tensor
from .autograd.function import Function
from .autograd.tensor import Tensor
from .backend import check_same_place
from .hookspecs import Collector
from .hyperparameters import check, choice, number, rules

__all__ = ["binary_cross_entropy", "mse", "multiclass_svm", "softmax_cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")
_REDUCTION = choice(*_REDUCTIONS)  # the rule every loss applies to its reduction
builtin = Collector("loss")  # the public functions below join it with @builtin(name, aliases=...)


def _reduce(xp, per, reduction):
    if reduction == "mean":
        return xp.mean(per)
    return xp.sum(per) if reduction == "sum" else per


def _scale(g, reduction, count):
    """Upstream gradient of the reduction: g/count for mean, g for sum and none."""
    return g / count if reduction == "mean" else g


def _labels(name, scores, targets):
    """Integer class indices ``(N,)`` on the scores' backend, with shapes checked."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name}: scores must be an xpgrad.Tensor, got {type(scores).__name__}")
    b = scores.backend
    if isinstance(targets, Tensor):
        if targets.backend is not b or b.multi_device:
            check_same_place(name, scores, targets)
        labels = targets.data
    else:
        labels = b.asarray(targets)
    if not b.xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{name}: targets must be integer class indices, got dtype {labels.dtype}; "
                        "for float targets use 'mse' or 'binary_cross_entropy'")
    s = scores.data.shape
    if len(s) != 2 or labels.ndim != 1 or labels.shape[0] != s[0]:
        raise ValueError(f"{name}: expected scores of shape (N, C) and targets of shape (N,), got scores "
                         f"{scores.shape} and targets {tuple(labels.shape)}")
    return labels


def _check_hits(ctx, name, labels, onehot):
    """On a host backend, refuse labels outside [0, C): their one-hot rows are all zero.

    The forward has the (N, C) one-hot already, so counting its nonzeros checks every label
    (one reduction per call); on a device backend the check is skipped, as it
    would synchronise every step (the training loop checks labels where data
    enters). The error names the first bad label and its position.
    """
    if ctx.backend.on_host and int(ctx.xp.count_nonzero(onehot)) != labels.shape[0]:
        xp, classes = ctx.xp, onehot.shape[1]
        bad = xp.nonzero((labels < 0) | (labels >= classes))[0]
        at = int(bad[0])
        raise ValueError(f"{name}: class label {int(labels[at])} at position {at} (of {bad.shape[0]} out of "
                         f"range) is not in [0, {classes}) for scores with {classes} classes; labels must "
                         f"be integers 0..{classes - 1}")


def _values(name, scores, targets):
    """Float targets shaped like ``scores`` (a Tensor is kept so it can carry a gradient)."""
    if not isinstance(targets, Tensor):
        targets = as_tensor(targets, dtype=scores.dtype, backend=scores.backend)
    if targets.shape != scores.shape:
        raise ValueError(f"{name}: targets of shape {targets.shape} do not match scores of shape {scores.shape}; "
                         "reshape them so no silent broadcasting happens")
    return targets


def _onehot(xp, labels, num_classes, dtype):
    # Comparing with arange is portable (no scatter) and costs one (N, C) pass.
    hit = labels[:, None] == xp.arange(num_classes, dtype=labels.dtype)
    return hit if dtype is None else xp.astype(hit, dtype)


class SoftmaxCrossEntropy(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # the softmax is rebuilt from the scores under create_graph; onehot is constant

    @staticmethod
    def forward(ctx, scores, labels, reduction="mean"):
        xp = ctx.xp
        z = scores - xp.max(scores, axis=1, keepdims=True)  # shifted: every z <= 0, so exp never overflows
        e = xp.exp(z)
        s = xp.sum(e, axis=1, keepdims=True)
        onehot = _onehot(xp, labels, scores.shape[1], scores.dtype)
        _check_hits(ctx, "softmax_cross_entropy", labels, onehot)
        if reduction == "none":
            out = xp.log(s[:, 0]) - xp.sum(z * onehot, axis=1)
        else:  # Σᵢ log sᵢ + Σᵢ (−z_{i,yᵢ}): two sums of terms >= 0, nothing cancels; one dot product picks the z
            picked = xp.vecdot(xp.reshape(z, (-1,)), xp.reshape(onehot, (-1,)))
            out = xp.sum(xp.log(s)) - picked
            if reduction == "mean":
                out = out / scores.shape[0]
        e /= s  # the softmax, in the array exp made
        ctx.saved_tensors = (e, onehot)
        ctx.reduction = reduction
        return out

    @staticmethod
    def backward(ctx, g):
        p, onehot = ctx.saved_tensors
        if ctx.create_graph:
            xp, scores = ctx.xp, ctx.parents[0]
            e = xp.exp(scores - xp.max(scores, axis=1, keepdims=True))
            p = e / xp.sum(e, axis=1, keepdims=True)
        reduction = ctx.reduction
        if reduction == "none":
            return (p - onehot) * g[:, None], None
        if reduction == "mean":
            g = g / p.shape[0]
        d = p - onehot
        if ctx.create_graph:
            return d * g, None
        d *= g  # d is new: scale it in place
        return d, None


class MulticlassSVM(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # active and onehot are masks: piecewise constant in the scores

    @staticmethod
    def forward(ctx, scores, labels, margin=1.0, reduction="mean"):
        xp = ctx.xp
        hit = _onehot(xp, labels, scores.shape[1], None)
        onehot = xp.astype(hit, scores.dtype)
        _check_hits(ctx, "multiclass_svm", labels, onehot)
        correct = xp.sum(xp.where(hit, scores, 0.0), axis=1, keepdims=True)
        margins = xp.where(hit, 0.0, xp.maximum(scores - correct + margin, 0.0))
        active = xp.astype(margins > 0, scores.dtype)
        ctx.save_for_backward(active, onehot)
        ctx.reduction = reduction
        return _reduce(xp, xp.sum(margins, axis=1), reduction)

    @staticmethod
    def backward(ctx, g):
        active, onehot = ctx.saved_tensors
        d = active - onehot * ctx.xp.sum(active, axis=1, keepdims=True)
        g = _scale(g, ctx.reduction, d.shape[0])
        return d * (g[:, None] if ctx.reduction == "none" else g), None


class MeanSquaredError(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # diff is rebuilt from the inputs under create_graph

    @staticmethod
    def forward(ctx, scores, targets, reduction="mean"):
        diff = scores - targets
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        return _reduce(ctx.xp, diff * diff, reduction)

    @staticmethod
    def backward(ctx, g):
        (diff,) = ctx.saved_tensors
        if ctx.create_graph:
            diff = ctx.parents[0] - ctx.parents[1]
        count = 1
        for n in diff.shape:
            count *= n
        gs = 2.0 * diff * _scale(g, ctx.reduction, count)
        return gs, (-gs if ctx.needs_input_grad[1] else None)


class BinaryCrossEntropyWithLogits(Function):
    owns_grads = True  # backward allocates a new array per input
    create_graph_safe = True  # the sigmoid is rebuilt from the scores under create_graph

    @staticmethod
    def forward(ctx, scores, targets, reduction="mean"):
        xp = ctx.xp
        e = xp.exp(-xp.abs(scores))
        per = xp.maximum(scores, 0.0) - scores * targets + xp.log1p(e)
        ctx.save_for_backward(scores, targets, xp.where(scores >= 0, 1.0 / (1.0 + e), e / (1.0 + e)))
        ctx.reduction = reduction
        return _reduce(xp, per, reduction)

    @staticmethod
    def backward(ctx, g):
        scores, targets, sig = ctx.saved_tensors
        if ctx.create_graph:
            xp = ctx.xp
            e = xp.exp(-xp.abs(scores))
            sig = xp.where(scores >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        count = 1
        for n in scores.shape:
            count *= n
        g = _scale(g, ctx.reduction, count)
        return (sig - targets) * g, (-scores * g if ctx.needs_input_grad[1] else None)


@builtin("softmax_cross_entropy", aliases=("cross_entropy", "softmax"))
@rules(reduction=_REDUCTION)
def softmax_cross_entropy(scores, targets, *, reduction="mean"):
    """Softmax cross-entropy: Lᵢ = −log(e^{s_{yᵢ}} / Σⱼ e^{sⱼ}) = log Σⱼ e^{sⱼ} − s_{yᵢ}, averaged over rows.

    One fused op: the forward is a max-shifted log-softmax (stable for scores
    of ±1e4) and the gradient is (softmax(s) − onehot(y)) / N.

    >>> import math, xpgrad
    >>> s = xpgrad.zeros((2, 10), requires_grad=True)
    >>> loss = xpgrad.losses.softmax_cross_entropy(s, [3, 7])
    >>> round(loss.item(), 5) == round(math.log(10), 5)
    True
    """
    if reduction not in _REDUCTIONS:  # the hot path skips the rule; it runs (and raises, naming it) otherwise
        check("softmax_cross_entropy", softmax_cross_entropy.hyperparameter_rules, {"reduction": reduction})
    return SoftmaxCrossEntropy.apply(scores, _labels("softmax_cross_entropy", scores, targets), reduction=reduction)


@builtin("multiclass_svm", aliases=("svm", "hinge"))
@rules(reduction=_REDUCTION, margin=number(min=0))
def multiclass_svm(scores, targets, *, margin=1.0, reduction="mean"):
    """Multiclass SVM (Weston–Watkins hinge): Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ − s_{yᵢ} + margin), averaged over rows.

    The mean is over the batch only, not over classes. The gradient is 1 for
    every class j ≠ y inside the margin and minus their count for class y.

    >>> import xpgrad
    >>> s = xpgrad.tensor([[3.2, 5.1, -1.7]])
    >>> round(xpgrad.losses.multiclass_svm(s, [0]).item(), 4)
    2.9
    """
    check("multiclass_svm", multiclass_svm.hyperparameter_rules, {"reduction": reduction, "margin": margin})
    labels = _labels("multiclass_svm", scores, targets)
    return MulticlassSVM.apply(scores, labels, margin=float(margin), reduction=reduction)


@builtin("mse", aliases=("mean_squared_error",))
@rules(reduction=_REDUCTION)
def mse(scores, targets, *, reduction="mean"):
    """Mean squared error: mean over all elements of (s − t)², with float targets shaped like the scores.

    >>> import xpgrad
    >>> xpgrad.losses.mse(xpgrad.tensor([1.0, 3.0]), [0.0, 0.0]).item()
    5.0
    """
    if reduction not in _REDUCTIONS:  # the hot path skips the rule; it runs (and raises, naming it) otherwise
        check("mse", mse.hyperparameter_rules, {"reduction": reduction})
    return MeanSquaredError.apply(scores, _values("mse", scores, targets), reduction=reduction)


@builtin("binary_cross_entropy", aliases=("bce",))
@rules(reduction=_REDUCTION)
def binary_cross_entropy(scores, targets, *, reduction="mean"):
    """Binary cross-entropy from logits: −[t log σ(s) + (1 − t) log(1 − σ(s))], mean over elements.

    Computed as max(s, 0) − s·t + log(1 + e^{−|s|}), which never overflows;
    the gradient is σ(s) − t. Targets are floats in [0, 1] shaped like the scores.

    >>> import xpgrad
    >>> round(xpgrad.losses.binary_cross_entropy(xpgrad.tensor([0.0]), [1.0]).item(), 4)
    0.6931
    """
    if reduction not in _REDUCTIONS:  # the hot path skips the rule; it runs (and raises, naming it) otherwise
        check("binary_cross_entropy", binary_cross_entropy.hyperparameter_rules, {"reduction": reduction})
    return BinaryCrossEntropyWithLogits.apply(scores, _values("binary_cross_entropy", scores, targets),
                                              reduction=reduction)


mse.targets = "same_shape"
binary_cross_entropy.targets = "same_shape"

register_losses = builtin.hookimpl()
