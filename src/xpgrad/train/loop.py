"""The loop: :func:`fit`, :func:`evaluate` and the training step :func:`train_step` that ``fit`` calls per batch."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from typing import Any, NamedTuple

from .. import backend as _backend
from ..autograd import Tensor, enable_grad, no_grad, run_eagerly
from ..autograd import compile as compile_step
from ..data.dataset import Dataset, Subset, TensorDataset, dataset_arrays
from ..data.loader import DataLoader, as_batch, shard_range
from .callbacks import Callback
from .guard import _count, check_batch, check_fit_arguments
from .history import History, TrainState
from .meter import EpochMeter, _current_lr
from .parallel import Ranks
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
    matrices ``state.penalized``). Before the update it checks, through the
    :class:`TrainState`: the class labels against the scores
    (``state.check_targets``, before the loss), the loss (``state.check_loss``)
    and, after clearing the gradients, backpropagating and calling
    ``before_update(state)`` if given (the place for gradient clipping), the
    gradients (``state.check_gradients``). On host backends bad labels or a
    NaN/inf loss or gradient stop training before the update; on a device
    backend they are flagged and raised at the epoch's end. Then it calls
    ``optimizer.step()`` and ``schedule.step()``.

    It can be compiled (``fit(..., compile=True)`` does): the checks,
    ``optimizer.zero_grad``/``step`` and ``schedule.step`` are marked
    :func:`xpgrad.run_eagerly`, and ``before_update`` and a schedule object
    whose ``step`` is not marked are called as if they were, so all of them
    run at every call of the compiled step with that call's tensors.

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
    state.check_targets(scores, y)
    objective = state.loss_fn(scores, y)
    if state.regularizer is not None:
        objective = objective + state.regularizer(state.penalized)
    state.check_loss(objective)
    state.optimizer.zero_grad()
    objective.backward()
    if before_update is not None:
        _eagerly(before_update, state)
    state.check_gradients()
    state.optimizer.step()
    if state.schedule is not None:
        _eagerly(state.schedule.step)
    return StepResult(objective, scores)


@run_eagerly
def _eager_call(fn: Callable, *args: Any) -> Any:
    return fn(*args)


def _eagerly(fn: Callable, *args: Any) -> Any:
    """``fn(*args)``, run at every call of a compiled step even when ``fn`` is not marked ``run_eagerly``."""
    if getattr(fn, "__xpgrad_eager__", False):
        return fn(*args)
    return _eager_call(fn, *args)


def _compiled_step(state: TrainState, step: Callable[..., StepResult] | None = None) -> Callable[..., StepResult]:
    """``step`` (default :func:`train_step`) bound to ``state`` and compiled with :func:`xpgrad.compile`.

    Returns the ``(state, x, y) -> StepResult`` that ``fit(..., compile=True)``
    calls per batch: it calls the compiled ``(x, y) -> (loss, scores)``, whose
    first call with a batch shape (and dtype, grad and train/eval mode)
    records the step and later ones replay it with the new batch. The
    compiled function is kept as ``state.compiled_step`` (its ``stats`` count
    traces and replays).

    >>> import xpgrad
    >>> from xpgrad import nn
    >>> from xpgrad.train import History, TrainState
    >>> model = nn.Linear(2, 2)
    >>> opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    >>> state = TrainState(model, opt, None, History(), loss_fn=xpgrad.loss("cross_entropy"))
    >>> step = _compiled_step(state)
    >>> x, y = xpgrad.tensor([[1.0, 0.0], [0.0, 1.0]]), xpgrad.tensor([0, 1])
    >>> losses = [float(step(state, x, y).loss) for _ in range(3)]
    >>> losses[0] > losses[1] > losses[2], state.compiled_step.stats["replays"]
    (True, 2)
    """
    body = step or train_step

    def fit_step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        objective, scores = body(state, x, y)
        return objective, scores

    fit_step.__qualname__ = fit_step.__name__ = f"fit_step[{getattr(body, '__name__', type(body).__name__)}]"
    compiled = state.compiled_step = compile_step(fit_step)

    def call(state: TrainState, x: Tensor, y: Tensor) -> StepResult:
        objective, scores = compiled(x, y)
        return StepResult(objective, scores)

    return call


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
    """An (X, y) pair of arrays or tensors, or of lists (rows of X, one label per row)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return False
    if all(isinstance(d, Tensor) or hasattr(d, "shape") for d in data):
        return True
    X, y = data
    return (isinstance(X, (list, tuple)) and isinstance(y, (list, tuple)) and len(X) == len(y) > 0
            and all(isinstance(v, numbers.Number) for v in y))


