"""An optimizer step over all parameters of a deep MLP, whose parameters and gradients live in flat buffers.

The optimizer keeps the parameters of one backend and dtype as views into one array, and
the engine writes their gradients into views of a second one, so an update over all 24
parameters of the deep case is a constant number of backend calls (``bench_optimizers``
times the same optimizers over 200 separate tensors). ``setup`` runs one backward so the
gradients are in place; the timed step only updates.
"""


from .common import BACKENDS, deep_mlp_optimizer, sync


class FlatOptimizerStep:
    params = (BACKENDS, ["sgd", "adam"])
    param_names = ["backend", "optimizer"]

    def setup(self, backend, optimizer):
        self.opt = deep_mlp_optimizer(backend, optimizer)
        sync()

    def time_step(self, backend, optimizer):
        self.opt.step()
        sync()
