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
from .guard import classes_of, label_flags, label_form, label_problem, nonfinite_parameter
from .history import History, NonFiniteLossError

__all__ = ["EpochMeter", "correct_count"]

# Whether a target dtype is floating, per dtype object: ``isdtype`` costs microseconds and this runs every step.
_FLOAT_TARGETS: dict = {}


def correct_count(xp: Any, scores: Any, targets: Any) -> Any:
    """Number of rows whose predicted class is the label, as a 0-d integer array (not read back).

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
    if targets.ndim != 1:  # the reshape of 1-D labels was a call per step for nothing
        targets = xp.reshape(targets, (-1,))
    return xp.count_nonzero(pred == targets)  # one call (a sum needed an astype first)


def _current_lr(optimizer: Any) -> float:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


_FIXES = {
    "loss": "The learning rate ({lr:.3g}) is probably too high: try a lower one, e.g. {lower:.3g}, or check the data "
            "for NaN/inf values",
    "gradient": "The loss was finite, so a function in the loss or regularizer has no finite derivative where it "
                "was evaluated (e.g. sqrt(sum(w**2)) of an all-zero group, or log/pow at 0): add a small eps "
                "inside it (sqrt(sum(w**2) + 1e-12)), or clip gradients in the step's before_update",
    "weight": "The gradients were finite, so the update itself overflowed: lower the learning rate ({lr:.3g}, e.g. "
              "{lower:.3g}) or check the optimizer's hyperparameters (eps > 0)",
}


def non_finite_error(value: float | None, epoch: int, step: int, optimizer: Any, history: History,
                     applied: bool, on_host: bool = True, kind: str = "loss",
                     parameter: str | None = None) -> NonFiniteLossError:
    """The error raised on NaN/inf in the loss, a gradient or a weight: epoch, step, what, and the fix to try."""
    lr = _current_lr(optimizer)
    if not applied:
        when = "training stopped before this update (the weights and files written so far are kept)"
    elif on_host:
        when = ("training stopped after the update (the training step did not call state.check_loss and "
                "state.check_gradients before changing the weights, so they have taken a non-finite update; "
                "files written so far are kept)")
    else:
        when = ("training stopped at the end of that epoch (on the GPU the checks are read once per epoch, so the "
                "weights in memory have taken non-finite updates; files written so far are kept and nothing is "
                "written from these weights)")
    if kind == "loss":
        what = f"the loss became {'non-finite' if value is None else value}"
    elif kind == "gradient":
        what = f"the gradient of parameter {parameter!r} became non-finite (NaN or inf)"
    elif step > 0:
        what = f"weight {parameter!r} became non-finite (NaN or inf) in the update of step {step}"
    else:
        what = f"weight {parameter!r} was already non-finite (NaN or inf) before the first update"
        when = when if applied else "training stopped (files written so far are kept)"
    fix = _FIXES[kind].format(lr=lr, lower=lr / 10)
    return NonFiniteLossError(f"{what} at epoch {epoch}, step {step}; {when}. {fix}", epoch=epoch, step=step,
                              history=history, kind=kind, parameter=parameter)


class EpochMeter:
    """Loss sum, correct predictions and sample count of one epoch (or one evaluation pass), and its checks.

    Before each update it checks the batch's class labels, the loss and the
    gradients; at the end of a training pass, the weights. On a host backend
    each check reads back at once and raises before the update. On a device
    backend nothing is read inside the pass: the first failing check (step
    and what failed, one integer) stays on the device and is read by
    :meth:`result` with the loss sum and the accuracy count.

    Parameters
    ----------
    backend : Backend
        Where the batches live; its ``on_host`` decides when values are read.
    watch : bool
        Raise :class:`NonFiniteLossError` on a NaN/inf loss (training), or not (evaluation).
    epoch, optimizer, history :
        Named in that error.
    what : str
        The data's name in errors (empty pass, bad labels).
    params : list of (name, Parameter)
        Whose gradients (each step) and weights (at the end) must stay finite.
    dataset : DataLoader, optional
        On a host backend its labels are checked once, whole, instead of per batch.
    checked : set, optional
        Numbers of classes ``dataset`` was already checked against (shared across epochs).
    ranks : Ranks, optional
        In a data-parallel job: the loss is not checked here but reported
        with the rank's number of rows (``rows``, set before each step) to the
        :class:`~xpgrad.distributed.DistributedOptimizer`, which decides on
        NaN/inf for all ranks; :meth:`result` sums the figures over the ranks.

    >>> import numpy as np, xpgrad
    >>> m = EpochMeter(xpgrad.backend.resolve("numpy"))
    >>> m.add(xpgrad.tensor(0.5), xpgrad.tensor([[1.0, 0.0], [0.0, 1.0]]), xpgrad.tensor([0, 0]))
    >>> m.result()
    (0.5, 0.5)
    """

    def __init__(self, backend: Backend, *, watch: bool = True, epoch: int = 0, optimizer: Any = None,
                 history: History | None = None, what: str = "data", params: list | None = None,
                 dataset: Any = None, checked: set | None = None, ranks: Any = None):
        self.what, self.ranks, self.rows = what, ranks, 0
        self.backend, self.xp, self.on_host = backend, backend.xp, backend.on_host
        self.watch, self.epoch, self.optimizer, self.history = watch, epoch, optimizer, history
        self.params = params or []
        self.dataset, self.checked = dataset, checked if checked is not None else set()
        self.steps, self.count = 0, 0
        self.total: Any = 0.0 if self.on_host else None
        self.correct: Any = None
        self.value: float | None = None  # the last loss read (host backends only)
        self._first_bad: Any = None  # device: step * K + item of the first failed check, -1 while none
        self._label: Any = None  # device: (position, value) of the first bad label
        self._classes: int | None = None
        self._stride = 2 + 2 * len(self.params)  # K: items 0 label, 1 loss, 2.. gradients, 2+n.. weights
        self._checked = self._grads_checked = self._targets_checked = False
        self._outside: tuple | None = None  # (ready flat buffers, the params outside them), for check_gradients

    # -- checks before the update ---------------------------------------------------------------
    def check_targets(self, scores: Any, targets: Any) -> None:
        """Check the batch's class labels (integer, one per sample, in [0, C)) before the loss sees them."""
        self._targets_checked = True
        xp, s, t = self.xp, scores.data, targets.data
        if self.on_host:
            if self.dataset is None:
                label_problem(xp, s, t, self.what, f" of batch {self.steps}")
                return
            c = classes_of(s)
            if c in self.checked:
                return
            if label_form(xp, s, t, self.what) is not None:  # dtype and shape of the batch (metadata only)
                self.dataset.check_labels(c, what=self.what, detail=f" for a model with {c} outputs (scores of "
                                                                     f"shape {tuple(s.shape)})")
            self.checked.add(c)
            return
        flags = label_flags(xp, s, t, self.what)
        if flags is not None:
            self._classes = classes_of(s)
            bad, pos, value = flags
            fresh = self._flag(bad, 0)
            label = xp.stack([pos, value])
            self._label = label if self._label is None else xp.where(fresh, label, self._label)

    def check(self, loss: Any) -> None:
        """Check the coming step's loss before the update: read and raise on the host, flag on the device."""
        self._check(loss, applied=False)

    def _check(self, loss: Any, applied: bool) -> None:
        if getattr(loss, "ndim", None) != 0:
            raise ValueError(f"the loss must be a scalar (0-d) Tensor, got {type(loss).__name__} of shape "
                             f"{tuple(getattr(loss, 'shape', ()))}: use reduction='mean' (or 'sum'), not 'none'")
        data, step = loss.data, self.steps + 1
        if self.ranks is not None and self.watch:  # the reduction decides for every rank, after this rank's report
            if self.on_host:
                self.value = float(data)
                self.optimizer.set_batch(self.rows, self.value * self.rows)
            else:
                self.optimizer.set_batch(self.rows, data * float(self.rows))
        elif self.on_host:
            value = float(data)
            if self.watch and not math.isfinite(value):
                name = None if applied else nonfinite_parameter(self.params)  # bad since the last update?
                if name is not None:
                    raise self._error(None, step - 1, applied=True, kind="weight", parameter=name)
                raise self._error(value, step, applied=applied)
            self.value = value
        elif self.watch:
            self._flag(~self.xp.isfinite(data), 1)
        self._checked = True

    def check_gradients(self, applied: bool = False) -> None:
        """Check every gradient after ``backward()``: one sum each, one read on the host; flagged on a device."""
        self._grads_checked = True
        if not self.watch or not self.params or self.ranks is not None:  # distributed: the optimizer's flag
            return
        xp = self.xp
        if self.on_host:
            total = None
            for g in self._gradient_arrays():
                total = xp.sum(g) if total is None else total + xp.sum(g)
            if total is not None and not math.isfinite(float(total)):
                name = nonfinite_parameter(self.params, grads=True)
                if name is not None:
                    raise self._error(None, self.steps + 1, applied=applied, kind="gradient", parameter=name)
            return
        sums = [xp.sum(p.grad) for _, p in self.params if p.grad is not None]
        if len(sums) == len(self.params):  # item = the parameter's index (all have gradients: the usual case)
            self._flag_any(sums, 2)
        elif sums:
            bad = ~xp.isfinite(sums[0] if len(sums) == 1 else xp.sum(xp.stack(sums)))
            first = next(i for i, (_, p) in enumerate(self.params) if p.grad is not None)
            self._flag(bad, 2 + first)

    def _gradient_arrays(self) -> list:
        """The gradient arrays to sum: each flat buffer of the optimizer whose every gradient is in its slot, whole
        (one sum for all its parameters), then the gradients of the parameters outside such buffers."""
        buffers = getattr(self.optimizer, "flat_buffers", None)
        ready = tuple(buf for buf in buffers() if buf.grads_ready()) if callable(buffers) else ()
        if self._outside is None or len(ready) != len(self._outside[0]) or any(
                a is not b for a, b in zip(ready, self._outside[0], strict=True)):
            covered = {id(t) for buf in ready for t in buf.tensors}
            self._outside = (ready, [p for _, p in self.params if id(p) not in covered])
        arrays = [buf.grad for buf in ready]
        arrays.extend(p.grad for p in self._outside[1] if p.grad is not None)
        return arrays

    def _flag_any(self, sums: list, base: int, step: int | None = None) -> None:
        xp = self.xp
        bad = ~xp.isfinite(xp.stack(sums))
        self._flag(xp.any(bad), xp.argmax(xp.astype(bad, xp.int8)) + base, step)

    def _flag(self, bad: Any, item: Any, step: int | None = None) -> Any:
        """Device: remember ``(step, item)`` if ``bad`` and nothing failed before; returns "it is the first"."""
        xp = self.xp
        if self._first_bad is None:
            self._first_bad = xp.full((), -1, dtype=xp.int64)
        fresh = (self._first_bad < 0) & bad
        code = (self.steps + 1 if step is None else step) * self._stride + item
        self._first_bad = xp.where(fresh, code, self._first_bad)
        return fresh

    # -- counting ---------------------------------------------------------------------------------
    def add(self, loss: Any, scores: Any, targets: Any) -> None:
        """Count one step: ``loss`` (0-d Tensor, the batch mean), ``scores`` and ``targets`` (Tensors)."""
        if not self._targets_checked:  # a custom step that did not call state.check_targets
            self.check_targets(scores, targets)
        if not self._checked:  # a custom step that did not call state.check_loss: the update is done
            self._check(loss, applied=True)
        if not self._grads_checked:
            self.check_gradients(applied=True)
        self._checked = self._grads_checked = self._targets_checked = False
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
        """``(mean loss, accuracy)`` after checking the weights; on a device the pass's only reads."""
        if self.watch and self.params and self.count:
            if self.on_host:
                name = nonfinite_parameter(self.params)
                if name is not None:
                    raise self._error(None, self.steps, applied=True, kind="weight", parameter=name)
            else:
                self._flag_any([self.xp.sum(p.data) for _, p in self.params], 2 + len(self.params), self.steps)
        if self._first_bad is not None:
            code = int(self._first_bad)
            if code >= 0:
                self._raise_flagged(*divmod(code, self._stride))
        total = self.total if self.on_host else (0.0 if self.total is None else float(self.total))
        correct, count = 0 if self.correct is None else int(self.correct), self.count
        if self.ranks is not None:
            total, correct, count = self.ranks.reduce([total, correct, count])
        if count == 0:
            raise ValueError(f"{self.what} is empty: no minibatch was produced in a pass over it (an empty "
                             "dataset, drop_last with fewer samples than batch_size, or a generator that was "
                             "already used up: pass a list or a DataLoader)")
        return total / count, correct / count

    def _raise_flagged(self, step: int, item: int) -> None:
        """Turn a device flag into its error (reads the bad label's position and value: only when failing)."""
        n = len(self.params)
        if item == 0:
            pos, value = (int(v) for v in self.backend.to_numpy(self._label))
            raise ValueError(f"{self.what}: class label y[{pos}] of batch {step - 1} (epoch {self.epoch}) = "
                             f"{value} is out of range: labels must be in [0, {self._classes}) for a model with "
                             f"{self._classes} outputs; fix the labels or give the model one output per class")
        if item == 1:
            raise self._error(None, step, applied=True)
        kind = "gradient" if item < 2 + n else "weight"
        name = self.params[(item - 2) % n][0]
        raise self._error(None, step, applied=True, kind=kind, parameter=name)

    def _error(self, value: float | None, step: int, applied: bool, kind: str = "loss",
               parameter: str | None = None) -> NonFiniteLossError:
        history = self.history if self.history is not None else History()
        return non_finite_error(value, self.epoch, step, self.optimizer, history, applied, self.on_host, kind,
                                parameter)
