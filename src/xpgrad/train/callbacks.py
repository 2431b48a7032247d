"""Callbacks: hooks :func:`~xpgrad.train.fit` calls at the start and end of the run, each epoch and each step."""

from __future__ import annotations

import logging
import math
import numbers

from ..backend import backend_of
from .guard import nonfinite_parameter
from .history import NonFiniteLossError, TrainState

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]

logger = logging.getLogger("xpgrad.train")


class Callback:
    """Base class of callbacks: override the hooks you need; each receives the :class:`TrainState`.

    ``on_step_end`` runs after every training step (one optimizer step), with
    ``state.step``, ``state.epoch`` and ``state.loss`` (a 0-d Tensor: reading
    it with ``float`` makes a GPU wait, so do that only now and then).

    >>> class Count(Callback):
    ...     def __init__(self): self.epochs, self.steps = 0, 0
    ...     def on_step_end(self, state): self.steps += 1
    ...     def on_epoch_end(self, state): self.epochs += 1
    """

    def on_train_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_begin(self, state: TrainState) -> None:
        pass

    def on_step_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass


def _is_count(value: object) -> bool:
    """An integer (Python's or NumPy's), not a bool."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def _is_finite_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))


def _monitor_mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _monitored(state: TrainState, monitor: str, who: str) -> float:
    if monitor not in state.logs:
        hint = " (pass val_data to fit, or monitor 'loss')" if monitor.startswith("val_") else ""
        raise KeyError(f"{who} monitors {monitor!r}, but fit only logs {', '.join(sorted(state.logs))}{hint}")
    return state.logs[monitor]


def _copy_state(model) -> dict:
    """Copies of the model's state dict on its own backend (a cheap snapshot for restoring the best weights)."""
    out = {}
    for k, v in model.state_dict().items():
        data = getattr(v, "data", v)
        out[k] = backend_of(data).asarray(data, copy=True)
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

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0, mode: str = "auto",
                 restore_best: bool = True):
        if not _is_count(patience) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, got {patience!r}")
        if not _is_finite_number(min_delta):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode, self.restore_best = _monitor_mode(monitor, mode), restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._weights: dict | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def on_train_begin(self, state: TrainState) -> None:
        self.best, self.best_epoch, self.stopped_epoch, self.wait, self._weights = None, None, None, 0, None

    def on_epoch_end(self, state: TrainState) -> None:
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
    atomically, so a crash or a non-finite loss never destroys the last one,
    and never from non-finite weights: before writing, the model's parameters
    are checked (one host read) and :class:`NonFiniteLossError` names the
    first one holding NaN or inf, leaving the file as it was. In a
    data-parallel job every rank runs the callback, rank 0 writes the file
    and the others wait for it (:func:`xpgrad.distributed.barrier`).

    Raises
    ------
    ValueError
        ``every`` not a positive integer, ``save_best_only`` without ``monitor``.

    >>> ModelCheckpoint("run-{epoch}.safetensors", every=5).every
    5
    """

    def __init__(self, path, *, monitor: str | None = None, mode: str = "auto", save_best_only: bool = False,
                 every: int = 1, **meta):
        if save_best_only and monitor is None:
            raise ValueError("save_best_only=True needs monitor=..., e.g. monitor='val_loss'")
        if not _is_count(every) or every < 1:
            raise ValueError(f"ModelCheckpoint: every must be a positive integer (save every that many epochs), "
                             f"got {every!r}")
        self.path, self.monitor, self.every, self.save_best_only = path, monitor, int(every), save_best_only
        self.mode = _monitor_mode(monitor, mode) if monitor else None
        self.meta = meta
        self.best: float | None = None
        self.last_path: str | None = None
        self.saved_epoch: int | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        if self.save_best_only:
            assert self.monitor is not None  # checked in __init__
            value = _monitored(state, self.monitor, "ModelCheckpoint")
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            self.best = value
        elif state.epoch % self.every and not state.stop_training:
            return
        self._save(state)

    def on_train_end(self, state: TrainState) -> None:
        # The last epoch is always kept, even when it is not a multiple of ``every``.
        if not self.save_best_only and len(state.history) and self.saved_epoch != state.epoch:
            self._save(state)

    def _save(self, state: TrainState) -> None:
        from ..checkpoint import save

        path = str(self.path).format(epoch=state.epoch)
        named = getattr(state.model, "named_parameters", None)
        bad = nonfinite_parameter(list(named())) if callable(named) else None
        if bad is not None:
            raise NonFiniteLossError(
                f"ModelCheckpoint: weight {bad!r} is non-finite (NaN or inf) at epoch {state.epoch}; {path} was not "
                "written (an earlier checkpoint is kept). Lower the learning rate, or look for a loss or "
                "regularizer without a finite gradient", epoch=state.epoch, step=state.step,
                history=state.history, kind="weight", parameter=bad)
        from .. import distributed as dist

        # In a data-parallel job the ranks hold the same weights: rank 0 writes, the others wait for the file.
        if dist.is_main():
            save(path, model=state.model, optimizer=state.optimizer, schedule=state.schedule, epoch=state.epoch,
                 history=state.history.to_dict(), **self.meta)
        dist.barrier()
        self.last_path, self.saved_epoch = path, state.epoch
