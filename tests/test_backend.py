"""Backends: names and aliases, the current backend (default, context manager, threads, env var),
CuPy missing or without a GPU, random numbers, and the scatter-add helpers the standard lacks."""

import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

import xpgrad
from xpgrad import backend as B

# -- names, aliases, current backend ------------------------------------------------------------

@pytest.mark.parametrize("name, canonical", [
    ("numpy", "numpy"), ("cpu", "numpy"), ("NumPy", "numpy"), ("array_api_strict", "array_api_strict"),
    ("array-api-strict", "array_api_strict"), ("strict", "array_api_strict"), ("gpu", "cupy"), ("cupy", "cupy"),
])
def test_canonical_names_and_aliases(name, canonical):
    assert B.canonical_name(name) == canonical


@pytest.mark.parametrize("name", ["cpu", "numpy", "array_api_strict", "strict"])
def test_set_backend_returns_canonical_name(name):
    xpgrad.set_backend(name)
    assert xpgrad.get_backend() == B.canonical_name(name)
    assert xpgrad.tensor([1.0]).backend == B.canonical_name(name)


@pytest.mark.parametrize("bad", ["torch", "numpyy", "", 3])
def test_unknown_backend_lists_valid_names(bad):
    with pytest.raises(xpgrad.BackendError) as err:
        xpgrad.set_backend(bad)
    msg = str(err.value)
    for name in ("'numpy'", "'cupy'", "'array_api_strict'", "'cpu'", "'gpu'"):
        assert name in msg
    assert xpgrad.get_backend() == "numpy"  # a failed switch changes nothing


def test_unknown_backend_suggests_close_name():
    with pytest.raises(xpgrad.BackendError, match="Did you mean 'numpy'"):
        xpgrad.use_backend("nunpy").__enter__()


def test_backend_error_is_a_value_error():
    assert issubclass(xpgrad.BackendError, ValueError)


def test_resolve_caches_one_backend_object_per_name():
    assert B.resolve("cpu") is B.resolve("numpy") is B.resolve(B.resolve("numpy"))
    assert B.resolve("numpy").name == "numpy"


def test_use_backend_restores_on_exit_and_nests():
    assert xpgrad.get_backend() == "numpy"
    with xpgrad.use_backend("array_api_strict") as b:
        assert b.name == "array_api_strict"
        assert xpgrad.get_backend() == "array_api_strict"
        assert xpgrad.zeros(2).backend == "array_api_strict"
        with xpgrad.use_backend("cpu"):
            assert xpgrad.get_backend() == "numpy"
        assert xpgrad.get_backend() == "array_api_strict"
    assert xpgrad.get_backend() == "numpy"


def test_use_backend_restores_on_exception():
    with pytest.raises(KeyError):
        with xpgrad.use_backend("array_api_strict"):
            raise KeyError("boom")
    assert xpgrad.get_backend() == "numpy"


def test_set_backend_inside_use_backend_takes_effect_and_outlives_the_block():
    with xpgrad.use_backend("numpy"):
        xpgrad.set_backend("array_api_strict")
        assert xpgrad.get_backend() == "array_api_strict"
    assert xpgrad.get_backend() == "array_api_strict"


def test_threads_see_the_process_default_not_the_callers_override():
    seen = {}

    def worker():
        seen["before"] = xpgrad.get_backend()
        with xpgrad.use_backend("numpy"):
            seen["inside"] = xpgrad.get_backend()

    xpgrad.set_backend("numpy")
    with xpgrad.use_backend("array_api_strict"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        # the worker's own override did not leak into this thread either
        assert xpgrad.get_backend() == "array_api_strict"
    assert seen == {"before": "numpy", "inside": "numpy"}


def test_set_backend_changes_the_default_seen_by_new_threads():
    xpgrad.set_backend("array_api_strict")
    seen = []
    t = threading.Thread(target=lambda: seen.append(xpgrad.get_backend()))
    t.start()
    t.join()
    assert seen == ["array_api_strict"]


def test_available_backends_and_gpu_available():
    names = xpgrad.available_backends()
    assert names == [n for n in ("numpy", "cupy", "array_api_strict") if n in names]
    assert "numpy" in names and "array_api_strict" in names
    assert isinstance(xpgrad.gpu_available(), bool)
    assert ("cupy" in names) == xpgrad.gpu_available()


# -- XPGRAD_BACKEND is read at import ----------------------------------------------------------

def _run_with_env(value, code="import xpgrad; print(xpgrad.get_backend())"):
    env = dict(os.environ, XPGRAD_BACKEND=value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value, expected", [("array_api_strict", "array_api_strict"), ("cpu", "numpy"),
                                             (" Strict ", "array_api_strict"), ("", "numpy")])
