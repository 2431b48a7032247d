"""The loop: :func:`fit`, :func:`evaluate` and the training step :func:`train_step` that ``fit`` calls per batch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from .. import backend as _backend
from ..autograd import Tensor, enable_grad, no_grad
from ..data.loader import DataLoader, as_batch
from .callbacks import Callback
from .history import History, TrainState
from .meter import EpochMeter, _current_lr
from .progress import Progress

__all__ = ["StepResult", "evaluate", "fit", "train_step"]


class StepResult(NamedTuple):
    """What a training step returns: the objective (0-d Tensor) and the batch's scores (for the accuracy)."""

    loss: Tensor
    scores: Tensor


def train_step(state: TrainState, x: Tensor, y: Tensor, *,
               before_update: Callable[[TrainState], None] | None = None) -> StepResult:
    """One optimizer step on the batch ``(x, y)``: the step :func:`fit` takes unless given ``step=``.

    It computes the lecture's full loss on the batch

        L = (1/B) * sum_i L_i(f(x_i; W), y_i)  +  R(W)

    with ``state.loss_fn`` and ``state.regularizer`` (applied to the weight
    matrices ``state.penalized``), calls ``state.check_loss(L)`` (a NaN/inf
    loss stops training before the update on host backends), clears the
    gradients, backpropagates, calls ``before_update(state)`` if given (the
    place for gradient clipping), ``optimizer.step()`` and ``schedule.step()``.

    A custom step for ``fit(..., step=...)`` takes the same ``(state, x, y)``
    and returns a :class:`StepResult`; it can wrap this one (e.g.
    ``functools.partial(train_step, before_update=clip)``) or replace it (e.g.
    to accumulate gradients over several batches).

    >>> import numpy as np, xpgrad
    >>> from xpgrad import nn
    >>> from xpgrad.train import History, TrainState
    >>> xpgrad.manual_seed(0)
    >>> model = nn.Linear(2, 2)
    >>> opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    >>> state = TrainState(model, opt, None, History(), loss_fn=xpgrad.loss("cross_entropy"))
    >>> x, y = xpgrad.tensor([[1.0, 0.0], [0.0, 1.0]]), xpgrad.tensor([0, 1])
    >>> first = float(train_step(state, x, y).loss)
    >>> float(train_step(state, x, y).loss) < first
    True
    """
    if state.loss_fn is None:
        raise ValueError("train_step needs state.loss_fn, the loss function: TrainState(..., loss_fn=loss)")
    scores = state.model(x)
    objective = state.loss_fn(scores, y)
    if state.regularizer is not None:
        objective = objective + state.regularizer(state.penalized)
    state.check_loss(objective)
    state.optimizer.zero_grad()
    objective.backward()
    if before_update is not None:
        before_update(state)
    state.optimizer.step()
    if state.schedule is not None:
        state.schedule.step()
    return StepResult(objective, scores)


# -- data: everything goes through the DataLoader's dtype rule --------------------------------


def _model_dtype(model: Any) -> str:
    """The name of the model's first floating parameter dtype (inputs are cast to it), else the default dtype."""
    params = getattr(model, "parameters", None)
    for p in params() if params is not None else ():
        name = _backend.dtype_name(p.dtype)
        if name in _backend.FLOAT_DTYPES:
            return name
    return _backend.dtype_name(_backend.get_default_dtype())


def _is_pair(data: Any) -> bool:
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(
        isinstance(d, Tensor) or hasattr(d, "shape") for d in data)


def _as_loader(data: Any, what: str, batch_size: int | None, shuffle: bool) -> Iterable:
    """An (X, y) pair becomes a :class:`DataLoader`; a loader or other iterable of batches is kept."""
    if isinstance(data, DataLoader) or not _is_pair(data):
        if not hasattr(data, "__iter__"):
            raise TypeError(f"{what} must be an (X, y) pair of arrays or tensors, or an iterable of (x, y) "
                            f"batches; got {type(data).__name__}")
        return data
    X, y = data
    n = X.shape[0] if getattr(X, "ndim", 1) else 0
    try:
        # One full batch is not shuffled: that would only draw from the generator.
        return DataLoader(X, y, batch_size, shuffle=shuffle and batch_size is not None and batch_size < n)
    except ValueError as e:
        raise ValueError(f"{what}: X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)} must both have one "
                         f"row per sample ({e})") from None


def _epoch(data: Iterable, dtype: str) -> Iterator[tuple[Tensor, Tensor]]:
    """One pass over ``data`` as tensors on the current backend, floats in ``dtype``."""
    if isinstance(data, DataLoader):
        return data.batches(dtype)
    return (as_batch(xb, yb, dtype) for xb, yb in data)


def _steps(data: Iterable) -> int | None:
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


# -- evaluation --------------------------------------------------------------------------------


