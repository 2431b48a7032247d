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

from . import init, utils
from .activation import ELU, GELU, Activation, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .batchnorm import BatchNorm1d
from .container import Sequential
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Identity
from .linear import Linear
from .maxout import Maxout
from .module import IncompatibleKeys, Module, StateDictError
from .normalization import BatchNorm2d, LayerNorm
from .parameter import Parameter

__all__ = ["ELU", "Activation", "BatchNorm1d", "Dropout", "Flatten", "Identity", "IncompatibleKeys", "LeakyReLU",
           "Linear", "Maxout", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "StateDictError", "Tanh",
           "init"]
__all__ += ["GELU", "BatchNorm2d", "Embedding", "LayerNorm", "SiLU", "utils"]
