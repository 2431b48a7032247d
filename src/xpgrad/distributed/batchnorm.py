"""``SyncBatchNorm1d``: batch normalization with the statistics of the global batch (all ranks)."""

from __future__ import annotations

from typing import Any

import xpgrad
import xpgrad.backend
from xpgrad import nn
from xpgrad.autograd import tracing

from .collectives import all_reduce, reduce_array
from .launch import STATE

__all__ = ["SyncBatchNorm1d", "convert_sync_batchnorm"]


class _SyncBatchNorm(xpgrad.Function):
    """y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε) and μ, σ² of the global batch of N = Σᵣ nᵣ rows.

    Backward follows :class:`DistributedOptimizer`'s convention: the global
    loss is L = Σᵣ (nᵣ/N)·Lᵣ, each rank's Lᵣ being the mean over its own rows,
    and each rank returns N/nᵣ times its rows' share of ∂L/∂x (so that the
    weighted average of the ranks' parameter gradients is ∂L/∂θ). With
    Aₛ = Σ_{i∈s} dyᵢ and Bₛ = Σ_{i∈s} dyᵢ·x̂ᵢ on rank s, all-reduced as
    A = Σₛ nₛ·Aₛ / nᵣ and B = Σₛ nₛ·Bₛ / nᵣ,

        dx = γ / (N √(σ² + ε)) · (N·dy − A − x̂·B),

    and dγ = Bᵣ, dβ = Aᵣ (this rank's own sums, averaged by the optimizer).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, total, eps=1e-5, rows=1):
        xp = ctx.xp
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        ctx.save_for_backward(xhat, gamma, inv_std, total)
        ctx.rows = rows
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, g):
        xhat, gamma, inv_std, total = ctx.saved_tensors  # total: N as an array of shape (1,)
        xp = ctx.xp
        nx, ngamma, nbeta = ctx.needs_input_grad[:3]
        gbeta = xp.sum(g, axis=0)
        ggamma = xp.sum(g * xhat, axis=0)
        gx = None
        if nx:  # the same on every rank (one model), so every rank joins this collective
            n = ctx.rows
            sums = all_reduce(xp.concat([gbeta, ggamma]) * float(n))
            f = gbeta.shape[0]
            a, b = sums[:f] / float(max(n, 1)), sums[f:] / float(max(n, 1))
            gx = (gamma * inv_std / total) * (total * g - a - xhat * b)
        return gx, (ggamma if ngamma else None), (gbeta if nbeta else None), None, None, None


class SyncBatchNorm1d(nn.BatchNorm1d):
    """:class:`~xpgrad.nn.BatchNorm1d` whose training-mode statistics cover the batch of every rank.

    With rank r holding nᵣ rows of the global batch (N = Σᵣ nᵣ), each feature
    is normalized with

        μ = Σᵣ Σᵢ xᵢ / N,   σ² = Σᵣ Σᵢ (xᵢ − μ)² / N,

    (two all-reduces: the sums with the row counts, then the squared
    deviations), so the output, the running statistics and (through an
    all-reduce in backward, see ``_SyncBatchNorm``) the gradients equal those
    of one BatchNorm1d over the concatenated batch, also for uneven shards.
    Plain BatchNorm1d under data parallelism normalizes each shard on its own
    and lets the ranks' running statistics drift apart. Every rank must call
    the layer together (an empty shard of 0 rows is allowed). In evaluation
    mode, and in a job of one, it is exactly BatchNorm1d; the state-dict
    keys are the same.

    >>> import xpgrad, xpgrad.distributed as dist
    >>> bn = dist.SyncBatchNorm1d(1)
    >>> [round(v, 3) for v in bn(xpgrad.tensor([[1.0], [3.0]])).numpy()[:, 0].tolist()]
    [-1.0, 1.0]
    """

    def forward(self, x):
        if not self.training or STATE.size == 1:
            return super().forward(x)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm1d({self.num_features}) expects input of shape (batch, "
                             f"{self.num_features}), got {x.shape}")
        rows = x.shape[0]
        # Recorded ops and recorded collectives (no host read), so a compiled step replays them every call.
        with xpgrad.no_grad():
            counted = xpgrad.concat([xpgrad.sum(x, axis=0), xpgrad.full((1,), float(rows), dtype=x.dtype)])
            first = _summed(counted)
            total = first[-1:]
            self._check_total(total, x.shape)
            mean = first[:-1] / total
            var = _summed(xpgrad.sum((x - mean) ** 2, axis=0)) / total
        self._track_global(mean, var, total)
        return _SyncBatchNorm.apply(x, self.weight, self.bias, mean, var, total, eps=self.eps, rows=rows)

    @xpgrad.run_eagerly
    def _check_total(self, total, shape) -> None:
        n = round(float(total.tolist()[0]))
        if n < 2:
            raise ValueError(f"SyncBatchNorm1d needs more than one example in the global batch in training mode, "
                             f"got {n} over {STATE.size} ranks (this rank: input of shape {shape}); use a "
                             "larger batch or call model.eval()")

    @xpgrad.run_eagerly
    def _track_global(self, mean, var, total) -> None:
        self._track(mean, var, round(float(total.tolist()[0])))


def _sum_over_ranks(array: Any) -> Any:
    """A new array: the element-wise sum of ``array`` over the ranks."""
    backend = xpgrad.backend.backend_of_array(array)
    assert backend is not None  # an intermediate array of the step
    return reduce_array(backend, backend.xp.asarray(array, copy=True), "sum")


def _summed(t: Any) -> Any:
    """``t`` summed over the ranks, reported to a compiled step as an array call (replayed every call)."""
    result = xpgrad.as_tensor(_sum_over_ranks(t.data))
    tracing.record_call(_sum_over_ranks, (t,), {}, result)
    return result


def convert_sync_batchnorm(module: Any) -> Any:
    """Turn every :class:`~xpgrad.nn.BatchNorm1d` inside ``module`` (itself included) into a :class:`SyncBatchNorm1d`.

    The change is in place: each layer stays the same object, with the same
    parameters, running statistics, momentum, eps, training mode and
    position (SyncBatchNorm1d adds no state), so an optimizer built before
    still updates it. Returns ``module``.

    >>> import xpgrad.distributed as dist
    >>> from xpgrad import nn
    >>> model = dist.convert_sync_batchnorm(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    >>> type(model[1]).__name__
    'SyncBatchNorm1d'
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert_sync_batchnorm takes an xpgrad nn.Module, got {type(module).__name__}")
    for _, sub in list(module.named_modules()):
        if type(sub) is nn.BatchNorm1d:  # subclasses of BatchNorm1d may hold more: left alone
            sub.__class__ = SyncBatchNorm1d
    return module
