"""Loss modules: ``nn.CrossEntropyLoss`` and friends, PyTorch's classes over :mod:`xpgrad.nn.functional`.

A loss module holds its options (``reduction``, class weights, margin) and no
parameters; calling it as ``loss(scores, targets)`` runs the functional form,
so it can be passed to :func:`xpgrad.fit` wherever a loss callable goes.
Class weights and ``pos_weight`` are buffers, saved in the state dict under
PyTorch's keys.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor, as_tensor
from . import functional as F
from .module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "MultiMarginLoss", "MulticlassSVMLoss",
           "NLLLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Common part: the ``reduction`` option, checked at construction, and a call without input conversion."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r} is not one of 'mean', 'sum', 'none'")
        self.reduction = reduction

    def __call__(self, input: Any, target: Any) -> Tensor:
        # No host-data conversion (Module.__call__ would turn a list of labels into floats): the
        # functional form converts targets by their own dtype, and a loss has no train/eval behaviour.
        return self.forward(input, target)

    def _buffer(self, name: str, value: Any) -> None:
        if value is None:
            self.register_buffer(name, None)
            return
        t = value if isinstance(value, Tensor) else as_tensor(value)
        if t.ndim != 1 or not t.backend.xp.isdtype(t.data.dtype, "real floating"):
            raise ValueError(f"{type(self).__name__}: {name} must be a 1-d float tensor (one value per class), got "
                             f"shape {t.shape} and dtype {t.dtype}")
        self.register_buffer(name, t)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of raw scores against class indices or probabilities (:func:`.functional.cross_entropy`).

    ℓᵢ = −w_{yᵢ}·log softmax(xᵢ)[yᵢ], with optional ``label_smoothing`` ε
    (target (1 − ε)·onehot + ε/C) and ``ignore_index`` (default None; PyTorch's
    is −100). The plain case is the registered ``softmax_cross_entropy`` loss.

    >>> import math, xpgrad
    >>> from xpgrad import nn
    >>> loss = nn.CrossEntropyLoss()
    >>> round(loss(xpgrad.zeros((2, 4)), [1, 3]).item(), 4) == round(math.log(4), 4)
    True
    """

    def __init__(self, weight: Any = None, *, ignore_index: int | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        eps = label_smoothing
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1], got {eps!r}")
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int or None, got {ignore_index!r}")
        self._buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, float(eps)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices from log-probabilities: ℓᵢ = −w_{yᵢ}·input[i, yᵢ].

    Put it after ``log_softmax`` (together: :class:`CrossEntropyLoss`).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.NLLLoss()(xpgrad.tensor([[-1.0, -2.0]]), [1]).item()
    2.0
    """

    def __init__(self, weight: Any = None, *, ignore_index: int | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
            raise TypeError(f"NLLLoss: ignore_index must be an int or None, got {ignore_index!r}")
        self._buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error over all elements, mean of (xᵢ − tᵢ)²: the registered ``mse`` loss.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.MSELoss()(xpgrad.tensor([1.0, 3.0]), [0.0, 0.0]).item()
    5.0
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error over all elements, mean of abs(xᵢ − tᵢ).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> nn.L1Loss(reduction="sum")(xpgrad.tensor([1.0, -3.0]), [0.0, 0.0]).item()
    4.0
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, −w·[p·t·log σ(x) + (1 − t)·log(1 − σ(x))], averaged over elements.

    ``pos_weight`` p weighs positives per class (last axis); ``weight`` w each
    element. Without them it is the registered ``binary_cross_entropy`` loss.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> round(nn.BCEWithLogitsLoss()(xpgrad.tensor([0.0, 0.0]), [1.0, 0.0]).item(), 4)
    0.6931
    """

    def __init__(self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class MultiMarginLoss(_Loss):
    """PyTorch's multiclass hinge, ℓᵢ = Σ_{j≠yᵢ} w_{yᵢ}·max(0, margin − x_{i,yᵢ} + x_{ij})ᵖ / C (p = 1 or 2).

    It divides by the number of classes C; :class:`MulticlassSVMLoss` is the
    lecture's form without that division.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> round(nn.MultiMarginLoss()(xpgrad.tensor([[3.2, 5.1, -1.7]]), [0]).item(), 4)
    0.9667
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, *, reduction: str = "mean"):
        super().__init__(reduction)
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MultiMarginLoss: p must be 1 (hinge) or 2 (squared hinge), got {p!r}")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)):
            raise TypeError(f"MultiMarginLoss: margin must be a number, got {margin!r}")
        self.p, self.margin = int(p), float(margin)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p}, margin={self.margin}, reduction={self.reduction!r}"


class MulticlassSVMLoss(_Loss):
    """The lecture's multiclass SVM loss, ℓᵢ = Σ_{j≠yᵢ} max(0, sⱼ − s_{yᵢ} + margin), averaged over rows.

    The registered ``multiclass_svm`` loss (aliases ``svm``, ``hinge``),
    looked up through :func:`xpgrad.loss` so the module computes exactly what
    ``fit(model, "svm", ...)``-style code does. It equals ``C ×``
    :class:`MultiMarginLoss` with p = 1.

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> round(nn.MulticlassSVMLoss()(xpgrad.tensor([[3.2, 5.1, -1.7]]), [0]).item(), 4)
    2.9
    """

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean"):
        super().__init__(reduction)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError(f"MulticlassSVMLoss: margin must be a non-negative number, got {margin!r}")
        from ..registry import loss  # late: the registry loads plugins on first use

        self.margin = float(margin)
        self.fn = loss("multiclass_svm", margin=self.margin, reduction=reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return self.fn(input, target)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"
