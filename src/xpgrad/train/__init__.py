"""The training loop: :func:`fit`, :func:`evaluate`, the step :func:`train_step`, :class:`History` and callbacks.

One optimizer step on a minibatch ``(x, y)`` minimizes the lecture's full loss

    L = (1/B) * sum_i L_i(f(x_i; W), y_i)  +  R(W)

(data loss averaged over the batch plus the regularization penalty on the
weight matrices): forward pass, ``L.backward()``, ``optimizer.step()``, then
one ``schedule.step()``. The parts live in small modules:

- ``loop``: :func:`fit`, :func:`evaluate`, :func:`train_step` (the step ``fit``
  takes per batch; pass your own with ``fit(..., step=...)``, and compile it
  with ``fit(..., compile=True)``);
- ``callbacks``: :class:`Callback` (epoch hooks and ``on_step_end``),
  :class:`EarlyStopping`, :class:`ModelCheckpoint`;
- ``history``: :class:`History`, :class:`TrainState`, :class:`NonFiniteLossError`;
- ``meter``: :class:`EpochMeter`, the one place that decides when the loss sum,
  the accuracy count and the checks (labels, a non-finite loss, gradient or
  weight) are read back to the host (every step on host backends, before the
  update; once per epoch on a device backend);
- ``guard``: what ``fit`` and ``evaluate`` refuse where data enters: bad
  arguments, batches that are not ``(x, y)`` pairs, class labels outside
  ``[0, C)``;
- ``progress``: the progress bar and epoch lines.

Batches come from :class:`~xpgrad.data.DataLoader` (an ``(X, y)`` pair becomes one),
with its one dtype rule: floats in the model's float dtype, integer labels int64.

>>> import xpgrad
>>> xpgrad.fit is xpgrad.train.fit
True
"""

from .callbacks import Callback, EarlyStopping, ModelCheckpoint
from .history import History, NonFiniteLossError, TrainState
from .loop import StepResult, evaluate, fit, train_step
from .meter import EpochMeter

__all__ = ["Callback", "EarlyStopping", "EpochMeter", "History", "ModelCheckpoint", "NonFiniteLossError",
           "StepResult", "TrainState", "evaluate", "fit", "train_step"]
