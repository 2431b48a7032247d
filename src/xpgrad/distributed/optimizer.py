"""``DistributedOptimizer``: average the gradients over the ranks, weighted by samples, then step."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import xpgrad
import xpgrad.backend

from .collectives import all_reduce_numbers, reduce_array
from .launch import STATE

__all__ = ["DistributedOptimizer", "StepFigures"]


class StepFigures(NamedTuple):
    """The global figures of the last step: summed over every rank."""

    loss_sum: float | None
    """Σ over ranks of ``set_batch``'s ``loss_sum`` (None when no rank gave one)."""
    samples: int
    """Σ over ranks of the samples of the step."""
    nonfinite: bool
    """Whether any rank's gradients or loss held NaN or ±inf (the step was then skipped on every rank)."""


class DistributedOptimizer:
    """Wraps an optimizer so that each step uses the gradient averaged over every rank.

    With nᵣ samples on rank r (:meth:`set_batch`; 1 each by default) and gᵣ
    its gradient (of the mean loss over its own samples), every rank steps
    with

        g = Σᵣ nᵣ·gᵣ / Σᵣ nᵣ,

    which is the gradient of the mean loss over the whole global batch, also
    when the shards are uneven. The flat gradient buffers of the optimizer
    are reduced in place with MPI ``Allreduce`` in buckets of about
    ``bucket_mb`` megabytes (device arrays through NCCL or the host);
    parameters outside flat buffers are packed into one array. A parameter
    whose ``.grad`` is None on every rank stays None; None on some ranks
    counts as zeros there. One small all-reduce ahead of the gradients'
    carries the sample counts (each rank scales its gradient by nᵣ/N before
    the sum), the loss sums, a non-finite flag and which parameters have a
    gradient anywhere, so every rank decides alike: when any rank's loss or
    gradients are not finite the wrapped step is skipped everywhere (the
    parameters keep their values) and ``last.nonfinite`` is True.

    Otherwise it behaves like the wrapped optimizer (``param_groups``,
    ``state``, ``defaults``, ``zero_grad``, ``state_dict``,
    ``load_state_dict``, ``flat_buffers``, ``add_param_group``), so
    schedules and checkpoints accept it; other attributes are looked up on
    the wrapped optimizer. In a job of one nothing is reduced: it records
    ``last``, skips non-finite steps and steps the wrapped optimizer.

    >>> import xpgrad, xpgrad.distributed as dist
    >>> w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w], lr=0.5))
    >>> (w * w).sum().backward()
    >>> opt.set_batch(4, loss_sum=20.0)
    >>> opt.step()
    >>> w.tolist(), opt.last
    ([0.0, 0.0], StepFigures(loss_sum=20.0, samples=4, nonfinite=False))
    """

    def __init__(self, optimizer: Any, *, bucket_mb: float = 4.0):
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: the optimizer is already a DistributedOptimizer; wrap it once")
        if not (callable(getattr(optimizer, "step", None)) and hasattr(optimizer, "param_groups")
                and callable(getattr(optimizer, "flat_buffers", None))):
            raise TypeError(f"DistributedOptimizer wraps an xpgrad optimizer (xpgrad.optimizer(...)), got "
                            f"{type(optimizer).__name__}")
        if getattr(optimizer, "needs_closure", False):
            raise ValueError(f"DistributedOptimizer cannot wrap {type(optimizer).__name__}: it needs a closure "
                             "(it evaluates the loss itself instead of following a gradient), so there is no "
                             "gradient to average; run it in one process")
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) or not (
                math.isfinite(bucket_mb) and bucket_mb > 0):
            raise ValueError(f"DistributedOptimizer: bucket_mb must be a positive finite number of megabytes, "
                             f"got {bucket_mb!r}")
        self.optimizer = optimizer
        self.bucket_mb = float(bucket_mb)
        self.last: StepFigures | None = None
        self._samples = 1
        self._loss: float | None = None

    # -- what the wrapped optimizer provides --------------------------------------------------
    @property
    def param_groups(self) -> list:
        """The wrapped optimizer's parameter groups (schedules change their ``lr``)."""
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:
        """The wrapped optimizer's per-parameter state."""
        return self.optimizer.state

    @property
    def defaults(self) -> dict:
        """The wrapped optimizer's default hyperparameters."""
        return self.optimizer.defaults

    @property
    def needs_closure(self) -> bool:
        """Always False: optimizers that need a closure are refused."""
        return False

    def add_param_group(self, group: dict) -> None:
        """Add a parameter group to the wrapped optimizer."""
        self.optimizer.add_param_group(group)

    def flat_buffers(self) -> list:
        """The wrapped optimizer's flat buffers (their ``grad`` arrays are what :meth:`step` reduces)."""
        return self.optimizer.flat_buffers()

    @xpgrad.run_eagerly
    def zero_grad(self) -> None:
        """Forget the gradients (the wrapped optimizer's ``zero_grad``)."""
        self.optimizer.zero_grad()

    def state_dict(self) -> dict:
        """The wrapped optimizer's state dict (identical on every rank after each step)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict into the wrapped optimizer (see also :func:`broadcast_optimizer_state`)."""
        self.optimizer.load_state_dict(state_dict)

    def __getattr__(self, name: str) -> Any:
        # Anything else (a hyperparameter attribute, a method of a custom optimizer) is the wrapped one's.
        if name.startswith("_") or name == "optimizer":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.optimizer, name)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.optimizer!r}, bucket_mb={self.bucket_mb:g})"

    # -- the step -----------------------------------------------------------------------------
    @xpgrad.run_eagerly  # a compiled step calls it every time, with that call's figures
    def set_batch(self, samples: int, loss_sum: Any = None) -> None:
        """Tell the next :meth:`step` this rank's number of samples and, optionally, the sum of their losses.

        ``loss_sum`` is a float or a 0-d tensor (read on the host at the
        step). Both are kept until the next step; the default is 1 sample.
        """
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
            raise ValueError(f"DistributedOptimizer.set_batch: samples must be an int >= 0, got {samples!r}")
        if loss_sum is not None and not isinstance(loss_sum, (int, float)):
            shape = getattr(loss_sum, "shape", None)
            if shape is None or tuple(shape) != ():
                raise TypeError(f"DistributedOptimizer.set_batch: loss_sum must be a number or a 0-d tensor, got "
                                f"{type(loss_sum).__name__}" + ("" if shape is None else f" of shape {tuple(shape)}"))
        self._samples, self._loss = samples, loss_sum

    @xpgrad.run_eagerly
    def step(self, closure: Any = None) -> Any:
        """Average the gradients over the ranks (see the class), then step the wrapped optimizer.

        ``closure``, if given, is called first with grad enabled and its loss
        returned. The step is skipped on every rank when ``last.nonfinite``.
        """
        loss = None
        if closure is not None:
            with xpgrad.enable_grad():
                loss = closure()
        figures = self.reduce_gradients()
        if not figures.nonfinite:
            self.optimizer.step()
        return loss

    def reduce_gradients(self) -> StepFigures:
        """Only the averaging of :meth:`step` (no update): sets and returns ``last``."""
        loose, flats = self._parameters()
        for buf in flats:
            _into_slots(buf)
        everyone = [t for buf in flats for t in buf.tensors] + loose
        has = [0.0 if t.grad is None else 1.0 for t in everyone]
        loss = None if self._loss is None else float(self._loss)
        bad = (loss is not None and not math.isfinite(loss)) or not self._grads_finite(flats, loose)
        local = [float(self._samples), 0.0 if loss is None else loss, float(bad), float(loss is not None), *has]
        total = all_reduce_numbers(local)
        samples, loss_sum, nonfinite, givers, counts = int(total[0]), total[1], total[2] > 0, int(total[3]), total[4:]
        if 0 < givers < STATE.size:
            raise RuntimeError(f"DistributedOptimizer: set_batch(loss_sum=...) was given on {givers} of {STATE.size} "
                               "ranks; give it on every rank or on none")
        self.last = StepFigures(None if givers == 0 else loss_sum, samples, nonfinite)
        self._samples, self._loss = 1, None
        if STATE.size == 1 or nonfinite:
            return self.last
        if samples == 0:
            raise RuntimeError("DistributedOptimizer: set_batch gave 0 samples on every rank; nothing to average")
        scale = local[0] / total[0]
        needed = {id(t) for t, c in zip(everyone, counts, strict=True) if c > 0}
        for buf in flats:
            self._reduce_flat(buf, needed, scale)
        wanted = [p for p in loose if id(p) in needed]
        if wanted:
            self._reduce_loose(wanted, scale)
        return self.last

    def _parameters(self) -> tuple[list, list]:
        flats = self.optimizer.flat_buffers()
        inside = {id(t) for buf in flats for t in buf.tensors}
        loose = [p for g in self.optimizer.param_groups for p in g["params"] if id(p) not in inside]
        return loose, flats

    @staticmethod
    def _grads_finite(flats: list, loose: list) -> bool:
        for buf in flats:
            xp = buf.backend.xp
            if not bool(xp.all(xp.isfinite(buf.grad))):
                return False
        for p in loose:
            g = p.grad
            if g is not None and not bool(p.backend.xp.all(p.backend.xp.isfinite(g))):
                return False
        return True

    def _reduce_flat(self, buf: Any, needed: set, scale: float) -> None:
        """Scale this rank's slice by nᵣ/N, then sum the buffer over the ranks bucket by bucket, in place."""
        for t, g in zip(buf.tensors, buf.grad_views, strict=True):
            if t.grad is None and id(t) in needed:  # another rank has a gradient here: this one gave zeros
                t.grad = g
        grad = buf.grad
        backend = buf.backend
        if scale != 1.0:
            grad[...] = grad * scale
        n = grad.shape[0]
        itemsize = buf.nbytes // (2 * n) if n else 1  # nbytes counts the value and the gradient arrays
        step = max(1, int(self.bucket_mb * 1e6) // max(1, itemsize))
        if step >= n:
            reduce_array(backend, grad, "sum")
            return
        for start in range(0, n, step):
            piece = grad[start:start + step]  # a view: the reduction lands in the buffer
            result = reduce_array(backend, piece, "sum")
            if result is not piece:
                grad[start:start + step] = result

    @staticmethod
    def _reduce_loose(params: list, scale: float) -> None:
        """Parameters outside flat buffers: pack by backend and dtype, reduce once per pack, unpack."""
        packs: dict[tuple, list] = {}
        for p in params:
            packs.setdefault((p.backend, xpgrad.backend.dtype_name(p.dtype), str(p.device)), []).append(p)
        for (backend, _, _), group in packs.items():
            xp = backend.xp
            proto = group[0].data
            parts = [xp.reshape(p.grad, (-1,)) if p.grad is not None
                     else xp.zeros((p.data.size,), dtype=proto.dtype, device=proto.device) for p in group]
            flat = xp.concat(parts) * scale
            flat = reduce_array(backend, flat, "sum")
            at = 0
            for p in group:
                size = p.data.size
                p.grad = xp.reshape(flat[at:at + size], tuple(p.shape))
                at += size


def _into_slots(buf: Any) -> None:
    """Make the flat gradient array hold exactly this rank's gradients: zeros where ``.grad`` is None.

    A slot keeps whatever an earlier step left there after ``zero_grad`` (the
    next backward overwrites only the slots it reaches), and a gradient set
    by hand may live outside its slot; both are fixed here before the
    buffer is checked for NaN and summed.
    """
    if buf.grads_ready():
        return
    for t, g in zip(buf.tensors, buf.grad_views, strict=True):
        if t.grad is None:
            g[...] = 0
        elif t.grad is not g:
            g[...] = t.grad
            t.grad = g
