"""The progress bar and the epoch lines of :func:`~xpgrad.train.fit` (stderr and the ``xpgrad.train`` logger)."""

from __future__ import annotations

import logging
import math
import sys

from .meter import EpochMeter

logger = logging.getLogger("xpgrad.train")


def format_epoch(epoch: int, last_epoch: int, logs: dict) -> str:
    """One epoch line: ``epoch 3/10  loss 0.1234  accuracy 0.9500  ...  lr 0.01  0.0123s``.

    >>> format_epoch(1, 2, {"loss": 0.5, "accuracy": 0.75, "lr": 0.1, "time": 0.25})
    'epoch 1/2  loss 0.5000  accuracy 0.7500  lr 0.1  0.25s'
    """
    parts = [f"epoch {epoch}/{last_epoch}", f"loss {logs['loss']:.4f}", f"accuracy {logs['accuracy']:.4f}"]
    if "val_loss" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}", f"val_accuracy {logs['val_accuracy']:.4f}"]
    parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.3g}s"]
    return "  ".join(parts)


class Progress:
    """A tqdm bar counting optimizer steps, plus about ten epoch lines per run (``log_every`` changes it).

    With ``enabled=False`` nothing is drawn and the per-step methods return at
    once; the epoch lines then go to the logger at INFO level (at DEBUG level
    with a bar, which already shows them). With ``log=False`` (the ranks
    other than 0 of a data-parallel job) there are no epoch lines either.
    """

    def __init__(self, enabled: bool, steps: int | None, epochs: int, start_epoch: int, log_every: int | None,
                 log: bool = True):
        from tqdm import tqdm

        enabled = enabled and log
        self.enabled, self.start_epoch, self.last_epoch, self.log = enabled, start_epoch, start_epoch + epochs, log
        self.every = log_every or max(1, math.ceil(epochs / 10))
        self.bar = tqdm(total=None if steps is None else steps * epochs, disable=not enabled, unit="step",
                        dynamic_ncols=True, file=sys.stderr, leave=True)
        self._acc_text = ""

    def epoch_begin(self, epoch: int) -> None:
        if self.enabled:
            self.bar.set_description(f"epoch {epoch}/{self.last_epoch}", refresh=False)

    def step(self, meter: EpochMeter) -> None:
        if not self.enabled:
            return
        self.bar.update(1)
        if meter.on_host:  # the loss is only known on the host without a device read
            self.bar.set_postfix_str(f"loss={meter.value:.4f}{self._acc_text}", refresh=False)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        self._acc_text = f" acc={logs['accuracy']:.3f}"
        if self.enabled:
            self.bar.set_postfix_str(f"loss={logs['loss']:.4f}{self._acc_text}", refresh=False)
        if self.log and ((epoch - self.start_epoch) % self.every == 0 or epoch == self.last_epoch):
            line = format_epoch(epoch, self.last_epoch, logs)
            if self.enabled:  # shown above the bar; the log record then stays at DEBUG to avoid a duplicate
                self.bar.write(line, file=sys.stderr)
            logger.log(logging.DEBUG if self.enabled else logging.INFO, line)

    def close(self) -> None:
        self.bar.close()
