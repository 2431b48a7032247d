"""``xpgrad.nn.functional``: layers, activations and losses as plain functions, with PyTorch's names.

Import it as ``from xpgrad.nn import functional as F``. Every function takes
Tensors and returns a Tensor recorded on the graph, computed by the same op or
registered component as the matching module (``F.relu`` is ``nn.ReLU``'s
function, ``F.cross_entropy`` the ``softmax_cross_entropy`` loss ...).

The set: layers ``linear``, ``dropout``, ``conv2d``, ``max_pool2d``,
``avg_pool2d``, ``layer_norm``, ``batch_norm``, ``embedding``; activations
``relu``, ``leaky_relu``, ``elu``, ``sigmoid``, ``tanh``, ``gelu``, ``silu``,
``softmax``, ``log_softmax``; losses ``cross_entropy``, ``nll_loss``,
``mse_loss``, ``l1_loss``, ``binary_cross_entropy_with_logits``,
``multi_margin_loss``; and ``one_hot``.

>>> import xpgrad
>>> from xpgrad.nn import functional as F
>>> x = xpgrad.tensor([[1.0, -2.0]])
>>> w = xpgrad.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> scores = F.relu(F.linear(x, w))
>>> scores.tolist()
[[1.0, 0.0, 0.0]]
>>> round(F.cross_entropy(scores, xpgrad.tensor([0])).item(), 4)
0.5514
"""

from .basic import dropout, elu, leaky_relu, linear, log_softmax, one_hot, relu, sigmoid, softmax, tanh
from .conv import avg_pool2d, conv2d, conv2d_relu, max_pool2d
from .losses import binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss, multi_margin_loss, nll_loss
from .norm import batch_norm, embedding, gelu, layer_norm, silu

__all__ = ["avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits", "conv2d", "conv2d_relu", "cross_entropy",
           "dropout", "elu", "embedding", "gelu", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax",
           "max_pool2d", "mse_loss", "multi_margin_loss", "nll_loss", "one_hot", "relu", "sigmoid", "silu",
           "softmax", "tanh"]
