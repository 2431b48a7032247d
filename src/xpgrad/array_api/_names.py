"""The names the array API standard 2024.12 defines, by the spec's categories."""

from __future__ import annotations

API_VERSION = "2024.12"

CONSTANTS = ("e", "inf", "nan", "newaxis", "pi")
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128")

FUNCTIONS = {
    "creation": ("arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace",
                 "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like"),
    "data types": ("astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"),
    "elementwise": ("abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and",
                    "bitwise_left_shift", "bitwise_invert", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
                    "ceil", "clip", "conj", "copysign", "cos", "cosh", "divide", "equal", "exp", "expm1", "floor",
                    "floor_divide", "greater", "greater_equal", "hypot", "imag", "isfinite", "isinf", "isnan",
                    "less", "less_equal", "log", "log1p", "log2", "log10", "logaddexp", "logical_and",
                    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "multiply", "negative",
                    "nextafter", "not_equal", "positive", "pow", "real", "reciprocal", "remainder", "round", "sign",
                    "signbit", "sin", "sinh", "square", "sqrt", "subtract", "tan", "tanh", "trunc"),
    "indexing": ("take", "take_along_axis"),
    "inspection": ("__array_namespace_info__",),
    "linear algebra": ("matmul", "matrix_transpose", "tensordot", "vecdot"),
    "manipulation": ("broadcast_arrays", "broadcast_to", "concat", "expand_dims", "flip", "moveaxis",
                     "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile", "unstack"),
    "searching": ("argmax", "argmin", "count_nonzero", "nonzero", "searchsorted", "where"),
    "set": ("unique_all", "unique_counts", "unique_inverse", "unique_values"),
    "sorting": ("argsort", "sort"),
    "statistical": ("cumulative_sum", "cumulative_prod", "max", "mean", "min", "prod", "std", "sum", "var"),
    "utility": ("all", "any", "diff"),
}

LINALG = ("cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
          "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd",
          "svdvals", "tensordot", "trace", "vecdot", "vector_norm")
FFT = ("fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq",
       "fftshift", "ifftshift")
EXTENSIONS = ("linalg", "fft")

ALL_FUNCTIONS = tuple(name for names in FUNCTIONS.values() for name in names)
