"""Shared fixtures: every test that takes ``backend`` runs on each CPU backend (and CuPy where a GPU is usable)."""

import os
import sys
from pathlib import Path

import pytest

import xpgrad
from xpgrad import backend as B

os.environ.setdefault("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", "")
# SciPy reads this once, at its first import: set before any test (or doctest) imports it, so the
# interop guide's examples dispatch to xpgrad.array_api whatever the test order.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

try:
    import array_api_strict

    array_api_strict.set_array_api_strict_flags(api_version=B.STRICT_API_VERSION)
except ImportError:  # pragma: no cover - the test extra installs it
    array_api_strict = None

CPU_BACKENDS = ["numpy", "array_api_strict"]


def mpi_missing() -> str | None:
    """Why tests marked ``mpi`` cannot run here (mpi4py or the venv's own mpiexec missing), or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed: pip install -e \".[mpi]\""
    if not (Path(sys.executable).parent / "mpiexec").exists():
        return f"no mpiexec next to {sys.executable}: pip install -e \".[mpi]\""
    return None


def pytest_collection_modifyitems(config, items):
    skips = {}
    if not xpgrad.gpu_available():
        skips["gpu"] = "needs CuPy and a usable CUDA GPU (cupy.is_available() is False here)"
    if any("mpi" in item.keywords for item in items) and (reason := mpi_missing()):
        skips["mpi"] = reason
    for item in items:
        for marker, reason in skips.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(params=[*CPU_BACKENDS, pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    """Run the test with this backend current; yields its name."""
    with xpgrad.use_backend(request.param):
        yield request.param


@pytest.fixture(params=CPU_BACKENDS)
def cpu_backend(request):
    with xpgrad.use_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts from seed 0, float32 and the NumPy default backend."""
    xpgrad.manual_seed(0)
    xpgrad.set_default_dtype("float32")
    yield
    xpgrad.set_default_dtype("float32")
    xpgrad.set_backend("numpy")


@pytest.fixture
def device_like_strict(monkeypatch):
    """array-api-strict treated as a device backend (as CuPy is), counting every read back to the host."""
    import array_api_strict

    backend = xpgrad.backend.resolve("array_api_strict")
    monkeypatch.setattr(backend, "on_host", False)
    reads = []
    array_type = type(array_api_strict.asarray(0))
    for name in ("__float__", "__int__", "__bool__", "__dlpack__", "__array__"):
        original = getattr(array_type, name, None)
        if original is None:
            continue

        def spy(self, *a, _name=name, _original=original, **kw):
            reads.append(_name)
            return _original(self, *a, **kw)

        monkeypatch.setattr(array_type, name, spy)
    with xpgrad.use_backend("array_api_strict"):
        yield reads
