"""Every registered component — built-in or from an installed plugin — passes the xpgrad.testing checks."""

import pytest

from xpgrad import registry, testing

# Collected at import time, so any plugin installed in the environment is checked too.
ENTRIES = registry.describe()


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.kind}:{e.name}" for e in ENTRIES])
def test_component_contract(entry):
    check = getattr(testing, f"check_{entry.kind}")
    assert check(entry.name) is True


def test_every_kind_is_covered():
    assert {e.kind for e in ENTRIES} == set(registry.KINDS)


def test_checks_catch_a_wrong_gradient():
    import xpgrad

    class Wrong(xpgrad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2·x·g

    class Plugin:
        @xpgrad.hookimpl
        def register_activations(self, register):
            register("wrong_square", Wrong)

    xpgrad.plugin_manager().register(Plugin(), name="wrong")
    try:
        with pytest.raises(AssertionError, match="activation 'wrong_square' on backend 'numpy': gradient check"):
            testing.check_activation("wrong_square")
    finally:
        xpgrad.plugin_manager().unregister(name="wrong")
