"""``zero_grad()`` then ``step()`` of an optimizer over the deep MLP's flat buffer: the Python around the update.

Both calls run at every training step, eager or compiled (they are ``run_eagerly``), so
what they cost besides the update's arithmetic is overhead on every step. ``time_zero_grad_step``
times the pair with the gradients put back into their slots in between (as a backward would
leave them), ``time_update_only`` the optimizer's ``update`` over the flat buffer alone: the
difference is the bookkeeping (the checks that nothing changed, the state kept in sync).
"""

import xpgrad

from .common import BACKENDS, deep_mlp_optimizer, sync


class OptimizerOverhead:
    params = (BACKENDS, ["sgd", "adam"])
    param_names = ["backend", "optimizer"]

    def setup(self, backend, optimizer):
        self.opt = deep_mlp_optimizer(backend, optimizer)
        (self.buf,) = self.opt.flat_buffers()
        self.group = self.opt.param_groups[0]
        self.state = {}
        self.flat = xpgrad.as_tensor(self.buf.data)
        self.flat.data = self.buf.data  # the tensor update() gets: the flat values themselves, not a copy
        sync()

    def time_zero_grad_step(self, backend, optimizer):
        self.opt.zero_grad()
        for p, g in zip(self.buf.tensors, self.buf.grad_views, strict=True):
            p.grad = g  # where the backward would have written them
        self.opt.step()
        sync()

    def time_update_only(self, backend, optimizer):
        self.opt.update(self.flat, self.buf.grad, self.state, self.group)
        sync()
