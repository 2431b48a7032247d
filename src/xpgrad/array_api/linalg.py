"""``xpgrad.array_api.linalg``: the standard's linear-algebra extension, differentiable (matrix_rank excepted).

Every function works on stacks of matrices (the last two axes) or vectors and
records its gradient; see each function for the formula and the conditions
under which it holds (distinct eigenvalues / singular values, full rank).

>>> import xpgrad
>>> a = xpgrad.tensor([[2.0, 1.0], [1.0, 3.0]], dtype="float64", requires_grad=True)
>>> xpgrad.linalg.det(a).backward()   # d det(A)/dA = det(A) A⁻ᵀ
>>> a.grad.tolist()
[[3.0, -1.0], [-1.0, 2.0]]
"""

from __future__ import annotations

from ..autograd.ops.linalg import matmul, matrix_transpose, tensordot, vecdot
from ..autograd.ops.linalg_decompositions import eigh, eigvalsh, pinv, qr, svd, svdvals
from ..autograd.ops.linalg_ext import (
           cholesky,
           cross,
           det,
           diagonal,
           inv,
           matrix_power,
           matrix_rank,
           outer,
           slogdet,
           solve,
           trace,
)
from ..autograd.ops.linalg_norms import matrix_norm, vector_norm

__all__ = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm", "matrix_power",
           "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
           "tensordot", "trace", "vecdot", "vector_norm"]
