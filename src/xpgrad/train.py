"""The training loop: :func:`fit`, :func:`evaluate`, :class:`History` and callbacks.

One optimizer step on a minibatch ``(x, y)`` minimizes the lecture's full loss

    L = (1/B) * sum_i L_i(f(x_i; W), y_i)  +  R(W)

(data loss averaged over the batch plus the regularization penalty on the
weight matrices): forward pass, ``L.backward()``, ``optimizer.step()``, then
one ``schedule.step()``. The step loop keeps data on the device: minibatches
are gathered on the backend from one permutation per epoch, the number of
correct predictions is summed on the device and read once per epoch, and the
loss is read as one float per step (for the progress bar and to stop on a
non-finite loss before it reaches the weights).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from . import backend as _backend
from .autograd import Tensor, enable_grad, no_grad

__all__ = ["Callback", "EarlyStopping", "History", "ModelCheckpoint", "NonFiniteLossError", "TrainState",
           "evaluate", "fit"]

logger = logging.getLogger("xpgrad.train")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; ``epoch``, ``step`` and ``history`` (completed epochs) are attached."""

    def __init__(self, message, *, epoch, step, history):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run.

    Attributes
    ----------
    epoch : list of int
        1-based epoch numbers (continuing after ``start_epoch`` when resuming).
    loss, accuracy : list of float
        Mean training objective (data loss + regularization) and training
        accuracy over the epoch's minibatches, measured while the weights
        were changing.
    lr : list of float
        Learning rate used by the epoch's last optimizer step.
    time : list of float
        Seconds spent on the epoch's training steps.
    val_loss, val_accuracy : list of float
        Data loss and accuracy on ``val_data`` after the epoch (empty without it).

    >>> h = History(); h.append(epoch=1, loss=0.5, accuracy=0.9, lr=0.1, time=0.01)
    >>> h["loss"], len(h), h.last()["accuracy"]
    ([0.5], 1, 0.9)
    """

    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)

    def append(self, **logs):
        """Add one epoch; keys must be field names."""
        for key, value in logs.items():
            getattr(self, key).append(value)

    def __getitem__(self, key):
        if key not in self.__dataclass_fields__:
            raise KeyError(f"History has no {key!r}; it has {', '.join(self.__dataclass_fields__)}")
        return getattr(self, key)

    def get(self, key, default=None):
        """The list for ``key``, or ``default`` when the history has no such field."""
        return getattr(self, key, default) if key in self.__dataclass_fields__ else default

    def __len__(self):
        return len(self.epoch)

    def last(self) -> dict:
        """The last epoch's values as a dict (empty lists are left out)."""
        return {k: v[-1] for k, v in self.to_dict().items() if v}

    def to_dict(self) -> dict:
        """All lists, keyed by field name (JSON-serialisable)."""
        return {k: list(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d) -> "History":
        """Rebuild a history from :meth:`to_dict` output (e.g. a checkpoint's ``meta["history"]``).

        >>> History.from_dict({"epoch": [1], "loss": [0.5]}).loss
        [0.5]
        """
        return cls(**{k: list(d.get(k, [])) for k in cls.__dataclass_fields__})


@dataclass
class TrainState:
    """What callbacks see: the objects being trained, the history and the current epoch.

    ``epoch`` is the 1-based number of the epoch that is starting (in
    ``on_epoch_begin``) or has just ended (in ``on_epoch_end``); ``logs`` holds
    that epoch's values. Set ``stop_training = True`` to end after this epoch.
    """

    model: object
    optimizer: object
    schedule: object
    history: History
    epoch: int = 0
    logs: dict = field(default_factory=dict)
    stop_training: bool = False


class Callback:
    """Base class of callbacks: override the hooks you need; each receives the :class:`TrainState`.

    >>> class Count(Callback):
    ...     def __init__(self): self.n = 0
    ...     def on_epoch_end(self, state): self.n += 1
    """

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass


def _monitor_mode(monitor, mode):
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _monitored(state, monitor, who):
    if monitor not in state.logs:
        hint = " (pass val_data to fit, or monitor 'loss')" if monitor.startswith("val_") else ""
        raise KeyError(f"{who} monitors {monitor!r}, but fit only logs {', '.join(sorted(state.logs))}{hint}")
    return state.logs[monitor]


def _copy_state(model):
    """Device copies of the model's state dict (cheap snapshot for restoring the best weights)."""
    out = {}
    for k, v in model.state_dict().items():
        data = getattr(v, "data", v)
        out[k] = _backend.backend_of(data).xp.asarray(data, copy=True)
    return out


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best=True`` the model gets back the weights of its best
    epoch when training stops early.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: ``"val_loss"`` (default), ``"val_accuracy"``, ``"loss"``, ``"accuracy"``.
    patience : int
    min_delta : float
    mode : {"auto", "min", "max"}
        ``auto`` maximizes names containing "acc" and minimizes the rest.
    restore_best : bool

    >>> stop = EarlyStopping(monitor="loss", patience=2)
    >>> stop.patience, stop.mode
    (2, 'min')
    """

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto", restore_best=True):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode, self.restore_best = _monitor_mode(monitor, mode), restore_best
        self.best, self.best_epoch, self.stopped_epoch, self.wait, self._weights = None, None, None, 0, None

    def _improved(self, value):
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def on_train_begin(self, state):
        self.best, self.best_epoch, self.stopped_epoch, self.wait, self._weights = None, None, None, 0, None

    def on_epoch_end(self, state):
        value = _monitored(state, self.monitor, "EarlyStopping")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                self._weights = _copy_state(state.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch, state.stop_training = state.epoch, True
            logger.info("early stopping at epoch %d: best %s %.6g at epoch %d", state.epoch, self.monitor,
                        self.best, self.best_epoch)
            if self.restore_best and self._weights is not None:
                state.model.load_state_dict(self._weights)


class ModelCheckpoint(Callback):
    """Save a checkpoint (:func:`xpgrad.save`) every ``every`` epochs and after the last, or on improvement.

    ``path`` may contain ``{epoch}``, filled with the 1-based epoch number.
    Each checkpoint holds the model, optimizer, schedule, RNG state, ``epoch``,
    the history so far and ``meta``, so :func:`xpgrad.load` plus
    ``fit(..., start_epoch=meta["epoch"])`` resumes exactly. Files are written
    atomically, so a crash or a non-finite loss never destroys the last one.

    >>> ModelCheckpoint("run-{epoch}.safetensors", every=5).every
    5
    """

    def __init__(self, path, *, monitor=None, mode="auto", save_best_only=False, every=1, **meta):
        if save_best_only and monitor is None:
            raise ValueError("save_best_only=True needs monitor=..., e.g. monitor='val_loss'")
        self.path, self.monitor, self.every, self.save_best_only = path, monitor, int(every), save_best_only
        self.mode = _monitor_mode(monitor, mode) if monitor else None
        self.meta, self.best, self.last_path, self.saved_epoch = meta, None, None, None

    def on_epoch_end(self, state):
        if self.save_best_only:
            value = _monitored(state, self.monitor, "ModelCheckpoint")
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            self.best = value
        elif state.epoch % self.every and not state.stop_training:
            return
        self._save(state)

    def on_train_end(self, state):
        # The last epoch is always kept, even when it is not a multiple of ``every``.
        if not self.save_best_only and len(state.history) and self.saved_epoch != state.epoch:
            self._save(state)

    def _save(self, state):
        from .checkpoint import save

        path = str(self.path).format(epoch=state.epoch)
        self.last_path = save(path, model=state.model, optimizer=state.optimizer, schedule=state.schedule,
                              epoch=state.epoch, history=state.history.to_dict(), **self.meta)
        self.saved_epoch = state.epoch


# -- data ---------------------------------------------------------------------------------


def _array(x, b, dtype=None):
    data = x.data if isinstance(x, Tensor) else x
    if _backend.is_array(data) and _backend.backend_of(data) is b and dtype is None:
        return data
    return b.asarray(data, dtype=dtype)


class _Dataset(NamedTuple):
    """A whole (X, y) set on the device, plus the class labels used to count correct predictions."""

    X: object
    y: object
    labels: object


def _prepare(X, y, b, dtype=None) -> _Dataset:
    """(X, y, labels) as arrays of backend ``b``: X in ``dtype`` (the model's), labels as int64 class indices."""
    xp = b.xp
    dtype = b.dtype(_backend.get_default_dtype()) if dtype is None else dtype
    X = _array(X, b)
    if X.dtype != dtype:
        X = xp.astype(X, dtype)
    y = _array(y, b)
    if b.is_floating(y.dtype):  # one-hot or real-valued targets
        y = xp.astype(y, dtype) if y.dtype != dtype else y
        labels = xp.argmax(y, axis=-1) if y.ndim == 2 and y.shape[1] > 1 else xp.astype(y, xp.int64)
    else:
        y = labels = xp.astype(y, xp.int64)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)} must both have one "
                         "row per sample")
    return _Dataset(X, y, labels)


