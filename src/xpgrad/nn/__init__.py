"""Neural-network building blocks: ``Module``, ``Parameter``, layers and initializers.

>>> import xpgrad
>>> from xpgrad import nn
>>> xpgrad.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 3))
>>> model(xpgrad.randn(8, 2)).shape
(8, 3)
>>> sum(p.size for p in model.parameters())
603
"""

from . import functional, init, utils
from .activation import ELU, GELU, Activation, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .batchnorm import BatchNorm1d
from .container import Sequential
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Identity, Unflatten
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, MulticlassSVMLoss, MultiMarginLoss, NLLLoss
from .maxout import Maxout
from .module import IncompatibleKeys, Module, StateDictError
from .normalization import BatchNorm2d, LayerNorm
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d

__all__ = [
    # containers and base classes
    "IncompatibleKeys", "Module", "Parameter", "Sequential", "StateDictError",
    # layers
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Embedding", "Flatten", "Identity", "LayerNorm",
    "Linear", "MaxPool2d", "Maxout", "Unflatten",
    # activations
    "ELU", "GELU", "Activation", "LeakyReLU", "ReLU", "Sigmoid", "SiLU", "Tanh",
    # losses
    "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "MultiMarginLoss", "MulticlassSVMLoss", "NLLLoss",
    # submodules
    "functional", "init", "utils",
]