def _as_loader(data: Any, what: str, batch_size: int | None, shuffle: bool) -> Iterable:
    """An (X, y) pair or a dataset becomes a :class:`DataLoader`; a loader or other iterable of batches is kept."""
    if isinstance(data, (TensorDataset, Subset)) or Dataset in type(data).__mro__:
        data = dataset_arrays(data)  # a dataset is batched as its (X, y) arrays
    if isinstance(data, DataLoader) or not _is_pair(data):
        if isinstance(data, (dict, str, bytes)) or isinstance(data, Tensor) or hasattr(data, "shape") or not hasattr(
                data, "__iter__"):
            raise TypeError(f"{what} must be an (X, y) pair of arrays or tensors, a DataLoader, or an iterable of "
                            f"(x, y) batches; got {type(data).__name__}")
        if _steps(data) == 0:
            raise ValueError(f"{what} is empty: it holds no (x, y) batch")
        return data
    X, y = data
    n = len(X) if isinstance(X, (list, tuple)) else X.shape[0] if getattr(X, "ndim", 1) else 0
    if n == 0:
        raise ValueError(f"{what} is empty: X has 0 rows (samples); give it at least one")
    ny = len(y) if isinstance(y, (list, tuple)) else y.shape[0] if getattr(y, "ndim", 1) else None
    if ny != n:
        shape_x = tuple(getattr(X, "shape", (n,)))
        shape_y = tuple(getattr(y, "shape", (ny,)))
        raise ValueError(f"{what}: X of shape {shape_x} and y of shape {shape_y} must both have one row per sample "
                         "(the same examples, in the same order)")
    try:
        # One full batch is not shuffled: that would only draw from the generator.
        return DataLoader(X, y, batch_size, shuffle=shuffle and batch_size is not None and batch_size < n)
    except ValueError as e:  # the loader's message, naming the argument instead of the loader
        message = str(e)
        raise ValueError(f"{what}: {message.removeprefix('DataLoader: ')}") from None