def evaluate(model: Any, loss: Callable, data: Any, *, batch_size: int | None = None) -> dict:
    """Mean data loss and accuracy of ``model`` on ``data``, in eval mode and without a graph.

    ``loss`` is averaged over samples, ``sum_b B_b * L_b / sum_b B_b`` (batch
    losses weighted by batch size); accuracy is the fraction of rows whose
    argmax score is the label.

    Parameters
    ----------
    model : callable Module
    loss : callable (scores, targets) -> scalar Tensor
    data : (X, y) pair, DataLoader or iterable of (x, y) batches
    batch_size : int, optional
        Evaluate a pair in chunks of this many samples (default: all at once).

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
    dtype = _model_dtype(model)
    data = _as_loader(data, "data", batch_size, False)
    meter = EpochMeter(_backend.current(), watch=False, what="data")
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            for xb, yb in _epoch(data, dtype):
                scores = model(xb)
                meter.add(loss(scores, yb), scores, yb)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    mean_loss, accuracy = meter.result()
    return {"loss": mean_loss, "accuracy": accuracy}


# -- fit ---------------------------------------------------------------------------------------


def _check_arguments(epochs: Any, batch_size: Any) -> None:
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")


def _run_epoch(state: TrainState, data: Iterable, dtype: str, step: Callable, callbacks: list[Callback],
               bar: Progress) -> dict:
    """One epoch of steps; returns its logs (``loss``, ``accuracy``, ``lr``, ``time``)."""
    model, optimizer = state.model, state.optimizer
    if hasattr(model, "train"):
        model.train()
    bar.epoch_begin(state.epoch)
    t0 = time.perf_counter()
    meter = state.meter = EpochMeter(_backend.current(), epoch=state.epoch, optimizer=optimizer,
                                     history=state.history, what="train_data")
    lr = _current_lr(optimizer)
    with enable_grad():
        for xb, yb in _epoch(data, dtype):
            lr = _current_lr(optimizer)  # the rate this step uses (a schedule changes it after the step)
            objective, scores = step(state, xb, yb)
            meter.add(objective, scores, yb)
            state.step += 1
            state.loss = objective
            bar.step(meter)
            for cb in callbacks:
                cb.on_step_end(state)
    state.meter = None
    mean_loss, accuracy = meter.result()  # on a device: the epoch's only reads, so the time covers queued work
    return {"loss": mean_loss, "accuracy": accuracy, "lr": lr, "time": time.perf_counter() - t0}


def fit(model: Any, loss: Callable, optimizer: Any, train_data: Any, epochs: int, *, batch_size: int | None = None,
        schedule: Any = None, regularizer: Callable | None = None, val_data: Any = None,
        callbacks: Iterable[Callback] = (), progress: bool = True, start_epoch: int = 0,
        log_every: int | None = None, shuffle: bool = True, history: History | None = None,
        step: Callable[..., StepResult] | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs of minibatch gradient descent; return the :class:`History`.

    Each step (:func:`train_step`) computes ``L = loss(model(x), y) +
    regularizer(weights)``, backpropagates, calls ``optimizer.step()`` and
    then ``schedule.step()`` (schedules count optimizer steps, not epochs).
    The regularizer gets the parameters with two or more dimensions (weight
    matrices; biases are not penalized, as usual). Training runs in train
    mode; validation in eval mode without a graph.

    Parameters
    ----------
    model : Module
        Called on a ``(batch, features)`` tensor, returns ``(batch, classes)`` scores.
    loss : callable
        ``(scores, targets) -> scalar Tensor``, e.g. ``xpgrad.loss("cross_entropy")``.
    optimizer : optimizer from :func:`xpgrad.optimizer`
    train_data : (X, y) pair of arrays or tensors, a DataLoader, or an iterable of (x, y) batches
        A pair becomes a :class:`~xpgrad.data.DataLoader` on the current
        backend: its minibatches follow a fresh permutation each epoch drawn
        from the backend's generator (seed it with :func:`xpgrad.manual_seed`).
        Every batch follows one dtype rule: floats become the model's float
        dtype, integer labels int64.
    epochs : int
        Number of epochs to run in this call.
    batch_size : int, optional
        Minibatch size for a pair (default: the whole set, i.e. full-batch).
    schedule : learning-rate schedule, optional
    regularizer : callable, optional
        ``parameters -> scalar Tensor``, e.g. ``xpgrad.regularizer("l2", 1e-3)``.
    val_data : (X, y) pair, DataLoader or iterable of batches, optional
        Evaluated after every epoch (``val_loss``, ``val_accuracy``).
    callbacks : sequence of Callback
        Called at the start and end of the run, of each epoch, and after each step.
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
    step : callable, optional
        ``(state, x, y) -> StepResult`` called for every batch instead of
        :func:`train_step` (gradient accumulation, clipping, ...).

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
    _check_arguments(epochs, batch_size)
    dtype = _model_dtype(model)
    data = _as_loader(train_data, "train_data", batch_size, shuffle)
    val = None if val_data is None else _as_loader(val_data, "val_data", batch_size, False)
    penalized = [p for p in model.parameters() if p.ndim >= 2] if regularizer is not None else []
    state = TrainState(model, optimizer, schedule, History() if history is None else history, epoch=start_epoch,
                       loss_fn=loss, regularizer=regularizer, penalized=penalized)
    callbacks = list(callbacks)
    was_training = getattr(model, "training", True)
    bar = Progress(progress, _steps(data), epochs, start_epoch, log_every)
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
            state.epoch, state.logs = epoch, {}
            for cb in callbacks:
                cb.on_epoch_begin(state)
            logs = _run_epoch(state, data, dtype, step or train_step, callbacks, bar)
            if val is not None:
                v = evaluate(model, loss, val)
                logs.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
            state.history.append(epoch=epoch, **logs)
            bar.epoch_end(epoch, logs)
            state.logs = logs
            for cb in callbacks:
                cb.on_epoch_end(state)
            if state.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end(state)
    finally:
        state.meter = None
        bar.close()
        if hasattr(model, "train"):
            model.train(was_training)
    return state.history
