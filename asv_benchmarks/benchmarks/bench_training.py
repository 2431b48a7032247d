"""One MLP training step (forward, loss, backward, SGD step) for the comparison's three cases."""

import xpgrad

from .common import BACKENDS, CASES, batch, mlp, sync, use_backend


class TrainingStep:
    params = (BACKENDS, list(CASES))
    param_names = ["backend", "case"]
    timeout = 120

    def setup(self, backend, case):
        use_backend(backend)
        n, sizes = CASES[case]
        self.model = mlp(sizes)
        self.x, self.y = batch(n, sizes[0], sizes[-1])
        self.loss = xpgrad.loss("softmax_cross_entropy")
        self.opt = xpgrad.optimizer("sgd", self.model.parameters(), lr=1e-3)

    def _step(self):
        self.opt.zero_grad()
        self.loss(self.model(self.x), self.y).backward()
        self.opt.step()

    def time_step(self, backend, case):
        self._step()
        sync()

    def peakmem_step(self, backend, case):
        self._step()


class TrainingStepGPUMemory:
    """Device memory held by CuPy's pool after a step (``peakmem_`` sees host memory only)."""

    params = (["cupy"], list(CASES))
    param_names = ["backend", "case"]
    unit = "bytes"

    def setup(self, backend, case):
        TrainingStep.setup(self, backend, case)

    def track_gpu_bytes(self, backend, case):
        import cupy

        TrainingStep._step(self)
        sync()
        return cupy.get_default_memory_pool().total_bytes()
