"""``xpgrad.compile``: the compiled MLP training step, and a depth sweep of eager against compiled.

The step is the one of ``bench_training`` (zero_grad, forward, softmax cross-entropy,
backward, SGD step) wrapped by ``xpgrad.compile``; ``setup`` makes the first call, which
records it, so the timed calls are replays. The depth sweep times 32x64 MLPs of 2 to 16
Linear layers: the slope of time against depth is the cost per layer, the intercept the
cost per step (``compare.py --sweep`` fits both and subtracts the hand-written NumPy step's).
"""

import xpgrad

from .common import BACKENDS, CASES, batch, mlp, sync, use_backend


def _train_step(model, opt):
    loss_fn = xpgrad.loss("softmax_cross_entropy")

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


class CompiledStep:
    """One compiled training step of the comparison's three cases."""

    params = (BACKENDS, list(CASES))
    param_names = ["backend", "case"]
    timeout = 120

    def setup(self, backend, case):
        use_backend(backend)
        n, sizes = CASES[case]
        model = mlp(sizes)
        self.x, self.y = batch(n, sizes[0], sizes[-1])
        self.train = _train_step(model, xpgrad.optimizer("sgd", model.parameters(), lr=1e-3))
        self.step = xpgrad.compile(self.train)
        self.step(self.x, self.y)  # records
        sync()

    def time_step(self, backend, case):
        self.step(self.x, self.y)
        sync()

    def peakmem_step(self, backend, case):
        self.step(self.x, self.y)

    def time_first_call(self, backend, case):
        """What recording costs: a fresh compiled function's first call (an eager step, plus the recording)."""
        xpgrad.compile(self.train)(self.x, self.y)
        sync()


DEPTHS = [2, 4, 8, 16]


class DepthSweep:
    """A training step of a batch-32 MLP of ``depth`` Linear(64, 64)+ReLU layers (then 64 -> 10), eager or compiled."""

    params = (BACKENDS, DEPTHS, ["eager", "compiled"])
    param_names = ["backend", "depth", "mode"]

    def setup(self, backend, depth, mode):
        use_backend(backend)
        sizes = [64] * depth + [10]
        model = mlp(sizes)
        self.x, self.y = batch(32, 64, 10)
        step = _train_step(model, xpgrad.optimizer("sgd", model.parameters(), lr=1e-3))
        self.step = xpgrad.compile(step) if mode == "compiled" else step
        self.step(self.x, self.y)
        sync()

    def time_step(self, backend, depth, mode):
        self.step(self.x, self.y)
        sync()
