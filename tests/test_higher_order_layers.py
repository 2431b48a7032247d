"""Second derivatives (create_graph=True) through the image, normalization and embedding layers and the
functional losses, in float64 on each CPU backend, against central differences of the first derivative."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn import functional as F


def t64(shape, seed=0, requires_grad=True):
    data = np.random.default_rng(seed).standard_normal(shape) + 0.05  # away from ReLU/max-pool kinks at 0
    return xpgrad.tensor(data, dtype="float64", requires_grad=requires_grad, backend=xpgrad.get_backend())


IMAGE_LAYERS = {
    "conv": lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2),
    "conv_groups_dilation": lambda: nn.Conv2d(2, 4, 2, dilation=2, groups=2, bias=False),
    "conv_relu_fused": lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU()),
    "max_pool": lambda: nn.MaxPool2d(2),
    "avg_pool": lambda: nn.AvgPool2d(3, stride=2, padding=1),
    "batchnorm2d_train": lambda: nn.BatchNorm2d(2),
    "batchnorm2d_eval": lambda: nn.BatchNorm2d(2).eval(),
    "layer_norm": lambda: nn.LayerNorm((4, 4)),
    "gelu": lambda: nn.GELU(),
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": lambda: nn.SiLU(),
}


@pytest.mark.parametrize("name", sorted(IMAGE_LAYERS))
def test_double_backward_of_image_layers(cpu_backend, name):
    layer = IMAGE_LAYERS[name]().to(dtype="float64")
    x = t64((1, 2, 4, 4))
    assert xpgrad.gradgradcheck(lambda x_: layer(x_) * layer(x_), [x])
    params = list(layer.parameters())
    if params:  # a gradient penalty on ∂/∂x reaches the weights
        (gx,) = xpgrad.grad((layer(x) ** 2).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        assert all(p.grad is not None for p in params)


def test_gradient_penalty_through_a_small_cnn_matches_finite_differences(cpu_backend):
    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 1)).to(dtype="float64")
    x = t64((2, 1, 4, 4), seed=3)
    w = model[0].weight

    def penalty(weight):
        hidden = F.max_pool2d(F.relu(F.conv2d(x, weight, model[0].bias, padding=1)), 2)
        out = F.linear(xpgrad.reshape(hidden, (2, 8)), model[4].weight, model[4].bias)
        (gx,) = xpgrad.grad(out.sum(), x, create_graph=True)
        return ((xpgrad.linalg.vector_norm(xpgrad.reshape(gx, (2, -1)), axis=1) - 1.0) ** 2).sum()

    assert xpgrad.gradcheck(xpgrad.enable_grad()(penalty), [w])


def test_double_backward_of_embedding_and_functional_losses(cpu_backend):
    weight = t64((4, 3))
    idx = xpgrad.tensor([[0, 2], [3, 3]], backend=xpgrad.get_backend())
    assert xpgrad.gradgradcheck(lambda w: F.embedding(idx, w) ** 2, [weight])
    scores = t64((3, 4), seed=1)
    labels = xpgrad.tensor([0, 3, 1], backend=xpgrad.get_backend())
    probs = xpgrad.tensor(np.random.default_rng(2).random((3, 4)), dtype="float64", backend=xpgrad.get_backend())
    for loss in (lambda s: F.cross_entropy(s, labels, label_smoothing=0.1),
                 lambda s: F.nll_loss(F.log_softmax(s, dim=1), labels),
                 lambda s: F.binary_cross_entropy_with_logits(s, probs),
                 lambda s: F.multi_margin_loss(s, labels, p=2),
                 lambda s: F.mse_loss(s, probs)):
        assert xpgrad.gradgradcheck(loss, [scores])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_optimizers_step_on_gradients_kept_on_a_graph(name):
    """After backward(create_graph=True) the .grad are Tensors on a graph: a step uses their values, as usual."""
    results = []
    for create_graph in (False, True):
        w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
        b = xpgrad.tensor([[1.0]], requires_grad=True)
        opt = xpgrad.optimizer(name, [w, b], lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            ((w ** 3).sum() * b.sum()).backward(create_graph=create_graph)
            opt.step()
        assert not isinstance(w.data, xpgrad.Tensor) and not isinstance(b.data, xpgrad.Tensor)
        results.append((w.tolist(), b.tolist()))
    assert results[0] == results[1]
