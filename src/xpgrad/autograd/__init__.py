"""Tensors, the Function contract, the graph walk and the differentiable ops."""

from . import methods as _methods  # noqa: F401  (binds operators onto Tensor)
from .compiler import CompiledFunction, CompileWarning, compile
from .creation import arange, as_tensor, full, ones, ones_like, rand, randint, randn, tensor, zeros, zeros_like
from .flat import FlatBuffer
from .function import Context, Function, enable_grad, is_grad_enabled, no_grad
from .ops.elementwise import (
                              abs,
                              add,
                              clip,
                              divide,
                              exp,
                              log,
                              log1p,
                              maximum,
                              minimum,
                              multiply,
                              negative,
                              pow,
                              sqrt,
                              subtract,
                              tanh,
                              where,
)
from .ops.linalg import linear, matmul
from .ops.reduction import logsumexp, max, mean, min, sum
from .ops.shape import concat, expand_dims, permute_dims, reshape, squeeze, stack, take, take_along_axis
from .tensor import Tensor
from .tracing import run_eagerly

__all__ = [
    "CompileWarning", "CompiledFunction", "Context", "FlatBuffer", "Function", "Tensor", "abs", "add", "arange",
    "as_tensor", "clip", "compile", "concat", "divide", "enable_grad", "exp", "expand_dims", "full",
    "is_grad_enabled", "linear", "log", "log1p", "logsumexp", "matmul", "max", "maximum", "mean", "min",
    "minimum", "multiply", "negative", "no_grad", "ones", "ones_like", "permute_dims", "pow", "rand", "randint",
    "randn", "reshape", "run_eagerly", "sqrt", "squeeze", "stack", "subtract", "sum", "take", "take_along_axis",
    "tanh", "tensor", "where", "zeros", "zeros_like",
]
