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

from . import functional, init
from .activation import ELU, Activation, LeakyReLU, ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d
from .container import Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Identity, Unflatten
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, MulticlassSVMLoss, MultiMarginLoss, NLLLoss
from .maxout import Maxout
from .module import IncompatibleKeys, Module, StateDictError
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d

__all__ = ["AvgPool2d", "Conv2d", "MaxPool2d"]
__all__ += ["ELU", "Activation", "BatchNorm1d", "Dropout", "Flatten", "Identity", "IncompatibleKeys", "LeakyReLU",
           "Linear", "Maxout", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "StateDictError", "Tanh",
           "Unflatten", "init"]
__all__ += ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "MultiMarginLoss", "MulticlassSVMLoss",
            "NLLLoss", "functional"]
