"""``__array_namespace_info__`` of xpgrad.array_api: capabilities, devices and dtypes of the current backend."""

from __future__ import annotations

import pytest

import xpgrad

KINDS = {
    "bool": {"bool"},
    "signed integer": {"int8", "int16", "int32", "int64"},
    "unsigned integer": {"uint8", "uint16", "uint32", "uint64"},
    "real floating": {"float32", "float64"},
    "complex floating": {"complex64", "complex128"},
}
KINDS["integral"] = KINDS["signed integer"] | KINDS["unsigned integer"]
KINDS["numeric"] = KINDS["integral"] | KINDS["real floating"] | KINDS["complex floating"]


def test_capabilities(xp):
    caps = xp.__array_namespace_info__().capabilities()
    assert caps["boolean indexing"] is True and caps["data-dependent shapes"] is True
    assert isinstance(caps["max dimensions"], int) and caps["max dimensions"] >= 32


def test_default_device_and_devices_are_the_backends(xp):
    info = xp.__array_namespace_info__()
    b = xpgrad.backend.current()
    assert info.default_device() == b.default_device() and info.default_device() in info.devices()
    assert xp.zeros(1).device == info.default_device()


def test_default_dtypes_follow_set_default_dtype(xp):
    info = xp.__array_namespace_info__()
    assert info.default_dtypes() == {"real floating": xp.float32, "complex floating": xp.complex64,
                                     "integral": xp.int64, "indexing": xp.int64}
    before = xpgrad.get_default_dtype()
    xpgrad.set_default_dtype("float64")
    try:
        d = xp.__array_namespace_info__().default_dtypes(device=info.default_device())
        assert d["real floating"] == xp.float64 and d["complex floating"] == xp.complex128
        assert xp.asarray(1.0).dtype == d["real floating"] and xp.asarray(1).dtype == d["integral"]
    finally:
        xpgrad.set_default_dtype(before)


@pytest.mark.parametrize("kind", [None, *KINDS, ("bool", "complex floating")])
def test_dtypes_by_kind(xp, kind):
    got = xp.__array_namespace_info__().dtypes(kind=kind)
    if kind is None:
        expected = KINDS["bool"] | KINDS["numeric"]
    elif isinstance(kind, tuple):
        expected = set().union(*(KINDS[k] for k in kind))
    else:
        expected = KINDS[kind]
    assert set(got) == expected
    assert all(got[name] == getattr(xp, name) for name in got)


def test_errors(xp):
    info = xp.__array_namespace_info__()
    with pytest.raises(ValueError, match="dtypes: unknown kind 'floating'"):
        info.dtypes(kind="floating")
    with pytest.raises(ValueError, match="device='tpu' is not a device of backend"):
        info.default_dtypes(device="tpu")
