"""Forward and backward time of single ops, per backend."""

import xpgrad

from .common import BACKENDS, sync, use_backend

SHAPE = (512, 512)


class Elementwise:
    params = (BACKENDS, ["add", "mul", "exp", "tanh", "maximum"])
    param_names = ["backend", "op"]

    def setup(self, backend, op):
        use_backend(backend)
        self.a = xpgrad.randn(*SHAPE, requires_grad=True)
        self.b = xpgrad.randn(*SHAPE, requires_grad=True)
        self.fn = {
            "add": lambda: self.a + self.b,
            "mul": lambda: self.a * self.b,
            "exp": lambda: xpgrad.exp(self.a),
            "tanh": lambda: xpgrad.tanh(self.a),
            "maximum": lambda: xpgrad.maximum(self.a, 0.0),
        }[op]
        self.g = xpgrad.ones(SHAPE).data

    def time_forward(self, backend, op):
        with xpgrad.no_grad():
            self.fn()
        sync()

    def time_forward_backward(self, backend, op):
        self.fn().backward(self.g)
        sync()


class Matmul:
    params = (BACKENDS, [64, 512])
    param_names = ["backend", "n"]

    def setup(self, backend, n):
        use_backend(backend)
        self.a = xpgrad.randn(n, n, requires_grad=True)
        self.b = xpgrad.randn(n, n, requires_grad=True)

    def time_forward(self, backend, n):
        with xpgrad.no_grad():
            self.a @ self.b
        sync()

    def time_forward_backward(self, backend, n):
        (self.a @ self.b).sum().backward()
        sync()


class Reductions:
    params = (BACKENDS, ["sum", "mean", "max", "logsumexp"])
    param_names = ["backend", "op"]

    def setup(self, backend, op):
        use_backend(backend)
        self.a = xpgrad.randn(*SHAPE, requires_grad=True)
        self.fn = getattr(xpgrad, op)

    def time_forward_backward(self, backend, op):
        self.fn(self.a, axis=1).sum().backward()
        sync()


class SoftmaxCrossEntropy:
    params = (BACKENDS, [10, 1000])
    param_names = ["backend", "classes"]

    def setup(self, backend, classes):
        use_backend(backend)
        self.scores = xpgrad.randn(256, classes, requires_grad=True)
        self.labels = xpgrad.randint(0, classes, (256,))
        self.loss = xpgrad.loss("softmax_cross_entropy")

    def time_forward(self, backend, classes):
        with xpgrad.no_grad():
            self.loss(self.scores, self.labels)
        sync()

    def time_forward_backward(self, backend, classes):
        self.loss(self.scores, self.labels).backward()
        sync()