def _epoch(data: Iterable, dtype: str, what: str, ranks: Ranks | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """One pass over ``data`` as tensors on the current backend, floats in ``dtype``; each batch's form checked.

    With ``ranks``: this rank's share of every batch (a DataLoader gathers
    only those rows; other batches are sliced). A shuffled DataLoader draws
    its order here, before the first batch.
    """
    if isinstance(data, DataLoader):
        if ranks is None:
            return data.batches(dtype)
        return data.batches(dtype, rank=ranks.rank, world_size=ranks.size)
    batches = (as_batch(*check_batch(batch, what, i), dtype) for i, batch in enumerate(data))
    if ranks is None:
        return batches
    return (_share(xb, yb, ranks) for xb, yb in batches)


def _share(xb: Tensor, yb: Tensor, ranks: Ranks) -> tuple[Tensor, Tensor]:
    lo, hi = shard_range(xb.shape[0], ranks.rank, ranks.size)
    return xb[lo:hi], yb[lo:hi]


def _named_parameters(model: Any, optimizer: Any) -> list[tuple[str, Any]]:
    """The parameters to keep finite, by name: the model's, else the optimizer's (``group0[1]``, ...)."""
    named = getattr(model, "named_parameters", None)
    if callable(named):
        return list(named())
    groups = getattr(optimizer, "param_groups", None) or []
    return [(f"group{g}[{i}]", p) for g, group in enumerate(groups) for i, p in enumerate(group["params"])]


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
    if not callable(model) or not callable(loss):
        bad = "model" if not callable(model) else "loss"
        raise TypeError(f"evaluate: {bad} must be callable, got {type(model if bad == 'model' else loss).__name__}")
    batch_size = _count(batch_size, "batch_size", minimum=1, none_ok=True)
    return _evaluate(model, loss, _as_loader(data, "data", batch_size, False), "data")


def _evaluate(model: Any, loss: Callable, data: Iterable, what: str, checked: set | None = None,
              ranks: Ranks | None = None) -> dict:
    """:func:`evaluate` on a loader; with ``ranks`` each rank evaluates its share and the sums are reduced."""
    dtype = _model_dtype(model)
    meter = EpochMeter(_backend.current(), watch=False, what=what,
                       dataset=data if isinstance(data, DataLoader) else None, checked=checked, ranks=ranks)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            for xb, yb in _epoch(data, dtype, what, ranks):
                if xb.shape[0] == 0:  # a rank's empty share of a small batch: nothing to add
                    continue
                scores = model(xb)
                meter.check_targets(scores, yb)
                meter.add(loss(scores, yb), scores, yb)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    mean_loss, accuracy = meter.result()
    return {"loss": mean_loss, "accuracy": accuracy}


# -- fit ---------------------------------------------------------------------------------------


def _run_epoch(state: TrainState, data: Iterable, dtype: str, step: Callable, callbacks: list[Callback],
               bar: Progress, params: list, checked: set, ranks: Ranks | None = None) -> dict:
    """One epoch of steps; returns its logs (``loss``, ``accuracy``, ``lr``, ``time``).

    With ``ranks`` (a data-parallel job) the rank steps on its share of each
    batch inside its own random stream, tells the optimizer its number of
    rows before each step, stops on the global NaN flag after it, and the
    logs are sums over the ranks.
    """
    model, optimizer = state.model, state.optimizer
    if hasattr(model, "train"):
        model.train()
    bar.epoch_begin(state.epoch)
    t0 = time.perf_counter()
    meter = state.meter = EpochMeter(_backend.current(), epoch=state.epoch, optimizer=optimizer,
                                     history=state.history, what="train_data", params=params,
                                     dataset=data if isinstance(data, DataLoader) else None, checked=checked,
                                     ranks=ranks)
    lr = _current_lr(optimizer)
    batches = _epoch(data, dtype, "train_data", ranks)  # the data order is drawn now, from the shared stream
    with enable_grad(), ranks.rank_stream() if ranks is not None else nullcontext():
        for xb, yb in batches:
            lr = _current_lr(optimizer)  # the rate this step uses (a schedule changes it after the step)
            if ranks is None:
                objective, scores = step(state, xb, yb)
                meter.add(objective, scores, yb)
            else:
                objective = ranks.step(state, step, meter, xb, yb, params)
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
        step: Callable[..., StepResult] | None = None, compile: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs of minibatch gradient descent; return the :class:`History`.

    Each step (:func:`train_step`) computes ``L = loss(model(x), y) +
    regularizer(weights)``, backpropagates, calls ``optimizer.step()`` and
    then ``schedule.step()`` (schedules count optimizer steps, not epochs).
    The regularizer gets the parameters with two or more dimensions (weight
    matrices; biases are not penalized, as usual). Training runs in train
    mode; validation in eval mode without a graph.

    In a data-parallel job (``mpiexec -n N``, after
    :func:`xpgrad.distributed.init`; see the data-parallel guide) every rank
    calls ``fit`` alike: the model, the optimizer's and the schedule's state
    are broadcast from rank 0, each global batch of ``batch_size`` rows (the
    same batches, in the same order, as a 1-process run with the same seed)
    is split among the ranks, the optimizer is wrapped in
    :class:`~xpgrad.distributed.DistributedOptimizer` (gradients averaged
    weighted by each rank's rows), the history holds global figures and only
    rank 0 shows progress. The loss must be a mean over the batch.

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
    compile : bool
        Train with the step compiled by :func:`xpgrad.compile`: the first
        batch of each shape records the step, later batches replay it as a
        flat program with the new batch. Losses, metrics and weights are the
        same as without it, bit for bit; the checks, ``before_update``, the
        optimizer's and the schedule's ``step`` still run at every batch, so a
        NaN loss stops training before its update as in eager mode. With a
        custom ``step`` that step is compiled, and its body follows the
        compile rules: Python side effects in it (counters, prints, appends)
        happen only when it is recorded, and a host read of a tensor
        (``float(loss)``, ``.item()``) or an in-place change outside a
        function marked :func:`xpgrad.run_eagerly` makes it run eagerly, with
        a warning that says why. Validation stays eager.
        ``state.compiled_step`` holds the compiled function.

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
    epochs, batch_size, start_epoch, log_every, callbacks = check_fit_arguments(
        model=model, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size, schedule=schedule,
        regularizer=regularizer, callbacks=callbacks, start_epoch=start_epoch, log_every=log_every,
        history=history, step=step, callback_type=Callback, compile=compile)
    ranks = Ranks.start(model, loss, optimizer, schedule, start_epoch)
    if ranks is not None:  # a data-parallel job: the optimizer averages over the ranks; only rank 0 reports
        optimizer, progress = ranks.optimizer, progress and ranks.rank == 0
    dtype = _model_dtype(model)
    data = _as_loader(train_data, "train_data", batch_size, shuffle)
    val = None if val_data is None else _as_loader(val_data, "val_data", batch_size, False)
    params = _named_parameters(model, optimizer)
    penalized = [p for _, p in params if p.ndim >= 2] if regularizer is not None else []
    state = TrainState(model, optimizer, schedule, History() if history is None else history, epoch=start_epoch,
                       loss_fn=loss, regularizer=regularizer, penalized=penalized)
    checked: set = set()  # numbers of classes the DataLoader's labels were checked against (once, on the host)
    val_checked: set = set()
    was_training = getattr(model, "training", True)
    bar = Progress(progress, _steps(data), epochs, start_epoch, log_every, log=ranks is None or ranks.rank == 0)
    run_step = _compiled_step(state, step) if compile else step or train_step
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
            state.epoch, state.logs = epoch, {}
            for cb in callbacks:
                cb.on_epoch_begin(state)
            logs = _run_epoch(state, data, dtype, run_step, callbacks, bar, params, checked, ranks)
            if val is not None:
                v = _evaluate(model, loss, val, "val_data", val_checked, ranks)
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
