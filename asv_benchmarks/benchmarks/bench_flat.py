"""An optimizer step over all parameters of a deep MLP, whose parameters and gradients live in flat buffers.

The optimizer keeps the parameters of one backend and dtype as views into one array, and
the engine writes their gradients into views of a second one, so an update over all 24
parameters of the deep case is a constant number of backend calls (``bench_optimizers``
times the same optimizers over 200 separate tensors). ``setup`` runs one backward so the
gradients are in place; the timed step only updates.
"""


import xpgrad

from .common import BACKENDS, CASES, batch, deep_mlp_optimizer, mlp, sync, use_backend


class FlatOptimizerStep:
    params = (BACKENDS, ["sgd", "adam"])
    param_names = ["backend", "optimizer"]

    def setup(self, backend, optimizer):
        self.opt = deep_mlp_optimizer(backend, optimizer)
        sync()

    def time_step(self, backend, optimizer):
        self.opt.step()
        sync()


class LargeFlatUpdate:
    """SGD and momentum over the medium case's 4.2 million parameters: one flat buffer of 16 MiB.

    On NumPy the update runs in blocks of at most ``Backend.update_block_bytes`` (512 KiB): each block's
    temporary stays in the core's cache, where one temporary the size of the buffer would go to
    memory and back. ``track_temporary_bytes`` is the update's own peak beyond the parameters,
    gradients and state, counted with ``tracemalloc``.
    """

    params = (BACKENDS, ["sgd", "momentum"])
    param_names = ["backend", "optimizer"]
    unit = "bytes"

    def setup(self, backend, optimizer):
        use_backend(backend)
        n, sizes = CASES["medium"]
        model = mlp(sizes)
        x, y = batch(n, sizes[0], sizes[-1])
        self.opt = xpgrad.optimizer(optimizer, model.parameters(), lr=1e-3)
        self.opt.zero_grad()
        xpgrad.loss("softmax_cross_entropy")(model(x), y).backward()
        self.opt.step()  # the flat buffer and the optimizer state exist from here on
        sync()

    def time_step(self, backend, optimizer):
        self.opt.step()
        sync()

    def track_temporary_bytes(self, backend, optimizer):
        import tracemalloc

        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            self.opt.step()
            sync()
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