def test_env_var_picks_the_default_backend(value, expected):
    proc = _run_with_env(value, "import xpgrad; print(xpgrad.get_backend(), xpgrad.tensor([1.0]).backend)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, expected]


def test_env_var_is_read_at_import_not_later():
    code = ("import os, xpgrad; os.environ['XPGRAD_BACKEND'] = 'numpy'; "
            "print(xpgrad.get_backend())")
    proc = _run_with_env("strict", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["array_api_strict"]


def test_bad_env_var_is_an_error_listing_valid_names():
    proc = _run_with_env("tensorflow")
    assert proc.returncode != 0
    assert "BackendError" in proc.stderr
    assert "XPGRAD_BACKEND='tensorflow'" in proc.stderr
    for name in ("'numpy'", "'cupy'", "'array_api_strict'"):
        assert name in proc.stderr


@pytest.mark.skipif(xpgrad.gpu_available(), reason="checks the error on a machine without a usable GPU")
def test_env_var_gpu_without_a_gpu_is_a_clear_error():
    proc = _run_with_env("gpu")
    assert proc.returncode != 0
    assert "XPGRAD_BACKEND='gpu'" in proc.stderr
    assert "needs CuPy" in proc.stderr or "no usable CUDA GPU" in proc.stderr
    assert "CUDARuntimeError" not in proc.stderr


# -- CuPy missing or without a GPU --------------------------------------------------------------

@pytest.fixture
def no_cached_cupy(monkeypatch):
    """Forget any loaded CuPy backend and the cached GPU answer; both are restored afterwards."""
    monkeypatch.delitem(B.registration._loaded, "cupy", raising=False)
    B.gpu_available.cache_clear()
    yield monkeypatch
    B.gpu_available.cache_clear()


def test_cupy_missing_says_which_extra_to_install(no_cached_cupy):
    no_cached_cupy.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    assert xpgrad.gpu_available() is False
    with pytest.raises(xpgrad.BackendError, match=r"needs CuPy.*xpgrad\[cuda12\].*xpgrad\[cuda13\]"):
        xpgrad.set_backend("gpu")
    assert xpgrad.get_backend() == "numpy"
    assert "cupy" not in xpgrad.available_backends()


def test_cupy_without_gpu_is_a_clear_backend_error(no_cached_cupy):
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False
    no_cached_cupy.setitem(sys.modules, "cupy", fake)
    assert xpgrad.gpu_available() is False
    with pytest.raises(xpgrad.BackendError, match=r"no usable CUDA GPU.*cupy.is_available\(\) is False"):
        with xpgrad.use_backend("cupy"):
            pass  # pragma: no cover
    assert xpgrad.get_backend() == "numpy"


def test_cuda_runtime_error_never_escapes(no_cached_cupy):
    class CUDARuntimeError(RuntimeError):
        pass

    def broken():
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.is_available = broken
    no_cached_cupy.setitem(sys.modules, "cupy", fake)
    assert xpgrad.gpu_available() is False
    with pytest.raises(xpgrad.BackendError, match="no usable CUDA GPU"):
        xpgrad.zeros(2, backend="cupy")


# -- dtypes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["float64", np.float64, np.dtype("float64")])
def test_backend_dtype_accepts_names_and_library_dtypes(cpu_backend, spec):
    b = B.resolve(cpu_backend)
    assert b.dtype(spec) == b.xp.float64


def test_backend_dtype_accepts_strict_dtypes():
    import array_api_strict as aas

    assert B.resolve("numpy").dtype(aas.int32) == np.int32
    assert B.resolve("array_api_strict").dtype(np.float32) == aas.float32


def test_unknown_dtype_names_the_value_and_backend():
    with pytest.raises(TypeError, match=r"unknown dtype 'float16' for backend 'numpy'.*float32"):
        B.resolve("numpy").dtype("float16")


def test_default_dtype():
    assert xpgrad.get_default_dtype() == "float32"
    xpgrad.set_default_dtype("float64")
    assert xpgrad.get_default_dtype() == "float64"
    assert xpgrad.tensor([1.5]).dtype == np.float64
    xpgrad.set_default_dtype(np.float32)
    assert xpgrad.get_default_dtype() == "float32"
    with pytest.raises(ValueError, match="'int64'"):
        xpgrad.set_default_dtype("int64")


# -- random numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: xpgrad.randn(3, 4), lambda: xpgrad.rand(5), lambda: xpgrad.randint(0, 10, (6,)),
], ids=["randn", "rand", "randint"])
def test_manual_seed_reproduces_random_numbers(backend, make):
    xpgrad.manual_seed(123)
    a = make()
    b = make()
    xpgrad.manual_seed(123)
    c = make()
    assert a.backend == backend
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())
    xpgrad.manual_seed(124)
    assert not np.array_equal(make().numpy(), a.numpy())


