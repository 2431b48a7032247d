"""Doctests of the documentation pages: each page starts from the same state (seed 0,
float32, NumPy backend, array-api-strict pinned to the API version xpgrad targets)."""

import os

import pytest

import xpgrad
from xpgrad import backend as B

os.environ.setdefault("MPLBACKEND", "Agg")  # pages that plot must not need a display
os.environ.setdefault("SCIPY_ARRAY_API", "1")  # read at SciPy's first import; the interop guide needs it

try:
    import array_api_strict

    array_api_strict.set_array_api_strict_flags(api_version=B.STRICT_API_VERSION)
except ImportError:  # pragma: no cover - the test extra installs it
    pass


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Seed 0, float32, NumPy; run in an empty directory so pages may write files."""
    monkeypatch.chdir(tmp_path)
    xpgrad.manual_seed(0)
    xpgrad.set_default_dtype("float32")
    xpgrad.set_backend("numpy")
    yield
    xpgrad.set_default_dtype("float32")
    xpgrad.set_backend("numpy")
