"""One SGD training step of the small CNN of ``compare.py --cases cnn`` (batch 64, 3x32x32), and its layers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # compare_cnn.py sits next to benchmarks/
from compare_cnn import cnn_problem, xpgrad_cnn_step  # noqa: E402


class CNNStep:
    """Median time of one eager step: conv 3->16, ReLU, pool, conv 16->32, ReLU, pool, linear, cross-entropy."""

    def setup(self):
        params, x, y = cnn_problem()
        self.step, _ = xpgrad_cnn_step(params, x, y)
        self.step()

    def time_step(self):
        self.step()


class ConvLayer:
    """Forward and forward+backward of a 16->32 3x3 convolution on a 64x16x16x16 batch."""

    def setup(self):
        import numpy as np

        import xpgrad
        from xpgrad import nn

        xpgrad.manual_seed(0)
        self.conv = nn.Conv2d(16, 32, 3, padding=1)
        self.x = xpgrad.tensor(np.random.default_rng(0).standard_normal((64, 16, 16, 16)).astype(np.float32),
                               requires_grad=True)

    def time_forward(self):
        import xpgrad

        with xpgrad.no_grad():
            self.conv(self.x)

    def time_forward_backward(self):
        self.conv(self.x).sum().backward()
