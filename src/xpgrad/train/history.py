"""What a run records and what callbacks see: :class:`History`, :class:`TrainState`, :class:`NonFiniteLossError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..autograd import run_eagerly

__all__ = ["History", "NonFiniteLossError", "TrainState"]


class NonFiniteLossError(FloatingPointError):
    """Training met NaN or inf: in the loss, a gradient or a weight.

    ``epoch``, ``step`` and ``history`` (completed epochs) are attached, with
    ``kind`` (``"loss"``, ``"gradient"`` or ``"weight"``) and ``parameter``
    (the parameter's name for a gradient or a weight, else None).
    """

    def __init__(self, message: str, *, epoch: int, step: int, history: History, kind: str = "loss",
                 parameter: str | None = None):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history
        self.kind, self.parameter = kind, parameter


@dataclass
class History:
    """Per-epoch record of a :func:`~xpgrad.train.fit` run.

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

    def append(self, **logs: float) -> None:
        """Add one epoch; keys must be field names."""
        for key, value in logs.items():
            getattr(self, key).append(value)

    def __getitem__(self, key: str) -> list:
        if key not in self.__dataclass_fields__:
            raise KeyError(f"History has no {key!r}; it has {', '.join(self.__dataclass_fields__)}")
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """The list for ``key``, or ``default`` when the history has no such field."""
        return getattr(self, key, default) if key in self.__dataclass_fields__ else default

    def __len__(self) -> int:
        return len(self.epoch)

    def last(self) -> dict:
        """The last epoch's values as a dict (empty lists are left out)."""
        return {k: v[-1] for k, v in self.to_dict().items() if v}

    def to_dict(self) -> dict:
        """All lists, keyed by field name (JSON-serialisable)."""
        return {k: list(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Rebuild a history from :meth:`to_dict` output (e.g. a checkpoint's ``meta["history"]``).

        >>> History.from_dict({"epoch": [1], "loss": [0.5]}).loss
        [0.5]
        """
        return cls(**{k: list(d.get(k, [])) for k in cls.__dataclass_fields__})


@dataclass
class TrainState:
    """What callbacks and training steps see: the objects being trained, the counters and the history.

    Attributes
    ----------
    model, optimizer, schedule : the objects passed to :func:`~xpgrad.train.fit`
    history : History
        Completed epochs.
    epoch : int
        1-based number of the epoch that is starting (``on_epoch_begin``),
        running (``on_step_end``) or has just ended (``on_epoch_end``).
    logs : dict
        The epoch's values, filled at its end (``loss``, ``accuracy``, ``lr``,
        ``time``, ``val_loss``, ``val_accuracy``).
    stop_training : bool
        Set it to True to end the run after the current epoch.
    step : int
        Optimizer steps (training-step calls) taken by this :func:`fit` call
        so far, over all epochs; 1 in the first ``on_step_end``.
    loss : Tensor or None
        The last step's objective, a 0-d Tensor. ``fit`` does not read it
        back to the host on a device backend: ``float(state.loss)`` in a
        callback forces a synchronisation there.
    loss_fn : callable
        ``(scores, targets) -> scalar Tensor``, the ``loss`` given to ``fit``.
    regularizer : callable or None
        ``parameters -> scalar Tensor``, applied to ``penalized``.
    penalized : list of Parameter
        The parameters with two or more dimensions (weight matrices).
    compiled_step : CompiledFunction or None
        The compiled step that ``fit(..., compile=True)`` calls (its ``stats``
        count traces, replays and eager fallbacks); None otherwise.

    A training step calls :meth:`check_targets` on the batch's scores and
    labels before the loss, :meth:`check_loss` on its objective and
    :meth:`check_gradients` after ``backward()``, all before it changes the
    weights, so that bad labels, a non-finite loss or a non-finite gradient
    stop the run before the bad update on host backends (on a device backend
    they are flagged on the device and raised at the epoch's end). The three
    checks are marked :func:`xpgrad.run_eagerly`: inside a compiled step they
    run at every call, on that call's tensors.
    """

    model: Any
    optimizer: Any
    schedule: Any
    history: History
    epoch: int = 0
    logs: dict = field(default_factory=dict)
    stop_training: bool = False
    step: int = 0
    loss: Any = None
    loss_fn: Callable | None = None
    regularizer: Callable | None = None
    penalized: list = field(default_factory=list)
    meter: Any = field(default=None, repr=False)
    compiled_step: Any = field(default=None, repr=False)

    @run_eagerly
    def check_loss(self, loss: Any) -> None:
        """Check the step's objective before the update (``EpochMeter.check``); a no-op outside ``fit``."""
        if self.meter is not None:
            self.meter.check(loss)

    @run_eagerly
    def check_targets(self, scores: Any, targets: Any) -> None:
        """Check the batch's class labels against the scores before the loss (``EpochMeter.check_targets``)."""
        if self.meter is not None:
            self.meter.check_targets(scores, targets)

    @run_eagerly
    def check_gradients(self) -> None:
        """Check the gradients after ``backward()``, before ``optimizer.step()`` (``EpochMeter.check_gradients``)."""
        if self.meter is not None:
            self.meter.check_gradients()
