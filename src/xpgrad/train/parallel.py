"""What :func:`~xpgrad.train.fit` does differently on the ranks of a data-parallel job (``world_size() > 1``).

Every rank runs the same loop over the same global batches and takes its
contiguous share of each (:func:`xpgrad.data.loader.shard_range`); the
optimizer is wrapped in :class:`xpgrad.distributed.DistributedOptimizer`,
which averages the gradients weighted by each rank's number of samples and
carries the loss sum and a non-finite flag in the same reduction, so every
decision (stop on NaN, early stopping, checkpoints) is taken on global figures
by all ranks alike. With one process none of this runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import backend as _backend
from ..autograd import Tensor, as_tensor
from .guard import _reduction_of, nonfinite_parameter
from .history import NonFiniteLossError, TrainState

__all__ = ["Ranks"]


class Ranks:
    """The rank-dependent parts of one :func:`~xpgrad.train.fit` call: sharding, random streams, reductions.

    Made by :meth:`start` (None in a job of one process). ``optimizer`` is
    the :class:`~xpgrad.distributed.DistributedOptimizer` that ``fit`` steps.

    Random numbers: the backend's generator, identical on every rank at the
    start (rank 0's state is broadcast), keeps drawing the data order, as in
    a 1-process run, so the same seed gives the same global batches. While
    the steps of an epoch run, each rank swaps in a stream of its own (seeded
    from the shared seed, the rank and the start epoch), so dropout masks
    differ between ranks; the shared state is back in place when callbacks
    (checkpoints) run, so a resumed run shuffles as the uninterrupted one.
    """

    def __init__(self, dist: Any, optimizer: Any, backend: _backend.Backend, rank_state: Any):
        self.dist, self.optimizer, self.backend = dist, optimizer, backend
        self.rank, self.size = dist.rank(), dist.world_size()
        self._rank_state = rank_state
        # Whether the steps report their loss (train_step does, through state.check_loss): a rank with an empty
        # share reports a loss sum of 0 only then, as the optimizer wants it from every rank or from none.
        self.loss_reported = True

    @classmethod
    def start(cls, model: Any, loss: Any, optimizer: Any, schedule: Any, start_epoch: int) -> Ranks | None:
        """Synchronise the ranks before the first step; None when the job has one process.

        Checks that the loss is a mean over the batch (the weighting by
        samples needs it), wraps ``optimizer``, and broadcasts from rank 0:
        the model's parameters and buffers, the optimizer's state, the
        schedule's state and the backend's generator state.
        """
        from .. import distributed as dist

        if dist.world_size() <= 1:
            return None
        reduction = _reduction_of(loss)
        if reduction not in (None, "mean"):
            raise ValueError(f"loss has reduction={reduction!r}; a distributed fit averages each rank's gradient "
                             "weighted by its number of samples, which is exact for a mean over the batch: use "
                             "reduction='mean' (the default)")
        if not isinstance(optimizer, dist.DistributedOptimizer):
            optimizer = dist.DistributedOptimizer(optimizer)
        if callable(getattr(model, "state_dict", None)):
            dist.broadcast_parameters(model)
        dist.broadcast_optimizer_state(optimizer)
        if callable(getattr(schedule, "state_dict", None)) and callable(getattr(schedule, "load_state_dict", None)):
            schedule.load_state_dict(dist.broadcast_object(schedule.state_dict()))
        b = _backend.current()
        shared = dist.broadcast_object(b.rng_state())
        # The rank's own stream: reseeding also gives a device generator (CuPy) a per-rank seed.
        b.seed(_rank_seed(shared.get("seed"), dist.rank(), start_epoch))
        rank_state = b.rng_state()
        b.set_rng_state({"seed": rank_state["seed"], "state": shared["state"]})
        return cls(dist, optimizer, b, rank_state["state"])

    # -- random streams ---------------------------------------------------------------------------
    @contextmanager
    def rank_stream(self) -> Iterator[None]:
        """Within the block the backend draws from this rank's stream; the shared (data) stream is kept aside."""
        b = self.backend
        shared = b.rng_state()
        b.set_rng_state({"seed": shared["seed"], "state": self._rank_state})
        try:
            yield
        finally:
            self._rank_state = b.rng_state()["state"]
            b.set_rng_state(shared)

    # -- steps -------------------------------------------------------------------------------------
    def step(self, state: TrainState, step: Callable, meter: Any, xb: Tensor, yb: Tensor, params: list) -> Tensor:
        """One step of ``fit`` on this rank's share ``(xb, yb)`` of the batch; returns the objective (0-d).

        The optimizer learns the rank's number of rows first (the meter adds
        the loss sum when the step checks its loss); an empty share still
        joins the reduction; after it every rank raises on the global NaN flag.
        """
        meter.rows = rows = xb.shape[0]
        self.optimizer.set_batch(rows)
        if rows:
            objective, scores = step(state, xb, yb)
        else:
            objective = self.empty_step(state, xb)
        self.after_step(state, params)
        if rows:
            meter.add(objective, scores, yb)
        shown = self.global_loss()  # the progress bar shows the global loss
        meter.value = meter.value if shown is None else shown
        return objective

    def empty_step(self, state: TrainState, xb: Tensor) -> Tensor:
        """A step of a rank whose share of the batch is empty: it still joins the reduction (with weight 0),
        updates the weights with the others and steps the schedule; returns the global mean loss (0-d)."""
        opt = state.optimizer
        opt.zero_grad()
        opt.set_batch(0, 0.0 if self.loss_reported else None)
        opt.step()
        if state.schedule is not None:
            state.schedule.step()
        value = self.global_loss()
        return as_tensor(self.backend.asarray(float("nan") if value is None else value, dtype=xb.dtype),
                         backend=self.backend)

    def global_loss(self) -> float | None:
        """The mean loss of the last step over all ranks, or None when a custom step did not report it."""
        last = self.optimizer.last
        if last is None or last.loss_sum is None or not last.samples:
            return None
        return float(last.loss_sum) / last.samples

    def after_step(self, state: TrainState, params: list) -> None:
        """Raise :class:`NonFiniteLossError` on every rank when any rank's loss or gradient was NaN/inf."""
        last = self.optimizer.last
        self.loss_reported = last is not None and last.loss_sum is not None
        if last is None or not last.nonfinite:
            return
        value = self.global_loss()
        finite_loss = value is not None and value == value and abs(value) != float("inf")
        step = state.step + 1
        where = f"at epoch {state.epoch}, step {step}"
        if finite_loss:
            name = nonfinite_parameter(params, grads=True) if params else None
            what = (f"the averaged gradient of parameter {name!r} became non-finite (NaN or inf)" if name else
                    "a gradient became non-finite (NaN or inf) on some rank")
            fix = ("The loss was finite, so a function in the loss or regularizer has no finite derivative where it "
                   "was evaluated: add a small eps inside it, or clip gradients in the step's before_update")
            kind = "gradient"
        else:
            what, name, kind = f"the loss became {'non-finite' if value is None else value}", None, "loss"
            fix = "The learning rate is probably too high: try a lower one, or check the data for NaN/inf values"
        raise NonFiniteLossError(
            f"{what} {where} (all {self.size} ranks stop together; the update of this step was not applied). "
            f"{fix}", epoch=state.epoch, step=step, history=state.history, kind=kind, parameter=name)

    # -- figures -----------------------------------------------------------------------------------
    def reduce(self, values: list[float]) -> list[float]:
        """Sums of ``values`` over the ranks (host numbers)."""
        return list(self.dist.all_reduce_numbers(values))


def _rank_seed(seed: Any, rank: int, start_epoch: int) -> int:
    """A seed for rank ``rank``'s own stream, derived from the shared seed (no generator is advanced)."""
    digest = hashlib.sha256(f"xpgrad-rank-stream/{seed}/{rank}/{start_epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little")