def _float_dtype(model, b):
    """The dtype of the model's first floating parameter (inputs are cast to it), else the default."""
    params = getattr(model, "parameters", None)
    for p in params() if params is not None else ():
        data = getattr(p, "data", p)
        if b.is_floating(data.dtype):
            return data.dtype
    return b.dtype(_backend.get_default_dtype())


def _as_data(data, b, what, dtype=None):
    """A user's (X, y) pair becomes a device :class:`_Dataset`; a loader is passed through."""
    if isinstance(data, _Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
            isinstance(d, Tensor) or hasattr(d, "shape") for d in data):
        return _prepare(*data, b, dtype)
    if not hasattr(data, "__iter__"):
        raise TypeError(f"{what} must be an (X, y) pair of arrays or tensors, or an iterable of (x, y) "
                        f"batches; got {type(data).__name__}")
    return data


def _correct(xp, scores, labels):
    """Number of correct predictions, as a device scalar (not read back)."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        pred = xp.argmax(scores, axis=1)
    else:
        pred = xp.astype(xp.reshape(scores, (-1,)) > 0, xp.int64)
    return xp.sum(xp.astype(pred == xp.reshape(labels, (-1,)), xp.int64))


def _batches(data, batch_size, b, shuffle, dtype=None):
    """Yield (x, y, labels) minibatch arrays for one epoch, gathered on the device."""
    if not isinstance(data, _Dataset):
        for xb, yb in data:
            yield _prepare(xb, yb, b, dtype)
        return
    X, y, labels = data
    n = X.shape[0]
    if batch_size is None or batch_size >= n:
        yield data
        return
    xp = b.xp
    # One host->device copy of the permutation per epoch; the batches are gathered on the device.
    order = b.asarray(b.permutation(n), dtype=xp.int64) if shuffle else xp.arange(n, dtype=xp.int64)
    for start in range(0, n, batch_size):
        idx = order[start:min(start + batch_size, n)]  # the standard leaves out-of-range stops undefined
        yb = xp.take(y, idx, axis=0)
        yield xp.take(X, idx, axis=0), yb, yb if labels is y else xp.take(labels, idx, axis=0)


def _steps(data, batch_size):
    if isinstance(data, _Dataset):
        n = data.X.shape[0]
        return 1 if batch_size is None else math.ceil(n / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


# -- evaluation ---------------------------------------------------------------------------


def evaluate(model, loss, data, *, batch_size=None) -> dict:
    """Mean data loss and accuracy of ``model`` on ``data``, in eval mode and without a graph.

    ``loss`` is averaged over samples (batch losses weighted by batch size);
    accuracy is the fraction of rows whose argmax score is the label.

    Parameters
    ----------
    model : callable Module
    loss : callable (scores, targets) -> scalar Tensor
    data : (X, y) pair or iterable of (x, y) batches
    batch_size : int, optional
        Evaluate in chunks of this many samples (default: all at once).

    Returns
    -------
    dict
        ``{"loss": float, "accuracy": float}``.

    >>> import numpy as np, xpgrad
    >>> W = xpgrad.tensor([[1.0, -1.0], [0.0, 0.0]], dtype="float64")
    >>> ce = lambda s, t: xpgrad.mean(xpgrad.logsumexp(s, axis=1) - xpgrad.take_along_axis(
    ...     s, xpgrad.reshape(t, (-1, 1)), axis=1)[:, 0])
    >>> X, y = np.array([[2.0, 0.0], [-2.0, 0.0]]), np.array([0, 1])
    >>> evaluate(lambda x: x @ W, ce, (X, y))["accuracy"]
    1.0
    """
    b = _backend.current()
    dtype = _float_dtype(model, b)
    data = _as_data(data, b, "data", dtype)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    xp = b.xp
    total, correct, count = None, None, 0  # device scalars, read once at the end
    try:
        with no_grad():
            for xb, yb, lb in _batches(data, batch_size, b, False, dtype):
                scores = model(Tensor._make(xb, b))
                n = xb.shape[0]
                batch_loss = loss(scores, Tensor._make(yb, b)).data * float(n)
                hits = _correct(xp, scores.data, lb)
                total = batch_loss if total is None else total + batch_loss
                correct = hits if correct is None else correct + hits
                count += n
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if count == 0:
        raise ValueError("evaluate got no data (an empty dataset or loader)")
    total, correct = float(total), int(correct)
    return {"loss": total / count, "accuracy": correct / count}


# -- fit ---------------------------------------------------------------------------------


def _current_lr(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


def _format(epoch, last_epoch, logs):
    parts = [f"epoch {epoch}/{last_epoch}", f"loss {logs['loss']:.4f}", f"accuracy {logs['accuracy']:.4f}"]
    if "val_loss" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}", f"val_accuracy {logs['val_accuracy']:.4f}"]
    parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.3g}s"]
    return "  ".join(parts)


def _non_finite(value, epoch, step, optimizer, history, applied):
    lr = _current_lr(optimizer)
    when = ("training stopped at the end of that epoch (on the GPU the loss is read once per epoch, so "
            "the weights in memory have taken non-finite updates; files written so far are kept)" if applied
            else "training stopped before this update (the weights and files written so far are kept)")
    return NonFiniteLossError(
        f"the loss became {'non-finite' if applied else value} at epoch {epoch}, step {step}; {when}. The "
        f"learning rate ({lr:.3g}) is probably too high: try a lower one, e.g. {lr / 10:.3g}, or check the "
        "data for NaN/inf values", epoch=epoch, step=step, history=history)


def fit(model, loss, optimizer, train_data, epochs, *, batch_size=None, schedule=None, regularizer=None,
        val_data=None, callbacks=(), progress=True, start_epoch=0, log_every=None, shuffle=True,
        history=None) -> History:
    """Train ``model`` for ``epochs`` epochs of minibatch gradient descent; return the :class:`History`.

    Each step computes ``L = loss(model(x), y) + regularizer(weights)``,
    backpropagates, calls ``optimizer.step()`` and then ``schedule.step()``
    (schedules count optimizer steps, not epochs). The regularizer gets the
    parameters with two or more dimensions (weight matrices; biases are not
    penalized, as usual). Training runs in train mode; validation in eval
    mode without a graph.

    Parameters
    ----------
    model : Module
        Called on a ``(batch, features)`` tensor, returns ``(batch, classes)`` scores.
    loss : callable
        ``(scores, targets) -> scalar Tensor``, e.g. ``xpgrad.loss("cross_entropy")``.
    optimizer : optimizer from :func:`xpgrad.optimizer`
    train_data : (X, y) pair of arrays or tensors, or an iterable of (x, y) batches
        A pair is moved to the current backend once; its minibatches follow a
        fresh permutation each epoch drawn from the backend's generator (seed
        it with :func:`xpgrad.manual_seed`). A loader yields its own batches.
    epochs : int
        Number of epochs to run in this call.
    batch_size : int, optional
        Minibatch size for a pair (default: the whole set, i.e. full-batch).
    schedule : learning-rate schedule, optional
    regularizer : callable, optional
        ``parameters -> scalar Tensor``, e.g. ``xpgrad.regularizer("l2", 1e-3)``.
    val_data : (X, y) pair or iterable of batches, optional
        Evaluated after every epoch (``val_loss``, ``val_accuracy``).
    callbacks : sequence of Callback
    progress : bool
        Show a tqdm progress bar with the loss and accuracy, and write epoch
        lines above it (to stderr). Epoch lines also go to the ``logging``
        logger ``"xpgrad.train"``: at INFO level when ``progress=False``, at
        DEBUG level otherwise (so they are not shown twice).
    start_epoch : int
        Epochs already done (when resuming from a checkpoint): numbering continues from it.
    log_every : int, optional
        Log a line every this many epochs (and after the last); default: about ten lines per run.
    shuffle : bool
        Shuffle a pair's samples each epoch.
    history : History, optional
        Append to this history (e.g. one restored from a checkpoint's
        ``meta["history"]`` with :meth:`~xpgrad.train.History.from_dict`) instead of a new one.

    Returns
    -------
    History

    Raises
    ------
    NonFiniteLossError
        When the loss becomes NaN or infinite; the error names the epoch and
        step and carries ``history``. On host backends (NumPy, array-api-strict)
        the loss is read every step and the bad update is not applied. On the
        GPU nothing is copied to the host inside an epoch: the loss sum, the
        accuracy count and the first non-finite step stay on the device and are
        read once at the epoch's end, where the error is raised.

    Examples
    --------
    >>> import numpy as np, xpgrad
    >>> from xpgrad import nn
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype="float32")
    >>> y = np.array([0, 1, 0, 1])
    >>> model = nn.Linear(2, 2)
    >>> opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.5)
    >>> h = fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), epochs=3, progress=False)
    >>> len(h), h.loss[0] > h.loss[-1]
    (3, True)
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    b = _backend.current()
    xp = b.xp
    dtype = _float_dtype(model, b)
    data = _as_data(train_data, b, "train_data", dtype)
    if val_data is not None:
        val_data = _as_data(val_data, b, "val_data", dtype)
    reg_params = [p for p in model.parameters() if p.ndim >= 2] if regularizer is not None else None
    steps = _steps(data, batch_size)
    last_epoch = start_epoch + epochs
    every = log_every or max(1, math.ceil(epochs / 10))
    history = History() if history is None else history
    state = TrainState(model, optimizer, schedule, history, epoch=start_epoch)
    was_training = getattr(model, "training", True)

    from tqdm import tqdm

    bar = tqdm(total=None if steps is None else steps * epochs, disable=not progress, unit="step",
               dynamic_ncols=True, file=sys.stderr, leave=True)
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        acc_text = ""
        for epoch in range(start_epoch + 1, last_epoch + 1):
            state.epoch, state.logs = epoch, {}
            for cb in callbacks:
                cb.on_epoch_begin(state)
            if hasattr(model, "train"):
                model.train()
            bar.set_description(f"epoch {epoch}/{last_epoch}", refresh=False)
            t0 = time.perf_counter()
            total, seen, lr = 0.0, 0, _current_lr(optimizer)
            correct = xp.zeros((), dtype=xp.int64)
            # On a GPU, reading the loss would make every step wait for the device: the sum and the
            # first non-finite step are kept there and read once, at the end of the epoch.
            device_total, first_bad = None, xp.full((), -1, dtype=xp.int64)
            with enable_grad():
                for step, (xb, yb, lb) in enumerate(_batches(data, batch_size, b, shuffle, dtype), start=1):
                    scores = model(Tensor._make(xb, b))
                    objective = loss(scores, Tensor._make(yb, b))
                    if regularizer is not None:
                        objective = objective + regularizer(reg_params)
                    n = xb.shape[0]
                    if b.on_host:
                        value = float(objective.data)  # free on the host: checked before the update
                        if not math.isfinite(value):
                            raise _non_finite(value, epoch, step, optimizer, history, applied=False)
                        total += value * n
                    else:
                        weighted = objective.data * float(n)
                        device_total = weighted if device_total is None else device_total + weighted
                        first_bad = xp.where((first_bad < 0) & ~xp.isfinite(objective.data), step, first_bad)
                    lr = _current_lr(optimizer)
                    optimizer.zero_grad()
                    objective.backward()
                    optimizer.step()
                    if schedule is not None:
                        schedule.step()
                    seen += n
                    correct = correct + _correct(xp, scores.data, lb)
                    bar.update(1)
                    if b.on_host:
                        bar.set_postfix_str(f"loss={value:.4f}{acc_text}", refresh=False)
            if seen == 0:
                raise ValueError("train_data is empty: no minibatch was produced in an epoch")
            if not b.on_host:
                bad_step = int(first_bad)
                if bad_step >= 0:
                    raise _non_finite(float("nan"), epoch, bad_step, optimizer, history, applied=True)
                total = float(device_total)
            # int(correct) waits for the device, so the time read after it covers the queued work
            logs = {"loss": total / seen, "accuracy": int(correct) / seen, "lr": lr,
                    "time": time.perf_counter() - t0}
            if val_data is not None:
                v = evaluate(model, loss, val_data, batch_size=batch_size)
                logs.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
            history.append(epoch=epoch, **logs)
            acc_text = f" acc={logs['accuracy']:.3f}"
            bar.set_postfix_str(f"loss={logs['loss']:.4f}{acc_text}", refresh=False)
            if (epoch - start_epoch) % every == 0 or epoch == last_epoch:
                line = _format(epoch, last_epoch, logs)
                if progress:  # shown above the bar; the log record then stays at DEBUG to avoid a duplicate
                    bar.write(line, file=sys.stderr)
                logger.log(logging.DEBUG if progress else logging.INFO, line)
            state.logs = logs
            for cb in callbacks:
                cb.on_epoch_end(state)
            if state.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end(state)
    finally:
        bar.close()
        if hasattr(model, "train"):
            model.train(was_training)
    return history
