"""Host/device accounting of one pass over the data: the one place that decides when values reach the host.

On a host backend (NumPy, array-api-strict) reading a 0-d array is free, so
the loss is read every step and checked *before* the update. On a device
backend (CuPy) every read makes Python wait for the GPU, so the loss sum, the
count of correct predictions and the first non-finite step stay on the device
and are read once, by :meth:`EpochMeter.result` at the end of the pass.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import Backend
from .history import History, NonFiniteLossError

__all__ = ["EpochMeter", "correct_count"]

# Whether a target dtype is floating, per dtype object: ``isdtype`` costs microseconds and this runs every step.
_FLOAT_TARGETS: dict = {}


def correct_count(xp: Any, scores: Any, targets: Any) -> Any:
    """Number of rows whose predicted class is the label, as a 0-d int64 array (not read back).

    The prediction is the argmax of 2-D scores, or ``score > 0`` for one
    score per row; the label is the argmax of 2-D float targets (one-hot),
    else the target itself.

    >>> import numpy as np
    >>> int(correct_count(np, np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0])))
    1
    """
    key = (type(targets.dtype), targets.dtype)  # the type first: libraries' dtypes must not be compared
    floating = _FLOAT_TARGETS.get(key)
    if floating is None:
        floating = _FLOAT_TARGETS[key] = bool(xp.isdtype(targets.dtype, "real floating"))
    if floating:
        if targets.ndim == 2 and targets.shape[1] > 1:
            targets = xp.argmax(targets, axis=-1)
        else:
            targets = xp.astype(targets, xp.int64)
    if scores.ndim == 2 and scores.shape[1] > 1:
        pred = xp.argmax(scores, axis=1)
    else:
        pred = xp.astype(xp.reshape(scores, (-1,)) > 0, xp.int64)
    return xp.sum(xp.astype(pred == xp.reshape(targets, (-1,)), xp.int64))


def _current_lr(optimizer: Any) -> float:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


def non_finite_error(value: float | None, epoch: int, step: int, optimizer: Any, history: History,
                     applied: bool, on_host: bool = True) -> NonFiniteLossError:
    """The error raised when the loss is NaN or infinite, with the epoch, step and a lower learning rate to try."""
    lr = _current_lr(optimizer)
    if not applied:
        when = "training stopped before this update (the weights and files written so far are kept)"
    elif on_host:
        when = ("training stopped after the update (the training step did not call state.check_loss before "
                "changing the weights, so they have taken a non-finite update; files written so far are kept)")
    else:
        when = ("training stopped at the end of that epoch (on the GPU the loss is read once per epoch, so the "
                "weights in memory have taken non-finite updates; files written so far are kept)")
    return NonFiniteLossError(
        f"the loss became {'non-finite' if value is None else value} at epoch {epoch}, step "
        f"{step}; {when}. The learning rate ({lr:.3g}) is probably too high: try a lower one, e.g. {lr / 10:.3g}, "
        "or check the data for NaN/inf values", epoch=epoch, step=step, history=history)


class EpochMeter:
    """Loss sum, correct predictions and sample count of one epoch (or one evaluation pass).

    Parameters
    ----------
    backend : Backend
        Where the batches live; its ``on_host`` decides when values are read.
    watch : bool
        Raise :class:`NonFiniteLossError` on a NaN/inf loss (training), or not (evaluation).
    epoch, optimizer, history :
        Named in that error.
    what : str
        The data's name in the error raised when the pass saw no batch.

    >>> import numpy as np, xpgrad
    >>> m = EpochMeter(xpgrad.backend.resolve("numpy"))
    >>> m.add(xpgrad.tensor(0.5), xpgrad.tensor([[1.0, 0.0], [0.0, 1.0]]), xpgrad.tensor([0, 0]))
    >>> m.result()
    (0.5, 0.5)
    """

    def __init__(self, backend: Backend, *, watch: bool = True, epoch: int = 0, optimizer: Any = None,
                 history: History | None = None, what: str = "data"):
        self.what = what
        self.backend, self.xp, self.on_host = backend, backend.xp, backend.on_host
        self.watch, self.epoch, self.optimizer, self.history = watch, epoch, optimizer, history
        self.steps, self.count = 0, 0
        self.total: Any = 0.0 if self.on_host else None
        self.correct: Any = None
        self.value: float | None = None  # the last loss read (host backends only)
        self._first_bad: Any = None  # device: first non-finite step, -1 while there is none
        self._checked = False

    def check(self, loss: Any) -> None:
        """Check the coming step's loss before the update: read and raise on the host, flag on the device."""
        self._check(loss, applied=False)

    def _check(self, loss: Any, applied: bool) -> None:
        data, step = loss.data, self.steps + 1
        if self.on_host:
            value = float(data)
            if self.watch and not math.isfinite(value):
                raise self._error(value, step, applied=applied)
            self.value = value
        elif self.watch:
            xp = self.xp
            if self._first_bad is None:
                self._first_bad = xp.full((), -1, dtype=xp.int64)
            self._first_bad = xp.where((self._first_bad < 0) & ~xp.isfinite(data), step, self._first_bad)
        self._checked = True

    def add(self, loss: Any, scores: Any, targets: Any) -> None:
        """Count one step: ``loss`` (0-d Tensor, the batch mean), ``scores`` and ``targets`` (Tensors)."""
        if not self._checked:  # a custom step that did not call state.check_loss: the update is done
            self._check(loss, applied=True)
        self._checked = False
        self.steps += 1
        n = scores.shape[0]
        if self.on_host:
            self.total += self.value * n
        else:
            weighted = loss.data * float(n)
            self.total = weighted if self.total is None else self.total + weighted
        hits = correct_count(self.xp, scores.data, targets.data)
        self.correct = hits if self.correct is None else self.correct + hits
        self.count += n

    def result(self) -> tuple[float, float]:
        """``(mean loss, accuracy)``: on a device backend the only reads from the device of the whole pass."""
        if self._first_bad is not None:
            bad_step = int(self._first_bad)
            if bad_step >= 0:
                raise self._error(None, bad_step, applied=True)
        if self.count == 0:
            raise ValueError(f"{self.what} is empty: no minibatch was produced in a pass over it")
        total = self.total if self.on_host else float(self.total)
        return total / self.count, int(self.correct) / self.count

    def _error(self, value: float | None, step: int, applied: bool) -> NonFiniteLossError:
        history = self.history if self.history is not None else History()
        return non_finite_error(value, self.epoch, step, self.optimizer, history, applied, self.on_host)
