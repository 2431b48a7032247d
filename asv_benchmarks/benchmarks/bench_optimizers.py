"""An optimizer step over many parameters, the per-parameter overhead of the update loop."""

import xpgrad

from .common import BACKENDS, use_backend


class OptimizerStep:
    params = (BACKENDS, ["sgd", "momentum", "adam", "rmsprop"])
    param_names = ["backend", "optimizer"]

    def setup(self, backend, optimizer):
        use_backend(backend)
        self.params = [xpgrad.randn(64, 64, requires_grad=True) for _ in range(200)]
        for p in self.params:
            p.grad = xpgrad.randn(64, 64).data
        self.opt = xpgrad.optimizer(optimizer, self.params, lr=1e-3)

    def time_step(self, backend, optimizer):
        self.opt.step()
