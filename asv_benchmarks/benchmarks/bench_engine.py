"""The autograd engine's own cost per graph node, with no array work: the floor under every eager step.

A chain of ``nodes`` ops whose forward returns its input and whose backward passes the
gradient through, each applied like a dense layer (input, weight, bias: the dense ops'
``apply``), then one ``backward()``. No op does arithmetic, so the time is what the
engine spends per node (a context, a result tensor, the graph walk, the backward call
and the gradient hand-off) plus a fixed cost per pass. Compare the two ``nodes``
values: their difference over 15 is the per-node cost. An eager step of a network with
L layers pays at least L times that on top of the hand-written step's NumPy calls.
"""

import numpy as np

import xpgrad
from xpgrad.autograd.function import Function, apply_three

from .common import BACKENDS, sync, use_backend


class PassThrough(Function):
    """y = x: the dense-layer signature (x, weight, bias) with no arithmetic in either direction."""

    owns_grads = False  # the gradient handed on is the incoming one
    apply = classmethod(apply_three)

    @staticmethod
    def forward(ctx, x, weight, bias):
        return x

    @staticmethod
    def backward(ctx, g):
        return g, None, None


class EngineFloor:
    params = (BACKENDS, [1, 16])
    param_names = ["backend", "nodes"]

    def setup(self, backend, nodes):
        use_backend(backend)
        self.x = xpgrad.ones((2, 2), requires_grad=True)
        self.w, self.b = xpgrad.ones((2, 2)), xpgrad.ones(2)
        self.seed = xpgrad.ones((2, 2))
        self.nodes = nodes
        sync()

    def _chain(self):
        h = self.x
        for _ in range(self.nodes):
            h = PassThrough.apply(h, self.w, self.b)
        return h

    def time_forward(self, backend, nodes):
        self._chain()

    def time_forward_backward(self, backend, nodes):
        self.x.grad = None
        self._chain().backward(self.seed)
        sync()


def per_node_us(nodes=16, number=300, repeat=9) -> tuple[float, float]:
    """(forward, forward + backward) µs per node on the current backend, from the best of ``repeat`` runs."""
    import timeit

    out = []
    for method in ("time_forward", "time_forward_backward"):
        best = {}
        for n in (1, nodes):
            bench = EngineFloor()
            bench.setup(xpgrad.backend.current().name, n)
            fn = getattr(bench, method)
            best[n] = min(timeit.repeat(lambda fn=fn, n=n: fn(None, n), number=number, repeat=repeat)) / number
        out.append((best[nodes] - best[1]) / (nodes - 1) * 1e6)
    return out[0], out[1]


if __name__ == "__main__":  # python -m benchmarks.bench_engine (from asv_benchmarks/)
    fwd, both = per_node_us()
    print(f"engine per node: forward {fwd:.2f} µs, forward + backward {both:.2f} µs (numpy, {np.__version__})")