def test_manual_seed_covers_backends_loaded_later_and_cpu_backends_agree():
    xpgrad.manual_seed(7)
    a = xpgrad.randn(4, backend="numpy").numpy()
    xpgrad.manual_seed(7)
    b = xpgrad.randn(4, backend="array_api_strict").numpy()
    np.testing.assert_array_equal(a, b)


def test_random_dtypes_ranges_and_shapes(cpu_backend):
    x = xpgrad.randn(2, 3)
    assert x.shape == (2, 3) and x.dtype == B.resolve(cpu_backend).xp.float32
    assert xpgrad.randn((2, 3), dtype="float64").dtype == B.resolve(cpu_backend).xp.float64
    u = xpgrad.rand(1000).numpy()
    assert u.min() >= 0 and u.max() < 1 and 0.4 < u.mean() < 0.6
    z = xpgrad.randn(4000).numpy()
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1
    k = xpgrad.randint(-2, 3, (200,))
    assert k.dtype == B.resolve(cpu_backend).xp.int64
    assert set(k.numpy().tolist()) == {-2, -1, 0, 1, 2}
    assert xpgrad.randn(3, requires_grad=True).requires_grad


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_manual_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        xpgrad.manual_seed(bad)


def test_randint_needs_low_below_high():
    with pytest.raises(ValueError, match="low=3, high=3"):
        xpgrad.randint(3, 3, (2,))


def test_rng_state_round_trip_and_permutation(cpu_backend):
    b = B.resolve(cpu_backend)
    state = b.rng_state()
    first = xpgrad.rand(4).numpy()
    b.set_rng_state(state)
    np.testing.assert_array_equal(xpgrad.rand(4).numpy(), first)
    perm = b.permutation(10)
    assert isinstance(perm, np.ndarray) and sorted(perm.tolist()) == list(range(10))


# -- moving data and what the standard lacks ------------------------------------------------------

def test_to_numpy_and_backend_of(cpu_backend):
    b = B.resolve(cpu_backend)
    arr = b.xp.asarray([1.0, 2.0], dtype=b.xp.float64)
    assert B.backend_of(arr) is b
    out = B.to_numpy(arr)
    assert type(out) is np.ndarray and out.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="got list"):
        B.backend_of([1.0])


def test_asarray_moves_between_libraries(cpu_backend):
    b = B.resolve(cpu_backend)
    src = B.resolve("array_api_strict" if cpu_backend == "numpy" else "numpy")
    arr = src.xp.asarray([[1.0, 2.0]], dtype=src.xp.float64)
    moved = b.asarray(arr)
    assert B.backend_of(moved) is b
    np.testing.assert_array_equal(B.to_numpy(moved), [[1.0, 2.0]])


def test_index_add_sums_repeated_indices(cpu_backend):
    b = B.resolve(cpu_backend)
    xp = b.xp
    out = xp.zeros((2, 4), dtype=xp.float64)
    idx = xp.asarray([3, 0, 3, 3], dtype=xp.int64)
    values = xp.asarray([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]], dtype=xp.float64)
    got = B.to_numpy(b.index_add(out, 1, idx, values))
    np.testing.assert_array_equal(got, [[2.0, 0.0, 0.0, 8.0], [20.0, 0.0, 0.0, 80.0]])


def test_add_along_axis_sums_repeated_indices(cpu_backend):
    b = B.resolve(cpu_backend)
    xp = b.xp
    out = xp.zeros((2, 3), dtype=xp.float64)
    idx = xp.asarray([[2, 2], [0, 1]], dtype=xp.int64)
    values = xp.asarray([[1.0, 5.0], [7.0, 9.0]], dtype=xp.float64)
    got = B.to_numpy(b.add_along_axis(out, idx, values, 1))
    np.testing.assert_array_equal(got, [[0.0, 0.0, 6.0], [7.0, 9.0, 0.0]])


def test_synchronize_is_a_no_op_on_cpu(cpu_backend):
    assert B.resolve(cpu_backend).synchronize() is None


# -- only the backend module knows the array libraries by name ---------------------------------------

def _imported_modules(path):
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_only_the_backend_module_imports_cupy_or_array_api_strict():
    from pathlib import Path

    root = Path(xpgrad.__file__).parent
    offenders = {str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parent.name != "backend" and {"cupy", "cupyx", "array_api_strict"} & set(_imported_modules(p))}
    assert offenders == set()


def test_the_autograd_compute_path_does_not_import_numpy():
    from pathlib import Path

    root = Path(xpgrad.__file__).parent / "autograd"
    offenders = {p.name for p in root.rglob("*.py") if "numpy" in set(_imported_modules(p))}
    assert offenders == set()
